"""The series model: one logical series, all its versions, in templates/<name>/.

templates/<name>/series.toml (what every version shares):

    name = "zram-swap-ops"
    subject = "mm/zram: route block swap I/O through swap_ops"   # cover subject
    change-id = "20260614-zram-swap-ops-block-register-a1b2c3d4e5f6"
    version = 1                # the default version
    prefixes = []              # extra subject prefixes: ["RFC"], ["mm-new"]
    to = ["Andrew Morton <akpm@linux-foundation.org>"]
    cc = ["linux-mm@kvack.org"]
    cover = "cover.j2"         # cover letter body, a Jinja2 template
    [changes]                  # (optional) history per version; see version.toml
    2 = "- addressed ..."

templates/<name>/v<N>/version.toml (one version):

    trees = ["linux-source-6.12", "linux-source-7.3"]
    patches = ["0001-register-block-ops", "0002-zram-swap-ops"]
    date = 2026-06-14T12:00:00Z  # commit date of patch 1 (patch k: + k-1 s);
                                 # default: noon UTC of the change-id's date
    subject = "..."              # (optional) this version's cover subject
    changes = "- ..."            # (optional) what changed since v(N-1)
    depends = "swap-batching v1" # for every tree, or per tree:
    [depends]
    "linux-source-6.12" = "swap-batching v2"   # quoted: a bare 6.12 is a dotted key
    "linux-source-7.3" = ""      # nothing

Each patch folder v<N>/<patch>/ holds message.j2 (subject line, blank line,
body; the renderer adds Signed-off-by) and the change as a unified diff:
<tree>.diff for one tree, change.diff for the others (see render.py and
docs/templates.md).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date as _date, datetime, timezone
from pathlib import Path

from patchkit import paths
from patchkit.errors import UserError

DEFAULT_DIFF = "change.diff"


@dataclass
class Series:
    name: str
    subject: str
    change_id: str
    version: int
    folder: Path            # templates/<name>
    patches: list[str]
    prefixes: list[str] = field(default_factory=list)
    depends: str | None = None      # the dependency on the tree chain() resolved, if any
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    cover: str = "cover.j2"         # relative to folder
    changes: dict[int, str] = field(default_factory=dict)
    date: datetime | None = None
    trees: list[str] = field(default_factory=list)   # [] = any tree
    # tree name -> "series vN" or "" (no dependency); key "*" = every tree
    depends_on: dict[str, str] = field(default_factory=dict)
    versions: list[int] = field(default_factory=list)

    @property
    def commit_date(self) -> datetime:
        """Date of the first patch's commit: fixed, so renders are reproducible."""
        if self.date is not None:
            return self.date
        m = re.match(r"(\d{4})(\d{2})(\d{2})-", self.change_id)
        if m:
            try:
                return datetime(int(m[1]), int(m[2]), int(m[3]), 12, tzinfo=timezone.utc)
            except ValueError:
                pass
        return datetime(2026, 1, 1, 12, tzinfo=timezone.utc)

    @property
    def branch(self) -> str:
        return f"patchkit/{self.name}-v{self.version}"

    @property
    def version_dir(self) -> Path:
        return self.folder / f"v{self.version}"

    @property
    def version_toml(self) -> Path:
        return self.version_dir / "version.toml"

    @property
    def label(self) -> str:
        """'swap-batching v2', as errors name a series version."""
        return f"{self.name} v{self.version}"

    def patch_dir(self, patch: str) -> Path:
        return self.version_dir / patch

    def diff_file(self, patch: str, tree_name: str) -> Path:
        """The patch's diff for tree_name: <tree>.diff, else change.diff."""
        folder = self.patch_dir(patch)
        own = folder / f"{tree_name}.diff"
        if own.is_file():
            return own
        default = folder / DEFAULT_DIFF
        if default.is_file():
            return default
        raise UserError(f"{folder}: no {own.name} and no {DEFAULT_DIFF} "
                        f"({self.label} on tree {tree_name})",
                        hint="import the commit: patchkit template import (docs/templates.md)")

    def supports(self, tree_name: str) -> bool:
        return not self.trees or tree_name in self.trees

    def check_tree(self, tree_name: str) -> None:
        if not self.supports(tree_name):
            raise UserError(f"{self.label} does not support tree {tree_name}: "
                            f"{self.version_toml} lists {', '.join(self.trees)}",
                            hint=self._other_versions_hint(tree_name))

    def _other_versions_hint(self, tree_name: str) -> str | None:
        fits = [v for v in self.versions if v != self.version
                and tree_name in (_version_trees(self.folder, v) or [tree_name])]
        if fits:
            return f"render another version: --version {fits[-1]}"
        return f"add {tree_name} to trees in {self.version_toml} (with its diffs)"

    def dependency(self, tree_name: str | None) -> tuple[str, int | None] | None:
        """(series name, version or None = its default) this version sits on, on tree_name."""
        spec = self.depends_on.get(tree_name or "", self.depends_on.get("*"))
        per_tree = self.depends_on and "*" not in self.depends_on
        if spec is None and tree_name is not None and per_tree:
            raise UserError(f"{self.version_toml}: [depends] has no entry for tree {tree_name}",
                            hint=f'add {tree_name} = "series vN" (or "" for none)')
        if not spec:
            return None
        m = re.fullmatch(r"\s*([\w.-]+)(?:\s+v(\d+))?\s*", spec)
        if not m:
            raise UserError(f"{self.version_toml}: depends {spec!r} is not 'series' or 'series vN'")
        return m[1], int(m[2]) if m[2] else None


