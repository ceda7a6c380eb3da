#!/usr/bin/env python3
"""Build figures for issue 3 (printed, never asserted).

  * cold minimal build in the container vs on the host, interleaved A/B
    (each cold build gets an empty cache: new build dir, empty ccache);
    targets: container <= 4 min, container overhead <= 10 %;
  * nothing-changed rebuild (what `patchkit build` does: reuse) and a forced
    no-op `make` in the same build dir;
  * the same commit in a fresh build dir with a warm ccache (a new commit
    costs about this);
  * cold debug-config build (KASAN, lockdep, ...) in the container;
  * CONFIG_SWAP=n and CONFIG_ZRAM=m fragments: configure and land.

Machines are shared and noisy: compare the two runtimes inside one run,
never absolute times across runs.

    .venv/bin/python timing/build_bench.py [--source DIR] [--rounds N] [--skip-debug]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from patchkit import build, kconfig, paths, proc, ui

TARGET_COLD = 240.0
TARGET_OVERHEAD = 0.10


def fmt(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


@contextmanager
def fresh_cache(work: Path, label: str):
    """PATCHKIT_CACHE pointed at an empty directory (empty ccache, no build dirs)."""
    d = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=work))
    old = os.environ.get("PATCHKIT_CACHE")
    os.environ["PATCHKIT_CACHE"] = str(d)
    try:
        yield d
    finally:
        if old is None:
            os.environ.pop("PATCHKIT_CACHE", None)
        else:
            os.environ["PATCHKIT_CACHE"] = old


def timed(fn, *args, **kwargs):
    start = time.monotonic()
    res = fn(*args, **kwargs)
    return time.monotonic() - start, res


def cold_in_parallel(source: Path, args, work: Path, cold: dict) -> Path:
    """Both cold builds at once, each a `patchkit build` process with its own
    empty cache; returns the container's cache (kept for the warm figures)."""
    running = {}
    caches = {}
    for rt in (args.container, "host"):
        caches[rt] = Path(tempfile.mkdtemp(prefix=f"cold-{rt}-", dir=work))
        argv = [sys.executable, "-m", "patchkit", "build", "--runtime", rt, "--jobs", str(args.jobs),
                str(source)]
        running[rt] = (time.monotonic(), proc.spawn(argv, env={"PATCHKIT_CACHE": str(caches[rt])},
                                                    log=caches[rt] / "bench.log"))
    try:
        pending = dict(running)
        while pending:
            time.sleep(1)
            for rt, (start, child) in list(pending.items()):
                if child.poll() is None:
                    continue
                del pending[rt]
                if child.returncode != 0:
                    sys.exit(f"cold {rt} build failed: see {caches[rt] / 'bench.log'}")
                cold[rt].append(time.monotonic() - start)
                print(f"parallel: cold minimal, {rt}: {fmt(cold[rt][-1])} "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        for _, child in running.values():
            proc.kill_group(child)
    if not args.keep:
        shutil.rmtree(caches["host"], ignore_errors=True)
    return caches[args.container]


def default_source() -> Path:
    try:
        return build.default_source()
    except Exception as exc:  # the tree module may not be merged yet
        sys.exit(f"give --source (no pinned tree: {exc})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, help="kernel tree (default: the pinned tree)")
    ap.add_argument("--container", default="podman", choices=["podman", "docker"])
    ap.add_argument("--rounds", type=int, default=1, help="cold A/B pairs (default 1)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--skip-debug", action="store_true")
    ap.add_argument("--parallel", action="store_true",
                    help="run the container and host cold builds at the same time (both see the same "
                         "machine load; for busy shared machines where sequential rounds drift)")
    ap.add_argument("--work", type=Path, default=None, help="scratch dir (default: <cache>/bench)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch caches")
    args = ap.parse_args(argv)
    source = (args.source or default_source()).resolve()
    work = args.work or paths.cache_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    fig: list[tuple[str, str]] = []
    container_cache = None
    print(f"source {source}, jobs {args.jobs}, load {os.getloadavg()[0]:.1f}", flush=True)

    try:
        cold = {args.container: [], "host": []}
        if args.parallel:
            container_cache = cold_in_parallel(source, args, work, cold)
        for r in range(0 if args.parallel else args.rounds):
            order = [args.container, "host"] if r % 2 == 0 else ["host", args.container]
            for rt in order:
                with fresh_cache(work, f"cold-{rt}") as cache:
                    secs, res = timed(build.build, source, runtime=rt, jobs=args.jobs)
                    cold[rt].append(secs)
                    print(f"round {r + 1}: cold minimal, {rt}: {fmt(secs)} "
                          f"(load {os.getloadavg()[0]:.1f}, {res.warnings} warnings)", flush=True)
                    if rt == args.container:
                        if container_cache:
                            shutil.rmtree(container_cache, ignore_errors=True)
                        container_cache = cache
                    elif not args.keep:
                        shutil.rmtree(cache, ignore_errors=True)
        c, h = min(cold[args.container]), min(cold["host"])
        overhead = (c - h) / h
        fig += [
            (f"cold minimal build, {args.container} ({'parallel A/B' if args.parallel else f'best of {args.rounds}'})",
             f"{fmt(c)}  target <= {fmt(TARGET_COLD)}: {'PASS' if c <= TARGET_COLD else 'FAIL'}"),
            ("cold minimal build, host", fmt(h)),
            ("container overhead", f"{overhead * 100:+.1f}%  target <= {TARGET_OVERHEAD * 100:.0f}%: "
                                   f"{'PASS' if overhead <= TARGET_OVERHEAD else 'FAIL'}"),
        ]

        # the container's cache is warm now: no-op and warm-ccache figures
        os.environ["PATCHKIT_CACHE"] = str(container_cache)
        secs, res = timed(build.build, source, runtime=args.container, jobs=args.jobs)
        fig.append(("nothing-changed rebuild (reused)", f"{secs:.1f} s  reused={res.reused}"))
        (res.build_dir / "metadata.json").unlink()
        secs, _ = timed(build.build, source, runtime=args.container, jobs=args.jobs)
        fig.append(("nothing-changed make in the same build dir", f"{secs:.1f} s"))
        secs, _ = timed(build.build, source, runtime=args.container, jobs=args.jobs,
                        build_root=Path(tempfile.mkdtemp(prefix="warm-", dir=container_cache)))
        fig.append(("fresh build dir, warm ccache", fmt(secs)))

        # variants: configure and check landing
        for name, text, sym, want in (("noswap", "# CONFIG_SWAP is not set\n", "CONFIG_SWAP", "n"),
                                      ("zram-m", "CONFIG_ZRAM=m\n", "CONFIG_ZRAM", "m")):
            frag = container_cache / f"{name}.config"
            frag.write_text(text)
            secs, dot_config = timed(build.configure, source, fragments=[frag], runtime=args.container,
                                     jobs=args.jobs)
            got = kconfig.values(dot_config.read_text())
            fig.append((f"variant {text.strip()!r}",
                        f"landed ({sym}={got.get(sym, 'n')}, ZSMALLOC={got.get('CONFIG_ZSMALLOC', 'n')}) "
                        f"configure {secs:.1f} s"))
        print("variants configured", flush=True)

        if not args.skip_debug:
            with fresh_cache(work, "cold-debug") as cache:
                secs, res = timed(build.build, source, config="debug", runtime=args.container, jobs=args.jobs)
                fig.append(("cold debug build (KASAN, lockdep)", f"{fmt(secs)}  bzImage "
                            f"{res.kernel.stat().st_size / 1e6:.1f} MB, {res.warnings} warnings"))
                if not args.keep:
                    shutil.rmtree(cache, ignore_errors=True)
    finally:
        if container_cache and not args.keep:
            shutil.rmtree(container_cache, ignore_errors=True)
        print()
        for what, value in fig:
            print(f"{what:48s} {value}")
        ui.info("bench", f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
