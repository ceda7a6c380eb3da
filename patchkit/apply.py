"""patchkit apply: put a rendered series on your own kernel checkout.

    patchkit apply SERIES --tree PATH [--version N] [--on TREE] [--patches DIR]
                   [--author 'Name <mail>']

The series (and what it depends on) is rendered on the pinned tree, unless
--patches names the folder of already rendered patch files (its
dependencies then sit beside it as <dep>-v<N>/).  Then, on PATH:

  * a work tree with uncommitted changes is refused (the files are named,
    nothing is touched);
  * the files the series touches must hold what the patches expect: the
    pinned base, or the base plus the already applied dependencies.  The
    patch files' `index` lines name the blobs, so this needs no network and
    no pinned tree;
  * already applied (at HEAD or on its branch): say so, change nothing;
  * otherwise branch patchkit/<series>-v<N> from HEAD, `git am -3` each
    series still missing, dependencies first;
  * on a conflict: `git am --abort`, go back to the original branch (or
    detached HEAD) at the original commit, delete the new branch, and
    report the patch and the conflicting files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from patchkit import git, manifests, proc, render, ui
from patchkit import series as series_mod
from patchkit import tree as trees
from patchkit.errors import CommandFailed, Interrupted, UserError

ZERO = "0" * 7


class ApplyConflict(UserError):
    """git am -3 could not apply a patch; the checkout was restored."""


@dataclass
class SeriesPatches:
    series: series_mod.Series
    files: list[Path]


@dataclass
class FileChange:
    path: str
    old: str            # abbreviated blob id before, ZERO for a new file
    new: str            # abbreviated blob id after, ZERO for a removed file


@dataclass
class ApplyResult:
    branch: str
    applied: list[str] = field(default_factory=list)   # series names applied now
    already: bool = False
    head: str = ""


# ------------------------------------------------------------ patch files

_DIFF = re.compile(r"^diff --git a/(\S+) b/(\S+)$")
_INDEX = re.compile(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)")


def patch_files(folder: Path) -> list[Path]:
    """The numbered patches of a rendered folder, cover letter excluded."""
    files = sorted(p for p in Path(folder).glob("[0-9][0-9][0-9][0-9]-*.patch")
                   if not p.name.startswith("0000-"))
    if not files:
        raise UserError(f"{folder}: no patch files (NNNN-*.patch)",
                        hint="render them with: patchkit render SERIES")
    return files


def changes_of(patch: Path) -> list[FileChange]:
    """The files a format-patch file changes, with blob ids from its index lines."""
    out: list[FileChange] = []
    path = None
    for line in patch.read_text(errors="replace").splitlines():
        m = _DIFF.match(line)
        if m:
            path = m.group(2)
            continue
        m = _INDEX.match(line)
        if m and path:
            check_patch_path(path, patch)
            out.append(FileChange(path, m.group(1), m.group(2)))
            path = None
    return out


def check_patch_path(path: str, patch: Path) -> None:
    """A patch file must only touch paths inside the tree."""
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or parts[0] == ".git":
        raise UserError(f"{patch}: the path {path!r} is outside the tree",
                        hint="re-render the series: patchkit render SERIES")


def _zero(blob: str) -> bool:
    return set(blob) == {"0"}


def expected_states(chain: list[SeriesPatches]) -> tuple[dict, list[dict]]:
    """(base state, state after each series): path -> abbreviated blob id."""
    base: dict[str, str] = {}
    current: dict[str, str] = {}
    after: list[dict] = []
    for sp in chain:
        for pfile in sp.files:
            for ch in changes_of(pfile):
                base.setdefault(ch.path, ch.old)
                current[ch.path] = ch.new
        after.append(dict(current))
    return base, [dict(base, **a) for a in after]


def blobs_at(repo: Path, rev: str, paths: list[str]) -> dict[str, str]:
    """path -> full blob id at rev (absent paths are left out)."""
    if not paths:
        return {}
    out = git.out(repo, "ls-tree", "-r", "-z", rev, "--", *paths)
    blobs = {}
    for entry in filter(None, out.split("\0")):
        meta, path = entry.split("\t", 1)
        blobs[path] = meta.split()[2]
    return blobs


def differences(state: dict[str, str], blobs: dict[str, str]) -> list[str]:
    """Paths whose content is not what state expects."""
    bad = []
    for path, want in sorted(state.items()):
        have = blobs.get(path)
        if _zero(want):
            if have is not None:
                bad.append(path)
        elif have is None or not have.startswith(want):
            bad.append(path)
    return bad


# ------------------------------------------------------------ the checkout

def toplevel(path: Path) -> Path:
    """The checkout's top folder; bad input (no repository, no commit, bare,
    read-only) is refused here, before anything is rendered or changed."""
    if not Path(path).is_dir():
        raise UserError(f"{path} is not a git checkout (no such folder)",
                        hint="--tree names your kernel git checkout")
    res = git.run(path, "rev-parse", "--show-toplevel", check=False)
    if res.returncode or not res.stdout.strip():
        raise UserError(f"{path} is not a git checkout",
                        hint="apply needs a git repository with a work tree; for a plain "
                             "source folder, run git init && git add -A && git commit first")
    top = Path(res.stdout.strip())
    head = git.run(top, "rev-parse", "--verify", "-q", "HEAD^{commit}",
                   check=False)
    if head.returncode:
        raise UserError(f"{top} has no commit yet: apply needs the series' base checked out",
                        hint="commit the tree first (git add -A && git commit -m base)")
    git_dir = Path(git.out(top, "rev-parse", "--absolute-git-dir"))
    if not all(os.access(d, os.W_OK) for d in (top, git_dir)):
        raise UserError(f"{top} is read-only: apply must write its .git and files",
                        hint="apply to a checkout you can write to (or a copy of it)")
    return top


def dirty_files(repo: Path) -> list[str]:
    out = git.out(repo, "status", "--porcelain=v1", "-z", "--untracked-files=no")
    files = []
    for entry in filter(None, out.split("\0")):
        if len(entry) > 3 and entry[2] == " ":
            files.append(entry[3:])
        else:
            files.append(entry)  # second path of a rename
    return files


def am_in_progress(repo: Path) -> bool:
    git_dir = Path(git.out(repo, "rev-parse", "--absolute-git-dir"))
    return any((git_dir / d).exists() for d in ("rebase-apply", "rebase-merge", "MERGE_HEAD"))


LOCKS = ("index.lock", "HEAD.lock")


def git_locks(repo: Path, branch: str) -> list[Path]:
    """Lock files git leaves when it is killed while writing (ours to remove
    only when they were absent before we started)."""
    git_dir = Path(git.out(repo, "rev-parse", "--absolute-git-dir"))
    return [git_dir / name for name in LOCKS] + [git_dir / "refs" / "heads" / f"{branch}.lock"]


def created_paths(chain: list[SeriesPatches]) -> list[str]:
    """Paths a patch of the chain creates (no blob before it)."""
    return sorted({ch.path for sp in chain for pf in sp.files for ch in changes_of(pf)
                   if _zero(ch.old)})


def untracked_in_the_way(repo: Path, paths: list[str], head_blobs: dict) -> list[str]:
    """Paths the series creates that exist in the work tree without being
    committed: untracked or ignored files git am would overwrite."""
    return [p for p in paths if p not in head_blobs and os.path.lexists(repo / p)]


def am_argv(repo: Path, files: list[Path]) -> list[str]:
    return git.am_argv(repo, files)


def current_position(repo: Path) -> tuple[str | None, str]:
    """(branch ref or None when detached, HEAD commit)."""
    ref = git.run(repo, "symbolic-ref", "-q", "HEAD", check=False).stdout.strip()
    return (ref or None), git.out(repo, "rev-parse", "HEAD")


def restore(repo: Path, ref: str | None, head: str, branch: str,
            stale_locks: list[Path] = (), created: list[str] = (),
            keep_dirs: set[Path] = frozenset()) -> None:
    """Back to the original branch or detached HEAD at head; drop branch.

    stale_locks: lock files of a git killed by an interruption (they did not
    exist before apply started); created: paths the series creates, which
    did not exist before either, removed when a killed git am left them
    (with the folders made for them, keep_dirs excepted: those existed)."""
    for lock in stale_locks:
        if lock.exists():
            lock.unlink()
    git_dir = Path(git.out(repo, "rev-parse", "--absolute-git-dir"))
    if (git_dir / "rebase-apply").exists():
        res = git.run(repo, "am", "--abort", check=False)
        if res.returncode and (git_dir / "rebase-apply").exists():
            git.run(repo, "am", "--quit", check=False)
    if ref:
        short = ref.removeprefix("refs/heads/")
        git.out(repo, "checkout", "-q", "-f", short)
    else:
        git.out(repo, "checkout", "-q", "-f", "--detach", head)
    git.out(repo, "reset", "-q", "--hard", head)
    git.run(repo, "branch", "-D", branch, check=False)
    for path in created:
        p = repo / path
        if os.path.lexists(p) and not git.out(repo, "ls-files", "--", path):
            p.unlink()
            for parent in p.parents:     # folders git am made for it, now empty
                if parent == repo or parent in keep_dirs or any(parent.iterdir()):
                    break
                parent.rmdir()


def _conflict_report(repo: Path, exc: CommandFailed, files: list[Path]) -> tuple[str, list[str]]:
    git_dir = Path(git.out(repo, "rev-parse", "--absolute-git-dir"))
    patch = "?"
    nxt = git_dir / "rebase-apply" / "next"
    if nxt.is_file():
        try:
            patch = files[int(nxt.read_text().strip()) - 1].name
        except (ValueError, IndexError):
            pass
    unmerged = git.out(repo, "diff", "--name-only", "--diff-filter=U").splitlines()
    text = exc.stdout + "\n" + exc.stderr
    failed = re.findall(r"patch failed: (\S+?):\d+", text)
    failed += re.findall(r"Merge conflict in (\S+)", text)
    conflicting = sorted(set(unmerged) | set(failed))
    return patch, conflicting


def apply_chain(checkout: Path, chain: list[SeriesPatches]) -> ApplyResult:
    """Apply the chain (dependencies first) to checkout; see the module doc."""
    repo = toplevel(checkout)
    target = chain[-1].series
    branch = target.branch
    result = ApplyResult(branch=branch)
    if am_in_progress(repo):
        raise UserError(f"{repo}: a git am, rebase or merge is in progress",
                        hint="finish or abort it first (git am --abort)")
    dirty = dirty_files(repo)
    if dirty:
        raise UserError(f"{repo} has uncommitted changes in: {', '.join(dirty)}",
                        hint="commit or stash them; nothing was changed")
    locks = git_locks(repo, branch)
    busy = [lk for lk in locks if lk.exists()]
    if busy:
        raise UserError(f"{repo}: another git command is running ({busy[0]} exists)",
                        hint=f"wait for it; if none runs, remove {busy[0]}")
    base, after = expected_states(chain)
    paths = sorted(base)
    head_blobs = blobs_at(repo, "HEAD", paths)
    ref, head = current_position(repo)
    result.head = head
    if not differences(after[-1], head_blobs):
        where = ref.removeprefix("refs/heads/") if ref else f"detached HEAD {head[:12]}"
        ui.info("apply", f"{target.name} v{target.version} is already applied on {where}; "
                         "nothing changed")
        result.already = True
        return result
    if git.rev_parse(repo, f"refs/heads/{branch}") is not None:
        if not differences(after[-1], blobs_at(repo, branch, paths)):
            ui.info("apply", f"{target.name} v{target.version} is already applied on branch "
                             f"{branch}; nothing changed (git checkout {branch})")
            result.already = True
            return result
        raise UserError(f"{repo}: branch {branch} exists and does not hold this series",
                        hint=f"delete it (git branch -D {branch}) or check it out")
    # how much of the chain is there already: the base, or base + deps
    applied_upto = None
    states = [base] + after[:-1]
    for k in range(len(states) - 1, -1, -1):
        if not differences(states[k], head_blobs):
            applied_upto = k
            break
    if applied_upto is None:
        bad = differences(base, head_blobs)
        detail = ", ".join(f"{p} ({_describe(head_blobs.get(p), base[p])})" for p in bad)
        raise UserError(
            f"{repo}: the files {target.name} touches do not match its base: {detail}",
            hint="check out the pinned base (patchkit tree show) or rebase onto it; "
                 "nothing was changed")
    if not git.ok(repo, "var", "GIT_COMMITTER_IDENT"):
        raise UserError(f"{repo}: git does not know who you are (git am commits as you)",
                        hint="git config --global user.name 'Your Name' && "
                             "git config --global user.email you@example.org")
    todo = chain[applied_upto:]
    created = created_paths(todo)
    in_the_way = untracked_in_the_way(repo, created, head_blobs)
    if in_the_way:
        raise UserError(
            f"{repo}: {', '.join(in_the_way)} exists in the checkout but is not tracked "
            f"(untracked or ignored); {target.name} creates it and git am would overwrite it",
            hint=f"move it away (mv {repo / in_the_way[0]} ...) and apply again; "
                 "nothing was changed")
    keep_dirs = {d for p in created for d in (repo / p).parents if d.is_dir()}
    for sp in chain[:applied_upto]:
        ui.info("apply", f"dependency {sp.series.name} v{sp.series.version} already applied")
    where = ref.removeprefix("refs/heads/") if ref else "detached HEAD"
    current = todo[0]
    try:
        git.out(repo, "checkout", "-q", "-b", branch)
        for sp in todo:
            current = sp
            try:
                with ui.stage("apply", f"git am {sp.series.name}"):
                    proc.run(am_argv(repo, sp.files), env=git.no_editor_env())
            except CommandFailed as exc:
                patch, conflicting = _conflict_report(repo, exc, sp.files)
                with proc.signals_held():
                    restore(repo, ref, head, branch, locks, created, keep_dirs)
                raise ApplyConflict(
                    f"{sp.series.name}: {patch} does not apply to {repo}: conflicts in "
                    f"{', '.join(conflicting) or 'unknown files'}; the checkout is back on "
                    f"{ref.removeprefix('refs/heads/') if ref else head[:12]} as it was",
                    hint="rebase your checkout on the series' base, or render on your tree "
                         "with patchkit render --tree PATH") from exc
            result.applied.append(sp.series.name)
    except KeyboardInterrupt:
        with proc.signals_held():
            restore(repo, ref, head, branch, locks, created, keep_dirs)
        raise Interrupted(
            f"interrupted while applying {current.series.name}: the checkout is back on "
            f"{where} at {head[:12]} as it was (branch {branch} removed)") from None
    result.head = git.out(repo, "rev-parse", "HEAD")
    ui.info("apply", f"{', '.join(result.applied)} applied on branch {branch} "
                     f"({result.head[:12]})")
    return result


def _describe(have: str | None, want: str) -> str:
    if _zero(want):
        return "exists but the series creates it"
    if have is None:
        return "missing"
    return f"checkout {have[:12]}, expected {want}"


# ------------------------------------------------------------ CLI

def chain_from_folder(name: str, folder: Path, root: Path | None = None,
                      version: int | None = None, tree: str | None = None) -> list[SeriesPatches]:
    chain = series_mod.chain(name, root, version=version, tree=tree)
    out = []
    for s in chain:
        d = folder if s is chain[-1] else folder.parent / f"{s.name}-v{s.version}"
        if not d.is_dir():
            raise UserError(f"{s.name} (needed by {chain[-1].name}) has no rendered "
                            f"patches in {d}", hint=f"patchkit render {chain[-1].name} -o "
                                                    f"{folder.parent}")
        out.append(SeriesPatches(s, patch_files(d)))
    return out


def chain_from_render(result: render.RenderResult) -> list[SeriesPatches]:
    return [SeriesPatches(r.series, list(r.patch_files))
            for r in [*result.dependencies, result]]


# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: apply checks everything before it changes the checkout, and rolls back on a conflict'


def add_arguments(parser) -> None:
    parser.add_argument("series", help="series name (templates/<name>/) or a series folder")
    parser.add_argument("--tree", required=True, type=Path, help="your kernel git checkout")
    parser.add_argument("--patches", type=Path,
                        help="rendered patch folder to apply instead of rendering now")
    parser.add_argument("--author", help="'Name <mail>' for rendering "
                                         "(default: git config user.name/email)")
    parser.add_argument("-v", "--version", dest="series_version", type=int,
                        help="series version (default: see docs/templates.md)")
    parser.add_argument("--on", dest="render_tree", metavar="TREE",
                        help="render on this fetched tree (default: the pinned tree)")


def run(args) -> int:
    if args.options.dry_run:
        raise UserError("--dry-run is not supported by apply: its git queries must run",
                        hint="render writes only patchkit's cache branch and -o DIR; "
                             "apply checks everything before it changes the checkout")
    toplevel(args.tree)  # fail before rendering when the checkout is not a repo
    if args.author is not None:
        render.parse_author(args.author)
    version = getattr(args, "series_version", None)
    render.check_version_option(version, "--version")
    on = getattr(args, "render_tree", None)
    if args.patches:
        # the tree the patches were rendered on decides the dependencies
        chain = chain_from_folder(args.series, args.patches, version=version,
                                  tree=on or manifests.DEFAULT_TREE)
    else:
        tree = trees.open_tree(on)
        chain = chain_from_render(render.render(args.series, tree, author=args.author,
                                                version=version))
    apply_chain(args.tree, chain)
    return 0
