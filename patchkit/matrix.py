"""patchkit matrix: the whole validation matrix, declared once in matrix.toml.

    patchkit matrix list [--subset NAME] [--cells GLOB,...]
    patchkit matrix run  [--subset NAME] [--cells GLOB,...] [-o results/matrix]
    patchkit matrix cell ID [-o results/matrix]      (one CI job)
    patchkit matrix plan [--runners 1,2,4,8] [--measured RESULTS_DIR ...]

The declaration (matrix.toml) names trees, kernels, config variants, test
groups, the fault matrix and the bench.  expand() turns it into cells:

  build-T-K-C          tree T, kernel K (baseline | base-layer | series), config
                       variant C: tree, render, checkout, build; the kernel is
                       exported to OUT/kernels/T-K-C for the test cells
  test-T-K-C-G         that kernel booted with test group G (no build of its own)
  faults-T-K-C         the fault tests on kernel K under config C (own build)
  bench-T              patchkit bench on tree T (three kernels, interleaved rounds)

Each cell writes OUT/<cell>/results.json (and junit.xml, logs).  `matrix run`
runs the selected cells one after the other on this machine, then merges them
(patchkit report merge) into OUT/merged; the CI files that `patchkit ci`
writes run the very same `patchkit matrix cell ID` per job and the same merge
in a last job, so both give the same merged report.
"""

from __future__ import annotations

import argparse
import fnmatch
import heapq
import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from patchkit import paths, ui
from patchkit.errors import UserError

DECLARATION = paths.REPO / "matrix.toml"
KERNELS = ("baseline", "base-layer", "series")
KINDS = ("build", "test", "faults", "bench")
DEFAULT_OUTPUT = Path("results/matrix")
KERNELS_DIR = "kernels"   # OUT/kernels/<build id>: exported kernels
MERGED_DIR = "merged"


@dataclass(frozen=True)
class Variant:
    name: str
    config: str = "minimal"
    fragments: tuple[str, ...] = ()
    modules: bool = False
    memory: int = 256
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cell:
    id: str
    kind: str                 # build | test | faults | bench
    tree_key: str             # "6.12"
    tree: str                 # "linux-source-6.12"
    kernel: str = ""          # baseline | base-layer | series ("" for bench)
    variant: Variant | None = None
    group: str = ""
    tests: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()   # cells whose output this one reads (its build)

    @property
    def build_id(self) -> str:
        """The kernel a build or test cell uses: T-K-C."""
        return f"{self.tree_key}-{self.kernel}-{self.variant.name}" if self.variant else ""

    def coordinates(self) -> dict:
        d = {"id": self.id, "kind": self.kind, "tree": self.tree, "tree_key": self.tree_key}
        if self.kernel:
            d["kernel"] = self.kernel
        if self.variant:
            d["config"] = self.variant.name
        if self.group:
            d["group"] = self.group
            d["tests"] = list(self.tests)
        return d

    def estimate_key(self) -> str:
        heavy = self.variant is not None and self.variant.config == "debug"
        return self.kind + ("-debug" if heavy and self.kind != "bench" else "")


@dataclass
class Matrix:
    path: Path
    series: str
    base_layer: str
    trees: dict[str, str]
    kernels: tuple[str, ...]
    variants: dict[str, Variant]
    groups: dict[str, tuple[str, ...]]
    fault_configs: tuple[str, ...]
    bench: dict
    subsets: dict[str, dict]
    estimates: dict[str, float]
    ci: dict = field(default_factory=dict)

    def series_of(self, kernel: str) -> str | None:
        """What validate renders for a kernel label (None: the bare tree)."""
        return {"baseline": None, "base-layer": self.base_layer, "series": self.series}[kernel]


# ---------------------------------------------------------------- declaration


def _want(table: dict, key: str, kind, where: str, default=None):
    value = table.get(key, default)
    if value is None:
        raise UserError(f"{where}: missing '{key}'")
    if kind is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise UserError(f"{where}: '{key}' must be a list of strings, not {value!r}")
    if kind is not list and not isinstance(value, kind):
        raise UserError(f"{where}: '{key}' must be {kind.__name__}, not {value!r}")
    return value


