"""Anchors: find the one region of a source file an edit applies to.

Pure functions on text (no git, no Jinja): render.py renders the anchor
values first, then asks locate() for the region, then splice() puts code
there.  A region is a half-open range of whole lines [start, end).

Anchor kinds (exactly one per anchor table):
  text     exact lines (a trailing newline is ignored)
  regex    a Python regular expression searched in each line
  function a C function definition: signature line(s) to closing brace
  struct   a struct definition: 'struct NAME {' to its closing '};'
  member   one member declaration of a struct (also needs struct = NAME)
Optional scope: within = {function = NAME} or {struct = NAME}.

A region must match exactly once; otherwise AnchorError says how often it
matched and where.  Comments and string literals never count as code for
function/struct/member anchors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("text", "regex", "function", "struct", "member")
SCOPES = ("function", "struct")
OPS = ("insert_before", "insert_after", "replace", "delete", "create")


class AnchorError(Exception):
    """The anchor matched zero or several times (or is malformed)."""

    def __init__(self, msg: str, matches: list[int] | None = None):
        super().__init__(msg)
        self.msg = msg
        self.matches = matches or []  # 1-based line numbers of the matches


@dataclass(frozen=True)
class Region:
    start: int  # first line index (0-based)
    end: int    # one past the last line


def kind_of(anchor: dict) -> str:
    """The anchor's kind; raises AnchorError when it has none or several."""
    if not isinstance(anchor, dict):
        raise AnchorError("anchor must be a table, e.g. anchor = { text = '...' }")
    if "member" in anchor:
        if "struct" not in anchor:
            raise AnchorError("a member anchor also needs struct = NAME")
        extra = [k for k in ("text", "regex", "function") if k in anchor]
    else:
        found = [k for k in KINDS if k in anchor]
        if not found:
            raise AnchorError(f"anchor has no kind; use one of {', '.join(KINDS)}")
        extra = found[1:]
        if not extra:
            kind = found[0]
            _check_keys(anchor, kind)
            return kind
    if extra:
        raise AnchorError(f"anchor has several kinds ({', '.join(extra)} and more); use one")
    _check_keys(anchor, "member")
    return "member"


def _check_keys(anchor: dict, kind: str) -> None:
    allowed = {kind, "within"} | ({"struct"} if kind == "member" else set())
    unknown = sorted(set(anchor) - allowed)
    if unknown:
        raise AnchorError(f"unknown anchor key(s) {', '.join(unknown)} for a {kind} anchor")
    within = anchor.get("within")
    if within is not None:
        if not isinstance(within, dict) or len(within) != 1 or next(iter(within)) not in SCOPES:
            raise AnchorError("within must be { function = NAME } or { struct = NAME }")


def describe(anchor: dict) -> str:
    """A short human description: function 'zram_init' within struct 'x'."""
    try:
        kind = kind_of(anchor)
    except AnchorError:
        return repr(anchor)
    if kind == "member":
        desc = f"member {anchor['member']!r} of struct {anchor['struct']!r}"
    elif kind == "text":
        first = str(anchor["text"]).strip("\n").splitlines() or [""]
        more = " ..." if len(first) > 1 else ""
        desc = f"text {first[0].strip()!r}{more}"
    else:
        desc = f"{kind} {anchor[kind]!r}"
    within = anchor.get("within")
    if within:
        (skind, sname), = within.items()
        desc += f" within {skind} {sname!r}"
    return desc


# ---------------------------------------------------------------- C scanning

_MASK = re.compile(
    r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S
)


def mask(text: str) -> str:
    """text with comments and string/char literals blanked (same length)."""
    def blank(m: re.Match) -> str:
        s = m.group(0)
        if s[0] in "\"'":
            return s[0] + re.sub(r"[^\n]", " ", s[1:-1]) + s[-1]
        return re.sub(r"[^\n]", " ", s)
    return _MASK.sub(blank, text)


def split_lines(text: str) -> list[str]:
    """Lines with their line endings kept."""
    return text.splitlines(keepends=True)


def _strip_eol(line: str) -> str:
    return line[:-1] if line.endswith("\n") else line


