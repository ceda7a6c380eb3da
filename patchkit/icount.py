"""Instruction counts under QEMU's icount clock: the figures, their repeats, where they go.

`patchkit bench --clock icount` boots every kernel on one vCPU under
single-threaded TCG with `-icount shift=0,sleep=off` (patchkit/qemu.py): the
guest clock, and the TSC the guest reads, advance one nanosecond per guest
instruction, so every "cycles" figure of pk-bench is an instruction count,
and two boots of one kernel give the same figures.  This module turns one
boot's figures into instructions per unit of work:

  reclaim    per page swapped out by reclaim (the fill's own cost taken out)
  pageout    per page pushed out by MADV_PAGEOUT
  zspool     per cold swap-in fault from the zram pool
  writeback  per cold swap-in fault from a written-back slot
  swapoff    per page swapoff reads back
  exit       per swapped page freed by a process exit (slot_free_notify)

It also builds and reads the QEMU plugin patchkit/plugins/pk-insn.c, which
counts the instructions of the same timed regions per kernel code block
(pk-bench marks them); with the kernel's System.map those become
instructions per function per unit of work, so a difference between two
kernels can be put down to code.  The analysis: per kernel the repeats side
by side with their spread (flagged above REPEAT_LIMIT), the ratio of each
patched kernel to the reference, and the functions that make the
difference.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from patchkit import layout, paths, proc
from patchkit.errors import UserError

PLUGIN_SOURCE = paths.PACKAGE / "plugins" / "pk-insn.c"
PLUGIN_FLAGS = ["-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror"]
COUNTS_FILE = "insn-counts.txt"

REPEAT_LIMIT = 0.1     # percent: repeats of one kernel that differ by more are flagged
REGRESSION_LIMIT = 1.0  # percent: a patched kernel this much above the reference must be explained
TOP_FUNCTIONS = 2000    # functions kept per phase and round in bench.json (a phase runs ~700)

# pk-bench's phase markers (PH_* in patchkit/guest/bench/pk-bench.c).
PHASES = {1: "reclaim", 2: "pageout", 3: "zspool", 4: "writeback", 5: "swapoff", 6: "exit", 7: "fill"}
PHASE_IDS = {name: n for n, name in PHASES.items()}

TESTS = ["bench-reclaim", "bench-swapout", "bench-swapin", "bench-writeback", "bench-swapoff", "bench-exit"]


@dataclass(frozen=True)
class Workload:
    key: str
    test: str
    title: str
    unit: str       # "per ..." of the figure
    units: str      # the figure that counts the units of work (denominator of the breakdown)


WORKLOADS = [
    Workload("reclaim", "bench-reclaim", "swap-out under reclaim", "page swapped out", "swapout.pswpout"),
    Workload("pageout", "bench-swapout", "MADV_PAGEOUT", "page paged out", "swapout.pswpout"),
    Workload("zspool", "bench-swapin", "cold swap-in from the zspool", "fault", "lat.all.samples"),
    Workload("writeback", "bench-writeback", "cold swap-in from a written-back slot", "fault",
             "lat.all.samples"),
    Workload("swapoff", "bench-swapoff", "swapoff", "page read back", "swapoff.pswpin"),
    Workload("exit", "bench-exit", "process exit freeing swap slots", "slot freed", "exit.swapped_pages"),
]
WORKLOAD_BY_KEY = {w.key: w for w in WORKLOADS}


# ---------------------------------------------------------------- figures


def _num(figs: dict, key: str) -> float | None:
    v = figs.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def per_unit(workload: str, figs: dict) -> float | None:
    """Instructions per unit of work from one boot's figures of the workload's test; None if absent."""
    n = lambda k: _num(figs, k)  # noqa: E731
    if workload == "reclaim":
        fill, pages, out = n("swapout.fill_cycles"), n("swapout.fill_pages"), n("swapout.pswpout")
        cal, cal_pages = n("swapout.fill_cal_cycles"), n("swapout.fill_cal_pages")
        if None in (fill, pages, out, cal, cal_pages) or not out or not cal_pages:
            return None
        return (fill - cal / cal_pages * pages) / out
    if workload == "pageout":
        c, out = n("swapout.pageout_cycles"), n("swapout.pswpout")
        return c / out if c is not None and out else None
    if workload in ("zspool", "writeback"):
        if n("lat.cold_share") != 1.0:
            return None  # a warm fault in the sample: not the workload this figure names
        return n("lat.cold.avg_cycles")
    if workload == "swapoff":
        c, pages = n("swapoff.cycles"), n("swapoff.pswpin")
        return c / pages if c is not None and pages else None
    if workload == "exit":
        c, pages = n("exit.cycles"), n("exit.swapped_pages")
        return c / pages if c is not None and pages else None
    raise ValueError(f"unknown workload {workload!r}")


def round_values(figures: dict, statuses: dict) -> dict[str, float | None]:
    """{workload: instructions per unit} of one boot (None: the test did not pass, or no figure)."""
    out = {}
    for w in WORKLOADS:
        ok = statuses.get(w.test) == "PASS"
        out[w.key] = per_unit(w.key, figures.get(w.test, {})) if ok else None
    return out


# ---------------------------------------------------------------- the plugin


def plugin_path(cache: Path | None = None) -> Path:
    """pk-insn.so built with the host's gcc, cached by the hash of source and flags."""
    from patchkit import initramfs

    src = PLUGIN_SOURCE
    key = hashlib.sha256(src.read_bytes() + " ".join(PLUGIN_FLAGS).encode()
                         + initramfs.gcc_version().encode()).hexdigest()[:20]
    out = Path(cache or paths.cache_dir() / "host-bin") / key / "pk-insn.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # two runs may build it at once
    proc.run(["gcc", *PLUGIN_FLAGS, "-o", str(tmp), str(src)],
             hint="the QEMU plugin pk-insn.c must build with the host's gcc (apt-get install gcc libc6-dev)")
    tmp.rename(out)
    return out