def available(root: Path | None = None) -> list[str]:
    root = root or paths.TEMPLATES
    return sorted(p.parent.name for p in root.glob("*/series.toml"))


def versions_of(folder: Path) -> list[int]:
    """The versions a series folder holds (its v<N>/version.toml files)."""
    out = []
    for p in folder.glob("v*/version.toml"):
        m = re.fullmatch(r"v(\d+)", p.parent.name)
        if m:
            out.append(int(m[1]))
    return sorted(out)


def _version_trees(folder: Path, version: int) -> list[str] | None:
    try:
        data = tomllib.loads((folder / f"v{version}" / "version.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return list(data.get("trees", []))


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}",
                        hint="see the format at the top of patchkit/series.py") from exc


def series_folder(name: str, root: Path | None = None) -> Path:
    root = root or paths.TEMPLATES
    return Path(name) if "/" in name else root / name


def load(name: str, root: Path | None = None, version: int | None = None,
         tree: str | None = None) -> Series:
    """Load templates/<name> at version (default: series.toml's version when
    it supports tree, else the highest version that does).

    name may also be a folder path."""
    root = root or paths.TEMPLATES
    folder = series_folder(name, root)
    spec = folder / "series.toml"
    if not spec.is_file():
        known = ", ".join(available(root)) or "none"
        raise UserError(f"unknown series {name!r}: no {spec}", hint=f"known series: {known}")
    data = _read_toml(spec)
    missing = [k for k in ("name", "subject", "change-id", "version") if k not in data]
    if missing:
        raise UserError(f"{spec}: missing key(s) {', '.join(missing)}")
    if "patches" in data:
        raise UserError(f"{spec}: patches belong in v<N>/version.toml now "
                        "(one folder per version)", hint="see docs/templates.md")
    check_types(data, spec)
    if version is not None:
        check_version(version, "the version")
    versions = versions_of(folder)
    if not versions:
        raise UserError(f"{folder}: no version (v<N>/version.toml)",
                        hint="import one: patchkit template import --series "
                             f"{folder} --version 1 ... (docs/templates.md)")
    if version is None:
        version = int(data["version"])
        if tree is not None and tree not in (_version_trees(folder, version) or [tree]):
            fits = [v for v in versions if tree in (_version_trees(folder, v) or [tree])]
            version = fits[-1] if fits else version
    version = int(version)
    if version not in versions:
        raise UserError(f"unknown version v{version} of {data['name']}: {folder} holds "
                        + ", ".join(f"v{v}" for v in versions),
                        hint=f"create {folder}/v{version}/ (patchkit template import "
                             f"--version {version} ...)")
    changes = {int(k): str(v) for k, v in data.get("changes", {}).items()}
    for v in versions:
        vdata = _read_toml(folder / f"v{v}" / "version.toml")
        if "changes" in vdata:
            changes[v] = str(vdata["changes"])
    vspec = folder / f"v{version}" / "version.toml"
    vdata = _read_toml(vspec)
    check_version_types(vdata, vspec)
    unknown = sorted(set(vdata) - {"trees", "patches", "date", "subject", "changes", "depends"})
    if unknown:
        raise UserError(f"{vspec}: unknown key(s) {', '.join(unknown)}")
    if "patches" not in vdata or not isinstance(vdata["patches"], list):
        raise UserError(f"{vspec}: missing patches = [...]")
    depends = vdata.get("depends", data.get("depends"))
    if depends is None:
        depends_on = {}
    elif isinstance(depends, str):
        depends_on = {"*": depends}
    elif isinstance(depends, dict) and all(isinstance(v, str) for v in depends.values()):
        depends_on = dict(depends)
    else:
        raise UserError(f"{vspec}: depends must be \"series vN\" or a table "
                        "\"tree name\" = \"series vN\" (quote tree names: a bare 6.12 "
                        "is a dotted key)")
    trees = vdata.get("trees", [])
    if not isinstance(trees, list) or not all(isinstance(t, str) for t in trees):
        raise UserError(f"{vspec}: trees must be a list of tree names")
    cover = data.get("cover", "cover.j2")
    if (folder / f"v{version}" / "cover.j2").is_file():
        cover = f"v{version}/cover.j2"
    series = Series(
        name=data["name"],
        subject=vdata.get("subject", data["subject"]),
        change_id=data["change-id"],
        version=version,
        folder=folder,
        patches=list(vdata["patches"]),
        prefixes=list(data.get("prefixes", [])),
        to=list(data.get("to", [])),
        cc=list(data.get("cc", [])),
        cover=cover,
        changes=changes,
        date=_parse_date(vdata.get("date", data.get("date")), vspec),
        trees=list(trees),
        depends_on=depends_on,
        versions=versions,
    )
    if "*" in depends_on:
        series.depends = (series.dependency(None) or (None,))[0]
    for patch in series.patches:
        if not series.patch_dir(patch).is_dir():
            raise UserError(f"{vspec}: patch folder {patch!r} does not exist in "
                            f"{series.version_dir}")
    return series


