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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from patchkit import icount, layout, paths, pipeline, proc, render, stats, ui
from patchkit import tree as tree_mod
from patchkit.errors import InfraError, UserError

LABELS = ("baseline", "base-layer", "series")
TITLES = {"baseline": "baseline 6.12", "base-layer": "base layer", "series": "series"}
TESTS = ["bench-swapout", "bench-swapin", "bench-writeback"]
MEMORY_MB = 256
SMP = 2
BOOT_TIMEOUT = 900.0
# Under icount one host thread runs the guest: on a shared, loaded machine a boot takes longer,
# while the guest's own clock (instructions) is unaffected.
ICOUNT_BOOT_TIMEOUT = 2700.0
MIN_ROUNDS = 3  # fewer rounds per kernel: ratios are shown, but no significance is claimed
ICOUNT_ROUNDS = 2  # under icount a kernel repeats to the instruction: two boots show it
CLOCKS = ("auto", "icount", "wall")
TOO_FEW = f"too few rounds for a CI (< {MIN_ROUNDS})"


@dataclass(frozen=True)
class Metric:
    key: str
    test: str
    figure: str
    title: str
    unit: str
    higher_is_better: bool | None  # None: a descriptive figure, no better/worse


METRICS = [
    Metric("swapout.mb_s", "bench-swapout", "swapout.tsc_mb_s", "swap-out throughput", "MB/s", True),
    Metric("swapout.pages_s", "bench-swapout", "swapout.tsc_pages_s", "swap-out throughput", "pages/s", True),
    Metric("swapout.sys_s_per_gib", "bench-swapout", "swapout.sys_s_per_gib",
           "guest system CPU per GiB swapped out", "s/GiB", False),
    Metric("swapout.write_folios_per_submit", "bench-swapout", "swapout.io.write_folios_per_submit",
           "folios per write submission", "folios", True),
    Metric("swapout.submits_per_1000", "bench-swapout", "swapout.io.submits_per_1000_pages",
           "swap I/O submissions per 1,000 pages (swap-out)", "", False),
    Metric("swapout.zram_bios_per_1000", "bench-swapout", "swapout.io.zram_requests_per_1000_pages",
           "zram0 bios per 1,000 pages (swap-out)", "", None),
    Metric("swapout.zram_failed_writes", "bench-swapout", "zram.io_stat.failed_writes",
           "zram failed writes during swap-out (batch re-dirtied)", "", False),
    Metric("swapout.swapcache_end_kb", "bench-swapout", "swapout.swapcache_end_kb",
           "swap cache left after the swap-out fill", "KiB", None),
    Metric("zspool.avg_ns", "bench-swapin", "lat.cold.avg_ns", "zspool swap-in latency avg", "ns", False),
    Metric("zspool.p50_ns", "bench-swapin", "lat.cold.p50_ns", "zspool swap-in latency p50", "ns", False),
    Metric("zspool.p99_ns", "bench-swapin", "lat.cold.p99_ns", "zspool swap-in latency p99", "ns", False),
    Metric("zspool.p999_ns", "bench-swapin", "lat.cold.p999_ns", "zspool swap-in latency p999", "ns", False),
    Metric("zspool.cold_share", "bench-swapin", "lat.cold_share", "zspool share of cold faults", "", None),
    Metric("zspool.read_folios_per_submit", "bench-swapin", "lat.io.read_folios_per_submit",
           "folios per read submission (zspool)", "folios", None),
    Metric("zspool.zram_bios_per_1000", "bench-swapin", "lat.io.zram_requests_per_1000_pages",
           "zram0 bios per 1,000 pages (zspool swap-in)", "", None),
    Metric("writeback.avg_ns", "bench-writeback", "lat.cold.avg_ns", "writeback swap-in latency avg", "ns", False),
    Metric("writeback.p50_ns", "bench-writeback", "lat.cold.p50_ns", "writeback swap-in latency p50", "ns", False),
    Metric("writeback.p99_ns", "bench-writeback", "lat.cold.p99_ns", "writeback swap-in latency p99", "ns", False),
    Metric("writeback.p999_ns", "bench-writeback", "lat.cold.p999_ns", "writeback swap-in latency p999", "ns",
           False),
    Metric("writeback.cold_share", "bench-writeback", "lat.cold_share", "writeback share of cold faults", "",
           None),
    Metric("writeback.bd_reads_per_sample", "bench-writeback", "lat.bd_reads_per_sample",
           "backing-device page reads per sample (bd_stat)", "", None),
    Metric("writeback.disk_reads_per_sample", "bench-writeback", "lat.disk_reads_per_sample",
           "backing-disk requests per sample (diskstats)", "", None),
]
METRIC_BY_KEY = {m.key: m for m in METRICS}

# The author's own published numbers (series.md section 6): theirs, not ours.
AUTHOR_NUMBERS = {
    "method": "3 GB of data, every 64th page sampled (12,288 pages), lzo-rle, 16 GB zram with a "
              "loop-device backing disk, cold faults after dropping caches; the author called the "
              "writeback numbers noisy and later reruns inconsistent",
    "rows": [
        ("zspool only", "avg / p50 / p99", "1,750 / 1,273 / 6,318 ns", "1,812 / 1,504 / 6,198 ns"),
        ("writeback on", "avg / p50 / p99", "39 / 4.5 / 116 µs", "77 / 90 / 210 µs"),
    ],
}


@dataclass
class Kernel:
    label: str
    source: Path
    origin: str                 # "render <series> @ <commit>" or "--source PATH"
    kernel: Path | None = None  # bzImage
    config_hash: str | None = None
    build_seconds: float | None = None


@dataclass
class Round:
    index: int
    label: str
    status: str
    accel: str
    qemu_version: str
    seconds: float
    figures: dict = field(default_factory=dict)  # test -> {figure: value}
    statuses: dict = field(default_factory=dict)  # test -> PASS/FAIL/SKIP/ERROR
    detail: str = ""
    console_log: str = ""
    clock: str = "wall"
    breakdown: dict | None = None  # icount: plugin counts per phase and function (icount.breakdown)
    breakdown_note: str = ""
    initramfs_sha256: str = ""  # the image this boot ran: figures compare only across one image
    run: int = 1  # which bench run the round came from (--report of several bench.json files)


# ---------------------------------------------------------------- pure helpers


def labels_for(base_layer: str | None) -> tuple[str, ...]:
    """The kernels a run compares: without a base layer, the tree and the series."""
    return LABELS if base_layer not in (None, "", "none") else ("baseline", "series")