def plugin_spec(plugin: Path, out: Path) -> str:
    """The -plugin argument: the .so and where it writes its counts."""
    if "," in str(plugin) or "," in str(out):
        raise UserError(f"QEMU cannot take a comma in a plugin path: {plugin} / {out}",
                        hint="use an output folder (-o) without commas")
    return f"{plugin},out={out}"


@dataclass
class PhaseCounts:
    total: int
    user: int
    markers: int
    blocks: dict[int, int]  # kernel block start address -> instructions

    @property
    def kernel(self) -> int:
        return self.total - self.user


def parse_counts(text: str, source: str = "insn-counts") -> dict[int, PhaseCounts]:
    """pk-insn's file -> {phase: PhaseCounts}; a malformed file is a UserError naming the line."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "pk-insn 1":
        raise UserError(f"{source}: not a pk-insn count file (first line {lines[0] if lines else ''!r})")
    phases: dict[int, PhaseCounts] = {}
    for no, line in enumerate(lines[1:], start=2):
        parts = line.split()
        try:
            if parts[0] == "phase" and len(parts) == 8:
                p = int(parts[1])
                phases[p] = PhaseCounts(total=int(parts[3]), user=int(parts[5]), markers=int(parts[7]), blocks={})
            elif parts[0] == "k" and len(parts) == 4:
                p = int(parts[1])
                if p not in phases:
                    raise ValueError(f"block of phase {p} before its phase line")
                phases[p].blocks[int(parts[2], 16)] = phases[p].blocks.get(int(parts[2], 16), 0) + int(parts[3])
            else:
                raise ValueError("unknown record")
        except (ValueError, IndexError) as exc:
            raise UserError(f"{source}:{no}: bad pk-insn line {line!r}: {exc}") from exc
    for p, c in phases.items():
        if sum(c.blocks.values()) != c.kernel:
            raise UserError(f"{source}: phase {p}: kernel blocks add up to {sum(c.blocks.values())}, "
                            f"not total - user = {c.kernel}")
    return phases


class Symbols:
    """Kernel text symbols of a System.map, for address -> function."""

    def __init__(self, symbols: list[tuple[int, str]]):
        self.addrs = [a for a, _ in symbols]
        self.names = [n for _, n in symbols]

    @classmethod
    def of_kernel(cls, kernel: Path) -> Symbols | None:
        smap = layout.system_map_for(kernel)
        if smap is None:
            return None
        return cls(layout.read_map(smap.read_text(errors="replace")))

    def name(self, addr: int) -> str:
        i = bisect.bisect_right(self.addrs, addr) - 1
        return self.names[i] if i >= 0 else f"{addr:#x}"


def by_function(blocks: dict[int, int], symbols: Symbols | None) -> dict[str, int]:
    """Kernel instructions per function (by the block's start address)."""
    out: dict[str, int] = {}
    for addr, n in blocks.items():
        fn = symbols.name(addr) if symbols else f"{addr:#x}"
        out[fn] = out.get(fn, 0) + n
    return out


def breakdown(counts: dict[int, PhaseCounts], symbols: Symbols | None, top: int = TOP_FUNCTIONS) -> dict:
    """One boot's phases for bench.json: totals and the top functions (the rest summed as 'other')."""
    out = {}
    for p, c in sorted(counts.items()):
        name = PHASES.get(p, f"phase{p}")
        fns = sorted(by_function(c.blocks, symbols).items(), key=lambda kv: (-kv[1], kv[0]))
        kept = dict(fns[:top])
        rest = sum(n for _, n in fns[top:])
        out[name] = {"total": c.total, "user": c.user, "kernel": c.kernel, "markers": c.markers,
                     "functions": kept, "other_functions": rest}
    return out


def read_breakdown(path: Path, kernel: Path | None) -> tuple[dict | None, str]:
    """(breakdown, note) of one boot's count file; None with the reason when there is none."""
    if not path.is_file():
        return None, f"no {path.name}: the plugin wrote nothing (QEMU without plugin support?)"
    counts = parse_counts(path.read_text(), str(path))
    symbols = Symbols.of_kernel(kernel) if kernel else None
    note = "" if symbols else "no System.map beside the kernel: blocks by address"
    return breakdown(counts, symbols), note


# ---------------------------------------------------------------- analysis


def spread_pct(values: list[float]) -> float | None:
    """(max - min) / min in percent; None with fewer than two values."""
    if len(values) < 2:
        return None
    lo = min(values)
    return (max(values) - lo) / lo * 100 if lo else None


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def phase_units(workload: str, figs: dict) -> float | None:
    """The number of units of work the workload's plugin phase covered (the breakdown's divisor)."""
    return _num(figs, WORKLOAD_BY_KEY[workload].units)


def functions_per_unit(round_: dict, workload: str) -> dict[str, float] | None:
    """Kernel instructions per function per unit of work of one boot; for reclaim with the
    calibration fill's functions taken out at the fill's scale; plus "[user]"."""
    bd = round_.get("breakdown") or {}
    w = WORKLOAD_BY_KEY[workload]
    figs = round_["figures"].get(w.test, {})
    units = phase_units(workload, figs)
    phase = bd.get(workload)
    if not phase or not units:
        return None
    fns = {fn: n / units for fn, n in phase["functions"].items()}
    fns["[other functions]"] = phase["other_functions"] / units
    fns["[user]"] = phase["user"] / units
    if workload == "reclaim":
        fill = bd.get("fill")
        cal, pages = _num(figs, "swapout.fill_cal_pages"), _num(figs, "swapout.fill_pages")
        if not fill or not cal or pages is None:
            return None
        scale = pages / cal / units
        for fn, n in fill["functions"].items():
            fns[fn] = fns.get(fn, 0.0) - n * scale
        fns["[other functions]"] -= fill["other_functions"] * scale
        fns["[user]"] -= fill["user"] * scale
    return fns


def mean_functions(rounds: list[dict], workload: str) -> dict[str, float] | None:
    per = [f for f in (functions_per_unit(r, workload) for r in rounds) if f is not None]
    if not per:
        return None
    names = set().union(*per)
    return {fn: mean([f.get(fn, 0.0) for f in per]) for fn in names}


def function_diff(ref: dict[str, float], other: dict[str, float], top: int = 8) -> list[tuple[str, float, float, float]]:
    """(function, reference, other, other - reference) per unit, largest differences first.

    Functions left in "[other functions]" on one side and named on the other
    would show as spurious differences; bench.json keeps every function of a
    phase (TOP_FUNCTIONS), so only older results have such a row."""
    names = set(ref) | set(other)
    rows = [(fn, ref.get(fn, 0.0), other.get(fn, 0.0), other.get(fn, 0.0) - ref.get(fn, 0.0)) for fn in names]
    rows = [r for r in rows if abs(r[3]) >= 0.5]
    rows.sort(key=lambda r: (-abs(r[3]), r[0]))
    return rows[:top]


def select_workloads(spec: str | None) -> list[Workload]:
    """'zspool,exit' -> those workloads (in the standard order); None or '' -> all of them."""
    if not spec:
        return list(WORKLOADS)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOAD_BY_KEY]
    if unknown:
        raise UserError(f"unknown workload(s): {', '.join(unknown)}",
                        hint=f"workloads: {', '.join(w.key for w in WORKLOADS)}")
    return [w for w in WORKLOADS if w.key in names]