class _Source:
    """A file's lines, its masked lines and offsets, computed once."""

    def __init__(self, text: str):
        self.text = text
        self.lines = split_lines(text)
        self.masked = mask(text)
        self.offsets = []
        pos = 0
        for line in self.lines:
            self.offsets.append(pos)
            pos += len(line)
        self.offsets.append(pos)

    def line_of(self, pos: int) -> int:
        lo, hi = 0, len(self.lines)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.offsets[mid + 1] <= pos:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def close_brace(self, open_pos: int) -> int:
        """Position of the '}' matching the '{' at open_pos, or -1."""
        depth = 0
        m = self.masked
        for i in range(open_pos, len(m)):
            c = m[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return i
        return -1


def _skip_space(m: str, i: int) -> int:
    while i < len(m) and m[i].isspace():
        i += 1
    return i


def _close_paren(m: str, i: int) -> int:
    """Index just past the ')' matching the '(' at i, or -1."""
    depth = 0
    for j in range(i, len(m)):
        if m[j] == "(":
            depth += 1
        elif m[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return -1


_IDENT = re.compile(r"[A-Za-z_]\w*")


def _functions(src: _Source, name: str, lo: int, hi: int) -> list[Region]:
    """Definitions of function name whose signature starts in lines [lo, hi)."""
    out = []
    pat = re.compile(r"(?<![\w.>])" + re.escape(name) + r"\s*\(")
    for i in range(lo, hi):
        mline = src.masked[src.offsets[i]:src.offsets[i + 1]]
        if not mline or mline[0].isspace() or mline[0] == "#":
            continue
        m = pat.search(mline)
        if not m:
            continue
        paren = src.offsets[i] + m.end() - 1
        j = _close_paren(src.masked, paren)
        if j < 0:
            continue
        # skip attribute-like annotations: __acquires(x) __releases(x) __must_hold(x)
        while True:
            j = _skip_space(src.masked, j)
            am = _IDENT.match(src.masked, j)
            if not am:
                break
            j = _skip_space(src.masked, am.end())
            if j < len(src.masked) and src.masked[j] == "(":
                j = _close_paren(src.masked, j)
                if j < 0:
                    break
        if j < 0 or j >= len(src.masked) or src.masked[j] != "{":
            continue  # a prototype, a call or a macro use
        close = src.close_brace(j)
        if close < 0:
            continue
        start = i
        if m.start() == 0 and i > 0:
            # 'static int\nname(...)': the return type sits on the line above
            prev = _strip_eol(src.masked[src.offsets[i - 1]:src.offsets[i]]).rstrip()
            if prev and not prev.startswith("#") and prev[-1] not in ";{}" and not prev[0].isspace():
                start = i - 1
        end = src.line_of(close) + 1
        if end <= hi:
            out.append(Region(start, end))
    return out


def _structs(src: _Source, name: str, lo: int, hi: int) -> list[Region]:
    out = []
    pat = re.compile(r"\bstruct\s+" + re.escape(name) + r"\s*\{")
    seg_start, seg_end = src.offsets[lo], src.offsets[hi]
    for m in pat.finditer(src.masked, seg_start, seg_end):
        open_pos = m.end() - 1
        close = src.close_brace(open_pos)
        if close < 0:
            continue
        end = src.line_of(close) + 1
        if end <= hi:
            out.append(Region(src.line_of(m.start()), end))
    return out


def _members(src: _Source, name: str, body: Region) -> list[Region]:
    """Member declarations of name among the lines of a struct body."""
    out = []
    decl = re.compile(
        r"\(\s*\*\s*" + re.escape(name) + r"\s*\)\s*\("          # function pointer
        r"|(?<![\w.>])" + re.escape(name) + r"\s*(?:\[[^\]]*\]\s*)*(?::\s*\w+\s*)?[;,]"
    )
    i = body.start
    while i < body.end:
        start = i
        text = ""
        depth = 0
        while i < body.end:
            mline = _strip_eol(src.masked[src.offsets[i]:src.offsets[i + 1]])
            text += mline + "\n"
            depth += mline.count("(") - mline.count(")")
            i += 1
            code = mline.strip()
            if not code or code.startswith("#"):
                if text.strip() == code:
                    break  # blank, comment or preprocessor line on its own
                continue
            if depth <= 0 and code[-1] in ";{}":
                break
        # a trailing comment that runs on over the next lines belongs to it
        last = _strip_eol(src.lines[i - 1])
        if "/*" in last and "*/" not in last[last.rindex("/*"):]:
            while i < body.end and "*/" not in src.lines[i]:
                i += 1
            i = min(i + 1, body.end)
        stmt = text.strip()
        if "{" in stmt or "}" in stmt:
            continue  # nested struct/union opening or closing line
        if decl.search(stmt):
            out.append(Region(start, i))
    return out


def _scope(src: _Source, within: dict | None) -> Region:
    whole = Region(0, len(src.lines))
    if not within:
        return whole
    (kind, name), = within.items()
    finder = _functions if kind == "function" else _structs
    found = finder(src, name, 0, len(src.lines))
    if len(found) != 1:
        where = _where(found)
        raise AnchorError(
            f"scope {kind} {name!r} matched {len(found)} times{where}",
            [r.start + 1 for r in found],
        )
    return found[0]


def _where(regions: list[Region]) -> str:
    if not regions:
        return ""
    return " (at lines " + ", ".join(str(r.start + 1) for r in regions) + ")"


def find_all(text: str, anchor: dict) -> list[Region]:
    """Every region anchor matches in text (anchor values already rendered)."""
    kind = kind_of(anchor)
    src = _Source(text)
    scope = _scope(src, anchor.get("within"))
    if kind == "text":
        want = str(anchor["text"])
        if not want:
            raise AnchorError("text anchor is empty")
        if want.endswith("\n"):
            want = want[:-1]
        wanted = want.split("\n")  # "\n" alone is one blank line
        have = [_strip_eol(line) for line in src.lines]
        n = len(wanted)
        return [Region(i, i + n) for i in range(scope.start, scope.end - n + 1)
                if have[i:i + n] == wanted]
    if kind == "regex":
        try:
            pat = re.compile(str(anchor["regex"]))
        except re.error as exc:
            raise AnchorError(f"bad regex {anchor['regex']!r}: {exc}") from exc
        return [Region(i, i + 1) for i in range(scope.start, scope.end)
                if pat.search(_strip_eol(src.lines[i]))]
    if kind == "function":
        return _functions(src, str(anchor["function"]), scope.start, scope.end)
    if kind == "struct":
        return _structs(src, str(anchor["struct"]), scope.start, scope.end)
    # member
    structs = _structs(src, str(anchor["struct"]), scope.start, scope.end)
    if len(structs) != 1:
        raise AnchorError(
            f"struct {anchor['struct']!r} (holding member {anchor['member']!r}) "
            f"matched {len(structs)} times{_where(structs)}",
            [r.start + 1 for r in structs],
        )
    s = structs[0]
    open_line = src.line_of(src.masked.index("{", src.offsets[s.start]))
    return _members(src, str(anchor["member"]), Region(open_line + 1, s.end - 1))


def locate(text: str, anchor: dict) -> Region:
    """The one region anchor matches in text; AnchorError otherwise."""
    found = find_all(text, anchor)
    if len(found) == 1:
        return found[0]
    if not found:
        raise AnchorError(f"{describe(anchor)} matched nothing")
    raise AnchorError(
        f"{describe(anchor)} matched {len(found)} times{_where(found)}; "
        "narrow it (a longer text anchor, or within = {function|struct = ...})",
        [r.start + 1 for r in found],
    )


def splice(text: str, op: str, region: Region | None, code: str) -> str:
    """text with code placed at region according to op."""
    if op == "create":
        return code
    lines = split_lines(text)
    assert region is not None
    if op in ("insert_before", "insert_after", "replace") and code and not code.endswith("\n"):
        at_eof = (op != "insert_before" and region.end == len(lines)
                  and lines and not lines[-1].endswith("\n"))
        if not at_eof:
            code += "\n"
    if op == "insert_after" and region.end == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"  # cannot append after a line that has no newline
    new = split_lines(code)
    if op == "insert_before":
        lines[region.start:region.start] = new
    elif op == "insert_after":
        lines[region.end:region.end] = new
    elif op == "replace":
        lines[region.start:region.end] = new
    elif op == "delete":
        del lines[region.start:region.end]
    else:
        raise AnchorError(f"unknown op {op!r}; use one of {', '.join(OPS)}")
    return "".join(lines)
