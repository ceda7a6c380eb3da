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
    try:
        changes = {int(k): str(v) for k, v in data.get("changes", {}).items()}
    except ValueError as exc:
        raise UserError(f"{spec}: [changes] keys must be version numbers") from exc
    series = Series(
        name=data["name"],
        subject=data["subject"],
        change_id=data["change-id"],
        version=int(version or data["version"]),
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