def titles_for(tree: str | None, labels, names: dict[str, str] | None = None) -> dict[str, str]:
    """Column titles: the tree's version for the baseline ('baseline 6.12', 'mainline 7.3'),
    and the rendered series and version for the others when names gives them
    ({'base-layer': 'swap-batching v2', 'series': 'zram-swap-ops v1'})."""
    import re

    m = re.search(r"(\d+\.\d+)", tree or "linux-source-6.12")
    version = m.group(1) if m else (tree or "tree")
    first = f"baseline {version}" if "base-layer" in labels else f"mainline {version}"
    names = names or {}
    return {"baseline": first,
            "base-layer": TITLES["base-layer"] + (f" ({names['base-layer']})" if "base-layer" in names else ""),
            "series": TITLES["series"] + (f" ({names['series']})" if "series" in names else "")}


@dataclass(frozen=True)
class Plan:
    """What a rendered bench compares on one tree: the series (name, version) and the base layer
    benched alone (None: two kernels), plus the base the series itself is rendered on."""
    tree: str
    series: tuple[str, int]
    base_layer: tuple[str, int] | None
    series_base: tuple[str, int] | None  # the series' own dependency on this tree

    def names(self) -> dict[str, str]:
        out = {"series": f"{self.series[0]} v{self.series[1]}"}
        if self.base_layer:
            out["base-layer"] = f"{self.base_layer[0]} v{self.base_layer[1]}"
        if self.series_base and self.series_base != self.base_layer:
            out["series"] += f" on {self.series_base[0]} v{self.series_base[1]}"
        return out

    def note(self) -> str:
        """A sentence when the series kernel does not sit on the base-layer kernel benched."""
        if self.base_layer and self.series_base != self.base_layer:
            on = f"{self.series_base[0]} v{self.series_base[1]}" if self.series_base else "the bare tree"
            return (f"the series kernel is {self.series[0]} v{self.series[1]} rendered on {on}, not on the "
                    f"base layer benched alone ({self.base_layer[0]} v{self.base_layer[1]}): the series' "
                    f"ratio to the base layer mixes two base layers")
        return ""


def plan(series: str, tree: str, base_layer: str = "auto", series_version: int | None = None,
         root: Path | None = None) -> Plan:
    """The kernels of a rendered bench on tree.  base_layer 'auto': the series' own dependency on
    that tree (none on 7.3, whose mainline has the swap_ops base: two kernels); 'none': two
    kernels; a series name: that series alone as the middle kernel (at the version the series
    depends on, else its default for the tree)."""
    from patchkit import series as series_mod

    chain = series_mod.chain(series, root, version=series_version, tree=tree)
    top = chain[-1]
    dep = (chain[-2].name, chain[-2].version) if len(chain) > 1 else None
    if base_layer in ("auto", "", None):
        base = dep
    elif base_layer == "none":
        base = None
    else:
        # "NAME" (at the version the series sits on, else NAME's default) or "NAME vN"
        name, _, ver = base_layer.partition(" ")
        version = None
        if ver:
            if not (ver.startswith("v") and ver[1:].isdigit()):
                raise UserError(f"--base-layer {base_layer!r}: expected NAME or 'NAME vN'")
            version = int(ver[1:])
        known = {s.name: s.version for s in chain[:-1]}
        if root is None and "/" in series and (Path(series).parent / name).is_dir():
            root = Path(series).parent  # a series given as a folder: its base layer beside it
        alone = series_mod.load(name, root, version=version, tree=tree)
        alone.check_tree(tree)
        base = (alone.name, version or known.get(alone.name, alone.version))
    return Plan(tree=tree, series=(top.name, top.version), base_layer=base, series_base=dep)


def parse_assignments(items: list[str] | None, option: str, labels=LABELS) -> dict[str, Path]:
    """['baseline=/x', ...] -> {label: Path}; unknown labels and bad syntax are UserErrors."""
    LABELS = labels  # noqa: N806 (the labels of this run)
    out: dict[str, Path] = {}
    for item in items or []:
        label, sep, value = item.partition("=")
        if not sep or not value:
            raise UserError(f"{option} {item!r}: expected LABEL=PATH",
                            hint=f"labels: {', '.join(LABELS)}")
        if label not in LABELS:
            raise UserError(f"{option} {item!r}: unknown label {label!r}", hint=f"labels: {', '.join(LABELS)}")
        if label in out:
            raise UserError(f"{option} given twice for {label}")
        out[label] = Path(value)
    return out


def schedule(labels, rounds: int) -> list[tuple[int, str]]:
    """Interleaved order: (round, label) for A B C A B C ..."""
    if rounds < 1:
        raise UserError(f"--rounds must be at least 1, not {rounds}")
    return [(r, label) for r in range(1, rounds + 1) for label in labels]


def check_comparable(rounds: list[dict]) -> tuple[str, str]:
    """(accel, qemu_version) shared by every round; UserError naming the first that differs."""
    if not rounds:
        raise UserError("no bench rounds to compare")
    first = rounds[0]
    for r in rounds[1:]:
        for key, what in (("accel", "accelerators"), ("qemu_version", "QEMU versions"), ("clock", "clocks")):
            if r.get(key, "wall") != first.get(key, "wall"):
                raise UserError(
                    f"refusing to compare results taken with different {what}: "
                    f"round {first['index']} {first['label']} ran with {first.get(key, 'wall')}, "
                    f"round {r['index']} {r['label']} with {r.get(key, 'wall')}",
                    hint="timings are only comparable under one accelerator and one QEMU; "
                         "rerun every kernel in one `patchkit bench` (or pass --accel)")
    return first["accel"], first["qemu_version"]


LATENCY_TESTS = ("bench-swapin", "bench-writeback")
LATENCY_STATS = ("avg", "p50", "p99", "p999", "max")