def tests_for(workloads: list[Workload]) -> list[str]:
    """The guest tests that give these workloads' figures, in the standard order."""
    wanted = {w.test for w in workloads}
    return [t for t in TESTS if t in wanted]


def analyse(rounds: list[dict], labels: list[str], workloads: list[str] | None = None) -> dict:
    """Per workload and kernel: the repeats, their spread and flag; ratio to labels[0]; the
    functions that explain each patched kernel's difference."""
    table = []
    flags = []
    for w in WORKLOADS:
        if workloads is not None and w.key not in workloads:
            continue
        row = {"workload": w.key, "title": w.title, "unit": w.unit, "kernels": {}}
        for lb in labels:
            mine = [r for r in rounds if r["label"] == lb]
            vals = [round_values(r["figures"], r["statuses"])[w.key] for r in mine]
            got = [v for v in vals if v is not None]
            cell = {"values": vals, "n": len(got)}
            if got:
                cell["mean"] = mean(got)
                cell["spread_pct"] = spread_pct(got)
                cell["repeatable"] = cell["spread_pct"] is not None and cell["spread_pct"] <= REPEAT_LIMIT
                if cell["spread_pct"] is None:
                    flags.append(f"{lb}: {w.key}: one figure only, repeatability not measured")
                elif cell["spread_pct"] > REPEAT_LIMIT:
                    flags.append(f"{lb}: {w.key}: repeats differ by {cell['spread_pct']:.3f}% "
                                 f"(> {REPEAT_LIMIT}%): {', '.join(f'{v:,.1f}' for v in got)}")
            if len(got) < len(vals):
                flags.append(f"{lb}: {w.key}: {len(vals) - len(got)} of {len(vals)} boots gave no figure")
            row["kernels"][lb] = cell
        for lb in labels[1:]:
            row["kernels"][lb].update(compare(rounds, row, w.key, lb, labels[0]))
        if SERIES_BASE[0] in labels and SERIES_BASE[1] in labels:
            # the series' own effect: against the base layer it is rendered on
            row["kernels"][SERIES_BASE[0]]["vs_base"] = compare(rounds, row, w.key, *SERIES_BASE)
        table.append(row)
    return {"table": table, "flags": flags, "regressions": regressions(table, labels)}


