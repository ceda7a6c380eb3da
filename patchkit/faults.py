"""The fault matrix: the same fault-injection guest tests on each kernel.

The error paths of the series (a failed zram write ending the batch as
failed, failed reads, the writeback fallback) only run when something
breaks.  The guest tests in patchkit/guest/faults/ break it on purpose and
check that no page is lost or silently corrupted:

  fault-zram-full  zram mem_limit far below the hog: zram_write_page() fails
  fault-wb-write   zram writeback onto a disk whose writes fail
  fault-wb-read    swap-in of written-back pages from a disk whose reads fail
  fault-alloc      failslab / fail_page_alloc scoped to the hog task
  fault-race       swapoff, refused resets, writeback and swap in/out at once
  fault-module     rmmod zram refused while swapping, unload, reload, swap again
  fault-stall      many readers in swap readahead under pressure, their iocb
                   allocations failed: how long tasks wait for sio_pool

Each kernel (baseline, base layer, series) is built with its config flavour
plus faults.config (zram as a module, fault injection) and booted once with
all of them.  Every test writes fault.* figures (patchkit/guest/faults/lib.sh);
rows_from_boot() turns a boot into one row per test, regressions() names
every fault under which a kernel does worse than the baseline.  This module
is the fault tests' data and judgement; `patchkit validate --faults`
(validate.validate_faults) builds and boots the kernels.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from patchkit import paths, pipeline
from patchkit.errors import UserError
from patchkit.pipeline import ERROR, FAIL, PASS, SKIP, StageResult

FAULT_TESTS = ["fault-zram-full", "fault-wb-write", "fault-wb-read", "fault-alloc",
               "fault-race", "fault-module", "fault-stall"]
FRAGMENT = paths.GUEST / "faults" / "faults.config"
# The guest module that probes swap_register_block_ops() (fault-module uses it).
SWAPREG_MODULE = paths.GUEST / "kmod" / "pk_swapreg"
# The second block driver with its own swap_ops (zram-swap-ops v2: fault-module
# and the swap-ops-driver guest test use it).
SWAPDEV_MODULE = paths.GUEST / "kmod" / "pk_swapdev"
KERNELS = list(pipeline.KERNELS)
BASELINE = pipeline.BASELINE
# Scratch disks of the fault tests: test -> (serial the guest looks for, size in
# MiB, filesystem or None), as boot.DISKS (which takes these in).
DISKS = {
    "fault-wb-write": ("pk-fwbw", 256, None),
    "fault-wb-read": ("pk-fwbr", 256, None),
    "fault-race": ("pk-frace", 256, None),
    "fault-module": ("pk-fmod", 192, None),
}
STALL_MARGIN_S = 60.0  # a fault test this much slower than on the baseline (and 2x) stalled
# Figures every fault test writes; the columns of the table.
COUNTS = ["injected", "pages", "verified", "sigbus", "corrupted", "lost", "oom_killed"]


@dataclass
class FaultRow:
    """One fault test on one kernel."""

    fault: str
    kernel: str  # baseline | base-layer | series
    config: str  # minimal | debug
    status: str  # PASS | FAIL | SKIP | ERROR
    injected: int | None = None
    pages: int | None = None
    verified: int | None = None
    sigbus: int | None = None
    corrupted: int | None = None
    lost: int | None = None
    oom_killed: int | None = None
    events: list[str] = field(default_factory=list)  # "kind: text" of each console event
    detail: str = ""
    seconds: float = 0.0
    figures: dict = field(default_factory=dict)  # the guest's fault.* figures, as it wrote them
    console_log: str = ""  # the boot's console, to read what the row says
    accel: str = ""

    @property
    def unsafe(self) -> bool:
        """Data lost or corrupted: the one thing a fault may never cause."""
        return bool(self.corrupted) or bool(self.lost)


def _int(figures: dict, key: str) -> int | None:
    v = figures.get(key)
    return v if isinstance(v, int) else None


def row_from_test(test, *, kernel: str, config: str) -> FaultRow:
    """A FaultRow from one boot.TestResult (figures fault.* written by the guest)."""
    figs = test.figures or {}
    events = [f"{e.kind}: {e.text}" + (" (allowed)" if e.allowed else "") for e in test.events]
    counts = {k: _int(figs, f"fault.{k}") for k in COUNTS}
    oom = sum(1 for e in test.events if e.kind == "oom-kill")
    if oom and not counts["oom_killed"]:
        counts["oom_killed"] = oom
    return FaultRow(test.name, kernel, config, test.status, events=events, detail=test.detail,
                    seconds=test.seconds, figures=dict(figs), **counts)


def rows_from_boot(booted, *, kernel: str, config: str, tests: list[str] | None = None) -> list[FaultRow]:
    """One row per fault test of a boot.BootResult (tests the boot never reached are SKIP)."""
    wanted = tests or FAULT_TESTS
    by_name = {t.name: t for t in booted.tests}
    rows = []
    for name in wanted:
        t = by_name.get(name)
        if t is None:
            rows.append(FaultRow(name, kernel, config, SKIP, detail="not in this boot"))
        else:
            rows.append(row_from_test(t, kernel=kernel, config=config))
    for r in rows:
        r.console_log = str(getattr(booted, "console_log", "") or "")
        r.accel = getattr(booted, "accel", "") or ""
    return rows


def failed_row(name: str, kernel: str, config: str, why: str) -> FaultRow:
    return FaultRow(name, kernel, config, ERROR, detail=why)


def _bad_events(row: FaultRow) -> set[str]:
    return {e.split(":", 1)[0] for e in row.events if not e.endswith("(allowed)")}


def compare_stage(rows: list[FaultRow], baseline: str = BASELINE):
    """The faults:compare stage: FAIL when a kernel does worse than the baseline,
    SKIP when the run has no baseline rows or nothing beside them to compare."""
    kernels = {r.kernel for r in rows}
    if baseline not in kernels or kernels == {baseline}:
        return StageResult("faults:compare", SKIP,
                           detail=f"nothing to compare: this run's kernels are {', '.join(sorted(kernels))} "
                                  f"(the comparison needs the {baseline} and at least one other)")
    worse = regressions(rows, baseline)
    return StageResult("faults:compare", FAIL if worse else PASS,
                       detail="; ".join(worse) or "no kernel worse than the baseline")


def regressions(rows: list[FaultRow], baseline: str = BASELINE) -> list[str]:
    """Every (fault, config) where a kernel does worse than the baseline, in words.

    Worse: it fails where the baseline passes, it loses or corrupts pages
    where the baseline does not, it prints kernel events (splats) the
    baseline did not print under the same fault, or it stalls: the test
    takes more than twice as long as on the baseline and over a minute more
    (a margin no noise on these machines comes near).
    """
    base = {(r.fault, r.config): r for r in rows if r.kernel == baseline}
    found = []
    for r in rows:
        if r.kernel == baseline:
            continue
        b = base.get((r.fault, r.config))
        if b is None:
            continue
        what = f"{r.fault} ({r.config}) on {r.kernel}"
        if r.status in (FAIL, ERROR) and b.status == PASS:
            found.append(f"{what}: {r.status} where the baseline passes: {r.detail}")
        if r.unsafe and not b.unsafe:
            found.append(f"{what}: {r.corrupted or 0} corrupted and {r.lost or 0} lost pages, "
                         f"baseline {b.corrupted or 0} and {b.lost or 0}")
        new = sorted(_bad_events(r) - _bad_events(b))
        if new:
            found.append(f"{what}: kernel events the baseline did not print: {', '.join(new)}")
        if r.seconds > 2 * b.seconds and r.seconds - b.seconds > STALL_MARGIN_S:
            found.append(f"{what}: took {r.seconds:.0f} s where the baseline took {b.seconds:.0f} s "
                         "under the same fault (a stall)")
    return found


def status(rows: list[FaultRow]) -> str:
    """FAIL if any fault test failed or lost data on any kernel, else PASS."""
    if any(r.status in (FAIL, ERROR) or r.unsafe for r in rows):
        return FAIL
    return PASS


def to_json(rows: list[FaultRow]) -> dict:
    """The results.json section: the table and the regressions."""
    keys = ["fault", "kernel", "config", "status", *COUNTS, "events", "detail", "seconds", "figures",
            "console_log", "accel"]
    return {
        "status": status(rows),
        "table": [{k: getattr(r, k) for k in keys} for r in rows],
        "regressions": regressions(rows),
    }


def rows_from_json(section: dict) -> list[FaultRow]:
    """FaultRows back from a to_json() section (to join runs made separately,
    e.g. one per kernel, into one table with regressions)."""
    names = set(FaultRow.__dataclass_fields__)
    return [FaultRow(**{k: v for k, v in row.items() if k in names}) for row in section.get("table", [])]


def _cell(v) -> str:
    return "-" if v is None else str(v)


def table_lines(rows: list[FaultRow]) -> list[str]:
    """The terminal table as plain text (also what the slow test prints)."""
    head = ["fault", "kernel", "config", "status", *COUNTS, "events"]
    body = []
    for r in rows:
        ev = sorted({e.split(":", 1)[0] + ("*" if e.endswith("(allowed)") else "") for e in r.events})
        body.append([r.fault, r.kernel, r.config, r.status, *(_cell(getattr(r, k)) for k in COUNTS),
                     ",".join(ev) or "-"])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head)] + [fmt.format(*b) for b in body]


def print_table(rows: list[FaultRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(stderr=True)
    if not out.is_terminal:
        # a log file: plain columns that do not wrap at 80
        for line in table_lines(rows) + [f"regression: {x}" for x in regressions(rows)]:
            print(line, file=sys.stderr)
        return
    colour = {PASS: "green", FAIL: "red", ERROR: "red", SKIP: "yellow"}
    table = Table(title=f"patchkit faults: {status(rows)} (events with * were allowed by the test)")
    for col in ["fault", "kernel", "config", "status", *COUNTS, "events / detail"]:
        table.add_column(col, justify="right" if col in COUNTS else "left", overflow="fold")
    for r in rows:
        ev = sorted({e.split(":", 1)[0] + ("*" if e.endswith("(allowed)") else "") for e in r.events})
        text = "; ".join(filter(None, [",".join(ev), r.detail[:160] if r.status != PASS else ""]))
        table.add_row(r.fault, r.kernel, r.config, f"[{colour.get(r.status, 'white')}]{r.status}[/]",
                      *(_cell(getattr(r, k)) for k in COUNTS), text)
    out.print(table)
    for line in regressions(rows):
        out.print(f"[red]regression[/]: {line}")


# ---------------------------------------------------------------- running


def has_block_ops_registry(source: Path) -> bool:
    """Whether the tree has swap_register_block_ops() (series patch 1 and later):
    only then can the guest's registration probe module be built."""
    header = Path(source) / "include" / "linux" / "blkdev.h"
    return header.exists() and "swap_register_block_ops(" in header.read_text(errors="replace")


def has_block_swap_activate(source: Path) -> bool:
    """Whether block drivers choose their swap_ops at swapon (->swap_activate() in
    block_device_operations, zram-swap-ops v2): only then can pk_swapdev be built."""
    header = Path(source) / "include" / "linux" / "blkdev.h"
    return header.exists() and "(*swap_activate)(struct swap_info_struct" in header.read_text(errors="replace")


def probe_modules(source: Path) -> list[Path]:
    """The guest probe modules the tree can build: v1's registration probe, v2's second driver."""
    mods = []
    if has_block_ops_registry(source):
        mods.append(SWAPREG_MODULE)
    if has_block_swap_activate(source):
        mods.append(SWAPDEV_MODULE)
    return mods


def check_kernels(kernels: list[str] | None) -> list[str]:
    """The kernels of a fault run (default all three); unknown names are a UserError."""
    kernels = kernels or KERNELS
    unknown = [k for k in kernels if k not in KERNELS]
    if unknown:
        raise UserError(f"unknown kernel(s) for --faults: {', '.join(unknown)}",
                        hint=f"choose from {', '.join(KERNELS)}")
    return kernels