def load(path: Path | None = None) -> Matrix:
    """Read and check the declaration; every mistake is a UserError naming the key."""
    path = Path(path or DECLARATION)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read the matrix declaration {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}") from exc
    where = str(path)
    trees = _want(data, "trees", dict, where)
    kernels = tuple(_want(_want(data, "kernels", dict, where), "names", list, f"{where} [kernels]"))
    bad = [k for k in kernels if k not in KERNELS]
    if bad:
        raise UserError(f"{where} [kernels]: unknown kernel(s) {', '.join(bad)}; known: {', '.join(KERNELS)}")
    groups = {name: tuple(_want({"tests": v}, "tests", list, f"{where} [groups]"))
              for name, v in _want(data, "groups", dict, where).items()}
    variants = {}
    for name, table in _want(data, "configs", dict, where).items():
        w = f"{where} [configs.{name}]"
        vgroups = tuple(_want(table, "groups", list, w, default=[]))
        unknown = [g for g in vgroups if g not in groups]
        if unknown:
            raise UserError(f"{w}: unknown test group(s) {', '.join(unknown)}; [groups] has {', '.join(groups)}")
        frags = tuple(_want(table, "fragments", list, w, default=[]))
        for f in frags:
            if not (paths.REPO / f).is_file():
                raise UserError(f"{w}: fragment {f} does not exist (paths are relative to {paths.REPO})")
        variants[name] = Variant(name, _want(table, "config", str, w, default="minimal"), frags,
                                 _want(table, "modules", bool, w, default=False),
                                 _want(table, "memory", int, w, default=256), vgroups)
    faults = data.get("faults", {})
    fault_configs = tuple(_want(faults, "configs", list, f"{where} [faults]", default=[]))
    for c in fault_configs:
        if c not in variants:
            raise UserError(f"{where} [faults]: config {c} is not one of [configs]: {', '.join(variants)}")
    bench = data.get("bench", {})
    subsets = _want(data, "subsets", dict, where, default={})
    for name, sub in subsets.items():
        for key, known in (("trees", trees), ("kernels", kernels), ("configs", variants), ("groups", groups)):
            unknown = [v for v in sub.get(key, []) if v not in known]
            if unknown:
                raise UserError(f"{where} [subsets.{name}]: unknown {key} {', '.join(unknown)}")
    return Matrix(path=path, series=_want(data, "series", str, where),
                  base_layer=_want(data, "base_layer", str, where), trees=dict(trees), kernels=kernels,
                  variants=variants, groups=groups, fault_configs=fault_configs, bench=dict(bench),
                  subsets=dict(subsets), estimates={k: float(v) for k, v in data.get("estimates", {}).items()},
                  ci=dict(data.get("ci", {})))


def expand(m: Matrix, subset: str | None = None) -> list[Cell]:
    """Every cell of the matrix (or of one subset), builds first, in a stable order."""
    sub: dict = {}
    if subset:
        if subset not in m.subsets:
            raise UserError(f"unknown subset {subset!r} in {m.path}; declared: {', '.join(m.subsets) or 'none'}")
        sub = m.subsets[subset]
    trees = [t for t in m.trees if t in sub.get("trees", m.trees)]
    kernels = [k for k in m.kernels if k in sub.get("kernels", m.kernels)]
    configs = [c for c in m.variants if c in sub.get("configs", m.variants)]
    builds, tests, faults, bench = [], [], [], []
    for t in trees:
        tree = m.trees[t]
        for k in kernels:
            for c in configs:
                v = m.variants[c]
                b = Cell(f"build-{t}-{k}-{c}", "build", t, tree, k, v)
                builds.append(b)
                for g in sub.get("groups", v.groups):
                    tests.append(Cell(f"test-{t}-{k}-{c}-{g}", "test", t, tree, k, v, g, m.groups[g],
                                      needs=(b.id,)))
            if sub.get("faults", True):
                for c in m.fault_configs:
                    faults.append(Cell(f"faults-{t}-{k}-{c}", "faults", t, tree, k, m.variants[c]))
        if sub.get("bench", True) and m.bench:
            bench.append(Cell(f"bench-{t}", "bench", t, tree))
    # a build that no test boots is still a check of its own (no-swap), so all builds stay
    return builds + tests + faults + bench