SERIES_BASE = ("series", "base-layer")  # (kernel, the kernel it sits on) when a run has both


def compare(rounds: list[dict], row: dict, workload: str, lb: str, ref_lb: str) -> dict:
    """Kernel lb against ref_lb in one workload: ratio of the means, and the functions behind it."""
    out = {}
    cell, ref = row["kernels"][lb], row["kernels"][ref_lb]
    if "mean" in cell and "mean" in ref and ref["mean"]:
        out["ratio"] = cell["mean"] / ref["mean"]
    ref_fns = mean_functions([r for r in rounds if r["label"] == ref_lb], workload)
    my_fns = mean_functions([r for r in rounds if r["label"] == lb], workload)
    if ref_fns is not None and my_fns is not None:
        out["diff_functions"] = [{"function": fn, "reference": a, "kernel": b, "delta": d}
                                 for fn, a, b, d in function_diff(ref_fns, my_fns)]
        out["counted_delta"] = sum(my_fns.values()) - sum(ref_fns.values())
    return out


def runs_table(rounds: list[dict], labels: list[str], workloads: list[str] | None = None) -> list[dict]:
    """Whole bench runs side by side (rounds tagged with 'run' by bench --report of several
    bench.json files): per workload and kernel, each run's mean and the difference between the
    runs in percent.  [] when the rounds come from one run."""
    runs = sorted({r.get("run", 1) for r in rounds})
    if len(runs) < 2:
        return []
    table = []
    for w in WORKLOADS:
        if workloads is not None and w.key not in workloads:
            continue
        row = {"workload": w.key, "title": w.title, "unit": w.unit, "kernels": {}}
        for lb in labels:
            means = {}
            for run in runs:
                vals = [round_values(r["figures"], r["statuses"])[w.key] for r in rounds
                        if r["label"] == lb and r.get("run", 1) == run]
                got = [v for v in vals if v is not None]
                means[run] = mean(got) if got else None
            known = [m for m in means.values() if m is not None]
            row["kernels"][lb] = {"runs": means,
                                  "diff_pct": spread_pct(known) if len(known) == len(runs) else None}
        table.append(row)
    return table


