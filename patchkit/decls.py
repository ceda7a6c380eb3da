"""patchkit decls: compare the swap I/O declarations of two kernel trees.

The 6.12 base layer (templates/swap-batching v2) is a backport of mainline's
swap I/O code.  What a driver or file system built against it sees is
include/linux/swap_ops.h, and what the rest of mm/ calls is the swap I/O
part of mm/swap.h.  This compares those declarations between two trees
(say the rendered backport and Linux 7.3) and lists every difference:

    patchkit decls ~/.cache/patchkit/trees/linux-source-6.12@patchkit/swap-batching-v2 \\
        /work/src/linux-7.3

A tree is a directory, or DIR@REV for a git revision of a checkout (read
with git show, nothing is checked out).  Declarations are compared as
normalised text (whitespace and comments do not count), keyed by kind and
name: struct members one by one, #defines, function prototypes (with the
#ifdef CONFIG_SWAP side they sit on in mm/swap.h), extern variables.
Exit status: 0 when the declarations are the same, 1 when they differ.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from patchkit import git, ui
from patchkit.errors import UserError

# The headers compared, and for mm/swap.h the prototypes that count as
# swap I/O (mm/swap.h also holds the swap cache and cluster helpers, which
# the swap I/O backport does not touch and which differ for other reasons).
HEADERS = ("include/linux/swap_ops.h", "mm/swap.h")
SWAP_IO_NAMES = re.compile(
    r"^(swap_read_folio|swap_read_submit|swap_write_submit|swap_writeout|__swap_writepage"
    r"|swap_writepage|read_swap_cache_async|sio_pool_init|swap_bdev_ops|shmem_writeout"
    r"|swap_io_ctx|swap_iocb|swap_ops|swap_fs_\w+|swap_read_unplug|__swap_read_unplug"
    r"|swap_write_unplug)$")


@dataclass(frozen=True)
class Decl:
    header: str
    kind: str   # struct, member, define, function, variable
    name: str   # struct member: "struct_name.member"; functions: "name [config]"
    text: str   # normalised declaration


@dataclass(frozen=True)
class Difference:
    header: str
    kind: str
    name: str
    old: str | None  # None: only in the new tree
    new: str | None  # None: only in the old tree

    def __str__(self) -> str:
        if self.old is None:
            return f"{self.header}: {self.kind} {self.name}: only in the new tree: {self.new}"
        if self.new is None:
            return f"{self.header}: {self.kind} {self.name}: only in the old tree: {self.old}"
        return f"{self.header}: {self.kind} {self.name}: {self.old}  ->  {self.new}"


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def normalise(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*([(),;*{}\[\]])\s*", r"\1", text)
    text = re.sub(r"\b(extern) ", "", text)
    return text


def _balanced_end(text: str, start: int) -> int:
    """Index just past the '}' matching the '{' at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced braces")


def _struct_members(body: str) -> list[str]:
    """Top-level member declarations of a struct body; a nested union or
    struct counts as its members (anonymous unions are transparent)."""
    members, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
            cur = ""
            continue
        if ch == "}":
            depth -= 1
            cur = ""
            continue
        if ch == ";":
            if cur.strip():
                members.append(cur.strip())
            cur = ""
            continue
        cur += ch
    return [normalise(m) for m in members if m.strip()]


def _member_name(decl: str) -> str:
    m = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)  # function pointer
    if m:
        return m.group(1)
    m = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*(:\s*\d+)?$", decl)
    return m.group(1) if m else decl


def _config_regions(text: str) -> list[tuple[int, str]]:
    """(offset, condition) for each #ifdef CONFIG_SWAP / #else / #endif
    boundary, so a declaration can be told which side it is on."""
    out, stack = [], []
    for m in re.finditer(r"^#\s*(ifdef|ifndef|if|else|endif)\b([^\n]*)", text, re.M):
        kw, arg = m.group(1), m.group(2).strip()
        if kw in ("ifdef", "ifndef", "if"):
            cond = arg if kw != "ifndef" else "!" + arg
            stack.append(cond)
        elif kw == "else" and stack:
            c = stack.pop()
            stack.append(c[1:] if c.startswith("!") else "!" + c)
        elif kw == "endif" and stack:
            stack.pop()
        swap = [c for c in stack if c.lstrip("!") in ("CONFIG_SWAP", "defined(CONFIG_SWAP)")]
        out.append((m.end(), swap[-1] if swap else ""))
    return out


def _config_at(regions: list[tuple[int, str]], pos: int) -> str:
    cond = ""
    for off, c in regions:
        if off > pos:
            break
        cond = c
    return cond