def check_version(value, where: str) -> int:
    """A series version: a whole number from 1 (bool and str refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{where} must be a whole number from 1, not {value!r}",
                        hint="versions count from 1: version = 1, then 2 for the next revision")
    return value


def _bad(data: dict, key: str, what: str, spec: Path) -> UserError:
    return UserError(f"{spec}: {key} must be {what}, not {data[key]!r}",
                     hint="see the format at the top of patchkit/series.py")


def _names_ok(value: str) -> bool:
    return not ("/" in value or value.startswith(".") or any(c.isspace() for c in value))


def _no_control(data: dict, key: str, spec: Path) -> None:
    if key in data and isinstance(data[key], str) and any(ord(c) < 32 or ord(c) == 127
                                                          for c in data[key]):
        raise UserError(f"{spec}: {key} has a control character: {data[key]!r}")


def check_types(data: dict, spec: Path) -> None:
    """Every known key of series.toml has the type the rest of patchkit expects;
    the message names the key, what it must be and what it is."""
    for key in ("name", "subject", "change-id", "cover"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise _bad(data, key, "a non-empty string", spec)
    if not _names_ok(data["name"]):
        raise _bad(data, "name", "a series name (no '/', no spaces, not starting with '.')", spec)
    _no_control(data, "subject", spec)
    check_version(data["version"], f"{spec}: version")
    for key in ("prefixes", "to", "cc"):
        if key in data and (not isinstance(data[key], list)
                            or not all(isinstance(x, str) and x.strip() for x in data[key])):
            raise _bad(data, key, 'a list of strings, e.g. ["a", "b"]', spec)
    changes = data.get("changes", {})
    if not isinstance(changes, dict):
        raise _bad(data, "changes", 'a table: [changes] with 2 = "- what changed"', spec)
    for k, v in changes.items():
        if not k.isdigit() or int(k) < 1:
            raise UserError(f"{spec}: [changes] key {k!r} must be a version number (2, 3, ...)")
        if not isinstance(v, str):
            raise UserError(f"{spec}: [changes] {k} must be a string, not {v!r}")


def check_version_types(vdata: dict, vspec: Path) -> None:
    """The same for v<N>/version.toml."""
    patches = vdata.get("patches")
    if patches is not None:
        if not isinstance(patches, list) or not all(isinstance(p, str) for p in patches):
            raise _bad(vdata, "patches", 'a list of patch folder names', vspec)
        if not patches:
            raise UserError(f"{vspec}: patches must name at least one patch folder")
        for p in patches:
            if not p or not _names_ok(p):
                raise UserError(f"{vspec}: patch folder {p!r} must be a folder name beside "
                                "version.toml (no '/', not starting with '.')")
    for key in ("subject", "changes"):
        if key in vdata and not isinstance(vdata[key], str):
            raise _bad(vdata, key, "a string", vspec)
    _no_control(vdata, "subject", vspec)


def _parse_date(value, spec: Path) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, _date):
        dt = datetime(value.year, value.month, value.day, 12)
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise UserError(f"{spec}: date {value!r} is not an ISO date, "
                            "e.g. 2026-06-14T12:00:00Z") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def chain(name: str, root: Path | None = None, version: int | None = None,
          tree: str | None = None) -> list[Series]:
    """The series and everything it depends on (on tree), dependencies first.

    tree None: no tree check, and only dependencies declared for every tree
    are followed.  When name is a folder path, its dependencies are looked up
    beside it."""
    if root is None and "/" in name:
        root = Path(name).parent
    out: list[Series] = []
    seen: set[str] = set()
    current: str | None = name
    want: int | None = version
    while current:
        s = load(current, root, version=want, tree=tree)
        if s.name in seen:
            raise UserError(f"series dependency cycle through {s.name!r}")
        seen.add(s.name)
        if tree is not None:
            s.check_tree(tree)
        out.insert(0, s)
        dep = s.dependency(tree) if (tree is not None or "*" in s.depends_on) else None
        s.depends = dep[0] if dep else None
        current, want = dep if dep else (None, None)
    return out


def diff_paths(text: str) -> list[str]:
    """The files a unified diff changes (the b/ side; a/ for a deletion)."""
    out = []
    for m in re.finditer(r"^diff --git a/(\S+) b/(\S+)$", text, re.M):
        if m[2] not in out:
            out.append(m[2])
    return out


def declared_files(templates: Path | None = None) -> list[tuple[Path, list[str]]]:
    """(diff file, the files it changes) for every diff of every series version."""
    out = []
    for path in sorted((templates or paths.TEMPLATES).glob("*/v*/*/*.diff")):
        out.append((path, diff_paths(path.read_text(encoding="utf-8", errors="replace"))))
    return out