def runs_flags(table: list[dict]) -> list[str]:
    """One line per workload and kernel whose runs differ by more than REPEAT_LIMIT (or lack one)."""
    out = []
    for row in table:
        for lb, cell in row["kernels"].items():
            d = cell["diff_pct"]
            figures = ", ".join(fmt(m) for m in cell["runs"].values())
            if all(m is None for m in cell["runs"].values()):
                continue  # a workload no run measured (not selected, or failed: said elsewhere)
            if d is None:
                out.append(f"{lb}: {row['workload']}: not every run gave a figure ({figures})")
            elif d > REPEAT_LIMIT:
                out.append(f"{lb}: {row['workload']}: runs differ by {d:.3f}% (> {REPEAT_LIMIT}%): {figures}")
    return out


def runs_sentence(result: dict) -> str:
    """Whole runs in one sentence when they agree within REPEAT_LIMIT everywhere ('' otherwise)."""
    table = result["icount"].get("runs") or []
    diffs = [c["diff_pct"] for row in table for c in row["kernels"].values()
             if not all(m is None for m in c["runs"].values())]
    if not diffs or any(d is None or d > REPEAT_LIMIT for d in diffs):
        return ""
    n = len(table[0]["kernels"][next(iter(table[0]["kernels"]))]["runs"])
    return (f"The whole bench, run {n} times on the same kernels and image, gave every figure again: "
            f"largest difference between runs {pct(max(diffs))} (limit {REPEAT_LIMIT:g}%).")


def markdown_runs(result: dict, titles: dict[str, str]) -> str:
    """Two (or more) whole runs: each run's figure per kernel and workload, and the difference."""
    table = result["icount"].get("runs") or []
    if not table:
        return ""
    labels = result["meta"]["labels"]
    runs = sorted(table[0]["kernels"][labels[0]]["runs"])
    head = ["workload", "kernel"] + [f"run {n}" for n in runs] + ["difference"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(runs) + 1)]
    for row in table:
        for lb in labels:
            cell = row["kernels"][lb]
            if all(m is None for m in cell["runs"].values()):
                continue
            d = cell["diff_pct"]
            flag = "" if d is not None and d <= REPEAT_LIMIT else " **(> 0.1%)**"
            lines.append(f"| {row['title']}, per {row['unit']} | {titles[lb]} | "
                         + " | ".join(fmt(cell["runs"][n]) for n in runs) + f" | {pct(d)}{flag} |")
    return "\n".join(lines)


def regressions(table: list[dict], labels: list[str]) -> list[str]:
    out = []
    for row in table:
        pairs = [(lb, labels[0], row["kernels"][lb]) for lb in labels[1:]]
        if "vs_base" in row["kernels"].get(SERIES_BASE[0], {}):
            pairs.append((*SERIES_BASE, row["kernels"][SERIES_BASE[0]]["vs_base"]))
        for lb, ref_lb, cmp in pairs:
            r = cmp.get("ratio")
            if r is not None and (r - 1) * 100 > REGRESSION_LIMIT:
                vs = "" if ref_lb == labels[0] else f" vs {ref_lb}"
                out.append(f"{lb}{vs}: {row['workload']}: {(r - 1) * 100:+.2f}% instructions per {row['unit']} "
                           f"({fmt(row['kernels'][ref_lb]['mean'])} -> {fmt(row['kernels'][lb]['mean'])})"
                           + (": " + explain(cmp) if cmp.get("diff_functions") else ""))
    return out


def explain(cell: dict, top: int = 4) -> str:
    parts = [f"{d['function']} {d['delta']:+,.0f}" for d in cell["diff_functions"][:top]]
    return "functions " + ", ".join(parts)


def fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if abs(x) < 0.05:
        return "0"  # not "-0" or "0.0" for a function a kernel does not run
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}%"