def parse(header: str, text: str, swap_io_only: bool = False) -> dict[tuple[str, str], Decl]:
    """The declarations of one header, keyed by (kind, name)."""
    code = strip_comments(text)
    regions = _config_regions(code)
    decls: dict[tuple[str, str], Decl] = {}

    def add(kind: str, name: str, body: str) -> None:
        decls[(kind, name)] = Decl(header, kind, name, body)

    def wanted(name: str) -> bool:
        return not swap_io_only or bool(SWAP_IO_NAMES.match(name))

    # defines (#define NAME ...), except the include guard
    for m in re.finditer(r"^#\s*define\s+(\w+)(\([^)]*\))?([^\n]*)", code, re.M):
        name = m.group(1)
        if name.startswith("_") and name.endswith("_H"):
            continue
        if wanted(name):
            add("define", name, normalise(m.group(0)))

    # struct definitions with their members
    pos = 0
    spans = []
    for m in re.finditer(r"\bstruct\s+(\w+)\s*\{", code):
        if m.start() < pos:
            continue
        end = _balanced_end(code, m.end() - 1)
        spans.append((m.start(), end))
        pos = end
        name = m.group(1)
        if not wanted(name):
            continue
        members = _struct_members(code[m.end():end - 1])
        add("struct", name, f"struct {name} {{{len(members)} members}}")
        for mem in members:
            add("member", f"{name}.{_member_name(mem)}", mem)

    # everything outside struct bodies and preprocessor lines: prototypes,
    # inline function definitions (their signature), extern variables
    flat = list(code)
    for s, e in spans:
        for i in range(s, e):
            flat[i] = " " if flat[i] != "\n" else "\n"
    rest = "".join(flat)
    rest = re.sub(r"^#[^\n]*(\\\n[^\n]*)*", lambda m: " " * len(m.group(0)), rest, flags=re.M)
    # inline bodies: blank them but keep the signature, ended with ';'
    out, i = [], 0
    while i < len(rest):
        j = rest.find("{", i)
        if j < 0:
            out.append(rest[i:])
            break
        out.append(rest[i:j] + ";")
        end = _balanced_end(rest, j)
        out.append(" " * (end - j - 1))
        i = end
    rest = "".join(out)
    offset = 0
    for stmt in rest.split(";"):
        start = offset
        offset += len(stmt) + 1
        s = stmt.strip()
        if not s or s.startswith("}"):
            continue
        norm = normalise(s)
        if re.fullmatch(r"(struct|union|enum)\s*\w+", norm.replace(" ", " ")):
            continue  # forward declaration
        norm = re.sub(r"^static inline ", "", norm)
        norm = re.sub(r"^static __always_inline ", "", norm)
        m = re.search(r"(\w+)\s*\((?!\s*\*)", s)
        lead = s.lstrip()
        if m and "=" not in s.split("(")[0]:
            name = m.group(1)
            if name in ("__attribute__", "__must_check"):
                continue
            if not wanted(name):
                continue
            cfg = _config_at(regions, start + len(stmt) - len(stmt.lstrip()))
            add("function", f"{name} [{cfg or 'always'}]", norm)
        elif lead.startswith(("extern ", "const ", "struct ")) or " " in lead:
            vm = re.search(r"(\w+)\s*(\[[^\]]*\])?$", s)
            if not vm:
                continue
            name = vm.group(1)
            if wanted(name):
                add("variable", name, norm)
    return decls


def compare(old: dict[tuple[str, str], Decl], new: dict[tuple[str, str], Decl]) -> list[Difference]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a and b and a.text == b.text:
            continue
        d = a or b
        diffs.append(Difference(d.header, d.kind, d.name, a.text if a else None, b.text if b else None))
    return diffs


def read_tree_file(tree: str, path: str) -> str | None:
    """File contents from DIR or DIR@REV; None when the file is not there."""
    if "@" in tree:
        repo, rev = tree.rsplit("@", 1)
        if not Path(repo, ".git").exists():
            raise UserError(f"decls: {repo} is not a git checkout (needed for @{rev})")
        res = git.run(repo, "show", f"{rev}:{path}", check=False)
        return res.stdout if res.returncode == 0 else None
    p = Path(tree, path)
    if not Path(tree).is_dir():
        raise UserError(f"decls: {tree} is not a directory (give a kernel tree, or DIR@REV)")
    return p.read_text() if p.exists() else None


def tree_decls(tree: str) -> dict[tuple[str, str], Decl]:
    decls: dict[tuple[str, str], Decl] = {}
    for header in HEADERS:
        text = read_tree_file(tree, header)
        if text is None:
            continue  # a missing header shows up as every declaration missing
        decls.update(parse(header, text, swap_io_only=header == "mm/swap.h"))
    return decls


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", help="kernel tree: a directory, or DIR@REV of a git checkout")
    parser.add_argument("new", help="the tree to compare it with (same forms)")


# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: decls only reads the two trees'


def run(args: argparse.Namespace) -> int:
    if args.options.dry_run:
        raise UserError('patchkit decls has no --dry-run: it only reads the two trees')
    old, new = tree_decls(args.old), tree_decls(args.new)
    if not old:
        raise UserError(f"decls: {args.old} has neither {' nor '.join(HEADERS)}")
    if not new:
        raise UserError(f"decls: {args.new} has neither {' nor '.join(HEADERS)}")
    diffs = compare(old, new)
    for d in diffs:
        print(d)
    ui.info("decls", f"{len(old)} declarations in {args.old}, {len(new)} in {args.new}, "
            f"{len(diffs)} differ")
    return 1 if diffs else 0
