"""patchkit bench: what the series does to zram swap, measured honestly.

    patchkit bench [SERIES] [--rounds 5] [--base-layer swap-batching]   (SERIES default zram-swap-ops)

Three kernels from one tree and one config: the baseline (the pinned tree,
no patches), the base layer alone and the full series, rendered by
patchkit render and built by patchkit build.  Each round boots every kernel
once, in the same order (A B C A B C ...), with the same initramfs, QEMU,
accelerator, guest size and zram setup, and runs the workloads of
patchkit/guest/bench/ (pk-bench.c):

  bench-swapout     fill 5/4 of guest RAM: swap-out MB/s, pages/s, system CPU per GiB
  bench-swapin      cold swap-in fault latency from the zram pool (every 8th page)
  bench-writeback   the same after zram wrote every slot back to a virtio disk

plus the base layer's batching counters (debugfs swap_io; "n/a" on the
baseline) and zram0's request counters per 1,000 swapped pages.

The report: per metric, each kernel's median over the rounds with a 95 %
bootstrap interval and its ratio to the baseline (interval too), marked
"no significant difference" when that interval contains 1; latency
distribution plots; bench.json; and a Markdown block for the cover letter
that names the machine, accelerator, QEMU version and N, with the author's
published numbers beside ours, labelled as theirs.

Results are only compared when every boot ran under the same accelerator
and QEMU version (also when merging bench.json files with --report).

For development, --source LABEL=PATH takes a kernel checkout instead of
rendering (and --kernel LABEL=BZIMAGE a kernel already built from it, which
skips the build); the report then says so.

Clocks.  --clock icount (the default wherever KVM is not used) boots every
kernel on one vCPU under TCG with -icount shift=0,sleep=off: the guest's
timings become guest instruction counts that repeat from boot to boot, and
the workloads of patchkit/icount.py are reported as instructions per unit
of work, each kernel at least twice, with the spread of its repeats, and a
per-function split from the QEMU plugin patchkit/plugins/pk-insn.c.
--clock wall is the statistics above (TSC cycles against the host's rate).
--base-layer none benches two kernels: the tree as it is and the series
(a tree whose mainline already has the base layer, 7.3 and later).

This module is the command; benchrun.py runs the kernels and boots,
benchreport.py turns the rounds into statistics, findings and bench.json.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from dataclasses import asdict
from pathlib import Path

from patchkit import benchreport, benchrun, cli, icount, paths, pipeline
from patchkit import tree as tree_mod
from patchkit.errors import UserError

ICOUNT_ROUNDS = 2  # under icount a kernel repeats to the instruction: two boots show it
CLOCKS = ("auto", "icount", "wall")


# ---------------------------------------------------------------- pure helpers


# ---------------------------------------------------------------- sources and builds


# ---------------------------------------------------------------- the run


# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: bench measures, so it must run'


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rounds", "-n", type=int, default=None,
                   help=f"interleaved rounds per kernel (default: {ICOUNT_ROUNDS} with --clock icount, 5 wall)")
    p.add_argument("--jobs", "-j", type=int, default=1,
                   help="with --clock icount: boots run side by side (one host core each; default 1)")
    p.add_argument("--clock", choices=CLOCKS, default="auto",
                   help="icount: guest instructions per unit of work under TCG -icount (repeatable "
                        "figures); wall: TSC time with bootstrap statistics; auto: wall under KVM, "
                        "else icount")
    p.add_argument("--workloads", default=None, metavar="LIST",
                   help="with --clock icount: a comma-separated subset of "
                        + ", ".join(w.key for w in icount.WORKLOADS) + " (default: all)")
    cli.add_series_argument(p, default="zram-swap-ops", what="the full series")
    p.add_argument("--series-version", type=int, default=None, metavar="N",
                   help="the series version to render (default: series.toml's when it supports the "
                        "tree, else the newest that does; its base layer follows its [depends])")
    p.add_argument("--base-layer", default="auto",
                   help="the kernel benched between the tree and the series: 'auto' (default) the "
                        "series the full one depends on on this tree (none on 7.3: two kernels); "
                        "'none': the tree and the series only; or a series 'NAME' / 'NAME vN', benched "
                        "alone")
    p.add_argument("--tree", default=None, help="tree name or checkout (default: the pinned tree)")
    p.add_argument("--config", default="minimal", help="build config flavour for all three (default minimal)")
    p.add_argument("--fragment", action="append", default=[], type=Path,
                   help="extra kconfig fragment for all three (repeatable); also a way to bench a second "
                        "code layout when a 'layout:' finding says a figure may measure the layout")
    p.add_argument("--runtime", default="auto", help="build runtime (see patchkit build)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="QEMU accelerator for every boot (auto: probe once, then keep it)")
    p.add_argument("--source", action="append", metavar="LABEL=PATH",
                   help="development escape hatch: a kernel checkout instead of rendering; "
                        f"LABEL is one of {', '.join(benchreport.LABELS)}; give every kernel of the run")
    p.add_argument("--kernel", action="append", metavar="LABEL=BZIMAGE",
                   help="with --source: a bzImage already built from that checkout (skips the build)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="report folder (default: the cache's out/bench/<date>/)")
    p.add_argument("--note", action="append", default=[], metavar="TEXT",
                   help="a finding to print in the report (e.g. the cause of a slowdown found in the counters)")
    p.add_argument("--report", nargs="+", type=Path, metavar="BENCH_JSON",
                   help="no run: rebuild the report from bench.json files (merged; they must share "
                        "accelerator and QEMU version)")


def resolve_clock(requested: str, accel: str, kernel: Path | None) -> tuple[str, str]:
    """(clock, accel): icount needs TCG; auto is wall only where KVM really runs the guest."""
    from patchkit import qemu

    if requested == "wall":
        return "wall", accel
    if requested == "icount":
        if accel == "kvm":
            raise UserError("--clock icount needs TCG, not --accel kvm",
                            hint="drop --accel kvm, or use --clock wall")
        return "icount", "tcg"
    if requested != "auto":
        raise UserError(f"unknown clock {requested!r}", hint=f"clocks: {', '.join(CLOCKS)}")
    if accel == "auto" and kernel is not None:
        accel, _ = qemu.probe_accel(kernel, qemu_version=qemu.version(), requested="auto")
    return ("wall", "kvm") if accel == "kvm" else ("icount", "tcg")


def check_args(args) -> benchrun.Plan | None:
    """Bad input fails here, before a tree is opened or anything is built; the
    plan of the kernels to render (None with --report or --source)."""
    if args.options.dry_run:
        raise UserError("--dry-run is not supported by bench: it measures, so it must run")
    if args.rounds is not None and args.rounds < 1:
        raise UserError(f"--rounds {args.rounds}: bench needs at least 1 round",
                        hint="patchkit bench --rounds 5 (interleaved rounds per kernel)")
    if args.clock == "icount" and args.rounds is not None and args.rounds < 2:
        raise UserError(f"--rounds {args.rounds}: the icount clock boots each kernel at least twice, "
                        "to measure that its figures repeat", hint="use --rounds 2 (the default) or more")
    if args.output is not None and Path(args.output).exists() and not Path(args.output).is_dir():
        raise UserError(f"-o {args.output} is a file, not a folder")
    if not args.report:
        args.series = cli.series_argument(args)
        sources = benchrun.parse_assignments(args.source, "--source")
        benchrun.parse_assignments(args.kernel, "--kernel")
        if getattr(args, "series_version", None) is not None and args.series_version < 1:
            raise UserError(f"--series-version {args.series_version}: a version is a whole number from 1")
        if not sources:
            from patchkit import series as series_mod

            # bad names fail here, before a tree is opened (or fetched)
            series_mod.chain(args.series, version=getattr(args, "series_version", None))
            if args.base_layer not in ("auto", "none", "", None):
                series_mod.load(args.base_layer.partition(" ")[0],
                                Path(args.series).parent if "/" in args.series else None)
            return benchrun.plan(args.series, tree_mod.open_tree(args.tree).name, args.base_layer,
                                 getattr(args, "series_version", None))
    return None


def run(args) -> int:
    kplan = check_args(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.output or paths.out_dir() / "bench" / stamp)
    if args.report:
        result = benchreport.merge_reports(args.report)
        result["findings"] = list(args.note) + result["findings"]
        benchreport.write_outputs(result, out)
        benchreport.print_summary(result, out)
        return 0
    workloads = icount.select_workloads(getattr(args, "workloads", None))
    start = time.monotonic()
    load0 = os.getloadavg()[0]
    workdir = paths.cache_dir() / "bench"
    kernels, note = benchrun.resolve_kernels(args, workdir, kplan)
    if kplan is not None and kplan.note():
        note = "; ".join(filter(None, [note, kplan.note()]))
    labels = list(kernels)
    benchrun.build_kernels(kernels, args.config, args.runtime, args.fragment)
    benchrun.check_same_config(kernels)
    clock, accel = resolve_clock(args.clock, args.accel, kernels["baseline"].kernel)
    rounds_n = args.rounds if args.rounds is not None else (ICOUNT_ROUNDS if clock == "icount" else 5)
    if clock == "icount" and rounds_n < 2:
        raise UserError(f"--rounds {rounds_n}: the icount clock boots each kernel at least twice, "
                        "to measure that its figures repeat", hint="use --rounds 2 (the default) or more")
    from patchkit import initramfs

    from patchkit import boot as boot_mod

    tests = icount.tests_for(workloads) if clock == "icount" else benchreport.TESTS
    # one image for every boot of the run (each boot records the hash of what it ran)
    initrd = initramfs.build_image(source=kernels["baseline"].source, tests=boot_mod.select_tests(tests))
    tsc_mhz = benchrun.host_tsc_mhz() if clock == "wall" else None
    plugin = icount.plugin_path() if clock == "icount" else None
    meta = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "clock": clock,
        "rounds": rounds_n,
        "labels": labels,
        "titles": benchreport.titles_for(args.tree, labels, kplan.names() if kplan else None),
        "plan": ({"series": kplan.names()["series"], "base_layer": kplan.names().get("base-layer")}
                 if kplan else None),
        "tests": tests,
        "workloads": [w.key for w in workloads] if clock == "icount" else None,
        "memory_mb": benchrun.MEMORY_MB,
        "smp": 1 if clock == "icount" else benchrun.SMP,
        "machine": benchrun.machine(),
        "tree": args.tree or "linux-source-6.12",
        "config": args.config,
        "fragments": [str(f) for f in args.fragment],
        "kernels": {lb: {"origin": k.origin, "source": str(k.source), "kernel": str(k.kernel),
                         "sha256": hashlib.sha256(Path(k.kernel).read_bytes()).hexdigest(),
                         "config_hash": k.config_hash, "build_seconds": k.build_seconds,
                         "page_straddles": benchrun.straddles_json(k.kernel)}
                    for lb, k in kernels.items()},
        "initramfs_sha256": hashlib.sha256(initrd.read_bytes()).hexdigest(),
        "host_tsc_mhz": [tsc_mhz] if tsc_mhz else [],
        "sources_note": note,
    }
    rounds = benchrun.run_rounds(kernels, rounds=rounds_n, accel=accel, out=out,
                                 initrd_source=kernels["baseline"].source, tsc_mhz=tsc_mhz, meta=meta,
                                 clock=clock, plugin=plugin, tests=meta["tests"], initrd=initrd,
                                 jobs=getattr(args, "jobs", 1))
    if clock == "wall":
        meta["host_tsc_mhz"].append(benchrun.host_tsc_mhz())
    meta["load"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    result = benchreport.analyse([asdict(r) for r in rounds], meta)
    result["findings"] = list(args.note) + result["findings"]
    result["meta"]["total_seconds"] = round(time.monotonic() - start, 1)
    result["meta"]["boot_seconds"] = round(sum(r.seconds for r in rounds), 1)
    benchreport.write_outputs(result, out)
    benchreport.print_summary(result, out)
    failed = [r for r in rounds if r.status != pipeline.PASS]
    return 1 if failed else 0