def markdown(result: dict, titles: dict[str, str]) -> str:
    """The figures: one table of instructions per unit with repeats, one of ratios."""
    ic = result["icount"]
    labels = result["meta"]["labels"]
    head = ["workload (guest instructions per unit)"] + [titles[lb] for lb in labels]
    head += [f"{titles[lb]} / {titles[labels[0]]}" for lb in labels[1:]]
    vs_base = SERIES_BASE[0] in labels and SERIES_BASE[1] in labels
    if vs_base:
        head.append(f"{titles[SERIES_BASE[0]]} / {titles[SERIES_BASE[1]]}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in ic["table"]:
        cells = []
        for lb in labels:
            c = row["kernels"][lb]
            if "mean" not in c:
                cells.append("n/a")
                continue
            got = [v for v in c["values"] if v is not None]
            flag = "" if c.get("repeatable") else " **(repeats differ)**"
            if len(set(got)) == 1 and len(got) > 1:
                # every boot gave the same count: say it once, with how many boots
                cells.append(f"{fmt(got[0])} (all {len(got)} boots){flag}")
            else:
                cells.append(f"{' / '.join(fmt(v) for v in got)} (Δ {pct(c['spread_pct'])}){flag}")
        ratios = []
        cmps = [row["kernels"][lb] for lb in labels[1:]]
        if vs_base:
            cmps.append(row["kernels"][SERIES_BASE[0]].get("vs_base", {}))
        for cmp in cmps:
            r = cmp.get("ratio")
            ratios.append("n/a" if r is None else f"{r:.4f} ({(r - 1) * 100:+.2f}%)")
        lines.append(f"| {row['title']}, per {row['unit']} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def markdown_breakdown(result: dict, titles: dict[str, str], top: int = 6, series_only: bool = False) -> str:
    """Per workload and patched kernel: the functions whose instructions per unit moved most.
    series_only: the series against the kernel it sits on, only (the cover letter's view)."""
    labels = result["meta"]["labels"]
    lines = []
    for row in result["icount"]["table"]:
        pairs = [(lb, labels[0], row["kernels"][lb]) for lb in labels[1:]]
        if "vs_base" in row["kernels"].get(SERIES_BASE[0], {}):
            pairs.append((*SERIES_BASE, row["kernels"][SERIES_BASE[0]]["vs_base"]))
        if series_only:
            pairs = pairs[-1:]
        for lb, ref_lb, cell in pairs:
            diffs = cell.get("diff_functions")
            if not diffs:
                continue
            total = cell.get("counted_delta", 0.0)
            lines.append(f"- {row['title']}, {titles[lb]} vs {titles[ref_lb]} "
                         f"(counted {total:+,.0f} per {row['unit']}): "
                         + ", ".join(f"{d['function']} {d['reference']:,.0f} -> {d['kernel']:,.0f}"
                                     for d in diffs[:top]))
    return "\n".join(lines)


def top_functions(rounds: list[dict], labels: list[str], workload: str, top: int = 10) -> list[dict]:
    """Each kernel's largest functions in one workload, instructions per unit (mean over boots):
    [{"function", label: value, ...}], ordered by the largest value on any kernel."""
    per = {lb: mean_functions([r for r in rounds if r["label"] == lb], workload) or {} for lb in labels}
    names = set().union(*per.values()) - {"[other functions]"}
    rows = [{"function": fn, **{lb: per[lb].get(fn, 0.0) for lb in labels}} for fn in names]
    rows.sort(key=lambda r: (-max(r[lb] for lb in labels), r["function"]))
    return rows[:top]


def markdown_top_functions(result: dict, titles: dict[str, str], workloads=("reclaim", "pageout", "zspool",
                                                                            "writeback"), top: int = 10) -> str:
    """Per workload, a table of each kernel's largest functions (the swap-out and swap-in paths)."""
    labels = result["meta"]["labels"]
    out = []
    for w in workloads:
        rows = top_functions(result["rounds"], labels, w, top)
        if not rows:
            continue
        wl = WORKLOAD_BY_KEY[w]
        out += [f"{wl.title}, instructions per {wl.unit}:", "",
                "| function | " + " | ".join(titles[lb] for lb in labels) + " |",
                "|---|" + "---:|" * len(labels)]
        out += [f"| {r['function']} | " + " | ".join(fmt(r[lb]) for lb in labels) + " |" for r in rows]
        out.append("")
    return "\n".join(out)
