#!/usr/bin/env python3
"""Cold fetch of a pinned tree: package check + sha256 + extract + git base.

Target (issue 2): under 3 minutes on the reference machine.  Fetches into a
fresh temporary PATCHKIT_CACHE (removed afterwards), prints each phase's
time, the base commit id and whether it equals the manifest's.

    .venv/bin/python timing/tree_bench.py [NAME] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from patchkit import git, manifests, paths, pinned, tree

TARGET_SECONDS = 180.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default=manifests.DEFAULT_TREE)
    parser.add_argument("--keep", type=Path, help="fetch into this cache dir and keep it")
    args = parser.parse_args(argv)

    manifest = manifests.load_manifest(args.name)
    cache = args.keep or Path(tempfile.mkdtemp(prefix="patchkit-bench-", dir=paths.cache_dir()))
    os.environ["PATCHKIT_CACHE"] = str(cache)
    load = os.getloadavg()
    start = time.monotonic()
    try:
        report = pinned.fetch_tree(args.name, force=True)
        total = time.monotonic() - start
        warm_start = time.monotonic()
        tree.open_tree(args.name)
        warm = time.monotonic() - warm_start
        head = git.out(report.tree.path, "rev-parse", "HEAD")
    finally:
        if not args.keep:
            shutil.rmtree(cache, ignore_errors=True)

    print(f"tree {args.name} (Linux {manifest.kernel_version}), cache {cache}")
    print(f"load average before: {load[0]:.1f} on {os.cpu_count()} CPUs")
    for phase, seconds in report.phases.items():
        print(f"  {phase:<12} {seconds:7.1f} s")
    verdict = "PASS" if total < TARGET_SECONDS else "FAIL"
    print(f"  {'total':<12} {total:7.1f} s   target < {TARGET_SECONDS:.0f} s: {verdict}")
    print(f"  {'warm open':<12} {warm:7.2f} s")
    same = head == manifest.base_commit
    print(f"base commit {head} "
          f"({'equals' if same else 'DIFFERS FROM'} the manifest's)")
    return 0 if same and verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
