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
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import jinja2

from patchkit import git, paths, proc, series as series_mod, ui
from patchkit.errors import UserError

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

    # the names check.py / validate.py use
    @property
    def commit(self) -> str:
        return self.sha

    @property
    def file(self) -> Path:
        return self.patch_file


@dataclass
class RenderResult:
    tree: object            # patchkit.tree.Tree (name, version, path, base_commit)
    series: series_mod.Series
    repo: Path              # git repository holding the commits
    base_commit: str        # the tree's pinned base commit
    start: str              # commit the series starts from (base or dependency tip)
    tip: str
    commits: list[Commit]
    out_dir: Path
    author: str = ""        # 'Name <mail>' of every commit (the cover's sender)
    dependencies: list["RenderResult"] = field(default_factory=list)
    cover_letter: Path | None = None

    @property
    def dependency_range(self) -> str | None:
        """'<base>..<dependency tip>' when the series sits on another series."""
        return None if self.start == self.base_commit else f"{self.base_commit}..{self.start}"

    # the names send.py's Rendered uses
    @property
    def base(self) -> str:
        """The commit this series applies to (its dependency's tip, or the tree base)."""
        return self.start

    @property
    def prerequisite_base(self) -> str | None:
        """Where the dependency's patches start (None without a dependency)."""
        return None if self.start == self.base_commit else self.base_commit

    @property
    def patch_files(self) -> list[Path]:
        return [c.patch_file for c in self.commits]

    @property
    def patches(self) -> list[Commit]:
        """This series' patches (each has .commit and .file)."""
        return list(self.commits)

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

def jinja_env() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_template(source: str, origin: str, variables: dict, first_line: int = 1,
                    tree_name: str = "") -> str:
    """Render Jinja2 source; errors name origin:line (first_line = its line 1)."""
    env = jinja_env()
    try:
        template = env.from_string(source)
        return template.render(variables)
    except jinja2.TemplateSyntaxError as exc:
        line = first_line + (exc.lineno or 1) - 1
        raise UserError(f"{origin}:{line}: template syntax error: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        line = first_line + _template_lineno(exc) - 1
        hint = None
        if tree_name:
            hint = (f"define it in the [names] table of "
                    f"{paths.PROFILES / (tree_name + '.toml')}")
        raise UserError(f"{origin}:{line}: {exc.message} (tree {tree_name or '?'})",
                        hint=hint) from exc
    except jinja2.TemplateError as exc:
        raise UserError(f"{origin}: template error: {exc}") from exc


def _template_lineno(exc: BaseException) -> int:
    tb = exc.__traceback__
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def load_profile(tree_name: str, profiles: Path | None = None) -> dict:
    """The [names] table of profiles/<tree_name>.toml ({} when there is none)."""
    path = (profiles or paths.PROFILES) / f"{tree_name}.toml"
    if not path.is_file():
        ui.warn("render", f"no profile {path}: templates get no tree variables")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}") from exc
    names = data.get("names", {})
    if not isinstance(names, dict):
        raise UserError(f"{path}: [names] must be a table")
    return dict(names)


