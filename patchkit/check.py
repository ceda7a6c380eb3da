"""patchkit check: every patch of a series, in order, on its own.

Per patch: checkpatch.pl --strict (from the tree, as b4 runs it), an
incremental build of the tree at that patch (bisectability), and a boot with
a short swap smoke test.  A failed stage skips the later stages of that patch
only; the next patch is still checked.  The table and results.json say which.
"""

from __future__ import annotations

from pathlib import Path

from patchkit import boot as boot_mod
from patchkit import build as build_mod
from patchkit import proc, report
from patchkit import render as render_mod
from patchkit import tree as tree_mod
from patchkit import worktrees
from patchkit.errors import CommandFailed, PatchkitError, UserError
from patchkit.pipeline import PASS, SKIP, Pipeline
from patchkit.report import RunResult

SMOKE_TESTS = ["zram-setup", "hog"]


def checkpatch_argv(tree: Path, patch: Path, strict: bool = True) -> list[str]:
    """checkpatch as b4 runs it per patch, plus --strict for CHECK findings."""
    argv = [str(Path(tree) / "scripts/checkpatch.pl"), "-q", "--terse", "--no-summary",
            "--mailback", "--showfile"]
    if strict:
        argv.append("--strict")
    return argv + [str(patch)]


def parse_checkpatch(output: str) -> dict[str, int]:
    """Count ERROR / WARNING / CHECK findings in --terse output."""
    counts = {"ERROR": 0, "WARNING": 0, "CHECK": 0}
    for line in output.splitlines():
        for kind in counts:
            if f": {kind}:" in line:
                counts[kind] += 1
                break
    return counts


def checkpatch(tree: Path, patch: Path, log: Path) -> dict[str, int]:
    res = proc.run(["perl", *checkpatch_argv(tree, patch)], check=False, cwd=tree, log=log)
    counts = parse_checkpatch(Path(log).read_text(errors="replace"))
    if res.returncode != 0 or any(counts.values()):
        findings = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        raise CommandFailed(res.argv, res.returncode, stderr=findings or "checkpatch failed", log=log)
    return counts


# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = "refused: every patch's build and boot need the one before"


def add_arguments(p):
    p.add_argument("series", nargs="?", default="zram-swap-ops")
    p.add_argument("--tree", default=None)
    p.add_argument("--author", default=None,
                   help="'Name <mail>' for the rendered commits (default: git config user.name/email)")
    p.add_argument("--runtime", default="auto", choices=["auto", "docker", "podman", "host"])
    p.add_argument("--config", default="minimal")
    p.add_argument("--no-boot", action="store_true", help="checkpatch and build only")
    p.add_argument("--with-deps", action="store_true",
                   help="check the patches of the series it depends on too")
    p.add_argument("-o", "--output", type=Path, default=Path("results/check"))


def run(args) -> int:
    if args.options.dry_run:
        raise UserError("patchkit check has no --dry-run: every patch's build and boot need the one before",
                        hint="each stage's log starts with the command that reproduces it")
    result = check_series(args.series, tree_spec=args.tree, runtime=args.runtime, config=args.config,
                          boot=not args.no_boot, with_deps=args.with_deps, output=args.output,
                          author=args.author)
    return 0 if result.ok() else 1


def checkpatch_stage(tree: Path, patch: Path, log: Path) -> str:
    counts = checkpatch(tree, patch, log)
    return ", ".join(f"{v} {k}" for k, v in counts.items())


def build_at(repo: Path, commit: str, source: Path, name: str, **kwargs):
    """The check work tree moved to commit, then built incrementally."""
    worktrees.worktree(repo, commit, name)
    return build_mod.build(source, **kwargs)


def smoke_boot(kernel: Path, *, source: Path, log_dir: Path):
    booted = boot_mod.boot(kernel, source=source, tests=SMOKE_TESTS, timeout=600, log_dir=log_dir)
    bad = [t.name for t in booted.tests if t.status not in (PASS, SKIP)]
    if booted.status != PASS or bad:
        raise PatchkitError(f"boot {booted.status}; failed: {', '.join(bad) or '-'}; "
                            f"console: {booted.console_log}")
    return booted


def check_series(name, *, tree_spec, runtime, config, boot, with_deps, output: Path,
                 author=None) -> RunResult:
    output = Path(output).resolve()
    tree = tree_mod.open_tree(tree_spec)
    rendered = render_mod.render(name, tree, author=author)
    patches = rendered.all_patches() if with_deps else rendered.commits
    result = RunResult(command="check", info={"series": name, "tree": {
        "name": tree.name, "version": getattr(tree, "version", None),
        "base_commit": getattr(tree, "base_commit", None)}})
    worktree_name = f"{tree.name}-check"
    source = worktrees.worktree(rendered.repo, rendered.tip, worktree_name)
    build_root = output / "build"
    for patch in patches:
        label = Path(patch.patch_file).stem
        logs = output / "logs" / label
        # each patch on its own: a failure skips the later stages of this patch only
        pipe = Pipeline(result, prefix=label)
        pipe.stage("checkpatch", checkpatch_stage, tree.path, Path(patch.patch_file), logs / "checkpatch.log",
                   describe=str)
        built = pipe.stage("build", build_at, rendered.repo, patch.sha, source, worktree_name,
                           config=config, runtime=runtime, build_root=build_root,
                           describe=lambda b: f"{b.seconds:.0f}s, {b.warnings} warnings")
        if boot:
            pipe.stage("boot", smoke_boot, built.kernel if built else None, source=source, log_dir=logs,
                       describe=lambda b: f"{len(b.tests)} tests, {b.accel}")
    report.write_json(result, output / "results.json")
    report.write_junit(result, output / "junit.xml")
    report.print_table(result)
    return result
