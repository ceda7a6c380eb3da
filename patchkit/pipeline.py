"""The one way a run is orchestrated: stages in order, one status vocabulary,
one SKIP rule, and the kernels a run compares.

validate, validate --faults and check run their stages through Pipeline;
validate --faults and bench build the kernels compared_kernels() names.

- PASS / FAIL / SKIP / ERROR are the only statuses (stages, guest tests,
  fault rows, bench rounds).
- Pipeline runs stages in order and records a StageResult for each; after a
  failed stage every later stage of that pipeline is SKIP ("skipped: X
  failed"), never silently run.  A run that must go on after a failure
  (the next kernel, the next patch) opens a fresh Pipeline on the same
  result for each.
- compared_kernels() names the kernels a run compares (baseline, base
  layer, series) from one render, and checkout() gives each its own work
  tree, so faults and bench build the same three kernels the same way.

This module imports nothing of patchkit but ui, errors and worktrees: it is
the layer the commands stand on, never the other way round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from patchkit import ui, worktrees
from patchkit.errors import PatchkitError

PASS, FAIL, SKIP, ERROR = "PASS", "FAIL", "SKIP", "ERROR"
STATUSES = (PASS, FAIL, SKIP, ERROR)

# The kernels a comparison run builds, in the order they are booted.
BASELINE, BASE_LAYER, SERIES = "baseline", "base-layer", "series"
KERNELS = (BASELINE, BASE_LAYER, SERIES)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class StageResult:
    name: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    log: str | None = None
    data: dict = field(default_factory=dict)
    started: str | None = None


def skipped(name: str, why: str) -> StageResult:
    """The one SKIP rule's record: a stage not run because an earlier one failed."""
    return StageResult(name, SKIP, detail=f"skipped: {why}")


class Pipeline:
    """Runs stages in order; a failure turns every later stage into SKIP.

    result: anything with a .stages list (report.RunResult).  prefix names
    the stages of one unit of a larger run ("0001-mm: build")."""

    def __init__(self, result, prefix: str = ""):
        self.result = result
        self.prefix = prefix
        self.failed: str | None = None   # why later stages are skipped

    def stop(self, why: str) -> None:
        """Skip every later stage without a failure (e.g. --build-only)."""
        self.failed = self.failed or why

    def stage(self, name: str, fn, *args, describe=None, judge=None, **kwargs):
        """fn(*args, **kwargs) as stage name; its value, or None when it raised
        or was skipped.  describe(value) -> str: the detail of a passed stage,
        shown on its progress line.  judge(value) -> str | None: why a value
        fn returned still fails the stage (a guest that panicked after its
        tests); the value is returned all the same, for what it recorded."""
        full = f"{self.prefix}: {name}" if self.prefix else name
        if self.failed:
            self.result.stages.append(skipped(full, self.failed))
            return None
        start = time.monotonic()
        started = now()
        try:
            value = fn(*args, **kwargs)
        except PatchkitError as exc:
            seconds = time.monotonic() - start
            self.failed = f"{name} failed"
            log = getattr(exc, "log", None)
            self.result.stages.append(StageResult(full, FAIL, seconds, str(exc),
                                                  str(log) if log else None, started=started))
            if not ui.already_said(full, start):
                ui.info(full, f"FAIL in {ui.duration(seconds)}")
            return None
        seconds = time.monotonic() - start
        verdict = judge(value) if judge else None
        if verdict:
            self.failed = f"{name} failed"
            self.result.stages.append(StageResult(full, FAIL, seconds, verdict, started=started))
            ui.info(full, f"FAIL in {ui.duration(seconds)}")
            return value
        detail = describe(value) if describe else ""
        self.result.stages.append(StageResult(full, PASS, seconds, detail, started=started))
        if not ui.already_said(full, start):   # the stage printed its own line (build)
            ui.info(full, f"PASS in {ui.duration(seconds)}" + (f" ({detail})" if detail else ""))
        return value


# ---------------------------------------------------------------- the kernels a run compares


@dataclass(frozen=True)
class Compared:
    """One kernel of a comparison: a commit of a rendered repository."""

    label: str     # baseline | base-layer | series
    repo: Path
    commit: str
    origin: str    # how it was made, in words (bench.json, results.json)


def compared_kernels(tree, rendered, *, base_layer=None, with_base_layer: bool = True,
                     names: dict[str, str] | None = None) -> dict[str, Compared]:
    """{label: Compared} for the baseline (the tree's pinned base commit), the
    base layer and the series (rendered's tip), in boot order.

    The base layer is base_layer's tip (a render.RenderResult of the base
    series alone) when given, else the last series rendered's own series
    depends on; a series on no base layer, or with_base_layer=False, has
    none.  names: {label: series name} for the origins (default: each
    render's series name)."""
    names = names or {}
    name = getattr(tree, "name", "tree")
    base = getattr(rendered, "base_commit", None) or tree.base_commit
    kernels = {BASELINE: Compared(BASELINE, Path(rendered.repo), base, f"{name} @ {base[:12]}")}
    if with_base_layer:
        if base_layer is not None:
            kernels[BASE_LAYER] = Compared(BASE_LAYER, Path(base_layer.repo), base_layer.tip,
                                           f"render {names.get(BASE_LAYER) or _series_name(base_layer)} @ {base_layer.tip[:12]}")
        else:
            deps = getattr(rendered, "dependencies", None) or []
            if deps:
                dep = deps[-1]
                kernels[BASE_LAYER] = Compared(BASE_LAYER, Path(dep.repo), dep.tip,
                                               f"render {names.get(BASE_LAYER) or _series_name(dep)} @ {dep.tip[:12]}")
    kernels[SERIES] = Compared(SERIES, Path(rendered.repo), rendered.tip,
                               f"render {names.get(SERIES) or _series_name(rendered)} @ {rendered.tip[:12]}")
    return kernels


def _series_name(rendered) -> str:
    series = getattr(rendered, "series", None)
    return getattr(series, "name", None) or "series"


def checkout(tree, kernel: Compared, purpose: str) -> Path:
    """kernel's own work tree <tree>-<purpose>-<label>: each kernel of a run keeps
    its own incremental build."""
    return worktrees.worktree(kernel.repo, kernel.commit,
                              f"{getattr(tree, 'name', 'tree')}-{purpose}-{kernel.label}")
