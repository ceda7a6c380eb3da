#!/usr/bin/env python3
"""Figures for the boot stage: boot to first test, suite duration, pages verified.

    timing/boot_bench.py --kernel BZIMAGE --source TREE [--rounds 3] [--tests a,b] [--skip-suite]

Boot-to-first-test is the guest's uptime when init printed its first marker
(target under TCG: at most 3 s), and the host wall time of a boot that runs
no test at all (QEMU start, kernel, init, isa-debug-exit).  Then one full
suite run: its duration and, per test, the pages pk-hog wrote and verified.
Never compare figures taken under different accelerators.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from patchkit import boot  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", type=Path, required=True)
    ap.add_argument("--source", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tests", default=None, help="comma-separated tests for the suite run (default all)")
    ap.add_argument("--skip-suite", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="boot-bench-") as tmp:
        uptimes, walls, accel = [], [], None
        for i in range(args.rounds):
            t0 = time.monotonic()
            res = boot.boot(args.kernel, source=args.source, tests=[], timeout=120,
                            log_dir=Path(tmp) / f"empty{i}")
            walls.append(time.monotonic() - t0)
            if res.status != boot.PASS or res.boot_seconds is None:
                print(f"empty boot {i} ended {res.status}: {res.detail} ({res.console_log})")
                return 1
            uptimes.append(res.boot_seconds)
            accel = res.accel
        print(f"accelerator: {accel} (QEMU {res.qemu_version})")
        print(f"boot to first test (guest uptime): median {statistics.median(uptimes):.2f} s "
              f"min {min(uptimes):.2f} max {max(uptimes):.2f} over {len(uptimes)} boots (target <= 3 s)")
        print(f"empty boot, host wall (QEMU start to exit): median {statistics.median(walls):.2f} s")
        if args.skip_suite:
            return 0
        tests = args.tests.split(",") if args.tests else None
        res = boot.boot(args.kernel, source=args.source, tests=tests, log_dir=Path(tmp) / "suite")
        print(f"suite: {res.status} in {res.seconds:.1f} s host wall under {res.accel}"
              + (f" ({res.detail})" if res.detail else ""))
        for t in res.tests:
            pages = sum(v for k, v in t.figures.items() if k.endswith("verified_pages") and isinstance(v, int))
            swapped = t.figures.get("vm.pswpout", "-")
            print(f"  {t.name:<14} {t.status:<5} {t.seconds:7.1f} s  pages verified {pages:>8}  pswpout {swapped}")
        return 0 if res.status == boot.PASS else 1


if __name__ == "__main__":
    sys.exit(main())