def all_cells(m: Matrix) -> dict[str, Cell]:
    """Every cell of the matrix and of its subsets (a subset may boot a group,
    like the reduced one's smoke tests, that no full-matrix config lists), by id."""
    found = {c.id: c for c in expand(m)}
    for name in m.subsets:
        found.update({c.id: c for c in expand(m, name) if c.id not in found})
    return found


def select(cells: list[Cell], patterns: list[str] | None) -> list[Cell]:
    """The cells matching any glob, plus the builds they need, in matrix order."""
    if not patterns:
        return list(cells)
    chosen = {c.id for c in cells if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)}
    if not chosen:
        raise UserError(f"no cell matches {', '.join(patterns)}",
                        hint="list them: patchkit matrix list")
    by_id = {c.id: c for c in cells}
    for cid in list(chosen):
        chosen.update(by_id[cid].needs)
    return [c for c in cells if c.id in chosen]


# ---------------------------------------------------------------- running cells


def validate_kwargs(m: Matrix, cell: Cell, *, author: str | None, runtime: str) -> dict:
    """The validate() arguments of a build or test cell (pure: unit-tested)."""
    v = cell.variant
    return dict(series=m.series_of(cell.kernel), tree_spec=cell.tree, config=v.config, author=author,
                fragments=[paths.REPO / f for f in v.fragments], modules=v.modules, runtime=runtime,
                tests=list(cell.tests) if cell.kind == "test" else None, timeout=1200,
                build_only=cell.kind == "build", memory_mb=v.memory,
                worktree_name=f"{cell.tree}-matrix-{cell.kernel}")


def run_cell(m: Matrix, cell: Cell, out: Path, *, author: str | None = None, runtime: str = "auto",
             rounds: int | None = None) -> str:
    """Run one cell into out/<cell id>; returns its status (PASS / FAIL)."""
    from patchkit import report

    out = Path(out).resolve()
    cell_dir = out / cell.id
    info = {"cell": cell.coordinates()}
    ui.info("matrix", f"cell {cell.id}")
    from patchkit import validate

    if cell.kind in ("build", "test"):
        kernels = out / KERNELS_DIR / cell.build_id
        kwargs = validate_kwargs(m, cell, author=author, runtime=runtime)
        if cell.kind == "build":
            result = validate.validate(output=cell_dir, info=info, export=kernels, **kwargs)
        else:
            result = validate.validate(output=cell_dir, info=info, prebuilt=kernels, **kwargs)
        return result.status
    if cell.kind == "faults":
        v = cell.variant
        result = validate.validate_faults(series=m.series, tree_spec=cell.tree, config=v.config,
                                          runtime=runtime, timeout=1800, output=cell_dir,
                                          kernels=[cell.kernel], memory_mb=max(v.memory, 256), info=info)
        return result.status
    return _run_bench(m, cell, cell_dir, info, runtime=runtime, rounds=rounds)


def _run_bench(m: Matrix, cell: Cell, cell_dir: Path, info: dict, *, runtime: str, rounds: int | None) -> str:
    """patchkit bench as a cell: its bench.json beside a results.json with one stage."""
    from patchkit import cli, report
    from patchkit.report import FAIL, PASS, RunResult, StageResult

    n = rounds or int(m.bench.get("rounds", 5))
    argv = ["bench", "--rounds", str(n), "--tree", cell.tree, "--series", m.series,
            # the base layer the series sits on on this tree (none on 7.3: two kernels)
            "--base-layer", "auto", "--config", m.bench.get("config", "minimal"),
            "--runtime", runtime, "-o", str(cell_dir / "bench")]
    start = time.monotonic()
    rc = cli.main(argv)
    seconds = time.monotonic() - start
    bench_json = cell_dir / "bench" / "bench.json"
    info = dict(info, bench={"json": str(bench_json), "rounds": n})
    if bench_json.is_file():
        data = json.loads(bench_json.read_text())
        info["bench"]["findings"] = data.get("findings", [])
    detail = "" if rc == 0 else f"patchkit {' '.join(argv)} exited {rc}"
    result = RunResult(command="bench", info=info,
                       stages=[StageResult("bench", PASS if rc == 0 else FAIL, seconds, detail)])
    report.write_json(result, cell_dir / "results.json")
    report.write_junit(result, cell_dir / "junit.xml")
    return result.status


