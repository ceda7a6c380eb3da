"""patchkit template import: turn one git commit into a patch folder.

    patchkit template import --repo R --commit C --series DIR [--patch NAME] [--profile P]
    patchkit template import --repo R --commit A..B --series DIR [--profile P]

writes DIR/NAME/message.j2 (the commit message without Signed-off-by) and
DIR/NAME/edits.toml with one edit per hunk of `git diff -U0 C^ C`:

  * a changed or removed region becomes `replace` (or `delete`) anchored on
    its old text, grown by context lines until it matches exactly once in
    the file as it is when the edit runs (edits apply in order);
  * a pure addition becomes `insert_after` (or `insert_before`) on the
    fewest neighbouring lines that match exactly once;
  * a new file becomes `create`.

With --profile, every [names] value of templates/profiles/<P>.toml found
(as a whole word) in anchors and code becomes `{{ name }}`.  Literal Jinja
delimiters in kernel code are escaped.  Before anything is written, the
folder is rendered on C^ in memory and must reproduce C's files exactly;
the folder appears only when it does (nothing is left half-written).
DIR/series.toml is created (or gets NAME appended to `patches`).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from patchkit import paths, proc, render, ui
from patchkit.errors import UserError

CODE_FILE_LINES = 25  # longer snippets go to a .j2 file beside edits.toml


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


# ------------------------------------------------------------ TOML writing

def toml_string(s: str) -> str:
    """A TOML string that tomllib reads back as s."""
    plain = not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", s)
    if "\n" in s and plain and "'''" not in s and not s.endswith("'"):
        return "'''\n" + s + "'''"
    if "\n" not in s and plain and "'" not in s and "\t" not in s:
        return "'" + s + "'"
    return json.dumps(s, ensure_ascii=False)


def toml_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "[" + ", ".join(toml_string(i) for i in items) + "]"
    return "[\n" + "".join(f"    {toml_string(i)},\n" for i in items) + "]"


# ------------------------------------------------------------ hunks -> edits

def _occurrences(keys: list[str], a: int, b: int) -> int:
    want = keys[a:b]
    n = b - a
    first = want[0]
    count = 0
    for i in range(0, len(keys) - n + 1):
        if keys[i] == first and keys[i:i + n] == want:
            count += 1
            if count > 1:
                break
    return count


def _key(line: str) -> str:
    return line[:-1] if line.endswith("\n") else line


def choose_edit(cur: list[str], pos: int, n_old: int, new: list[str]) -> dict:
    """One edit (op, anchor text, code) turning cur[pos:pos+n_old] into new.

    The anchor is the smallest region around the change that occurs exactly
    once in cur (the file as it is when this edit runs)."""
    keys = [_key(line) for line in cur]
    total = len(cur)

    def unique(a, b):
        return b > a and _occurrences(keys, a, b) == 1

    if n_old > 0:
        a, b = pos, pos + n_old
        up = True
        while not unique(a, b):
            if (up and a > 0) or b >= total:
                a -= 1
            else:
                b += 1
            up = not up
        if (a, b) == (pos, pos + n_old):
            op = "replace" if new else "delete"
            return {"op": op, "anchor": cur[a:b], "code": new}
        return {"op": "replace", "anchor": cur[a:b],
                "code": cur[a:pos] + new + cur[pos + n_old:b]}
    if total == 0:
        raise UserError("cannot anchor an addition in an empty file")
    for k in range(1, total + 1):
        if pos - k >= 0 and unique(pos - k, pos):
            return {"op": "insert_after", "anchor": cur[pos - k:pos], "code": new}
        if pos + k <= total and unique(pos, pos + k):
            return {"op": "insert_before", "anchor": cur[pos:pos + k], "code": new}
    # a repetitive file: anchor on context both sides and replace it
    a, b = max(pos - 1, 0), min(pos + 1, total)
    while not unique(a, b):
        a, b = max(a - 1, 0), min(b + 1, total)
    return {"op": "replace", "anchor": cur[a:b], "code": cur[a:pos] + new + cur[pos:b]}


def _lines_of(repo: Path, commit: str, path: str) -> list[str]:
    data = proc.run(["git", "-C", str(repo), "cat-file", "blob", f"{commit}:{path}"],
                    input=b"", env=render.CLEAN_GIT_ENV).stdout
    return data.decode("utf-8", "surrogateescape").splitlines(keepends=True)


def file_edits(repo: Path, parent: str, commit: str, patched) -> list[dict]:
    """Edits (raw text, not yet templated) for one file of the diff."""
    path = patched.path
    if patched.is_binary_file:
        raise UserError(f"{commit[:12]}: {path} is binary; templates hold text only")
    if patched.is_removed_file:
        raise UserError(f"{commit[:12]}: deletes {path}; removing files is not supported "
                        "by templates yet", hint="split the deletion into its own commit "
                        "and keep it out of the series")
    new_lines = _lines_of(repo, commit, path)
    if patched.is_added_file:
        return [{"file": path, "op": "create", "code": new_lines}]
    cur = _lines_of(repo, parent, path)
    edits, offset = [], 0
    for hunk in patched:
        n_old, n_new = hunk.source_length, hunk.target_length
        pos = (hunk.source_start - 1 if n_old else hunk.source_start) + offset
        new = new_lines[hunk.target_start - 1:hunk.target_start - 1 + n_new] if n_new else []
        edit = choose_edit(cur, pos, n_old, new)
        edit["file"] = path
        edits.append(edit)
        cur[pos:pos + n_old] = new
        offset += n_new - n_old
    if cur != new_lines:
        raise UserError(f"{commit[:12]}: could not follow the hunks of {path} "
                        "(is it a rename or mode change?)")
    return edits


def message_template(message: str) -> str:
    lines = [line for line in message.splitlines()
             if not re.match(r"\s*Signed-off-by:", line, re.I)]
    while lines and not lines[-1].strip():
        lines.pop()
    return escape("\n".join(lines) + "\n")


def edits_toml(edits: list[dict], names: dict | None) -> tuple[str, dict[str, str]]:
    """edits.toml text and the code files it refers to (name -> content)."""
    files = sorted(dict.fromkeys(e["file"] for e in edits))
    out = ["# Imported by patchkit template import; see docs/templates.md.\n",
           f"files = {toml_list(files)}\n"]
    code_files: dict[str, str] = {}
    for n, e in enumerate(edits, 1):
        out.append("\n[[edit]]\n")
        out.append(f"file = {toml_string(e['file'])}\n")
        out.append(f"op = {toml_string(e['op'])}\n")
        if "anchor" in e:
            out.append(f"anchor = {{ text = {toml_string(to_template(''.join(e['anchor']), names))} }}\n")
        if e["op"] == "delete":
            continue
        code = to_template("".join(e["code"]), names)
        if e["op"] == "create" or len(e["code"]) > CODE_FILE_LINES:
            base = f"{n:02d}-{Path(e['file']).name}.j2"
            code_files[base] = code
            out.append(f"code_file = {toml_string(base)}\n")
        else:
            out.append(f"code = {toml_string(code)}\n")
    return "".join(out), code_files


def verify(folder: Path, repo: Path, parent: str, commit: str, names: dict | None,
           tree_name: str) -> None:
    """Render folder on parent in memory; its files must equal commit's."""
    template = render.load_patch(folder)
    state = render.FileState(repo, parent)
    render.apply_edits(template, state, dict(names or {}), tree_name)
    for path in template.files:
        want = "".join(_lines_of(repo, commit, path))
        if state.text.get(path) != want:
            raise UserError(f"import of {commit[:12]}: rendering {folder} on {parent[:12]} "
                            f"does not reproduce {path}; please report this with the commit")


