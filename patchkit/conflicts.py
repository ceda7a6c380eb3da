"""A rendered diff that does not apply: say exactly where, in one line.

apply_error() names the series, version, patch, tree, file and hunk (with
its line in the template) and the command that shows the conflict;
damaged() tells a damaged object store (a machine fault) from a diff that
does not apply; offsets() lists hunks git placed away from their @@ line.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from patchkit import git, paths
from patchkit.errors import UserError


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


_DAMAGE = [re.compile(p) for p in (      # most telling first
    r"loose object \S+ .*is corrupt", r"object file \S+ is empty", r"unable to unpack \S+",
    r"fatal: bad object \S+", r"packfile \S+ .*(?:corrupt|bad)", r"inflate: data stream error")]


def damaged(stderr) -> str | None:
    """The line of git's error output that says the object store is damaged
    (a machine fault, exit 3), or None (the diff itself does not apply)."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    for pattern in _DAMAGE:
        m = pattern.search(text)
        if m:
            return m[0]
    return None


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