def normalise(figures: dict, tsc_mhz: float) -> dict:
    """Add host-time figures to one boot's {test: figures}: the guest counts TSC cycles.

    A TCG guest's own clock is jiffies-coarse and loses ticks on a busy host;
    its TSC is the host's, so cycles / host TSC rate is the real time.
    """
    out = {test: dict(figs) for test, figs in figures.items()}
    so = out.get("bench-swapout", {})
    cycles, pages = numeric(so.get("swapout.cycles")), numeric(so.get("swapout.pswpout"))
    if cycles and pages is not None:
        secs = cycles / (tsc_mhz * 1e6)
        so["swapout.tsc_seconds"] = round(secs, 4)
        so["swapout.tsc_mb_s"] = round(pages * 4096 / (1 << 20) / secs, 3)
        so["swapout.tsc_pages_s"] = round(pages / secs, 1)
    for test in LATENCY_TESTS:
        figs = out.get(test)
        if figs is None:
            continue
        for stat in LATENCY_STATS:
            c = numeric(figs.get(f"lat.cold.{stat}_cycles"))
            if c is not None:
                figs[f"lat.cold.{stat}_ns"] = round(c * 1000 / tsc_mhz, 1)
        q = figs.get("lat.cold_quantiles_cycles")
        if isinstance(q, (str, int)):
            try:
                figs["lat.cold_quantiles_ns"] = [round(float(x) * 1000 / tsc_mhz, 1)
                                                 for x in str(q).split(",") if x.strip()]
            except ValueError:
                pass
            del figs["lat.cold_quantiles_cycles"]  # the ns list replaces it in bench.json
    return out


def host_tsc_mhz() -> float:
    """The host's TSC rate (pk-bench tsc, built for the guest and run here)."""
    from patchkit import initramfs

    prog = initramfs.compile_program(paths.GUEST / "bench" / "pk-bench.c")
    out = proc.run([str(prog), "tsc"]).stdout
    try:
        mhz = float(out.split()[1])
    except (IndexError, ValueError) as exc:
        raise InfraError(f"pk-bench tsc printed {out.strip()!r}, not 'tsc_mhz N'") from exc
    if mhz <= 0:
        raise InfraError("the host TSC does not tick (pk-bench tsc measured 0 MHz)")
    return mhz