def run_cells(m: Matrix, cells: list[Cell], out: Path, *, author=None, runtime="auto", rounds=None) -> dict:
    """Every cell in order, then the merge; a failed build skips the tests that boot it."""
    from patchkit import report

    out = Path(out).resolve()
    status: dict[str, str] = {}
    for cell in cells:
        failed = [n for n in cell.needs if status.get(n) not in (None, "PASS")]
        if failed:
            # what a CI engine does with a job whose needed job failed: it does not run,
            # and the merge shows the failed build
            ui.info("matrix", f"cell {cell.id}: not run ({', '.join(failed)} failed)")
            status[cell.id] = "SKIP"
            continue
        status[cell.id] = run_cell(m, cell, out, author=author, runtime=runtime, rounds=rounds)
    ran = [out / c.id for c in cells if status[c.id] != "SKIP"]
    return report.merge(ran, out / MERGED_DIR)


# ---------------------------------------------------------------- plan


def measured_seconds(results: list[Path]) -> dict[str, float]:
    """{cell id: seconds} from results.json files (a cell's or a merged one)."""
    from patchkit import report

    found: dict[str, float] = {}
    for path in report.find_results(results):
        data = json.loads(path.read_text())
        for cell in data.get("info", {}).get("cells", []) or []:
            if cell.get("seconds"):
                found[cell["id"]] = float(cell["seconds"])
        cid = data.get("info", {}).get("cell", {}).get("id")
        if cid:
            found[cid] = report.result_seconds(data)
    return found


def schedule(cells: list[Cell], seconds: dict[str, float], runners: int) -> float:
    """Wall time of the cells on `runners` identical runners, as a CI engine runs
    them: whenever a runner is free it takes the first cell (in matrix order)
    whose needs have finished; it waits only when no cell is ready."""
    free = [0.0] * runners
    heapq.heapify(free)
    pending = list(cells)
    ids = {c.id for c in cells}
    done: dict[str, float] = {}
    while pending:
        now = heapq.heappop(free)
        ready = next((c for c in pending
                      if all(n not in ids or (n in done and done[n] <= now) for n in c.needs)), None)
        if ready is None:
            later = [done[n] for c in pending for n in c.needs if n in done and done[n] > now]
            if not later:
                raise UserError(f"cells wait for cells that never run: {', '.join(c.id for c in pending)}")
            heapq.heappush(free, min(later))
            continue
        pending.remove(ready)
        done[ready.id] = now + seconds[ready.id]
        heapq.heappush(free, done[ready.id])
    return max(done.values(), default=0.0)


def plan(m: Matrix, cells: list[Cell], measured: dict[str, float], runners: list[int]) -> dict:
    """Cell counts, seconds per cell (measured, else the declaration's estimate),
    the time of `make matrix` (every cell in turn on one machine) and the wall
    time on each runner count, where every CI job also pays estimates.job
    (a fresh runner: Debian packages, venv, cache restore) and the merge job
    runs last."""
    seconds, source = {}, {}
    for c in cells:
        if c.id in measured:
            seconds[c.id], source[c.id] = measured[c.id], "measured"
        else:
            key = c.estimate_key()
            if key not in m.estimates and c.kind not in m.estimates:
                raise UserError(f"{m.path} [estimates]: no '{key}' (nor '{c.kind}') for cell {c.id}")
            seconds[c.id], source[c.id] = m.estimates.get(key, m.estimates.get(c.kind)), "estimate"
    overhead = m.estimates.get("job", 0.0)
    merge = m.estimates.get("merge", 0.0) + overhead
    in_ci = {cid: s + overhead for cid, s in seconds.items()}
    counts = {k: sum(c.kind == k for c in cells) for k in KINDS}
    return {
        "cells": len(cells), "counts": counts,
        "measured": sum(v == "measured" for v in source.values()),
        "local_seconds": sum(seconds.values()),
        "job_overhead": overhead,
        "wall_seconds": {n: schedule(cells, in_ci, n) + merge for n in runners},
        "seconds": seconds, "source": source,
    }