def _update_series(series_dir: Path, patch: str, subject: str, commit_date: str) -> None:
    spec = series_dir / "series.toml"
    if not spec.exists():
        name = series_dir.name
        day = commit_date[:10].replace("-", "")
        digest = hashlib.sha256(f"{name}{subject}".encode()).hexdigest()[:12]
        spec.write_text(
            f"name = {toml_string(name)}\n"
            f"subject = {toml_string(subject)}\n"
            f"change-id = \"{day}-{name}-{digest}\"\n"
            "version = 1\n"
            f"patches = {toml_list([patch])}\n"
        )
        return
    text = spec.read_text()
    m = re.search(r"^patches\s*=\s*\[(.*?)\]", text, re.M | re.S)
    if not m:
        raise UserError(f"{spec}: no patches = [...] to add {patch!r} to")
    import tomllib
    current = tomllib.loads(text).get("patches", [])
    if patch in current:
        return
    new = f"patches = {toml_list(current + [patch])}"
    spec.write_text(text[:m.start()] + new + text[m.end():])


def slug(subject: str) -> str:
    """A file-name-safe form of a subject, as git format-patch makes it."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", subject).strip("-")[:52].rstrip("-") or "patch"


def next_patch_name(series_dir: Path, subject: str) -> str:
    """NNNN-<subject slug>, NNNN one more than the patches series.toml lists."""
    import tomllib

    spec = Path(series_dir) / "series.toml"
    count = 0
    if spec.is_file():
        try:
            count = len(tomllib.loads(spec.read_text()).get("patches", []))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{spec}: {exc}") from exc
    return f"{count + 1:04d}-{slug(subject)}"


def import_range(repo: Path, rev_range: str, series_dir: Path, profile: str | None = None,
                 profiles: Path | None = None) -> list[Path]:
    """Import every commit of rev_range (oldest first) as the next patch folders."""
    res = proc.run(["git", "-C", str(repo), "rev-list", "--reverse", rev_range], check=False)
    if res.returncode:
        raise UserError(f"{rev_range!r} is not a commit range in {repo}")
    commits = res.stdout.split()
    if not commits:
        raise UserError(f"{rev_range} holds no commits")
    return [import_commit(repo, c, series_dir, None, profile, profiles) for c in commits]


def import_commit(repo: Path, commit: str, series_dir: Path, patch: str | None,
                  profile: str | None = None, profiles: Path | None = None) -> Path:
    """Write series_dir/patch from commit (see module doc); returns the folder.

    patch None: the next NNNN-<subject> name of the series."""
    from unidiff import PatchSet

    repo = Path(repo)
    if not repo.is_dir() or proc.run(["git", "-C", str(repo), "rev-parse", "--git-dir"],
                                     check=False).returncode:
        raise UserError(f"{repo} is not a git repository", hint="pass --repo PATH")
    res = proc.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet",
                    f"{commit}^{{commit}}"], check=False)
    if res.returncode:
        raise UserError(f"{commit!r} is not a commit in {repo}")
    sha = res.stdout.strip()
    parents = proc.git(repo, "rev-list", "--parents", "-n", "1", sha).split()[1:]
    if len(parents) != 1:
        raise UserError(f"{sha[:12]} has {len(parents)} parents; import needs exactly one")
    parent = parents[0]
    names = render.load_profile(profile, profiles) if profile else None
    message = proc.git(repo, "log", "-1", "--format=%B", sha)
    subject = message.splitlines()[0] if message else sha[:12]
    patch = patch or next_patch_name(series_dir, subject)
    folder = Path(series_dir) / patch
    if folder.exists():
        raise UserError(f"{folder} exists already", hint="remove it or pick another --patch")
    diff = proc.run(["git", "-C", str(repo), "diff", "-U0", "--no-renames", "--no-color",
                     "--no-ext-diff", parent, sha], input=b"", env=render.CLEAN_GIT_ENV).stdout
    patchset = PatchSet(diff.decode("utf-8", "surrogateescape"))
    if not len(patchset):
        raise UserError(f"{sha[:12]} changes no file")
    edits = []
    for patched in patchset:
        edits.extend(file_edits(repo, parent, sha, patched))
    text, code_files = edits_toml(edits, names)
    stage = folder.with_name(f".{patch}.importing")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        (stage / "edits.toml").write_text(text)
        (stage / "message.j2").write_text(message_template(message))
        for name, code in code_files.items():
            (stage / name).write_text(code, errors="surrogateescape")
        verify(stage, repo, parent, sha, names, profile or "(no profile)")
        stage.rename(folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    _update_series(Path(series_dir), patch, subject,
                   proc.git(repo, "log", "-1", "--format=%aI", sha))
    ui.info("template", f"imported {sha[:12]} as {folder}: {len(edits)} edits, "
                        "round trip on the parent commit PASS")
    return folder


# ------------------------------------------------------------ CLI

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: import needs its git queries to run'


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    p = sub.add_parser("import", help="turn one git commit into a patch folder",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", type=Path, default=Path("."), help="kernel git repository")
    p.add_argument("--commit", required=True,
                   help="the commit to import, or a range A..B (each commit, oldest first)")
    p.add_argument("--series", type=Path, required=True,
                   help="series folder (templates/<name>); series.toml is created if missing")
    p.add_argument("--patch", help="patch folder name (default: NNNN-<subject>)")
    p.add_argument("--profile", help=f"profile name in {paths.PROFILES} "
                                     "(its values become {{ name }})")


def run(args) -> int:
    if proc.DRY_RUN:
        raise UserError("--dry-run is not supported by template import: its git queries must run",
                        hint="render writes only patchkit's cache branch and -o DIR; "
                             "apply checks everything before it changes the checkout")
    if args.template_command == "import":
        if ".." in args.commit:
            if args.patch:
                raise UserError("--patch names one folder; leave it out to import a range")
            import_range(args.repo, args.commit, args.series, args.profile)
        else:
            import_commit(args.repo, args.commit, args.series, args.patch, args.profile)
    return 0
