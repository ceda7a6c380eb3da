"""patchkit render: a series version (and what it depends on) -> commits + patch files.

For every series of the chain (dependencies first) and every patch of it:
pick the patch's diff for the tree (v<N>/<patch>/<tree>.diff, else
change.diff), render it and message.j2 with Jinja2 and the tree's profile
(templates/profiles/<tree>.toml, [names] table), apply it with
`git apply --cached` on a private index (context must match: no fuzz, no
whitespace fixing), and commit the index's tree with commit-tree on branch
patchkit/<series>-v<N>.  Nothing ever checks out a work tree: the tree's
repository is used in place when it is patchkit's own cache, otherwise
through a bare repository in the cache that borrows its objects.

Commit dates are fixed (version.toml `date`, one second per patch) and the
author is explicit, so rendering twice gives the same commit ids and the
same patch files byte for byte.  `git format-patch` writes the files;
unidiff reads them back for the diffstat.  See docs/templates.md.

Beside this module: templating.py (the Jinja2 text of diffs and messages),
conflicts.py (where a diff that does not apply fails), mail.py (the cover
letter it writes).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from patchkit import conflicts, git, paths, proc, templating, ui
from patchkit import tree as tree_mod
from patchkit import series as series_mod
from patchkit.errors import InfraError, Interrupted, UserError


# ------------------------------------------------------------------ results

@dataclass
class FileStat:
    path: str
    added: int
    removed: int


@dataclass
class Commit:
    sha: str
    subject: str
    patch: str              # patch folder name
    patch_file: Path
    files: list[FileStat]


@dataclass
class RenderResult:
    tree: object            # patchkit.tree.Tree (name, version, path, base_commit)
    series: series_mod.Series
    repo: Path              # git repository holding the commits
    base_commit: str        # the tree's pinned base commit
    base: str               # the commit the series applies to (the tree's base or its dependency's tip)
    tip: str
    commits: list[Commit]
    out_dir: Path
    author: str = ""        # 'Name <mail>' of every commit (the cover's sender)
    dependencies: list["RenderResult"] = field(default_factory=list)
    cover_letter: Path | None = None

    @property
    def dependency_range(self) -> str | None:
        """'<base>..<dependency tip>' when the series sits on another series."""
        return None if self.base == self.base_commit else f"{self.base_commit}..{self.base}"

    @property
    def prerequisite_base(self) -> str | None:
        """Where the dependency's patches start (None without a dependency)."""
        return None if self.base == self.base_commit else self.base_commit

    @property
    def patch_files(self) -> list[Path]:
        return [c.patch_file for c in self.commits]

    def all_patches(self) -> list[Commit]:
        """Dependencies' patches first, then this series'."""
        return [c for r in [*self.dependencies, self] for c in r.commits]

    @property
    def diffstat(self) -> list[FileStat]:
        """Per file totals over the whole series, sorted by path."""
        total: dict[str, FileStat] = {}
        for c in self.commits:
            for f in c.files:
                t = total.setdefault(f.path, FileStat(f.path, 0, 0))
                t.added += f.added
                t.removed += f.removed
        return [total[k] for k in sorted(total)]

    def summary(self) -> str:
        stat = self.diffstat
        return (f"{len(stat)} files changed, {sum(f.added for f in stat)} insertions(+), "
                f"{sum(f.removed for f in stat)} deletions(-)")


# ------------------------------------------------------------------ templates


# ------------------------------------------------------------------ git side

def parse_author(author: str) -> tuple[str, str]:
    """(name, mail) of 'Name <mail>'; refused here, before anything is written,
    when any later step (git, the Signed-off-by line, the cover's From:)
    would refuse it."""
    from patchkit import mail as mail_mod

    text = author or ""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UserError(f"author {text!r} has a control character",
                        hint="give it as 'Your Name <you@example.org>'")
    name, mail = git.parse_identity(text)
    mail_mod.parse_address(mail, "the author's address")
    return name, mail


def author_from_git(repo: Path | None = None) -> str:
    """'Name <mail>' from git config user.name / user.email."""
    return git.identity(repo)


def git_date(series: series_mod.Series, index: int) -> str:
    """Commit date of the index-th patch (0-based): one second apart."""
    dt = series.commit_date + timedelta(seconds=index)
    return f"@{int(dt.timestamp())} +0000"