def numeric(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def metric_values(rounds: list[dict], label: str, metric: Metric) -> tuple[list[float], int]:
    """(numeric values over the rounds that passed the test, rounds where the figure is 'n/a')."""
    values, missing = [], 0
    for r in rounds:
        if r["label"] != label or r["statuses"].get(metric.test) != "PASS":
            continue
        v = r["figures"].get(metric.test, {}).get(metric.figure)
        x = numeric(v)
        if x is None:
            missing += 1
        else:
            values.append(x)
    return values, missing


def summarise(rounds: list[dict], labels=LABELS, *, seed: int = stats.DEFAULT_SEED,
              resamples: int = stats.DEFAULT_RESAMPLES) -> list[dict]:
    """Per metric and kernel: n, median, 95 % CI, ratio to baseline with CI, verdict."""
    rng = random.Random(seed)
    table = []
    for m in METRICS:
        row = {"metric": m.key, "title": m.title, "unit": m.unit, "kernels": {}}
        ref, _ = metric_values(rounds, labels[0], m)
        for label in labels:
            values, missing = metric_values(rounds, label, m)
            cell = {"n": len(values), "values": values, "na_rounds": missing}
            if values:
                ci = stats.bootstrap_median(values, rng=rng, resamples=resamples)
                cell.update(median=ci.estimate, low=ci.low, high=ci.high)
                if label != labels[0] and ref:
                    ratio = stats.bootstrap_ratio(values, ref, rng=rng, resamples=resamples)
                    if ratio is not None and min(len(values), len(ref)) < MIN_ROUNDS:
                        # a bootstrap of one or two rounds has no spread to speak of
                        cell.update(ratio=ratio.estimate, ratio_low=ratio.low, ratio_high=ratio.high,
                                    significance=TOO_FEW, verdict="")
                    elif ratio is not None:
                        cell.update(ratio=ratio.estimate, ratio_low=ratio.low, ratio_high=ratio.high,
                                    significance=stats.significance(ratio),
                                    verdict=(stats.direction(ratio, m.higher_is_better)
                                             if m.higher_is_better is not None else ""))
            row["kernels"][label] = cell
        table.append(row)
    return table


def fmt(x: float | None) -> str:
    """A figure with three significant digits and thousands separators."""
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    digits = max(0, 2 - math.floor(math.log10(ax)))
    return f"{x:,.{digits}f}"


def cell_text(cell: dict) -> str:
    if not cell.get("n"):
        return "n/a"
    return f"{fmt(cell['median'])} [{fmt(cell['low'])}, {fmt(cell['high'])}]"


def ratio_text(cell: dict) -> str:
    if "ratio" not in cell:
        return "n/a"
    text = f"{cell['ratio']:.3f} [{cell['ratio_low']:.3f}, {cell['ratio_high']:.3f}]"
    if cell.get("significance"):
        text += f" {cell['significance']}"
    elif cell.get("verdict"):
        text += f" ({cell['verdict']})"
    return text


def markdown_table(summary: list[dict], labels=LABELS) -> str:
    head = ["metric"] + [TITLES[lb] for lb in labels] + [f"{TITLES[lb]} / baseline" for lb in labels[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in summary:
        title = row["title"] + (f" ({row['unit']})" if row["unit"] else "")
        cells = [cell_text(row["kernels"][lb]) for lb in labels]
        ratios = [ratio_text(row["kernels"][lb]) for lb in labels[1:]]
        lines.append("| " + " | ".join([title] + cells + ratios) + " |")
    return "\n".join(lines)


def cover_block(result: dict) -> str:
    """Markdown to paste below the cover letter's '---'."""
    meta = result["meta"]
    n = meta["rounds"]
    config = meta.get("config", "minimal") + "".join(f" + {Path(f).name}" for f in meta.get("fragments", []))
    lines = [
        f"Performance (patchkit bench, {meta['date']}): baseline = {meta['tree']} without patches, "
        f"base layer = the prerequisite swap batching series alone, series = this series on top.",
        f"Machine: {meta['machine']['cpu']} ({meta['machine']['cores']} cores), "
        f"QEMU {meta['qemu_version']}, accelerator {meta['accel'].upper()}, "
        f"guest {meta['smp']} vCPU / {meta['memory_mb']} MiB, zram {meta.get('algorithm', '?')}; "
        f"N = {n} interleaved rounds per kernel (A B C A B C ...), same config ({config}), "
        f"initramfs and QEMU.",
        "Cells: median over the rounds [95% bootstrap CI]; ratio to baseline [95% CI], "
        "\"no significant difference\" where that interval contains 1. "
        "Latencies: cold swap-in faults (major faults), 2,048 per round: every 8th page of 64 MiB "
        "(zspool), every 4th of 32 MiB (writeback).",
        "",
        markdown_table(result["summary"], meta["labels"]),
        "",
    ]
    if meta.get("sources_note"):
        lines += [f"Note: {meta['sources_note']}", ""]
    if result.get("findings"):
        lines += ["Findings:"] + [f"- {f}" for f in result["findings"]] + [""]
    lines += author_numbers("The author's published numbers (theirs, from the v1 thread; a different "
                            "machine and method: ")
    if meta["accel"] == "tcg":
        lines += ["", "Under TCG every guest instruction is emulated: compare the ratios, "
                      "not the absolute times, with numbers taken on hardware."]
    return "\n".join(lines) + "\n"


def author_numbers(intro: str) -> list[str]:
    """The author's own table (series.md §6), labelled as theirs, for a cover block."""
    return [f"{intro}{AUTHOR_NUMBERS['method']}):", "",
            "| case | metric | theirs, with series | theirs, before |", "|---|---|---|---|",
            *(f"| {c} | {m} | {a} | {b} |" for c, m, a, b in AUTHOR_NUMBERS["rows"])]


def icount_header(result: dict) -> list[str]:
    """Who ran what: the lines above an icount table (cover block and summary alike)."""
    meta = result["meta"]
    titles = meta["titles"]
    config = meta.get("config", "minimal") + "".join(f" + {Path(f).name}" for f in meta.get("fragments", []))
    kernels = "; ".join(f"{titles[lb]} = {meta['kernels'][lb]['origin']}" for lb in meta["labels"])
    return [
        f"Instruction counts under emulation (patchkit bench --clock icount, {meta['date']}): "
        f"guest instructions per unit of work, counted by QEMU {meta['qemu_version']} TCG with "
        f"-icount shift=0,sleep=off (the guest clock advances one nanosecond per guest instruction), "
        f"1 vCPU, {meta['memory_mb']} MiB, zram {meta.get('algorithm', '?')}, config {config}.",
        "These are not times on hardware: they count the instructions the kernel and the benchmark "
        "execute, not cache misses, stalls or device waits, and they repeat from boot to boot. "
        f"Each kernel booted {meta['rounds']} times (interleaved); a cell gives the figure once when every "
        f"boot gave it, else every boot's figure and the spread Δ between them (flagged above "
        f"{icount.REPEAT_LIMIT:g}%).",
        f"Kernels: {kernels}.",
    ]


def cover_block_icount(result: dict) -> str:
    """Markdown below the cover letter's '---': our instruction counts, the author's times beside."""
    meta = result["meta"]
    titles = meta["titles"]
    lines = icount_header(result) + ["", icount.markdown(result, titles), ""]
    agree = icount.runs_sentence(result)
    runs = icount.markdown_runs(result, titles)
    if agree:
        lines += [agree, ""]
    elif runs:
        lines += [f"Separate runs of the whole bench on the same kernels (difference flagged above "
                  f"{icount.REPEAT_LIMIT:g}%):", "", runs, ""]
    why = icount.markdown_breakdown(result, titles, series_only=True)
    if why:
        lines += ["Where the instructions differ (kernel instructions per unit, by function; "
                  "QEMU plugin counts of the same regions):", "", why, ""]
    if result.get("findings"):
        lines += ["Findings:"] + [f"- {f}" for f in result["findings"]] + [""]
    lines += author_numbers("The author's published numbers (theirs: times on their hardware, from "
                            "the v1 thread; ")
    lines += ["", "Our figures count instructions, theirs measure time: compare directions and ratios, "
                  "not magnitudes."]
    return "\n".join(lines) + "\n"


def summary_icount(result: dict) -> str:
    """The short record of a run for docs/bench-results/ (the raw bench.json stays in the output folder)."""
    meta = result["meta"]
    titles = meta["titles"]
    lines = [f"# patchkit bench --clock icount, {meta['date']}: {meta.get('tree', '')}", ""]
    lines += icount_header(result) + [""]
    lines += [icount.markdown(result, titles), ""]
    runs = icount.markdown_runs(result, titles)
    if runs:
        lines += [f"The same kernels in {len(meta.get('runs', []))} separate bench runs (mean of each run's "
                  f"boots; difference flagged above {icount.REPEAT_LIMIT:g}%):", "", runs, ""]
    why = icount.markdown_breakdown(result, titles, top=8)
    if why:
        lines += ["Functions behind each difference (kernel instructions per unit):", "", why, ""]
    tops = icount.markdown_top_functions(result, titles)
    if tops:
        lines += ["Where the instructions go, per kernel (QEMU plugin counts, mean of the boots; "
                  "[user] is pk-bench itself, reclaim without its calibration fill):", "", tops]
    if result.get("findings"):
        lines += ["Findings:"] + [f"- {f}" for f in result["findings"]] + [""]
    if meta.get("runs"):
        lines += ["Time per run: " + "; ".join(
            f"run {i} {ui.duration(x['total_seconds']) if x.get('total_seconds') else '?'}"
            + (f" (load {x['load'][0]:.1f} -> {x['load'][1]:.1f})" if x.get("load") else "")
            for i, x in enumerate(meta["runs"], start=1))
            + f"; boots of {ui.duration(min(r['seconds'] for r in result['rounds']))} to "
              f"{ui.duration(max(r['seconds'] for r in result['rounds']))}.", ""]
    elif "total_seconds" in meta:
        boots = [r["seconds"] for r in result["rounds"]]
        lines += [f"Time: {ui.duration(meta['total_seconds'])} in all, {len(boots)} boots of "
                  f"{ui.duration(min(boots))} to {ui.duration(max(boots))}"
                  + (f"; host load average {meta['load'][0]:.1f} at the start, {meta['load'][1]:.1f} at the end "
                     f"({meta['machine']['cores']} cores)" if meta.get("load") else "") + ".", ""]
    return "\n".join(lines)


def failures(rounds: list[dict], labels=LABELS, *, tests=TESTS, titles=TITLES) -> list[str]:
    """One sentence per kernel and workload that did not pass in every round."""
    out = []
    for lb in labels:
        mine = [r for r in rounds if r["label"] == lb]
        for test in tests:
            bad = [r for r in mine if r["statuses"].get(test, "SKIP") != "PASS"]
            if bad:
                first = bad[0]
                out.append(f"{titles[lb]}: {test} did not pass in {len(bad)} of {len(mine)} rounds "
                           f"(round {first['index']}: {first['statuses'].get(test, 'not run')}; "
                           f"{first['detail'][:160]})")
    return out


def findings(summary: list[dict], labels=LABELS) -> list[str]:
    """One sentence per metric where a kernel is significantly worse than the baseline
    (once per title: the same throughput in MB/s and in pages/s is one finding)."""
    out, seen = [], set()
    for row in summary:
        for lb in labels[1:]:
            cell = row["kernels"][lb]
            if cell.get("verdict") == "worse" and (lb, row["title"]) not in seen:
                seen.add((lb, row["title"]))
                out.append(f"{TITLES[lb]}: {row['title']} {ratio_text(cell)} vs baseline")
    return out


def machine() -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()}


# ---------------------------------------------------------------- sources and builds


def rendered_sources(args, workdir: Path, kplan: Plan | None = None) -> dict[str, Kernel]:
    """The kernels' sources, rendered from the series templates on the pinned tree
    (kplan: which series versions; default: plan() of args), checked out as
    pipeline.compared_kernels() names them (the kernels validate --faults builds)."""
    tree = tree_mod.open_tree(args.tree)
    name = getattr(tree, "name", "tree")
    kplan = kplan or plan(args.series, name, getattr(args, "base_layer", "auto"),
                          getattr(args, "series_version", None))
    full = render.render(args.series, tree, version=kplan.series[1])
    base, names = None, {"series": kplan.names()["series"]}
    if kplan.base_layer:
        bname, bversion = kplan.base_layer
        beside = Path(args.series).parent / bname  # a series given as a folder: its base layer beside it
        base = render.render(str(beside) if "/" in args.series and beside.is_dir() else bname, tree,
                             version=bversion)
        names["base-layer"] = f"{bname} v{bversion}"
    compared = pipeline.compared_kernels(tree, full, base_layer=base, with_base_layer=base is not None,
                                         names=names)
    return {label: Kernel(label, pipeline.checkout(tree, k, "bench"), k.origin)
            for label, k in compared.items()}


def resolve_kernels(args, workdir: Path, kplan: Plan | None = None) -> tuple[dict[str, Kernel], str]:
    base_layer = getattr(args, "base_layer", "auto")
    if kplan is not None:
        LABELS = labels_for(kplan.base_layer and kplan.base_layer[0])  # noqa: N806 (this run's)
    elif base_layer in ("auto", None, ""):
        # --source without a plan: the kernels given say whether there is a base layer
        given = {item.partition("=")[0] for item in args.source or []}
        LABELS = labels_for("base-layer" if "base-layer" in given else "none")  # noqa: N806
    else:
        LABELS = labels_for(base_layer)  # noqa: N806 (this run's)
    sources = parse_assignments(args.source, "--source", LABELS)
    prebuilt = parse_assignments(args.kernel, "--kernel", LABELS)
    for label, path in prebuilt.items():
        if label not in sources:
            raise UserError(f"--kernel {label}={path} needs --source {label}=TREE it was built from")
        if not path.is_file():
            raise UserError(f"--kernel {label}={path}: no such file")
    note = ""
    if sources:
        missing = [lb for lb in LABELS if lb not in sources]
        if missing:
            raise UserError(f"--source given for {', '.join(sources)} but not for {', '.join(missing)}",
                            hint=f"give all of {', '.join(LABELS)}, or none to render the series")
        for label, path in sources.items():
            if not (path / "Makefile").is_file():
                raise UserError(f"--source {label}={path}: not a kernel tree (no Makefile)")
        kernels = {lb: Kernel(lb, sources[lb].resolve(), f"--source {sources[lb]}") for lb in LABELS}
        note = ("kernels from --source checkouts" + (" and prebuilt --kernel images" if prebuilt else "")
                + ", not rendered from the templates")
    else:
        kernels = rendered_sources(args, workdir, kplan)
    kernels = {lb: kernels[lb] for lb in LABELS}
    for label, path in prebuilt.items():
        kernels[label].kernel = path.resolve()
        kernels[label].config_hash = config_hash_near(path)
    return kernels, note


def config_hash_near(kernel: Path) -> str | None:
    """sha256 of the .config beside a prebuilt bzImage (saved as config or .config), if any."""
    for cand in (kernel.parent / "config", kernel.parent / ".config"):
        if cand.is_file():
            return ".config:" + hashlib.sha256(cand.read_bytes()).hexdigest()[:16]
    return None


def build_kernels(kernels: dict[str, Kernel], config: str, runtime: str, fragments: list[Path] = ()) -> None:
    todo = [k for k in kernels.values() if k.kernel is None]
    if not todo:
        return
    from patchkit import build

    for k in todo:
        start = time.monotonic()
        with ui.stage(f"bench build {k.label}", "building"):
            res = build.build(k.source, config=config, fragments=list(fragments), runtime=runtime, jobs=2)
        k.kernel = Path(res.kernel)
        frag = res.config_hash
        k.config_hash = f"fragments:{frag}" if frag else None
        k.build_seconds = round(time.monotonic() - start, 1)


def check_same_config(kernels: dict[str, Kernel]) -> None:
    """Every kernel built from the same config fragments (kernels of unknown config only warn)."""
    hashes = {k.label: k.config_hash for k in kernels.values()}
    known = {h for h in hashes.values() if h}
    # a built kernel's fragment hash and a prebuilt one's .config hash are not comparable
    if any(len({h for h in known if h.split(":")[0] == kind}) > 1 for kind in ("fragments", ".config")):
        raise UserError("the kernels were built with different configs: "
                        + ", ".join(f"{lb} {h}" for lb, h in hashes.items()),
                        hint="build all three with the same --config")
    if None in hashes.values():
        ui.warn("bench", "config of " + ", ".join(lb for lb, h in hashes.items() if not h)
                + " unknown: cannot check that all kernels share one config")


# ---------------------------------------------------------------- the run


def run_rounds(kernels: dict[str, Kernel], *, rounds: int, accel: str, out: Path,
               initrd_source: Path, tsc_mhz: float | None, meta: dict | None = None,
               clock: str = "wall", plugin: Path | None = None,
               tests: list[str] | None = None, initrd: Path | None = None, jobs: int = 1) -> list[Round]:
    """Boot the kernels in interleaved order; after each boot, out/bench-partial.json holds
    the rounds so far (patchkit bench --report reads it if the run is cut short).

    clock="icount": one vCPU, the icount workloads, and with plugin (pk-insn.so) each
    boot's instruction counts per phase in its round folder, split per function.
    initrd: the one image every boot runs (default: each boot builds its own).
    jobs > 1 (icount only): that many boots side by side, in the same interleaved order;
    a guest's instruction counts do not depend on how fast the host runs it."""
    from concurrent.futures import ThreadPoolExecutor

    from patchkit import boot as boot_mod

    if jobs < 1:
        raise UserError(f"--jobs {jobs}: at least one boot at a time")
    if jobs > 1 and clock != "icount":
        raise UserError(f"--jobs {jobs} needs --clock icount: boots side by side would slow each other's "
                        "wall-clock figures", hint="use --jobs 1 with --clock wall")
    done: list[Round] = []
    order = schedule(list(kernels), rounds)
    tests, smp = (tests or icount.TESTS, 1) if clock == "icount" else (tests or TESTS, SMP)

    def one(rnd: int, label: str, accel: str) -> Round:
        k = kernels[label]
        start = time.monotonic()
        log_dir = out / "rounds" / f"{rnd:02d}-{label}"
        counts = log_dir / icount.COUNTS_FILE
        counts.unlink(missing_ok=True)
        plugins = [icount.plugin_spec(plugin, counts)] if plugin else None
        res = boot_mod.boot(k.kernel, source=initrd_source, tests=tests,
                            timeout=ICOUNT_BOOT_TIMEOUT if clock == "icount" else BOOT_TIMEOUT,
                            log_dir=log_dir, memory_mb=MEMORY_MB, smp=smp,
                            accel=accel, clock=clock, plugins=plugins, initrd=initrd)
        figures = {t.name: t.figures for t in res.tests}
        r = Round(rnd, label, res.status, res.accel, res.qemu_version, round(time.monotonic() - start, 1),
                  figures=normalise(figures, tsc_mhz) if clock == "wall" else figures,
                  statuses={t.name: t.status for t in res.tests},
                  detail=res.detail, console_log=str(res.console_log), clock=clock,
                  initramfs_sha256=getattr(res, "initrd_sha256", ""))
        if plugin:
            try:
                r.breakdown, r.breakdown_note = icount.read_breakdown(counts, k.kernel)
            except UserError as exc:
                r.breakdown_note = str(exc)
        return r

    def record(r: Round) -> None:
        done.append(r)
        done.sort(key=lambda x: order.index((x.index, x.label)))
        check_comparable([asdict(x) for x in done])
        if meta is not None:
            partial = out / "bench-partial.json"
            partial.parent.mkdir(parents=True, exist_ok=True)
            tmp = partial.with_name(".bench-partial.json.tmp")
            tmp.write_text(json.dumps({"meta": dict(meta, accel=r.accel, qemu_version=r.qemu_version),
                                       "rounds": [asdict(x) for x in done]}, default=str) + "\n")
            tmp.replace(partial)
        ui.info("bench", f"[{len(done)}/{len(order)}] round {r.index} {r.label}: {r.status} in {r.seconds:.0f}s"
                + (f" ({r.detail})" if r.detail else ""))

    if jobs == 1:
        for rnd, label in order:
            record(one(rnd, label, accel))
            # the first boot settles the accelerator; every later one must use it
            accel = done[0].accel
        return done
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, rnd, label, accel) for rnd, label in order]
        for f in futures:
            record(f.result())
    return done


