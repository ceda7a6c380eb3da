"""patchkit validate: tree -> series -> build -> boot -> tests -> report.

Each stage is a function with explicit arguments returning a value; the
pipeline records a StageResult for each.  After a failed stage every later
stage is SKIP.  Results go to <output>/results.json and <output>/junit.xml.
"""

from __future__ import annotations

from pathlib import Path

from patchkit import boot as boot_mod
from patchkit import build as build_mod
from patchkit import cli, faults, kconfig, paths, pipeline, report, ui
from patchkit import render as render_mod
from patchkit import series as series_mod
from patchkit import tree as tree_mod
from patchkit import worktrees
from patchkit.errors import UserError
from patchkit.pipeline import PASS, Pipeline
from patchkit.report import RunResult

DEFAULT_SERIES = "zram-swap-ops"


# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = "refused: every stage needs the one before (each stage's log starts with its reproducer)"


def add_arguments(p):
    cli.add_series_argument(p, default=DEFAULT_SERIES,
                            what="series to validate, or 'none' for the bare tree")
    p.add_argument("--tree", default=None, help="pinned tree name or a kernel checkout (default: linux-source-6.12)")
    p.add_argument("--author", default=None,
                   help="'Name <mail>' for the rendered commits (default: git config user.name/email)")
    p.add_argument("--config", default="minimal", help="config flavour: minimal or debug")
    p.add_argument("--fragment", action="append", default=[], type=Path,
                   help="extra kconfig fragment merged last (repeatable)")
    p.add_argument("--modules", action="store_true", help="build modules too (for CONFIG_ZRAM=m fragments)")
    p.add_argument("--runtime", default="auto", choices=["auto", "docker", "podman", "host"])
    p.add_argument("--memory", type=int, default=256,
                   help="guest memory in MiB (the debug flavour's KASAN shadow needs more)")
    p.add_argument("--build-only", action="store_true", help="stop after the build (config variants)")
    p.add_argument("--tests", default=None, help="comma-separated guest tests (default: all)")
    p.add_argument("--timeout", type=float, default=1200, help="guest timeout in seconds")
    p.add_argument("--profile", action="store_true",
                   help="build with CONFIG_PROFILING, boot with profile=2 and print each test's kernel "
                        "ticks per function (figures profile.* in results.json)")
    p.add_argument("--faults", action="store_true",
                   help="run the fault matrix instead (patchkit/faults.py): the fault-injection "
                        "guest tests on baseline, base layer and series")
    p.add_argument("--fault-kernels", default=None,
                   help="with --faults: comma-separated subset of baseline,base-layer,series")
    p.add_argument("-o", "--output", type=Path, default=Path("results"),
                   help="where results.json, junit.xml and logs go (default ./results)")


def check_args(args) -> None:
    """Bad input fails here, before a tree is opened or anything is written."""
    if args.options.dry_run:
        raise UserError("--dry-run is not supported by validate: it builds and boots, so it "
                        "must run (nothing was written)",
                        hint="each log under -o starts with the command that reproduces it; "
                             "patchkit validate ... -o DIR keeps them")
    if args.series != "none":
        series_mod.chain(args.series)
    boot_mod.check_numbers(memory=args.memory, timeout=args.timeout)
    build_mod.flavour_fragments(args.config)
    if args.output.exists() and not args.output.is_dir():
        raise UserError(f"-o {args.output} is a file, not a folder",
                        hint="name a folder (it is created when missing)")
    if args.tests is not None:
        if not [t for t in args.tests.split(",") if t.strip()]:
            raise UserError(f"--tests {args.tests!r} names no test",
                            hint="patchkit boot --list-tests prints them")
        if not args.faults:
            boot_mod.select_tests([t for t in args.tests.split(",") if t])
    for frag in args.fragment:
        kconfig.read_fragment(Path(frag).resolve())


