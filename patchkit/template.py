"""patchkit template import: commits of a kernel checkout become patch folders.

    patchkit template import --repo R --commit C|A..B --series DIR \
        [--version N] [--tree NAME] [--profile NAME|none] [--patch NAME]

For each commit (oldest first) writes DIR/v<N>/<patch>/:

  * message.j2: the commit message without Signed-off-by, Jinja escaped;
  * the change: `git diff --no-renames` of the commit without its `index`
    lines, every [names] value of the profile found as a whole word turned
    into `{{ name }}`, literal Jinja delimiters escaped.  A new patch folder
    gets change.diff; a folder that has a diff already gets <tree>.diff
    when its diff on this tree differs and another tree uses change.diff
    (see docs/templates.md).

Before anything is written, every imported patch is rendered on its
commit's parent (git apply --cached on a private index) and the resulting
tree must be the commit's tree: the round trip is proved, or nothing
changes.  DIR/series.toml and DIR/v<N>/version.toml are created or get the
patch and the tree added.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from patchkit import git, paths, templating, ui
from patchkit import series as series_mod
from patchkit.errors import UserError

DEFAULT_TREE = "linux-source-6.12"


# ------------------------------------------------------------ text -> Jinja

_OPENERS = re.compile(r"\{[{%#]")


def escape(text: str) -> str:
    """Jinja2 source that renders to text exactly."""
    out = _OPENERS.sub(lambda m: "{{ '" + m.group(0) + "' }}", text)
    if out.endswith("{"):
        # keep a following '{{ name }}' from fusing into '{{{'
        out = out[:-1] + "{{ '{' }}"
    return out


def to_template(text: str, names: dict | None) -> str:
    """text as Jinja2 source, with profile values replaced by {{ name }}."""
    values = {}
    for key, value in (names or {}).items():
        if isinstance(value, str) and value and key.isidentifier():
            values.setdefault(value, key)
    if not values:
        return escape(text)
    alternation = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    pattern = re.compile(r"(?<!\w)(?:" + alternation + r")(?!\w)")
    out, pos = [], 0
    for m in pattern.finditer(text):
        out.append(escape(text[pos:m.start()]))
        out.append("{{ " + values[m.group(0)] + " }}")
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def diff_template(diff: str, names: dict | None) -> str:
    """A `git diff` as the diff template: no index lines, names substituted
    in hunks only (file headers are escaped, never templated)."""
    out, in_header = [], False
    for line in diff.splitlines(keepends=True):
        if line.startswith("diff --git "):
            in_header = True
        elif line.startswith("@@ "):
            in_header = False
        if in_header:
            if line.startswith("index "):
                continue
            out.append(escape(line))
        else:
            out.append(to_template(line, names))
    return "".join(out)


def message_template(message: str) -> str:
    lines = [line for line in message.splitlines()
             if not re.match(r"\s*Signed-off-by:", line, re.I)]
    while lines and not lines[-1].strip():
        lines.pop()
    return escape("\n".join(lines) + "\n")


# ------------------------------------------------------------ TOML writing

def toml_string(s: str) -> str:
    """A TOML string that tomllib reads back as s."""
    import json

    plain = not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", s)
    if "\n" in s and plain and "'''" not in s and not s.endswith("'"):
        return "'''\n" + s + "'''"
    if "\n" not in s and plain and "'" not in s and "\t" not in s:
        return "'" + s + "'"
    return json.dumps(s, ensure_ascii=False)


def toml_list(items: list[str]) -> str:
    """A TOML list of names (basic strings, one per line when more than one)."""
    import json

    if len(items) <= 1:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"
    return "[\n" + "".join(f"    {json.dumps(i)},\n" for i in items) + "]"


def _set_list(text: str, key: str, items: list[str]) -> str:
    """text with `key = [...]` replaced (or added at the top)."""
    new = f"{key} = {toml_list(items)}"
    m = re.search(rf"^{key}\s*=\s*\[(.*?)\]", text, re.M | re.S)
    if m:
        return text[:m.start()] + new + text[m.end():]
    return new + "\n" + text


# ------------------------------------------------------------ one commit

@dataclass
class Imported:
    sha: str
    parent: str
    subject: str
    date: str           # the commit's committer date, ISO
    message: str        # message.j2 text
    diff: str           # diff template text


def slug(subject: str) -> str:
    """A file-name-safe form of a subject, as git format-patch makes it."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", subject).strip("-")[:52].rstrip("-") or "patch"