def print_plan(got: dict) -> None:
    counts = ", ".join(f"{n} {k}" for k, n in got["counts"].items())
    print(f"{got['cells']} cells ({counts}) and the merge; {got['measured']} cell times measured, "
          "the others estimated (matrix.toml [estimates])")
    print(f"make matrix on one machine: {ui.duration(got['local_seconds'])}")
    for n, wall in got["wall_seconds"].items():
        print(f"CI on {n:>3} runner(s): {ui.duration(wall)} wall "
              f"(each job +{got['job_overhead']:.0f} s of runner setup)")


# ---------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "run", "cell", "plan"],
                   help="list the cells, run them here, run one cell (a CI job), or estimate wall time")
    p.add_argument("args", nargs="*", metavar="ARG", help="cell: the cell id")
    p.add_argument("--matrix", type=Path, default=None, help=f"the declaration (default {DECLARATION.name})")
    p.add_argument("--subset", default=None, help="a [subsets.NAME] of the declaration")
    p.add_argument("--cells", default=None, help="comma-separated globs of cell ids (their builds come along)")
    p.add_argument("--author", default=None, help="'Name <mail>' for rendered commits (default: git config)")
    p.add_argument("--runtime", default="auto", help="build runtime: auto, podman, docker or host")
    p.add_argument("--rounds", type=int, default=None, help="bench rounds (default: the declaration's)")
    p.add_argument("--runners", default="1,2,4,8,16", help="plan: comma-separated runner counts")
    p.add_argument("--measured", action="append", type=Path, default=[], metavar="PATH",
                   help="plan: results.json files or directories whose cells' times replace the estimates")
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                   help=f"cells write OUT/<cell>/results.json, the merge OUT/{MERGED_DIR} (default {DEFAULT_OUTPUT})")


# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: matrix list and plan only read matrix.toml; matrix run builds and boots, so it must run'


def run(args) -> int:
    if args.options.dry_run:
        raise UserError('patchkit matrix has no --dry-run: list and plan only read matrix.toml, run must run')
    m = load(args.matrix)
    cells = select(expand(m, args.subset), args.cells.split(",") if args.cells else None)
    if args.action == "list":
        for c in cells:
            extra = f" tests={','.join(c.tests)}" if c.tests else ""
            print(f"{c.id}\t{c.kind}{extra}")
        counts = ", ".join(f"{sum(c.kind == k for c in cells)} {k}" for k in KINDS)
        print(f"# {len(cells)} cells: {counts}")
        return 0
    if args.action == "cell":
        if len(args.args) != 1:
            raise UserError("patchkit matrix cell takes one cell id", hint="patchkit matrix list")
        by_id = all_cells(m)
        if args.args[0] not in by_id:
            raise UserError(f"no cell {args.args[0]!r} in {m.path}", hint="patchkit matrix list")
        status = run_cell(m, by_id[args.args[0]], args.output, author=args.author, runtime=args.runtime,
                          rounds=args.rounds)
        return 0 if status == "PASS" else 1
    if args.action == "plan":
        try:
            runners = [int(n) for n in args.runners.split(",")]
        except ValueError:
            raise UserError(f"--runners wants numbers like 1,2,4, not {args.runners!r}") from None
        got = plan(m, cells, measured_seconds(args.measured), runners)
        print_plan(got)
        return 0
    merged = run_cells(m, cells, args.output, author=args.author, runtime=args.runtime, rounds=args.rounds)
    return 0 if merged["status"] == "PASS" else 1
