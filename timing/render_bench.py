#!/usr/bin/env python3
"""Render + commit a generated 10-patch series on the cached pinned tree.

Target (issue 2): under 10 s.  Prints the figures; asserts nothing.

    .venv/bin/python timing/render_bench.py [--tree PATH_OR_NAME]

Without --tree it uses patchkit.tree's cached pinned tree when that module
and its cache exist, else the kernel repository /work/kdev/linux at branch
`base` (never written to: render borrows its objects from a bare repo in
a temporary patchkit cache).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchkit import git, options, render  # noqa: E402


# ten files of linux-source-6.12; each patch adds a line after the file's
# third line (its diff: three lines of context on each side, from the tree)
FILES = [
    "drivers/block/zram/zram_drv.c", "drivers/block/zram/zram_drv.h", "mm/page_io.c",
    "mm/swapfile.c", "mm/swap.h", "include/linux/swap.h", "include/linux/blkdev.h",
    "mm/swap_state.c", "mm/vmscan.c", "mm/memory.c",
]


@dataclass
class BenchTree:
    path: Path
    name: str
    version: str
    base_commit: str
    manifest: object = None


def make_series(root: Path, tree) -> str:
    """A 10-patch series version v1 whose diffs apply on tree's base."""
    name = "bench-ten"
    folder = root / name
    patches = [f"{i:04d}-bench-{i}" for i in range(1, len(FILES) + 1)]
    (folder / "v1").mkdir(parents=True)
    (folder / "series.toml").write_text(
        f'name = "{name}"\nsubject = "bench: ten patches"\n'
        'change-id = "20260614-bench-ten-000000000000"\nversion = 1\n')
    (folder / "v1" / "version.toml").write_text(f"patches = {patches!r}\n".replace("'", '"'))
    for i, (patch, path) in enumerate(zip(patches, FILES, strict=True), 1):
        d = folder / "v1" / patch
        d.mkdir()
        (d / "message.j2").write_text(f"bench: patch {i}\n\nTouch {path} ({{{{ tree.name }}}}).\n")
        head = git.blob(tree.path, f"{tree.base_commit}:{path}").decode().splitlines()[:6]
        before, after = ("".join(f" {line}\n" for line in part).replace("{", "{{ '{' }}")
                         for part in (head[:3], head[3:]))
        (d / "change.diff").write_text(
            f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -1,6 +1,7 @@\n{before}+/* patchkit bench {i} */\n{after}")
    return name


def pick_tree(spec: str | None):
    from patchkit import tree as trees

    if spec is None:
        return trees.open_tree(None)
    repo = Path(spec)
    base = git.out(repo, "rev-parse", "HEAD")
    return BenchTree(repo, "linux-source-6.12", "6.12", base)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", help="a kernel checkout (default: the pinned tree)")
    args = parser.parse_args()
    with options.using(quiet=True), tempfile.TemporaryDirectory(prefix="patchkit-bench-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("PATCHKIT_CACHE", str(tmp / "cache"))
        tree = pick_tree(args.tree)
        name = make_series(tmp / "series", tree)
        figures = []
        tips = []
        for run in ("cold", "warm"):
            start = time.monotonic()
            result = render.render(str(tmp / "series" / name), tree,
                                   author="Bench Mark <bench@example.org>",
                                   out_root=tmp / f"out-{run}")
            figures.append((run, time.monotonic() - start))
            tips.append(result.tip)
        same = [p.read_bytes() for p in sorted((tmp / "out-cold" / "bench-ten-v1").iterdir())] == \
               [p.read_bytes() for p in sorted((tmp / "out-warm" / "bench-ten-v1").iterdir())]
    print(f"tree: {tree.name} at {tree.path} (base {tree.base_commit[:12]})")
    print(f"series: {len(FILES)} patches, {result.summary()}")
    for run, seconds in figures:
        print(f"render+commit+format-patch ({run}): {seconds:.2f} s "
              f"({seconds / len(FILES) * 1000:.0f} ms/patch)  target < 10 s: "
              f"{'MET' if seconds < 10 else 'MISSED'}")
    print(f"deterministic: same tip {tips[0] == tips[1]}, identical patch files {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
