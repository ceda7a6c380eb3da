"""What a bench run's rounds say: statistics, findings, the cover block, bench.json.

Per metric, each kernel's median over the rounds with a 95 % bootstrap
interval and its ratio to the baseline (interval too), marked "no
significant difference" when that interval contains 1 (summarise); under
--clock icount, instructions per unit of work with the spread of each
kernel's repeats (analyse_icount, patchkit/icount.py).  Findings name
failed rounds, significant changes, counters that explain a slowdown and
figures that may measure the code layout.  Rounds are only compared when
every boot ran under the same accelerator and QEMU version
(check_comparable), also when bench.json files are merged (merge_reports).

benchrun.py produces the rounds; bench.py is the command.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from patchkit import icount, stats, ui
from patchkit.errors import UserError


LABELS = ("baseline", "base-layer", "series")


TITLES = {"baseline": "baseline 6.12", "base-layer": "base layer", "series": "series"}


TESTS = ["bench-swapout", "bench-swapin", "bench-writeback"]


MIN_ROUNDS = 3  # fewer rounds per kernel: ratios are shown, but no significance is claimed


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
