"""The series model: one logical series, described once in templates/<name>/.

templates/<name>/series.toml:

    name = "zram-swap-ops"
    subject = "mm/zram: route block swap I/O through swap_ops"   # cover subject
    change-id = "20260614-zram-swap-ops-block-register-a1b2c3d4e5f6"
    version = 1
    prefixes = []              # extra subject prefixes: ["RFC"], ["mm-new"]
    depends = "swap-batching"  # series rendered (and mailed as prerequisite) first
    to = ["Andrew Morton <akpm@linux-foundation.org>"]
    cc = ["linux-mm@kvack.org"]
    cover = "cover.j2"         # cover letter body, a Jinja2 template
    patches = ["0001-register-block-ops", "0002-zram-swap-ops"]
    date = 2026-06-14T12:00:00Z  # commit date of patch 1 (patch k: + k-1 s);
                               # default: noon UTC of the change-id's date

    [changes]                  # history shown below the cover's '---' for vN > 1
    2 = "- addressed ..."

Each patch folder templates/<name>/<patch>/ holds message.j2 (subject line,
blank line, body; the renderer adds Signed-off-by) and edits.toml (the
anchored edits; see render.py).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date as _date, datetime, timezone
from pathlib import Path

from patchkit import paths
from patchkit.errors import UserError


@dataclass
class Series:
    name: str
    subject: str
    change_id: str
    version: int
    folder: Path
    patches: list[str]
    prefixes: list[str] = field(default_factory=list)
    depends: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    cover: str = "cover.j2"
    changes: dict[int, str] = field(default_factory=dict)
    date: datetime | None = None

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

    def patch_dir(self, patch: str) -> Path:
        return self.folder / patch


def available(root: Path | None = None) -> list[str]:
    root = root or paths.TEMPLATES
    return sorted(p.parent.name for p in root.glob("*/series.toml"))


def load(name: str, root: Path | None = None, version: int | None = None) -> Series:
    """Load templates/<name>/series.toml; name may also be a folder path."""
    root = root or paths.TEMPLATES
    folder = Path(name) if "/" in name else root / name
    spec = folder / "series.toml"
    if not spec.is_file():
        known = ", ".join(available(root)) or "none"
        raise UserError(f"unknown series {name!r}: no {spec}", hint=f"known series: {known}")
    try:
        data = tomllib.loads(spec.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{spec}: {exc}") from exc
    missing = [k for k in ("name", "subject", "change-id", "version", "patches") if k not in data]
    if missing:
        raise UserError(f"{spec}: missing key(s) {', '.join(missing)}")
    check_types(data, spec)
    changes = {int(k): str(v) for k, v in data.get("changes", {}).items()}
    series = Series(
        name=data["name"],
        subject=data["subject"],
        change_id=data["change-id"],
        version=data["version"] if version is None else version,
        folder=folder,
        patches=list(data["patches"]),
        prefixes=list(data.get("prefixes", [])),
        depends=data.get("depends"),
        to=list(data.get("to", [])),
        cc=list(data.get("cc", [])),
        cover=data.get("cover", "cover.j2"),
        changes=changes,
        date=_parse_date(data.get("date"), spec),
    )
    for patch in series.patches:
        if not series.patch_dir(patch).is_dir():
            raise UserError(f"{spec}: patch folder {patch!r} does not exist in {folder}")
    return series


_STRINGS = ("name", "subject", "change-id", "depends", "cover")
_LISTS = ("patches", "prefixes", "to", "cc")


def check_version(value, where: str) -> int:
    """A series version: a whole number from 1 (bool and str refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{where} must be a whole number from 1, not {value!r}",
                        hint="versions count from 1: version = 1, then 2 for the next revision")
    return value


def check_types(data: dict, spec: Path) -> None:
    """Every known key of series.toml has the type the rest of patchkit expects;
    the message names the key, what it must be and what it is."""
    def bad(key, what):
        return UserError(f"{spec}: {key} must be {what}, not {data[key]!r}",
                         hint="see the format at the top of patchkit/series.py")

    for key in _STRINGS:
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise bad(key, "a non-empty string")
    check_version(data["version"], f"{spec}: version")
    for key in _LISTS:
        if key in data and (not isinstance(data[key], list)
                            or not all(isinstance(x, str) and x.strip() for x in data[key])):
            raise bad(key, 'a list of strings, e.g. ["a", "b"]')
    if not data["patches"]:
        raise UserError(f"{spec}: patches must name at least one patch folder")
    for key in ("name", *(("depends",) if "depends" in data else ())):
        if "/" in data[key] or data[key].startswith(".") or any(c.isspace() for c in data[key]):
            raise bad(key, "a series name (no '/', no spaces, not starting with '.')")
    for key in data.get("patches", []):
        if "/" in key or key.startswith("."):
            raise UserError(f"{spec}: patch folder {key!r} must be a folder name beside "
                            "series.toml (no '/', not starting with '.')")
    changes = data.get("changes", {})
    if not isinstance(changes, dict):
        raise bad("changes", 'a table: [changes] with 2 = "- what changed"')
    for k, v in changes.items():
        if not k.isdigit() or int(k) < 1:
            raise UserError(f"{spec}: [changes] key {k!r} must be a version number (2, 3, ...)")
        if not isinstance(v, str):
            raise UserError(f"{spec}: [changes] {k} must be a string, not {v!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in data["subject"]):
        raise UserError(f"{spec}: subject has a control character: {data['subject']!r}")


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


def chain(name: str, root: Path | None = None) -> list[Series]:
    """The series and everything it depends on, dependencies first.

    When name is a folder path, its dependencies are looked up beside it."""
    if root is None and "/" in name:
        root = Path(name).parent
    out: list[Series] = []
    seen: set[str] = set()
    current: str | None = name
    while current:
        if current in seen:
            raise UserError(f"series dependency cycle through {current!r}")
        seen.add(current)
        s = load(current, root)
        out.insert(0, s)
        current = s.depends
    return out