def analyse(rounds: list[dict], meta: dict) -> dict:
    accel, qemu_version = check_comparable(rounds)
    meta = dict(meta, accel=accel, qemu_version=qemu_version)
    if meta.get("clock") == "icount":
        return analyse_icount(rounds, meta)
    summary = summarise(rounds, meta["labels"])
    result = {"meta": meta, "rounds": rounds, "summary": summary}
    result["findings"] = (failures(rounds, meta["labels"]) + findings(summary, meta["labels"])
                          + explain_slowdowns(rounds, summary) + layout_findings(meta))
    algs = {r["figures"].get("bench-swapout", {}).get("bench.algorithm") for r in rounds} - {None}
    if algs:
        meta["algorithm"] = "/".join(sorted(algs))
    return result


def analyse_icount(rounds: list[dict], meta: dict) -> dict:
    """Instruction counts: repeats, spread, ratios and the functions behind them (icount.py)."""
    labels = meta["labels"]
    meta.setdefault("titles", titles_for(meta.get("tree"), labels))
    result = {"meta": meta, "rounds": rounds,
              "icount": icount.analyse(rounds, labels, meta.get("workloads"))}
    titles = meta["titles"]
    out = failures(rounds, labels, tests=meta.get("tests", icount.TESTS), titles=titles)
    out += [f"repeatability: {f}" for f in result["icount"]["flags"]]
    out += [f"regression above {icount.REGRESSION_LIMIT:g}%: {f}" for f in result["icount"]["regressions"]]
    for r in rounds:
        if r.get("breakdown_note"):
            out.append(f"round {r['index']} {r['label']}: per-function counts: {r['breakdown_note']}")
    images = image_hashes(rounds)
    unknown = [r for r in rounds if not r.get("initramfs_sha256")]
    if len(images) > 1:
        out.append("initramfs: the boots ran different images, so their figures are not from one input: "
                   + "; ".join(f"{h[:12]} in {', '.join(w)}" for h, w in images.items()))
    if unknown:
        out.append(f"initramfs: {len(unknown)} of {len(rounds)} boots did not record their image's hash")
    meta["initramfs_per_boot"] = sorted(images)
    result["icount"]["runs"] = icount.runs_table(rounds, labels, meta.get("workloads"))
    out += [f"repeatability across runs: {f}" for f in icount.runs_flags(result["icount"]["runs"])]
    result["findings"] = out
    algs = {r["figures"].get("bench-swapout", {}).get("bench.algorithm") for r in rounds} - {None}
    if algs:
        meta["algorithm"] = "/".join(sorted(algs))
    return result


