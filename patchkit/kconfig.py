"""Kernel config fragments: parse them, merge them, and check they landed.

merge_config.sh and olddefconfig silently drop a value whose dependencies
are not met (CONFIG_ZRAM without CONFIG_BLK_DEV, DETECT_HUNG_TASK without
DEBUG_KERNEL, ...).  A kernel built that way is not the kernel that was
asked for, so every value of every fragment is compared with the final
.config and the build stops naming the ones that did not land.

Kernel lines differ: a symbol one tree has may be gone from another (Linux
7.3 has no NFS_V4_1: v4.1 is part of NFS_V4).  A fragment says so on the
line above the value, with the reason:

    # patchkit: may be undefined: Linux 7.3 has no NFS_V4_1 (v4.1 is part of NFS_V4)
    CONFIG_NFS_V4_1=y

Such a value counts as landed on a tree whose Kconfig files do not define
the symbol at all; where the symbol exists it must land like any other.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from patchkit.errors import UserError

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
MAY_BE_UNDEFINED = re.compile(r"^# patchkit: may be undefined: \S")


@dataclass(frozen=True)
class Entry:
    symbol: str
    value: str  # as written after '=' ("y", "m", "512", "\"lz4\""); "n" for "is not set"
    origin: str  # file the value came from
    line: int
    may_be_undefined: bool = False  # the fragment says a tree may not define the symbol


@dataclass(frozen=True)
class Miss:
    entry: Entry
    got: str | None  # the value in .config; None when the symbol is absent

    def describe(self) -> str:
        got = "not set" if self.got in (None, "n") else self.got
        want = "not set" if self.entry.value == "n" else self.entry.value
        return (f"{self.entry.symbol}: wanted {want}, got {got} "
                f"({self.entry.origin}:{self.entry.line})")


def parse(text: str, origin: str = "<fragment>") -> dict[str, Entry]:
    """Symbol -> Entry for a fragment or a .config; a later line wins.

    Blank lines and comments are skipped; '# CONFIG_X is not set' means n.
    Any other line is an error naming origin:line, because a typo such as
    'ZRAM=y' would otherwise be silently ignored by kconfig.
    """
    entries: dict[str, Entry] = {}
    marked = False  # the line before was a "may be undefined" note
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        note, marked = marked, False
        if not line:
            continue
        m = _UNSET.match(line)
        if m:
            entries[m.group(1)] = Entry(m.group(1), "n", origin, lineno, note)
            continue
        if line.startswith("#"):
            marked = bool(MAY_BE_UNDEFINED.match(line))
            if line.startswith("# patchkit:") and not marked:
                raise UserError(f"{origin}:{lineno}: unknown patchkit note: {raw!r}",
                                hint="write '# patchkit: may be undefined: <which tree, why>' "
                                     "on the line above the value")
            continue
        m = _SET.match(line)
        if not m or m.group(2) == "":
            raise UserError(f"{origin}:{lineno}: not a kconfig line: {raw!r}",
                            hint="write CONFIG_NAME=value or '# CONFIG_NAME is not set'")
        entries[m.group(1)] = Entry(m.group(1), m.group(2), origin, lineno, note)
    return entries


def merge(fragments: list[tuple[str, str]]) -> dict[str, Entry]:
    """(origin, text) pairs in order -> the wanted values, the last one winning
    (what merge_config.sh does with a symbol set twice)."""
    wanted: dict[str, Entry] = {}
    for origin, text in fragments:
        wanted.update(parse(text, origin))
    return wanted


def values(config_text: str) -> dict[str, str]:
    """Symbol -> value of a generated .config."""
    return {sym: e.value for sym, e in parse(config_text, ".config").items()}


def not_landed(wanted: dict[str, Entry], config: dict[str, str],
               defined=None) -> list[Miss]:
    """Entries of `wanted` whose value is not the one in `config` (a .config's
    values()).  'n' is satisfied by an absent symbol: kconfig omits symbols
    whose menu is invisible.  defined(symbols) -> the subset a tree's Kconfig
    defines; an entry marked may_be_undefined is satisfied when its symbol is
    not in it (without defined, nothing is excused)."""
    misses = []
    for sym, entry in wanted.items():
        got = config.get(sym)
        if entry.value == "n":
            if got not in (None, "n"):
                misses.append(Miss(entry, got))
        elif got != entry.value:
            misses.append(Miss(entry, got))
    excusable = {m.entry.symbol for m in misses if m.entry.may_be_undefined and m.got is None}
    if excusable and defined is not None:
        present = defined(sorted(excusable))
        misses = [m for m in misses if m.entry.symbol not in excusable - set(present)]
    return misses


def defined_symbols(source: Path, symbols: list[str]) -> set[str]:
    """The symbols (CONFIG_X) that some Kconfig file of the tree at source
    defines (a `config X` or `menuconfig X` line)."""
    names = {s.removeprefix("CONFIG_"): s for s in symbols}
    pattern = re.compile(r"^\s*(?:menu)?config\s+(\w+)\s*$", re.M)
    found = set()
    for path in Path(source).rglob("Kconfig*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for m in pattern.finditer(text):
            if m.group(1) in names:
                found.add(names[m.group(1)])
    return found


def fragments_hash(fragments: list[tuple[str, str]], base: str = "allnoconfig") -> str:
    """Identity of a configuration: the base target plus the fragment contents
    in order (not their file names, so a copied fragment keys the same)."""
    h = hashlib.sha256(base.encode() + b"\0")
    for _, text in fragments:
        h.update(text.encode() + b"\0")
    return h.hexdigest()


def read_fragment(path: Path) -> tuple[str, str]:
    """(origin, text) of a fragment file, or a UserError naming it."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except IsADirectoryError as exc:
        raise UserError(f"config fragment {path} is a folder, not a file") from exc
    except OSError as exc:
        raise UserError(f"cannot read config fragment {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"config fragment {path} is not a text file (not UTF-8)",
                        hint="a fragment holds lines like CONFIG_ZRAM=y") from exc
    if "\0" in text:
        raise UserError(f"config fragment {path} is not a text file (NUL bytes)",
                        hint="a fragment holds lines like CONFIG_ZRAM=y")
    parse(text, str(path))  # fail early on a bad line
    return str(path), text