def render_message(folder: Path, variables: dict, author: str, tree_name: str) -> str:
    """message.j2 rendered, cleaned like git stripspace, plus Signed-off-by."""
    path = folder / "message.j2"
    if not path.is_file():
        raise UserError(f"{folder}: no message.j2 (subject line, blank line, body)")
    text = render_template(path.read_text(), str(path), variables, tree_name=tree_name)
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    if not out:
        raise UserError(f"{path}: the message is empty")
    if len(out) > 1 and out[1] != "":
        raise UserError(f"{path}:2: the subject must be one line followed by a blank line")
    sob = f"Signed-off-by: {author}"
    if sob not in out:
        last_para = out[out.index("") + 1:] if "" in out else []
        trailers = last_para and all(re.match(r"[A-Za-z][\w-]*: ", x) for x in last_para)
        if not trailers:
            out.append("")
        out.append(sob)
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ git side

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
    path = Path(tree.path).resolve()
    try:
        path.relative_to(paths.cache_dir().resolve())
        return path
    except ValueError:
        pass
    objects = Path(git.out(path, "rev-parse", "--git-common-dir"))
    if not objects.is_absolute():
        objects = path / objects
    objects = (objects / "objects").resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    repo = paths.cache_dir() / "render-repos" / f"{tree.name}-{digest}.git"
    if not (repo / "HEAD").is_file():
        tmp = repo.with_name(repo.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        git.run(None, "init", "-q", "--bare", str(tmp))
        (tmp / "objects" / "info" / "alternates").write_text(f"{objects}\n")
        tmp.rename(repo)
    return repo


def default_out_dir(tree, series: series_mod.Series) -> Path:
    return paths.out_dir() / tree.name / f"{series.name}-v{series.version}"


def read_diff(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape")


def render_diff(series: series_mod.Series, patch: str, tree_name: str,
                variables: dict) -> tuple[Path, str]:
    """(template path, rendered diff text) of one patch on one tree."""
    path = series.diff_file(patch, tree_name)
    text = render_template(read_diff(path), str(path), variables, tree_name=tree_name)
    if not re.search(r"^diff --git ", text, re.M):
        raise UserError(f"{path}: no 'diff --git' header: not a diff "
                        f"({series.label} patch {patch} on tree {tree_name})")
    return path, text


def _render_one(series: series_mod.Series, tree, repo: Path, start: str, author: str,
                out_dir: Path, profile: dict) -> RenderResult:
    """Render one series version on start; commits, branch and patch files."""
    name, mail = git.parse_identity(author)
    variables = dict(tree=_TreeVars(tree), series=series)
    variables.update(profile)
    tmp = Path(tempfile.mkdtemp(prefix="patchkit-render-"))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # private staging folder beside the output: two renders never share one
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    stage.chmod(0o755)
    try:
        index = git.Index(repo, tmp / "index", start)
        parent = start
        prev_tree = git.out(repo, "rev-parse", f"{start}^{{tree}}")
        shas, subjects = [], []
        for i, patch in enumerate(series.patches):
            path, text = render_diff(series, patch, tree.name, variables)
            rendered = tmp / f"{i + 1:04d}-{patch}.diff"
            rendered.write_text(text, encoding="utf-8", errors="surrogateescape")
            res = index.apply(rendered)
            if res.returncode:
                raise apply_error(series, patch, tree.name, path, rendered, text, res.stderr,
                                  index, parent)
            for note in offsets(res.stdout + res.stderr):
                ui.info("render", f"{series.label} patch {patch} on {tree.name}: {note} "
                                  f"({path}; context matched exactly, no fuzz)")
            tree_id = index.write_tree()
            if tree_id == prev_tree:
                raise UserError(f"{path}: the diff changes nothing on tree {tree.name} "
                                f"({series.label} patch {patch}); a patch must change its files")
            prev_tree = tree_id
            message = render_message(series.patch_dir(patch), variables, author, tree.name)
            parent = index.commit(tree_id, parent, message, name, mail, git_date(series, i))
            subjects.append(message.split("\n", 1)[0])
            shas.append(parent)
        proc.run(format_patch_argv(repo, start, parent, stage, series), env=git.clean_env())
        patch_files = sorted(stage.glob("*.patch"))
        commits = [Commit(sha, subject, patch, out_dir / pfile.name, diffstat_of(pfile))
                   for sha, subject, patch, pfile in zip(shas, subjects, series.patches,
                                                         patch_files, strict=True)]
        # only a fully rendered series moves the branch and replaces the output
        _replace_dir(stage, out_dir)
        git.run(repo, "update-ref", f"refs/heads/{series.branch}", parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)
    return RenderResult(tree=tree, series=series, repo=repo, base_commit=tree.base_commit,
                        start=start, tip=parent, commits=commits, out_dir=out_dir,
                        author=author)


# ------------------------------------------------------------------ a diff that does not apply

def offsets(output: str) -> list[str]:
    """'mm/page_io.c hunk 2 applied at line 57 (offset 3 lines)' for each hunk
    git apply --verbose placed away from its @@ line."""
    notes, current = [], "?"
    for line in output.splitlines():
        m = re.match(r"Checking patch (.+)\.\.\.$", line)
        if m:
            current = m[1]
        m = re.match(r"Hunk #(\d+) succeeded at (\d+) \(offset (-?\d+) lines?\)", line)
        if m:
            notes.append(f"{current} hunk {m[1]} applied at line {m[2]} "
                         f"(offset {m[3]} lines)")
    return notes


def hunks_of(text: str) -> list[tuple[str, int, int, str]]:
    """(file, old start line, line in the diff text, @@ header) of every hunk."""
    out, current = [], None
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"diff --git a/(\S+) b/(\S+)", line)
        if m:
            current = m[2]
            continue
        m = re.match(r"@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@", line)
        if m and current is not None:
            out.append((current, int(m[1]), n, m[0]))
    return out


def apply_error(series, patch: str, tree_name: str, path: Path, rendered: Path, text: str,
                stderr: str, index: git.Index, parent: str) -> UserError:
    """One line: series, version, patch, tree, file, hunk, the command that shows it."""
    keep = (paths.cache_dir() / "render-failed"
            / f"{series.name}-v{series.version}-{tree_name}-{patch}.diff")
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rendered, keep)
    show = index.apply_reproducer(parent, keep, keep.with_suffix(".index"))
    where = f"{series.label} patch {patch} on tree {tree_name}"
    hunks = hunks_of(text)
    m = re.search(r"error: patch failed: (.+):(\d+)", stderr or "")
    if m:
        file, line = m[1], int(m[2])
        mine = [h for h in hunks if h[0] == file]
        k = next((i for i, h in enumerate(mine, 1) if h[1] == line), None)
        if k is not None:
            _, _, dline, header = mine[k - 1]
            what = f"{file} hunk {k}/{len(mine)} ({header}, {path}:{dline}) does not apply"
        else:
            what = f"{file} hunk at line {line} ({path}) does not apply"
        return UserError(f"{where}: {what}; show the conflict: {show}")
    m = re.search(r"error: (.+?): (does not exist in index|already exists in index)", stderr or "")
    if m:
        file = m[1]
        mine = [h for h in hunks if h[0] == file]
        first = f"hunk 1/{len(mine)} ({mine[0][3]}, {path}:{mine[0][2]}), " if mine else ""
        state = "does not exist" if m[2].startswith("does not") else "exists already"
        return UserError(f"{where}: {file} {first}the file {state} on the tree; "
                         f"show the conflict: {show}")
    detail = " ".join((stderr or "").strip().splitlines()[-2:]) or "git apply failed"
    return UserError(f"{where}: {path} does not apply: {detail}; show the conflict: {show}")