def straddles_json(kernel: Path | None) -> list[dict] | None:
    found = layout.kernel_straddles(kernel) if kernel else None
    return None if found is None else [{"function": x.function, "address": f"{x.address:#x}", "size": x.size,
                                        "page_offset": f"{x.page_offset:#x}"} for x in found]


def layout_findings(meta: dict) -> list[str]:
    """Under TCG: each kernel's hot functions that straddle a page boundary
    where the baseline's do not (patchkit/layout.py says why that matters)."""
    if meta.get("accel") != "tcg":
        return []
    kernels = meta.get("kernels", {})
    base = {x["function"] for x in kernels.get("baseline", {}).get("page_straddles") or []}
    out = []
    for lb in meta["labels"]:
        for x in kernels.get(lb, {}).get("page_straddles") or []:
            if lb != "baseline" and x["function"] in base:
                continue  # the same handicap on both sides of the comparison
            out.append(f"layout: {TITLES[lb]}: {x['function']} ({x['size']:,} bytes from page offset "
                       f"{x['page_offset']}) straddles a 4 KiB page; under TCG no jump onto another page "
                       f"is chained, so this kernel's figures that run through it may measure where the "
                       f"linker put it rather than the code (patchkit/layout.py)")
    return out


def explain_slowdowns(rounds: list[dict], summary: list[dict]) -> list[str]:
    """Counters beside a significant slowdown: what differs between the kernels, per workload."""
    out = []
    worse = {row["metric"].split(".")[0] for row in summary
             for lb in LABELS[1:] if row["kernels"][lb].get("verdict") == "worse"}
    probes = {"swapout": ("bench-swapout", ["swapout.io.write_folios_per_submit", "swapout.io.zram_requests",
                                            "swapout.sys_s", "swapout.pswpout", "swapout.pgscan",
                                            "swapout.pgsteal", "swapout.swapcache_end_kb"]),
              "zspool": ("bench-swapin", ["lat.cold_share", "lat.swapcache_after_pageout_kb",
                                          "lat.io.read_folios_per_submit", "lat.pswpin"]),
              "writeback": ("bench-writeback", ["lat.cold_share", "lat.bd_reads_per_sample",
                                                "lat.disk_reads_per_sample", "lat.swapcache_after_pageout_kb"])}
    for group in sorted(worse & set(probes)):
        test, keys = probes[group]
        parts = []
        for key in keys:
            meds = []
            for lb in LABELS:
                vals = [numeric(r["figures"].get(test, {}).get(key)) for r in rounds
                        if r["label"] == lb and r["statuses"].get(test) == "PASS"]
                vals = [v for v in vals if v is not None]
                meds.append(f"{TITLES[lb]} {fmt(stats.median(vals)) if vals else 'n/a'}")
            parts.append(f"{key}: " + ", ".join(meds))
        out.append(f"{group} counters (medians): " + "; ".join(parts))
    return out


