#!/usr/bin/env python3
"""Validate again with nothing changed (issue 3 target: at most 60 s).

    .venv/bin/python timing/revalidate_bench.py [--series zram-swap-ops] [--rounds 2]

Runs `patchkit validate` once to warm every cache (tree, render, build,
initramfs), then ROUNDS more times with nothing changed, each as its own
process as a developer would run it, and prints the wall time of each run
split into its stages (from results.json) and the guest tests' share.
Figures only, nothing asserted: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 60.0
ROOT = Path(__file__).resolve().parent.parent


def one_run(series: str, out: Path) -> tuple[float, dict]:
    patchkit = ROOT / ".venv" / "bin" / "patchkit"
    argv = [str(patchkit) if patchkit.exists() else "patchkit", "validate", series,
            "-o", str(out)]
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "validate.log", "w") as log:
        rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - start
    results = json.loads((out / "results.json").read_text())
    if rc != 0:
        raise SystemExit(f"patchkit validate failed (exit {rc}); see {out / 'results.json'}")
    return wall, results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="zram-swap-ops")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="revalidate-"))
    wall, _ = one_run(args.series, work / "warm")
    print(f"warm-up run: {wall:.1f} s")
    walls = []
    for i in range(args.rounds):
        wall, res = one_run(args.series, work / f"run{i}")
        walls.append(wall)
        stages = {s["name"]: s.get("seconds") or 0.0 for s in res["stages"]}
        tests = sum(t.get("seconds") or 0.0 for t in res["tests"])
        rebuilt = not res.get("info", {}).get("build", {}).get("reused", True)
        parts = ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
        print(f"run {i + 1}: {wall:.1f} s wall ({parts}; guest tests {tests:.1f} s)"
              + (" REBUILT" if rebuilt else ""))
    med = statistics.median(walls)
    print(f"validate again, nothing changed: median {med:.1f} s over {len(walls)} runs "
          f"(target {TARGET:.0f} s: {'met' if med <= TARGET else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