def resolve_commit(repo: Path, commit: str) -> tuple[str, str]:
    """(sha, its one parent)."""
    sha = git.rev_parse(repo, commit, kind="commit")
    if sha is None:
        raise UserError(f"{commit!r} is not a commit in {repo}")
    parents = git.out(repo, "rev-list", "--parents", "-n", "1", sha).split()[1:]
    if len(parents) != 1:
        raise UserError(f"{sha[:12]} has {len(parents)} parents; import needs exactly one")
    return sha, parents[0]


def read_commit(repo: Path, commit: str, names: dict | None) -> Imported:
    sha, parent = resolve_commit(repo, commit)
    message = git.out(repo, "log", "-1", "--format=%B", sha, clean=True)
    subject = message.splitlines()[0] if message else sha[:12]
    diff = git.run(repo, "diff", "--no-renames", "--no-color", "--no-ext-diff", parent, sha,
                   input=b"", clean=True).stdout.decode("utf-8", "surrogateescape")
    if not diff.strip():
        raise UserError(f"{sha[:12]} changes no file")
    if re.search(r"^Binary files .* differ$", diff, re.M):
        raise UserError(f"{sha[:12]}: changes a binary file; templates hold text diffs only")
    return Imported(sha, parent, subject, git.out(repo, "log", "-1", "--format=%cI", sha),
                    message_template(message), diff_template(diff, names))


def round_trip(repo: Path, item: Imported, names: dict | None, tree_name: str,
               tmp: Path) -> None:
    """Render item's diff on its parent: the tree must be the commit's tree."""
    variables = dict(names or {})
    variables["tree"] = type("TreeVars", (), {"name": tree_name, "version": ""})()
    origin = f"import of {item.sha[:12]}"
    text = templating.render_template(item.diff, origin, variables, tree_name=tree_name)
    diff = tmp / f"{item.sha}.diff"
    diff.write_text(text, encoding="utf-8", errors="surrogateescape")
    index = git.Index(repo, tmp / f"{item.sha}.index", item.parent)
    res = index.apply(diff)
    want = git.out(repo, "rev-parse", f"{item.sha}^{{tree}}")
    got = index.write_tree() if res.returncode == 0 else None
    if got != want:
        detail = res.stderr.strip().splitlines()[-1:] if res.returncode else ["another tree"]
        raise UserError(f"import of {item.sha[:12]}: rendering the imported diff on "
                        f"{item.parent[:12]} does not give the commit's tree ({detail[0]}); "
                        "nothing was written; please report this with the commit")


# ------------------------------------------------------------ writing a version

def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text()) if path.is_file() else {}
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}") from exc


def _same_message(path: Path, item: Imported, names: dict | None, tree_name: str) -> bool:
    """Whether message.j2 renders (on tree_name) to the commit's message."""
    variables = dict(names or {})
    variables["tree"] = type("TreeVars", (), {"name": tree_name, "version": ""})()
    try:
        text = templating.render_template(path.read_text(), str(path), variables,
                                          tree_name=tree_name)
    except UserError:
        return False
    want = templating.render_template(item.message, "import", {}, tree_name=tree_name)

    def clean(t: str) -> list[str]:
        lines = [line.rstrip() for line in t.strip().splitlines()]
        return [line for i, line in enumerate(lines) if line or (i and lines[i - 1])]
    return clean(text) == clean(want)