def write_outputs(result: dict, out: Path) -> None:
    from patchkit import plots

    out.mkdir(parents=True, exist_ok=True)
    if result["meta"].get("clock") == "icount":
        tmp = out / ".bench.json.tmp"
        tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
        tmp.replace(out / "bench.json")
        (out / "cover-block.md").write_text(cover_block_icount(result))
        (out / "summary.md").write_text(summary_icount(result))
        return
    pngs = plots.write_all(result, out)
    result["meta"]["plots"] = [p.name for p in pngs]
    tmp = out / ".bench.json.tmp"
    tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
    tmp.replace(out / "bench.json")
    block = cover_block(result)
    (out / "cover-block.md").write_text(block)


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
    from patchkit.validate import add_series_argument
    add_series_argument(p, default="zram-swap-ops", what="the full series")
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
                        f"LABEL is one of {', '.join(LABELS)}; give every kernel of the run")
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


def run(args) -> int:
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
        from patchkit.validate import series_argument

        args.series = series_argument(args)
        sources = parse_assignments(args.source, "--source")
        parse_assignments(args.kernel, "--kernel")
        if getattr(args, "series_version", None) is not None and args.series_version < 1:
            raise UserError(f"--series-version {args.series_version}: a version is a whole number from 1")
        kplan = None
        if not sources:
            from patchkit import series as series_mod

            # bad names fail here, before a tree is opened (or fetched)
            series_mod.chain(args.series, version=getattr(args, "series_version", None))
            if args.base_layer not in ("auto", "none", "", None):
                series_mod.load(args.base_layer.partition(" ")[0],
                                Path(args.series).parent if "/" in args.series else None)
            kplan = plan(args.series, tree_mod.open_tree(args.tree).name, args.base_layer,
                         getattr(args, "series_version", None))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.output or paths.out_dir() / "bench" / stamp)
    if args.report:
        result = merge_reports(args.report)
        result["findings"] = list(args.note) + result["findings"]
        write_outputs(result, out)
        print_summary(result, out)
        return 0
    workloads = icount.select_workloads(getattr(args, "workloads", None))
    start = time.monotonic()
    load0 = os.getloadavg()[0]
    workdir = paths.cache_dir() / "bench"
    kernels, note = resolve_kernels(args, workdir, kplan)
    if kplan is not None and kplan.note():
        note = "; ".join(filter(None, [note, kplan.note()]))
    labels = list(kernels)
    build_kernels(kernels, args.config, args.runtime, args.fragment)
    check_same_config(kernels)
    clock, accel = resolve_clock(args.clock, args.accel, kernels["baseline"].kernel)
    rounds_n = args.rounds if args.rounds is not None else (ICOUNT_ROUNDS if clock == "icount" else 5)
    if clock == "icount" and rounds_n < 2:
        raise UserError(f"--rounds {rounds_n}: the icount clock boots each kernel at least twice, "
                        "to measure that its figures repeat", hint="use --rounds 2 (the default) or more")
    from patchkit import initramfs

    from patchkit import boot as boot_mod

    tests = icount.tests_for(workloads) if clock == "icount" else TESTS
    # one image for every boot of the run (each boot records the hash of what it ran)
    initrd = initramfs.build_image(source=kernels["baseline"].source, tests=boot_mod.select_tests(tests))
    tsc_mhz = host_tsc_mhz() if clock == "wall" else None
    plugin = icount.plugin_path() if clock == "icount" else None
    meta = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "clock": clock,
        "rounds": rounds_n,
        "labels": labels,
        "titles": titles_for(args.tree, labels, kplan.names() if kplan else None),
        "plan": ({"series": kplan.names()["series"], "base_layer": kplan.names().get("base-layer")}
                 if kplan else None),
        "tests": tests,
        "workloads": [w.key for w in workloads] if clock == "icount" else None,
        "memory_mb": MEMORY_MB,
        "smp": 1 if clock == "icount" else SMP,
        "machine": machine(),
        "tree": args.tree or "linux-source-6.12",
        "config": args.config,
        "fragments": [str(f) for f in args.fragment],
        "kernels": {lb: {"origin": k.origin, "source": str(k.source), "kernel": str(k.kernel),
                         "sha256": hashlib.sha256(Path(k.kernel).read_bytes()).hexdigest(),
                         "config_hash": k.config_hash, "build_seconds": k.build_seconds,
                         "page_straddles": straddles_json(k.kernel)}
                    for lb, k in kernels.items()},
        "initramfs_sha256": hashlib.sha256(initrd.read_bytes()).hexdigest(),
        "host_tsc_mhz": [tsc_mhz] if tsc_mhz else [],
        "sources_note": note,
    }
    rounds = run_rounds(kernels, rounds=rounds_n, accel=accel, out=out,
                        initrd_source=kernels["baseline"].source, tsc_mhz=tsc_mhz, meta=meta,
                        clock=clock, plugin=plugin, tests=meta["tests"], initrd=initrd,
                        jobs=getattr(args, "jobs", 1))
    if clock == "wall":
        meta["host_tsc_mhz"].append(host_tsc_mhz())
    meta["load"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    result = analyse([asdict(r) for r in rounds], meta)
    result["findings"] = list(args.note) + result["findings"]
    result["meta"]["total_seconds"] = round(time.monotonic() - start, 1)
    result["meta"]["boot_seconds"] = round(sum(r.seconds for r in rounds), 1)
    write_outputs(result, out)
    print_summary(result, out)
    failed = [r for r in rounds if r.status != "PASS"]
    return 1 if failed else 0


def merge_reports(files: list[Path]) -> dict:
    rounds, metas = [], []
    for run, f in enumerate(files, start=1):
        try:
            data = json.loads(Path(f).read_text())
        except OSError as exc:
            raise UserError(f"cannot read bench results {f}: {exc.strerror}") from exc
        except ValueError as exc:
            raise UserError(f"cannot read bench results {f}: not JSON ({exc})",
                            hint="--report takes the bench.json files a bench run wrote") from exc
        if "rounds" not in data or "meta" not in data:
            raise UserError(f"{f} is not a patchkit bench.json (no rounds/meta)")
        metas.append(data["meta"])
        rounds += [reread_breakdown(dict(r, run=run), data["meta"]) for r in data["rounds"]]
    meta = dict(metas[0])
    clocks = {m.get("clock", "wall") for m in metas}
    if len(clocks) > 1:
        raise UserError(f"refusing to merge bench results taken with different clocks: {', '.join(sorted(clocks))}",
                        hint="merge icount runs with icount runs, wall with wall")
    labels = [lb for lb in meta["labels"] if all(lb in m["labels"] for m in metas)]
    if labels != meta["labels"]:
        raise UserError("refusing to merge bench results of different kernels: "
                        + " vs ".join(",".join(m["labels"]) for m in metas))
    for lb in labels:
        images = {m.get("kernels", {}).get(lb, {}).get("sha256") for m in metas} - {None}
        if len(images) > 1:
            raise UserError(f"refusing to merge bench results of different {lb} kernels: bzImage sha256 "
                            + " vs ".join(sorted(h[:12] for h in images)),
                            hint="merge runs of the same built kernels (the same bench, run again)")
    meta["rounds"] = min(sum(1 for r in rounds if r["label"] == lb) for lb in meta["labels"])
    meta["merged_from"] = [str(f) for f in files]
    meta["runs"] = [{"file": str(f), "date": m.get("date"), "total_seconds": m.get("total_seconds"),
                     "load": m.get("load")} for f, m in zip(files, metas)]
    meta.pop("plots", None)
    if clocks == {"icount"}:
        images = image_hashes(rounds)
        if len(images) > 1:
            raise UserError("refusing to merge icount results whose boots ran different initramfs images: "
                            + "; ".join(f"{h[:12]} in {', '.join(w)}" for h, w in images.items()),
                            hint="a different image moves the memory layout and the counts with it: rerun "
                                 "both with one guest folder (patchkit bench records each boot's image)")
    return analyse(rounds, meta)


def reread_breakdown(r: dict, meta: dict) -> dict:
    """An icount round whose raw plugin counts are still beside its console log: its breakdown
    read again from them (bench.json of older runs kept fewer functions per phase)."""
    counts = Path(r.get("console_log") or "/nonexistent").parent / icount.COUNTS_FILE
    kernel = meta.get("kernels", {}).get(r["label"], {}).get("kernel")
    if r.get("clock") != "icount" or not counts.is_file() or not kernel or not Path(kernel).is_file():
        return r
    try:
        r["breakdown"], r["breakdown_note"] = icount.read_breakdown(counts, Path(kernel))
    except UserError as exc:
        r["breakdown_note"] = str(exc)
    return r


def image_hashes(rounds: list[dict]) -> dict[str, list[str]]:
    """{initramfs sha256: ['run 1 round 2 series', ...]} over the boots that recorded one."""
    out: dict[str, list[str]] = {}
    for r in rounds:
        h = r.get("initramfs_sha256")
        if h:
            out.setdefault(h, []).append(f"run {r.get('run', 1)} round {r['index']} {r['label']}")
    return out


def print_summary(result: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    meta = result["meta"]
    if meta.get("clock") == "icount":
        print(summary_icount(result))
        print(f"report: {out / 'bench.json'}, {out / 'cover-block.md'}, {out / 'summary.md'}; "
              f"per-boot counts: {out / 'rounds'}/*/{icount.COUNTS_FILE}")
        return
    labels = meta["labels"]
    failed = [r for r in result["rounds"] if r["status"] != "PASS"]
    table = Table(title=f"patchkit bench: N={meta['rounds']}, {meta['accel']}, QEMU {meta['qemu_version']}")
    table.add_column("metric")
    for lb in labels:
        table.add_column(TITLES[lb], justify="right")
    for lb in labels[1:]:
        table.add_column(f"{TITLES[lb]}/baseline", justify="right")
    for row in result["summary"]:
        table.add_row(row["title"] + (f" ({row['unit']})" if row["unit"] else ""),
                      *[cell_text(row["kernels"][lb]) for lb in labels],
                      *[ratio_text(row["kernels"][lb]) for lb in labels[1:]])
    con = Console()
    con.print(table)
    for f in result.get("findings", []):
        con.print(f"finding: {f}")
    for r in failed:
        con.print(f"round {r['index']} {r['label']}: {r['status']} {r['detail']} ({r['console_log']})")
    if "total_seconds" in meta:
        con.print(f"total {ui.duration(meta['total_seconds'])} (boots {ui.duration(meta['boot_seconds'])})")
    con.print(f"report: {out / 'bench.json'}, {out / 'cover-block.md'}, plots: {', '.join(meta.get('plots', []))}")