def run(args) -> int:
    args.series = cli.series_argument(args)
    check_args(args)
    if getattr(args, "faults", False):
        if getattr(args, "profile", False):
            raise UserError("--profile does not apply to --faults",
                            hint="profile one kernel's tests: patchkit validate SERIES --profile --tests T")
        result = validate_faults(
            series=args.series, tree_spec=args.tree, config=args.config, runtime=args.runtime,
            timeout=args.timeout, output=args.output,
            kernels=args.fault_kernels.split(",") if args.fault_kernels else None,
            tests=args.tests.split(",") if args.tests else None, memory_mb=args.memory)
        return 0 if result.ok() else 1
    result = validate(
        series=None if args.series == "none" else args.series,
        tree_spec=args.tree,
        author=args.author,
        config=args.config,
        fragments=args.fragment,
        modules=args.modules,
        runtime=args.runtime,
        tests=args.tests.split(",") if args.tests else None,
        timeout=args.timeout,
        output=args.output,
        build_only=args.build_only,
        memory_mb=args.memory,
        profile=args.profile,
    )
    return 0 if result.ok() else 1


def guest_verdict(booted) -> str | None:
    """Why a boot fails its stage although boot() returned: a panic or timeout
    outside any test fails the run even if every test passed."""
    if booted.status != PASS:
        return f"guest ended {booted.status}: {booted.detail}; console: {booted.console_log}"
    return None


def build_and_keep(source, output: Path, *, info: dict, **kwargs):
    """build.build, then its artifacts (bzImage, config, System.map,
    modules.tar.xz, build.log, metadata.json) copied into the run's output
    folder, as tuxmake leaves them; a failed build leaves its log and
    metadata there too."""
    try:
        built = build_mod.build(source, **kwargs)
    except build_mod.BuildFailed as exc:
        if exc.build_dir is not None:
            build_mod.copy_artifacts(exc.build_dir, output)
        if exc.metadata is not None:
            info["build"] = exc.metadata
        raise
    build_mod.copy_artifacts(built.build_dir, output)
    info["build"] = built.metadata
    return built


def validate(*, series, tree_spec, config, author=None, fragments, modules, runtime, tests, timeout, output: Path,
             build_only: bool = False, memory_mb: int = 256, profile: bool = False,
             worktree_name: str | None = None, info: dict | None = None,
             export: Path | None = None, prebuilt: Path | None = None) -> RunResult:
    """The pipeline.  worktree_name: the source work tree (default <tree>-validate);
    info: extra keys for results.json (the matrix cell); export: copy the built
    kernel there (build.export); prebuilt: boot the kernel exported there
    instead of building (build.prebuilt checks it was built from this source
    and config)."""
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    result = RunResult(command="validate", info={**(info or {}), "series": series or "none", "config": config})
    pipe = Pipeline(result)

    tree = pipe.stage("tree", tree_mod.open_tree, tree_spec)
    if tree is not None:
        # the Debian version actually unpacked, and the manifest's pin
        result.info["tree"] = tree_mod.pin_info(tree)
        if getattr(tree, "note", None):
            ui.warn("tree", tree.note)
    source = None
    if series:
        rendered = pipe.stage("render", render_mod.render, series, tree, author=author)
        if rendered is not None:
            source = pipe.stage("checkout", worktrees.worktree, rendered.repo, rendered.tip,
                                worktree_name or f"{tree.name}-validate")
            result.info["series_tip"] = rendered.tip
    elif tree is not None:
        if tree.manifest is not None and tree.path.is_relative_to(paths.trees_dir()):
            source = pipe.stage("checkout", worktrees.worktree, tree.path, tree.base_commit,
                                worktree_name or f"{tree.name}-validate")
        else:
            source = tree.path  # the user's own checkout, built as it is
    if profile:
        fragments = [*fragments, boot_mod.PROFILE_FRAGMENT]
    if prebuilt is not None:
        built = pipe.stage("build", build_mod.prebuilt, prebuilt, source=source, config=config,
                           fragments=fragments)
        if built is not None:
            result.info["build"] = built.metadata
    else:
        built = pipe.stage("build", build_and_keep, source, output, config=config, fragments=fragments,
                           runtime=runtime, modules=modules, info=result.info)
    if built is not None and export is not None:
        pipe.stage("export", build_mod.export, built, export)
    if build_only:
        pipe.stop("--build-only")  # not a failure: nothing after the build
    booted = pipe.stage("boot", boot_mod.boot, built.kernel if built else None, source=source,
                        modules_dir=built.modules_dir if built else None, tests=tests,
                        timeout=timeout, log_dir=output / "logs", memory_mb=memory_mb,
                        cmdline=[boot_mod.PROFILE_PARAM] if profile else None, judge=guest_verdict)
    if booted is not None:
        result.info["boot"] = {"accel": booted.accel, "qemu_version": booted.qemu_version,
                               "console_log": str(booted.console_log), "seconds": booted.seconds,
                               "events": report.to_jsonable(booted.events)}
        result.tests = [report.to_jsonable(t) for t in booted.tests]
    report.write_json(result, output / "results.json")
    report.write_junit(result, output / "junit.xml")
    report.print_table(result)
    if profile and booted is not None:
        boot_mod.print_profiles(booted.tests)
    ui.info("validate", f"{result.status}: results in {output / 'results.json'}")
    return result