def _current_diff(folder: Path, tree_name: str) -> Path | None:
    """The diff render uses for tree_name in folder, if any."""
    for name in (f"{tree_name}.diff", series_mod.DEFAULT_DIFF):
        if (folder / name).is_file():
            return folder / name
    return None


def _diff_target(folder: Path, tree_name: str, trees: list[str]) -> Path:
    """Which diff file of an existing patch folder the import for tree_name writes."""
    own = folder / f"{tree_name}.diff"
    if own.is_file() or not (folder / series_mod.DEFAULT_DIFF).is_file():
        return own if own.is_file() else folder / series_mod.DEFAULT_DIFF
    others = [t for t in trees if t != tree_name and not (folder / f"{t}.diff").is_file()]
    return own if others else folder / series_mod.DEFAULT_DIFF


def import_range(repo: Path, rev_range: str, series_dir: Path, profile: str | None = None,
                 profiles: Path | None = None, *, version: int = 1,
                 tree_name: str | None = None, patch: str | None = None) -> list[Path]:
    """Import every commit of rev_range (oldest first, or one commit) into
    series_dir/v<version>/; returns the patch folders written."""
    repo = Path(repo)
    if not git.is_repo(repo):
        raise UserError(f"{repo} is not a git repository", hint="pass --repo PATH")
    if ".." in rev_range:
        if patch:
            raise UserError("--patch names one folder; leave it out to import a range")
        res = git.run(repo, "rev-list", "--reverse", rev_range, check=False)
        if res.returncode:
            raise UserError(f"{rev_range!r} is not a commit range in {repo}")
        commits = res.stdout.split()
        if not commits:
            raise UserError(f"{rev_range} holds no commits")
    else:
        commits = [rev_range]
    tree_name = tree_name or (profile if profile not in (None, "none") else DEFAULT_TREE)
    if profile is None:
        profile = tree_name
    names = None
    if profile and profile != "none":
        names = templating.load_profile(profile, profiles)

    series_dir = Path(series_dir)
    vdir = series_dir / f"v{version}"
    vtoml = vdir / "version.toml"
    vdata = _load_toml(vtoml)
    existing = list(vdata.get("patches", []))
    trees = list(vdata.get("trees", []))
    items = [read_commit(repo, c, names) for c in commits]

    if patch:
        targets = [patch]
    elif existing and len(existing) == len(items):
        targets = existing
    elif existing:
        raise UserError(f"{vtoml} lists {len(existing)} patches, the range holds "
                        f"{len(items)} commits: import a version's patches all at once",
                        hint=f"a new version: --version {version + 1}; or import one commit "
                             "with --patch NAME")
    else:
        targets = [f"{n:04d}-{slug(item.subject)}" for n, item in enumerate(items, 1)]

    with tempfile.TemporaryDirectory(prefix="patchkit-import-") as tmp:
        for item in items:
            round_trip(repo, item, names, tree_name, Path(tmp))

    # proved: write the folders
    written = []
    vdir.mkdir(parents=True, exist_ok=True)
    for item, name in zip(items, targets, strict=True):
        folder = vdir / name
        msg = folder / "message.j2"
        if folder.is_dir() and msg.is_file():
            target = _diff_target(folder, tree_name, trees)
            if not _same_message(msg, item, names, tree_name):
                others = [t for t in trees if t != tree_name]
                if others:
                    ui.warn("template", f"{msg}: kept; the message of {item.sha[:12]} "
                                        f"differs (the version is also on {', '.join(others)})")
                else:
                    msg.write_text(item.message)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            msg.write_text(item.message)
            target = folder / series_mod.DEFAULT_DIFF
        current = _current_diff(folder, tree_name)
        written.append(folder)
        if current is not None and current.read_text(encoding="utf-8", errors="surrogateescape") \
                == item.diff:
            ui.info("template", f"imported {item.sha[:12]}: {current} is that diff already "
                                f"(round trip on {item.parent[:12]} PASS)")
            continue
        target.write_text(item.diff, encoding="utf-8", errors="surrogateescape")
        ui.info("template", f"imported {item.sha[:12]} as {target}: round trip on "
                            f"{item.parent[:12]} PASS")

    patches = existing + [t for t in targets if t not in existing]
    if vtoml.is_file():
        text = vtoml.read_text()
        if patches != existing:
            text = _set_list(text, "patches", patches)
        if tree_name not in trees:
            text = _set_list(text, "trees", trees + [tree_name])
    else:
        text = (f"# {series_dir.name} v{version}; see docs/templates.md\n"
                f"trees = {toml_list(trees + [tree_name])}\n"
                f"date = {items[0].date}\n"
                f"patches = {toml_list(patches)}\n")
    vtoml.write_text(text)
    _ensure_series(series_dir, items[0], version)
    return written


