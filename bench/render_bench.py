#!/usr/bin/env python3
"""Render + commit a generated 10-patch series on the cached pinned tree.

Target (issue 2): under 10 s.  Prints the figures; asserts nothing.

    .venv/bin/python bench/render_bench.py [--tree PATH_OR_NAME]

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

from patchkit import proc, render, ui  # noqa: E402


# (file, anchor) pairs that exist on linux-source-6.12; {{ }} from the profile
SITES = [
    ("drivers/block/zram/zram_drv.c", '{ function = "{{ slot_lock }}" }'),
    ("drivers/block/zram/zram_drv.c", '{ function = "{{ mark_slot_accessed }}" }'),
    ("drivers/block/zram/zram_drv.c", '{ function = "{{ slot_free }}" }'),
    ("mm/page_io.c", '{ function = "swap_write_unplug" }'),
    ("mm/page_io.c", '{ function = "__swap_read_unplug" }'),
    ("mm/page_io.c", '{ function = "sio_pool_init" }'),
    ("mm/swapfile.c", '{ function = "swap_range_free" }'),
    ("mm/swap.h", '{ regex = "^int sio_pool_init\\\\(void\\\\);$" }'),
    ("include/linux/swap.h", '{ member = "bdev", struct = "swap_info_struct" }'),
    ("include/linux/blkdev.h",
     '{ member = "swap_slot_free_notify", struct = "block_device_operations" }'),
]


@dataclass
class BenchTree:
    path: Path
    name: str
    version: str
    base_commit: str
    manifest: object = None


def make_series(root: Path) -> str:
    name = "bench-ten"
    folder = root / name
    patches = [f"{i:04d}-bench-{i}" for i in range(1, len(SITES) + 1)]
    folder.mkdir(parents=True)
    (folder / "series.toml").write_text(
        f'name = "{name}"\nsubject = "bench: ten patches"\n'
        'change-id = "20260614-bench-ten-000000000000"\nversion = 1\n'
        f"patches = {patches!r}\n".replace("'", '"'))
    for i, (patch, (path, anchor)) in enumerate(zip(patches, SITES, strict=True), 1):
        d = folder / patch
        d.mkdir()
        (d / "message.j2").write_text(f"bench: patch {i}\n\nTouch {path} ({{{{ tree.name }}}}).\n")
        (d / "edits.toml").write_text(
            f'files = ["{path}"]\n\n[[edit]]\nfile = "{path}"\nop = "insert_after"\n'
            f"anchor = {anchor}\ncode = '/* patchkit bench {i} */'\n")
    return name


def pick_tree(spec: str | None):
    from patchkit import tree as trees

    if spec is None:
        return trees.open_tree(None)
    repo = Path(spec)
    base = proc.git(repo, "rev-parse", "HEAD")
    return BenchTree(repo, "linux-source-6.12", "6.12", base)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", help="a kernel checkout (default: the pinned tree)")
    args = parser.parse_args()
    ui.QUIET = True
    with tempfile.TemporaryDirectory(prefix="patchkit-bench-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("PATCHKIT_CACHE", str(tmp / "cache"))
        tree = pick_tree(args.tree)
        name = make_series(tmp / "series")
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
    print(f"series: {len(SITES)} patches, {result.summary()}")
    for run, seconds in figures:
        print(f"render+commit+format-patch ({run}): {seconds:.2f} s "
              f"({seconds / len(SITES) * 1000:.0f} ms/patch)  target < 10 s: "
              f"{'MET' if seconds < 10 else 'MISSED'}")
    print(f"deterministic: same tip {tips[0] == tips[1]}, identical patch files {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