class _TreeVars:
    """What templates see as {{ tree.name }} / {{ tree.version }}."""

    def __init__(self, tree):
        self.name = tree.name
        self.version = tree.version


def _replace_dir(stage: Path, out_dir: Path) -> None:
    """Swap stage in as out_dir so a reader never sees half the files."""
    old = stage.with_name(stage.name + ".old")
    if out_dir.exists():
        out_dir.rename(old)
    stage.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def diffstat_of(pfile: Path) -> list[FileStat]:
    """Per file insertions and deletions of one patch file."""
    from unidiff import PatchSet

    with open(pfile, encoding="utf-8", errors="surrogateescape") as f:
        patch = PatchSet(f)
    return [FileStat(p.path, p.added, p.removed) for p in patch]


def write_cover_letter(result: RenderResult) -> Path | None:
    """0000-cover-letter.patch, written by patchkit/cover.py into result.out_dir
    (the same cover letter patchkit send mails)."""
    from patchkit import cover

    return cover.write_cover(result)


def render(name: str, tree, *, author: str | None = None, out_root: Path | None = None,
           root: Path | None = None, profiles: Path | None = None,
           version: int | None = None) -> RenderResult:
    """Render series name (at version, default: see series.load) and the series
    it depends on on tree; returns the last result.

    out_root: folder that receives one <series>-v<N>/ per series of the chain
    (default paths.out_dir()/<tree>/)."""
    chain = series_mod.chain(name, root, version=version, tree=tree.name)
    repo = work_repo(tree)
    author = author or git.identity(Path(tree.path))
    profile = load_profile(tree.name, profiles)
    start = tree.base_commit
    done: list[RenderResult] = []
    for s in chain:
        out = (out_root / f"{s.name}-v{s.version}") if out_root else default_out_dir(tree, s)
        with ui.stage(f"render {s.name}", f"on {tree.name}"):
            result = _render_one(s, tree, repo, start, author, out, profile)
        result.dependencies = list(done)
        result.cover_letter = write_cover_letter(result)
        done.append(result)
        start = result.tip
    return done[-1]


def render_series(name: str, *, tree, author: str | None = None,
                  out_root: Path | None = None) -> RenderResult:
    """render() with keyword arguments, as validate.py and check.py call it."""
    return render(name, tree, author=author, out_root=out_root)


def renderer_for_send(args, series: series_mod.Series) -> RenderResult:
    """send.RENDERER: render the series (at the version send asked for) on the pinned tree."""
    return render(str(series.folder), open_tree(getattr(args, "tree", None)),
                  version=series.version)


def open_tree(spec: str | None):
    """tree.open_tree(spec): the pinned tree (None), a tree name, or a checkout."""
    from patchkit import tree as trees

    return trees.open_tree(spec)


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


def run(args) -> int:
    if proc.DRY_RUN:
        raise UserError("--dry-run is not supported by render: its git queries must run",
                        hint="render writes only patchkit's cache branch and -o DIR; "
                             "apply checks everything before it changes the checkout")
    # an unknown series or version fails before any tree work
    series_mod.chain(args.series, version=args.series_version)
    tree = open_tree(args.tree)
    result = render(args.series, tree, author=args.author, out_root=args.output,
                    version=args.series_version)
    for c in result.commits:
        ui.info("render", f"{c.sha[:12]} {c.subject}")
    ui.info("render", f"branch {result.series.branch} in {result.repo}")
    ui.info("render", f"{len(result.commits)} patches in {result.out_dir}: {result.summary()}")
    return 0