def _ensure_series(series_dir: Path, first: Imported, version: int) -> None:
    spec = series_dir / "series.toml"
    if spec.exists():
        return
    name = series_dir.name
    day = first.date[:10].replace("-", "")
    digest = hashlib.sha256(f"{name}{first.subject}".encode()).hexdigest()[:12]
    spec.write_text(
        f"name = {toml_string(name)}\n"
        f"subject = {toml_string(first.subject)}\n"
        f"change-id = \"{day}-{name}-{digest}\"\n"
        f"version = {version}\n"
    )


def import_commit(repo: Path, commit: str, series_dir: Path, patch: str | None,
                  profile: str | None = None, profiles: Path | None = None, *,
                  version: int = 1, tree_name: str | None = None) -> Path:
    """Import one commit as series_dir/v<version>/<patch> (default NNNN-<subject>)."""
    if patch is None:
        if not git.is_repo(Path(repo)):
            raise UserError(f"{repo} is not a git repository", hint="pass --repo PATH")
        sha, _ = resolve_commit(Path(repo), commit)
        vdata = _load_toml(Path(series_dir) / f"v{version}" / "version.toml")
        subject = git.out(repo, "log", "-1", "--format=%s", sha)
        patch = f"{len(vdata.get('patches', [])) + 1:04d}-{slug(subject)}"
    return import_range(repo, commit, series_dir, profile, profiles, version=version,
                        tree_name=tree_name, patch=patch)[0]


# ------------------------------------------------------------ CLI

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: import needs its git queries to run'


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    p = sub.add_parser("import", help="turn commits into patch folders of a series version",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", type=Path, default=Path("."), help="kernel git repository")
    p.add_argument("--commit", required=True,
                   help="the commit to import, or a range A..B (each commit, oldest first)")
    p.add_argument("--series", type=Path, required=True,
                   help="series folder (templates/<name>); series.toml is created if missing")
    p.add_argument("--version", dest="series_version", type=int, default=1,
                   help="series version: the folder v<N>/ (default 1)")
    p.add_argument("--tree", dest="tree_name",
                   help=f"the tree the commits are on (default {DEFAULT_TREE})")
    p.add_argument("--patch", help="patch folder name for one commit (default: NNNN-<subject>)")
    p.add_argument("--profile", help=f"profile in {paths.PROFILES} whose [names] values "
                                     "become {{ name }} (default: the tree's; none: no names)")


def run(args) -> int:
    if args.options.dry_run:
        raise UserError("--dry-run is not supported by template import: its git queries must run",
                        hint="import writes nothing unless the round trip passes")
    if args.template_command == "import":
        if ".." in args.commit:
            import_range(args.repo, args.commit, args.series, args.profile,
                         version=args.series_version, tree_name=args.tree_name,
                         patch=args.patch)
        else:
            import_commit(args.repo, args.commit, args.series, args.patch, args.profile,
                          version=args.series_version, tree_name=args.tree_name)
    return 0