def run_fault_kernel(source: Path, *, kernel: str, config: str = "minimal", runtime: str = "auto",
                     timeout: float = 1800, log_dir: Path, tests: list[str] | None = None,
                     build_root: Path | None = None, memory_mb: int = 256) -> list[faults.FaultRow]:
    """Build source with config + faults.config and boot it once with the fault tests."""
    tests = tests or faults.FAULT_TESTS
    extmods = faults.probe_modules(Path(source))
    built = build_mod.build(Path(source), config=config, fragments=[faults.FRAGMENT], runtime=runtime,
                            modules=True, build_root=build_root, extmods=extmods)
    booted = boot_mod.boot(built.kernel, source=Path(source), modules_dir=built.modules_dir,
                           tests=tests, timeout=timeout, log_dir=Path(log_dir), memory_mb=memory_mb)
    return faults.rows_from_boot(booted, kernel=kernel, config=config, tests=tests)


def validate_faults(*, series: str, tree_spec, config: str, runtime: str, timeout: float,
                    output: Path, kernels: list[str] | None = None, tests: list[str] | None = None,
                    memory_mb: int = 256, info: dict | None = None) -> RunResult:
    """patchkit validate --faults: tree -> render -> per kernel (checkout, build, boot
    with the fault tests) -> the fault table in results.json and on the terminal."""
    kernels = faults.check_kernels(kernels)
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    result = RunResult(command="validate --faults",
                       info={**(info or {}), "series": series, "config": config, "kernels": kernels,
                             "memory_mb": memory_mb})
    pipe = Pipeline(result)
    tree = pipe.stage("tree", tree_mod.open_tree, tree_spec)
    rendered = pipe.stage("render", render_mod.render, series, tree)
    rows: list[faults.FaultRow] = []
    if rendered is not None:
        compared = pipeline.compared_kernels(tree, rendered)
        result.info["commits"] = {label: k.commit for label, k in compared.items()}
        for label in kernels:
            if label not in compared:
                result.stages.append(pipeline.StageResult(f"faults:{label}", pipeline.SKIP,
                                                          detail=f"series {series} sits on no base layer"))
                continue
            # One kernel failing to build or boot must not hide the others' rows.
            sub = Pipeline(result)
            source = sub.stage(f"checkout:{label}", pipeline.checkout, tree, compared[label], "faults")
            got = sub.stage(f"faults:{label}", run_fault_kernel, source, kernel=label, config=config,
                            runtime=runtime, timeout=timeout, log_dir=output / "logs" / label,
                            tests=tests, memory_mb=memory_mb)
            rows += got if got is not None else [faults.failed_row(t, label, config, sub.failed)
                                                 for t in (tests or faults.FAULT_TESTS)]
    result.info["faults"] = faults.to_json(rows)
    if rows:
        result.stages.append(faults.compare_stage(rows))
    result.tests = [{"name": f"{r.fault} [{r.kernel}]", "status": r.status, "seconds": r.seconds,
                     "figures": {k: getattr(r, k) for k in faults.COUNTS}, "events": r.events,
                     "detail": r.detail} for r in rows]
    report.write_json(result, output / "results.json")
    report.write_junit(result, output / "junit.xml")
    report.print_table(result)
    faults.print_table(rows)
    ui.info("validate", f"{result.status}: fault matrix in {output / 'results.json'}")
    return result
