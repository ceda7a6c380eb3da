"""patchkit render: a series (and what it depends on) -> commits + patch files.

For every series of the chain (dependencies first) and every patch of it:
read the patch folder's edits.toml, render its anchors and code with Jinja2
and the tree's profile (templates/profiles/<tree>.toml, [names] table),
place each edit at its one anchor, and commit the result with git plumbing
(a private index, hash-object, commit-tree) on branch
patchkit/<series>-v<N>.  Nothing ever checks out a work tree: the tree's
repository is used in place when it is patchkit's own cache, otherwise
through a bare repository in the cache that borrows its objects.

Commit dates are fixed (series.toml `date`, one second per patch) and the
author is explicit, so rendering twice gives the same commit ids and the
same patch files byte for byte.  `git format-patch` writes the files;
unidiff reads them back for the diffstat and to check that each patch
touches exactly the files its edits.toml declares.

edits.toml (see docs/templates.md):

    files = ["mm/page_io.c"]
    [[edit]]
    file = "mm/page_io.c"
    op = "insert_after"            # insert_before | insert_after | replace | delete | create
    anchor = { function = "swap_write_unplug" }
    code = '''
    ...Jinja2...
    '''                            # or code_file = "snippet.c.j2"
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import jinja2

from patchkit import anchors, paths, proc, series as series_mod, ui
from patchkit.errors import UserError

# Git must not read the user's global or system config for anything that
# shapes the output (diff.noprefix, format.signOff, ...).
CLEAN_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                 "LC_ALL": "C", "TZ": "UTC"}


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

@dataclass
class Edit:
    index: int              # 1-based position in edits.toml
    line: int               # line of its [[edit]] header
    file: str
    op: str
    anchor: dict | None
    code: str | None        # Jinja2 source
    code_origin: str        # where code came from, for messages
    code_line: int          # line in that origin where code starts (1-based)


@dataclass
class PatchTemplate:
    folder: Path
    files: list[str]
    edits: list[Edit]

    @property
    def edits_toml(self) -> Path:
        return self.folder / "edits.toml"


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


def _header_lines(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines())
            if re.match(r"\s*\[\[\s*edit\s*\]\]", line)]


def load_patch(folder: Path) -> PatchTemplate:
    """Read and check folder/edits.toml (no rendering yet)."""
    path = folder / "edits.toml"
    if not path.is_file():
        raise UserError(f"{folder}: no edits.toml", hint="see docs/templates.md")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}") from exc
    headers = _header_lines(text)
    raw_edits = data.get("edit", [])
    if not isinstance(raw_edits, list) or not raw_edits:
        raise UserError(f"{path}: no [[edit]] tables")
    unknown = sorted(set(data) - {"files", "edit"})
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)} (expected files, [[edit]])")
    edits = []
    for i, raw in enumerate(raw_edits, 1):
        line = headers[i - 1] if i <= len(headers) else 1
        where = f"{path}:{line} (edit {i})"
        bad = sorted(set(raw) - {"file", "op", "anchor", "code", "code_file"})
        if bad:
            raise UserError(f"{where}: unknown key(s) {', '.join(bad)}")
        if not isinstance(raw.get("file"), str) or not raw["file"]:
            raise UserError(f"{where}: missing file = \"path/in/tree\"")
        op = raw.get("op")
        if op not in anchors.OPS:
            raise UserError(f"{where}: op {op!r} is not one of {', '.join(anchors.OPS)}")
        anchor = raw.get("anchor")
        if op == "create":
            if anchor is not None:
                raise UserError(f"{where}: a create edit takes no anchor")
        else:
            if anchor is None:
                raise UserError(f"{where}: {op} needs an anchor")
            try:
                anchors.kind_of(anchor)
            except anchors.AnchorError as exc:
                raise UserError(f"{where}: {exc.msg}") from exc
        if "code" in raw and "code_file" in raw:
            raise UserError(f"{where}: give code or code_file, not both")
        code, origin, code_line = None, where, line
        if "code_file" in raw:
            cpath = folder / raw["code_file"]
            if not cpath.is_file():
                raise UserError(f"{where}: code_file {cpath} does not exist")
            code, origin, code_line = cpath.read_text(), str(cpath), 1
        elif "code" in raw:
            code = str(raw["code"])
            code_line = _code_line(text, line)
            origin = str(path)
        if op == "delete":
            if code is not None:
                raise UserError(f"{where}: delete takes no code")
        elif code is None:
            raise UserError(f"{where}: {op} needs code or code_file")
        edits.append(Edit(i, line, raw["file"], op, anchor, code, origin, code_line))
    files = data.get("files")
    if files is None:
        files = sorted({e.file for e in edits})
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise UserError(f"{path}: files must be a list of paths")
    undeclared = sorted({e.file for e in edits} - set(files))
    if undeclared:
        raise UserError(f"{path}: edits touch {', '.join(undeclared)}, not in files = [...]")
    return PatchTemplate(folder, files, edits)


def _code_line(text: str, header: int) -> int:
    """Line where an inline 'code =' value starts, after the header line."""
    lines = text.splitlines()
    for i in range(header, len(lines)):
        if re.match(r"\s*code\s*=", lines[i]):
            # a multi-line string starts on the next line
            return i + 2 if re.search(r"('''|\"\"\")\s*$", lines[i]) else i + 1
        if re.match(r"\s*\[", lines[i]):
            break
    return header


def apply_edits(template: PatchTemplate, files: "FileState", variables: dict,
                tree_name: str) -> None:
    """Apply every edit of template to files, in order."""
    toml_path = template.edits_toml
    for edit in template.edits:
        where = f"{toml_path}:{edit.line}"
        code = None
        if edit.code is not None:
            code = render_template(edit.code, edit.code_origin, variables, edit.code_line, tree_name)
        current = files.get(edit.file)
        if edit.op == "create":
            if current is not None:
                raise UserError(f"{where}: create {edit.file}: the file already exists "
                                f"in tree {tree_name}", hint="use replace or insert_* instead")
            files.put(edit.file, code or "")
            continue
        if current is None:
            raise UserError(f"{where}: {edit.file} does not exist in tree {tree_name}")
        anchor = _render_anchor_value(edit.anchor, str(toml_path), edit.line, variables,
                                      tree_name)
        try:
            region = anchors.locate(current, anchor)
        except anchors.AnchorError as exc:
            if exc.matches:
                what = "anchor not unique"
            elif "matched nothing" in exc.msg or "matched 0 times" in exc.msg:
                what = "anchor not found"
            else:
                what = "bad anchor"
            raise UserError(f"{where}: {what} in {edit.file} on tree {tree_name}: "
                            f"{exc.msg}") from exc
        files.put(edit.file, anchors.splice(current, edit.op, region, code or ""))


def _render_anchor_value(value, origin: str, line: int, variables: dict, tree_name: str):
    """Every string of an anchor table rendered (errors point at its [[edit]])."""
    if isinstance(value, str):
        return render_template(value, origin, variables, line, tree_name)
    if isinstance(value, dict):
        return {k: _render_anchor_value(v, origin, line, variables, tree_name)
                for k, v in value.items()}
    return value


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

AUTHOR_RE = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$")


def parse_author(author: str) -> tuple[str, str]:
    m = AUTHOR_RE.match(author or "")
    if not m:
        raise UserError(f"author {author!r} is not 'Name <mail@example.org>'")
    return m[1], m[2]


def author_from_git(repo: Path | None = None) -> str:
    """'Name <mail>' from git config user.name / user.email."""
    argv = ["git"] + (["-C", str(repo)] if repo else []) + ["config", "--get"]
    name = proc.run(argv + ["user.name"], check=False).stdout.strip()
    mail = proc.run(argv + ["user.email"], check=False).stdout.strip()
    if not name or not mail:
        raise UserError("no author identity: git config user.name/user.email are not set",
                        hint="pass --author 'Your Name <you@example.org>' or run "
                             "git config --global user.name ... and user.email ...")
    return f"{name} <{mail}>"


def git_date(series: series_mod.Series, index: int) -> str:
    """Commit date of the index-th patch (0-based): one second apart."""
    dt = series.commit_date + timedelta(seconds=index)
    return f"@{int(dt.timestamp())} +0000"


def format_patch_argv(repo: Path, start: str, tip: str, out: Path,
                      series: series_mod.Series) -> list[str]:
    return ["git", "-C", str(repo), "format-patch", "--no-cover-letter", "--no-thread",
            "--no-signoff", "--abbrev=12", f"--subject-prefix={subject_prefix(series)}",
            "-o", str(out), f"{start}..{tip}"]


def subject_prefix(series: series_mod.Series) -> str:
    """'PATCH', 'RFC PATCH v2', 'PATCH mm-new v3' (v1 carries no v1)."""
    parts = []
    pre = [p for p in series.prefixes if p.upper() == "RFC"]
    post = [p for p in series.prefixes if p.upper() != "RFC"]
    parts += pre + ["PATCH"] + post
    if series.version > 1:
        parts.append(f"v{series.version}")
    return " ".join(parts)


class FileState:
    """Contents of the files a series touches, read lazily from a commit."""

    def __init__(self, repo: Path, commit: str):
        self.repo = repo
        self.commit = commit
        self.text: dict[str, str | None] = {}
        self.mode: dict[str, str] = {}
        self.dirty: set[str] = set()

    def get(self, path: str) -> str | None:
        if path not in self.text:
            out = proc.git(self.repo, "ls-tree", "-z", self.commit, "--", path)
            if not out:
                self.text[path] = None
            else:
                meta = out.split("\t", 1)[0].split()
                mode, kind, sha = meta
                if kind != "blob":
                    raise UserError(f"{path} is a {kind}, not a file")
                data = proc.run(["git", "-C", str(self.repo), "cat-file", "blob", sha],
                                input=b"").stdout
                self.mode[path] = mode
                self.text[path] = data.decode("utf-8", "surrogateescape")
        return self.text[path]

    def put(self, path: str, text: str) -> None:
        self.text[path] = text
        self.mode.setdefault(path, "100644")
        self.dirty.add(path)


class Committer:
    """Commits file contents on a private index; never touches a work tree."""

    def __init__(self, repo: Path, start: str, tmp: Path):
        self.repo = repo
        self.env = dict(CLEAN_GIT_ENV, GIT_INDEX_FILE=str(tmp / "index"))
        self.git("read-tree", start)

    def git(self, *args, input=None, env=None) -> str:
        full = dict(self.env, **(env or {}))
        res = proc.run(["git", "-C", str(self.repo), *args], env=full, input=input)
        out = res.stdout
        return (out.decode() if isinstance(out, bytes) else out).strip()

    def commit(self, parent: str, files: FileState, message: str,
               name: str, mail: str, date: str) -> str:
        lines = []
        for path in sorted(files.dirty):
            data = files.text[path].encode("utf-8", "surrogateescape")
            sha = self.git("hash-object", "-w", "--stdin", input=data)
            lines.append(f"{files.mode[path]} {sha}\t{path}")
        files.dirty.clear()
        if lines:
            self.git("update-index", "--add", "--index-info", input="\n".join(lines) + "\n")
        tree = self.git("write-tree")
        self.last_tree = tree
        ident = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": mail, "GIT_AUTHOR_DATE": date,
                 "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": mail,
                 "GIT_COMMITTER_DATE": date}
        return self.git("commit-tree", tree, "-p", parent, "-F", "-", input=message, env=ident)


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
    objects = Path(proc.git(path, "rev-parse", "--git-common-dir"))
    if not objects.is_absolute():
        objects = path / objects
    objects = (objects / "objects").resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    repo = paths.cache_dir() / "render-repos" / f"{tree.name}-{digest}.git"
    if not (repo / "HEAD").is_file():
        tmp = repo.with_name(repo.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        proc.run(["git", "init", "-q", "--bare", str(tmp)])
        (tmp / "objects" / "info" / "alternates").write_text(f"{objects}\n")
        tmp.rename(repo)
    return repo


def default_out_dir(tree, series: series_mod.Series) -> Path:
    return paths.out_dir() / tree.name / f"{series.name}-v{series.version}"


def _render_one(series: series_mod.Series, tree, repo: Path, start: str, author: str,
                out_dir: Path, profile: dict) -> RenderResult:
    """Render one series on start; commits, branch and patch files."""
    name, mail = parse_author(author)
    variables = dict(tree=_TreeVars(tree), series=series)
    variables.update(profile)
    templates = [load_patch(series.patch_dir(p)) for p in series.patches]
    tmp = Path(tempfile.mkdtemp(prefix="patchkit-render-"))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # private staging folder beside the output: two renders never share one
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    stage.chmod(0o755)
    try:
        committer = Committer(repo, start, tmp)
        state = FileState(repo, start)
        parent = start
        prev_tree = proc.git(repo, "rev-parse", f"{start}^{{tree}}")
        shas, subjects = [], []
        for i, (patch, template) in enumerate(zip(series.patches, templates, strict=True)):
            apply_edits(template, state, variables, tree.name)
            message = render_message(series.patch_dir(patch), variables, author, tree.name)
            parent = committer.commit(parent, state, message, name, mail, git_date(series, i))
            subjects.append(message.split("\n", 1)[0])
            if committer.last_tree == prev_tree:
                raise UserError(f"{template.edits_toml}: the edits change nothing on tree "
                                f"{tree.name}; a patch must change its files")
            prev_tree = committer.last_tree
            shas.append(parent)
        proc.run(format_patch_argv(repo, start, parent, stage, series), env=CLEAN_GIT_ENV)
        patch_files = sorted(stage.glob("*.patch"))
        commits = []
        for sha, subject, patch, template, pfile in zip(shas, subjects, series.patches,
                                                        templates, patch_files, strict=True):
            stats = check_patch_file(pfile, template, tree.name)
            commits.append(Commit(sha, subject, patch, out_dir / pfile.name, stats))
        # only a fully checked series moves the branch and replaces the output
        _replace_dir(stage, out_dir)
        proc.git(repo, "update-ref", f"refs/heads/{series.branch}", parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)
    return RenderResult(tree=tree, series=series, repo=repo, base_commit=tree.base_commit,
                        start=start, tip=parent, commits=commits, out_dir=out_dir,
                        author=author)


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


def check_patch_file(pfile: Path, template: PatchTemplate, tree_name: str) -> list[FileStat]:
    """Diffstat of one patch file; UserError unless it touches exactly template.files."""
    from unidiff import PatchSet

    with open(pfile, encoding="utf-8", errors="surrogateescape") as f:
        patch = PatchSet(f)
    stats = [FileStat(p.path, p.added, p.removed) for p in patch]
    touched = {s.path for s in stats}
    declared = set(template.files)
    if touched != declared:
        parts = []
        if declared - touched:
            parts.append("declared but unchanged: " + ", ".join(sorted(declared - touched)))
        if touched - declared:
            parts.append("changed but not declared: " + ", ".join(sorted(touched - declared)))
        raise UserError(f"{template.edits_toml}: on tree {tree_name} the patch "
                        f"{pfile.name} does not touch exactly its files ({'; '.join(parts)})")
    return stats


def write_cover_letter(result: RenderResult) -> Path | None:
    """0000-cover-letter.patch, written by patchkit/cover.py into result.out_dir
    (the same cover letter patchkit send mails)."""
    from patchkit import cover

    return cover.write_cover(result)


def render(name: str, tree, *, author: str | None = None, out_root: Path | None = None,
           root: Path | None = None, profiles: Path | None = None,
           version: int | None = None) -> RenderResult:
    """Render series name and its dependencies on tree; returns the last result.

    out_root: folder that receives one <series>-v<N>/ per series of the chain
    (default paths.out_dir()/<tree>/)."""
    chain = series_mod.chain(name, root)
    if version is not None:
        chain[-1].version = version
    repo = work_repo(tree)
    author = author or author_from_git(Path(tree.path))
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
                        help="render as version N (default: series.toml)")


def run(args) -> int:
    if proc.DRY_RUN:
        raise UserError("--dry-run is not supported by render: its git queries must run",
                        hint="render writes only patchkit's cache branch and -o DIR; "
                             "apply checks everything before it changes the checkout")
    series_mod.chain(args.series)  # an unknown series fails before any tree work
    tree = open_tree(args.tree)
    result = render(args.series, tree, author=args.author, out_root=args.output,
                    version=args.series_version)
    for c in result.commits:
        ui.info("render", f"{c.sha[:12]} {c.subject}")
    ui.info("render", f"branch {result.series.branch} in {result.repo}")
    ui.info("render", f"{len(result.commits)} patches in {result.out_dir}: {result.summary()}")
    return 0