def format_patch_argv(repo: Path, start: str, tip: str, out: Path,
                      series: series_mod.Series) -> list[str]:
    return git.format_patch_argv(repo, start, tip, out, subject_prefix(series))


def subject_prefix(series: series_mod.Series) -> str:
    """'PATCH', 'RFC PATCH v2', 'PATCH mm-new v3' (v1 carries no v1)."""
    parts = []
    pre = [p for p in series.prefixes if p.upper() == "RFC"]
    post = [p for p in series.prefixes if p.upper() != "RFC"]
    parts += pre + ["PATCH"] + post
    if series.version > 1:
        parts.append(f"v{series.version}")
    return " ".join(parts)


def work_repo(tree) -> Path:
    """The repository render commits into.

    patchkit's own cached trees are used in place.  Any other checkout (a
    user's) is never written to: render uses a bare repository in the cache
    that borrows the checkout's objects (git alternates)."""
    return _work_repo(tree)[0]


def _work_repo(tree) -> tuple[Path, bool]:
    """(work_repo(tree), whether this call created it)."""
    path = Path(tree.path).resolve()
    try:
        path.relative_to(paths.cache_dir().resolve())
        return path, False
    except ValueError:
        pass
    objects = Path(git.out(path, "rev-parse", "--git-common-dir"))
    if not objects.is_absolute():
        objects = path / objects
    objects = (objects / "objects").resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    repo = paths.cache_dir() / "render-repos" / f"{tree.name}-{digest}.git"
    if (repo / "HEAD").is_file():
        return repo, False
    tmp = repo.with_name(repo.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    git.run(None, "init", "-q", "--bare", str(tmp))
    (tmp / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    tmp.rename(repo)
    return repo, True


def default_out_dir(tree, series: series_mod.Series) -> Path:
    return paths.out_dir() / tree.name / f"{series.name}-v{series.version}"


def _render_one(series: series_mod.Series, tree, repo: Path, start: str, author: str,
                stage: Path, profile: dict) -> RenderResult:
    """Render one series version on start: its commits (unreferenced objects)
    and its patch files in stage.  Publishing (branch, output folder) is
    render()'s, once the whole chain is rendered."""
    name, mail = parse_author(author)
    variables = dict(tree=templating.TreeVars(tree), series=series)
    variables.update(profile)
    tmp = Path(tempfile.mkdtemp(prefix="patchkit-render-"))
    try:
        index = git.Index(repo, tmp / "index", start)
        parent = start
        prev_tree = git.out(repo, "rev-parse", f"{start}^{{tree}}")
        shas, subjects = [], []
        for i, patch in enumerate(series.patches):
            path, text = templating.render_diff(series, patch, tree.name, variables)
            rendered = tmp / f"{i + 1:04d}-{patch}.diff"
            rendered.write_text(text, encoding="utf-8", errors="surrogateescape")
            res = index.apply(rendered)
            if res.returncode and conflicts.damaged(res.stderr):
                raise InfraError(f"git cannot read the tree's objects in {tree.path}: "
                                 f"{conflicts.damaged(res.stderr)}",
                                 hint=f"git -C {tree.path} fsck says what is damaged; for a "
                                      f"pinned tree: patchkit tree fetch {tree.name} --force")
            if res.returncode:
                raise conflicts.apply_error(series, patch, tree.name, path, rendered, text, res.stderr,
                                            index, parent)
            for note in conflicts.offsets(res.stdout + res.stderr):
                ui.info("render", f"{series.label} patch {patch} on {tree.name}: {note} "
                                  f"({path}; context matched exactly, no fuzz)")
            tree_id = index.write_tree()
            if tree_id == prev_tree:
                raise UserError(f"{path}: the diff changes nothing on tree {tree.name} "
                                f"({series.label} patch {patch}); a patch must change its files")
            prev_tree = tree_id
            message = templating.render_message(series.patch_dir(patch), variables, author, tree.name)
            parent = index.commit(tree_id, parent, message, name, mail, git_date(series, i))
            subjects.append(message.split("\n", 1)[0])
            shas.append(parent)
        proc.run(format_patch_argv(repo, start, parent, stage, series), env=git.clean_env())
        patch_files = sorted(stage.glob("*.patch"))
        commits = [Commit(sha, subject, patch, pfile, diffstat_of(pfile))
                   for sha, subject, patch, pfile in zip(shas, subjects, series.patches,
                                                         patch_files, strict=True)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return RenderResult(tree=tree, series=series, repo=repo, base_commit=tree.base_commit,
                        base=start, tip=parent, commits=commits, out_dir=stage,
                        author=_mail_author(name, mail))


def _mail_author(name: str, mail: str) -> str:
    """'Name <mail>' as a mail header writes it (quoted when the name needs it)."""
    from patchkit import mail as mail_mod

    return mail_mod.format_address(name, mail)


# ------------------------------------------------------------------ a diff that does not apply


def _publish(repo: Path, staged: list[tuple[RenderResult, Path]]) -> None:
    """Every staged folder becomes its output folder and every branch moves,
    all or none: folders are swapped first (the old ones kept aside), then
    the branches move in one git transaction; a failure puts the old folders
    back.  A reader never sees half a folder."""
    swapped: list[tuple[Path, Path, Path | None]] = []   # (out_dir, stage, old)
    try:
        for result, out_dir in staged:
            stage = result.out_dir
            old = None
            if out_dir.exists() or out_dir.is_symlink():
                old = stage.with_name(stage.name + ".old")
                out_dir.rename(old)
            try:
                stage.rename(out_dir)
            except OSError:
                if old is not None:
                    old.rename(out_dir)
                raise
            swapped.append((out_dir, stage, old))
        updates = "".join(f"update refs/heads/{r.series.branch} {r.tip}\n" for r, _ in staged)
        git.run(repo, "update-ref", "--stdin", input=f"start\n{updates}commit\n")
    except BaseException:
        for out_dir, stage, old in reversed(swapped):
            out_dir.rename(stage)
            if old is not None:
                old.rename(out_dir)
        raise
    for _, _, old in swapped:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    for result, out_dir in staged:
        result.out_dir = out_dir
        for c in result.commits:
            c.patch_file = out_dir / c.patch_file.name
        if result.cover_letter is not None:
            result.cover_letter = out_dir / result.cover_letter.name


def diffstat_of(pfile: Path) -> list[FileStat]:
    """Per file insertions and deletions of one patch file."""
    from unidiff import PatchSet

    with open(pfile, encoding="utf-8", errors="surrogateescape") as f:
        patch = PatchSet(f)
    return [FileStat(p.path, p.added, p.removed) for p in patch]


def write_cover_letter(result: RenderResult) -> Path | None:
    """0000-cover-letter.patch, written by patchkit/cover.py into result.out_dir
    (the same cover letter patchkit send mails)."""
    from patchkit import mail as mail_mod

    return mail_mod.write_cover(result)


def check_out_root(out_root: Path, option: str = "-o") -> Path:
    """The folder receiving <series>-v<N>/ (absolute); a file there is refused."""
    out_root = Path(out_root).expanduser().absolute()
    if out_root.exists() and not out_root.is_dir():
        raise UserError(f"{option} {out_root} is a file, not a folder",
                        hint="name a folder (it is created when missing)")
    return out_root


def render(name: str, tree, *, author: str | None = None, out_root: Path | None = None,
           root: Path | None = None, profiles: Path | None = None,
           version: int | None = None) -> RenderResult:
    """Render series name (at version, default: see series.load) and the series
    it depends on on tree; returns the last result.

    out_root: folder that receives one <series>-v<N>/ per series of the chain
    (default paths.out_dir()/<tree>/).  All or nothing: every series of the
    chain, its patch files and its cover letter are made first (commits as
    unreferenced objects, files in private folders); only then do the output
    folders and branches change, at once.  A failure or an interruption
    before that leaves them, and the cache, as they were."""
    if version is not None:
        series_mod.check_version(version, "the version")
    chain = series_mod.chain(name, root, version=version, tree=tree.name)
    if out_root is not None:
        out_root = check_out_root(out_root)
    author = author or author_from_git(Path(tree.path))
    parse_author(author)
    profile = templating.load_profile(tree.name, profiles)
    outs = [(out_root / f"{s.name}-v{s.version}") if out_root else default_out_dir(tree, s)
            for s in chain]
    made_dirs = {_first_missing(o.parent) for o in outs} - {None}
    made_cache = _first_missing(paths.cache_dir() / "render-repos")
    repo, created = _work_repo(tree)
    stages: list[Path] = []
    staged: list[tuple[RenderResult, Path]] = []
    start = tree.base_commit
    done: list[RenderResult] = []
    names = " + ".join(s.name for s in chain)
    published = False
    try:
        with ui.stage("render", f"{names} on {tree.name}"):
            for s, out in zip(chain, outs):
                out.parent.mkdir(parents=True, exist_ok=True)
                # private staging folder beside the output: two renders never share one
                stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
                stages.append(stage)
                stage.chmod(0o755)
                result = _render_one(s, tree, repo, start, author, stage, profile)
                result.dependencies = list(done)
                result.cover_letter = write_cover_letter(result)
                staged.append((result, out))
                done.append(result)
                start = result.tip
            with proc.signals_held():
                _publish(repo, staged)
                published = True
    except BaseException as exc:
        if published:
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(f"interrupted as render of {names} ended: its branches and "
                                  f"folders are complete ({', '.join(str(o) for o in outs)})"
                                  ) from None
            raise
        for stage in stages:
            shutil.rmtree(stage, ignore_errors=True)
        for d in sorted(made_dirs, key=lambda p: len(p.parts), reverse=True):
            if not _has_files(d):
                shutil.rmtree(d, ignore_errors=True)
        if created:
            shutil.rmtree(repo, ignore_errors=True)
            for d in [repo.parent, *repo.parent.parents]:    # folders made for it, if empty
                if made_cache is None or not d.is_relative_to(made_cache) or any(d.iterdir()):
                    break
                d.rmdir()
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(f"interrupted while rendering {names}: no branch, output folder "
                              "or cache entry was changed") from None
        raise
    return done[-1]


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of path that does not exist yet (None: it exists)."""
    missing = None
    for p in [path, *path.parents]:
        if p.exists():
            break
        missing = p
    return missing


def _has_files(path: Path) -> bool:
    return any(p.is_file() for p in path.rglob("*"))


def renderer_for_send(args, series: series_mod.Series) -> RenderResult:
    """What patchkit send mails: the series (at the version send asked for) rendered on the pinned tree."""
    tree = tree_mod.open_tree(getattr(args, "tree", None))
    author = getattr(args, "author", None)
    if author is None:
        try:
            author = author_from_git(Path(tree.path))
        except UserError:
            raise UserError("no author identity for the rendered commits: git config "
                            "user.name/user.email are not set",
                            hint=f"patchkit send {args.series} --author 'Your Name "
                                 "<you@example.org>' (or git config --global user.name ... "
                                 "and user.email ...)") from None
    return render(str(series.folder), tree, version=series.version, author=author)


# ------------------------------------------------------------------ CLI

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = "refused: rendering needs its git queries to run (it writes only patchkit's cache branch and -o DIR)"


def add_arguments(parser) -> None:
    parser.add_argument("series", help="series name (templates/<name>/) or a series folder")
    parser.add_argument("--tree", help="tree name or checkout path (default: the pinned tree)")
    parser.add_argument("--author", help="'Name <mail>' (default: git config user.name/email)")
    parser.add_argument("-o", "--output", type=Path,
                        help="folder receiving <series>-v<N>/ (default: the cache's out/<tree>/)")
    parser.add_argument("-v", "--version", dest="series_version", type=int,
                        help="the series version to render (v<N>/; default: series.toml's "
                             "version when it supports the tree, else the newest that does)")


def check_version_option(version: int | None, option: str = "-v/--version") -> None:
    if version is not None and version < 1:
        raise UserError(f"{option} {version}: a version is a whole number from 1",
                        hint="leave it out to use the version in series.toml")


def run(args) -> int:
    if args.options.dry_run:
        raise UserError("--dry-run is not supported by render: its git queries must run",
                        hint="render writes only patchkit's cache branch and -o DIR; "
                             "apply checks everything before it changes the checkout")
    # bad input fails before any tree work
    check_version_option(args.series_version)
    if args.output is not None:
        check_out_root(args.output)
    if args.author is not None:
        parse_author(args.author)
    series_mod.chain(args.series, version=args.series_version)
    tree = tree_mod.open_tree(args.tree)
    result = render(args.series, tree, author=args.author, out_root=args.output,
                    version=args.series_version)
    for c in result.commits:
        ui.info("render", f"{c.sha[:12]} {c.subject}")
    ui.info("render", f"branch {result.series.branch} in {result.repo}")
    ui.info("render", f"{len(result.commits)} patches in {result.out_dir}: {result.summary()}")
    return 0
