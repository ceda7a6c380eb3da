"""Results of a run: results.json, JUnit XML for CI, and the terminal table.

A run is a list of stages (tree, render, build, boot, ...) and the guest
tests of each boot.  Every stage and test has a status PASS / FAIL / SKIP /
ERROR; a stage after a failed one is SKIP, never silently run.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASS, FAIL, SKIP, ERROR = "PASS", "FAIL", "SKIP", "ERROR"


@dataclass
class StageResult:
    name: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    log: str | None = None
    data: dict = field(default_factory=dict)


@dataclass
class RunResult:
    command: str
    stages: list[StageResult] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)  # guest tests: name, status, seconds, figures, events, detail
    info: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        statuses = [s.status for s in self.stages] + [t["status"] for t in self.tests]
        if any(s in (FAIL, ERROR) for s in statuses):
            return FAIL
        return PASS

    def ok(self) -> bool:
        return self.status == PASS


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(result: RunResult, path: Path) -> Path:
    data = {"status": result.status, **to_jsonable(result)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def junit_xml(result: RunResult) -> str:
    cases = [("stage", s.name, s.status, s.seconds, s.detail) for s in result.stages]
    cases += [("guest", t["name"], t["status"], t.get("seconds", 0.0), t.get("detail", ""))
              for t in result.tests]
    suite = ET.Element(
        "testsuite",
        name=f"patchkit.{result.command}",
        tests=str(len(cases)),
        failures=str(sum(c[2] == FAIL for c in cases)),
        errors=str(sum(c[2] == ERROR for c in cases)),
        skipped=str(sum(c[2] == SKIP for c in cases)),
        time=f"{sum(c[3] for c in cases):.1f}",
    )
    for kind, name, status, seconds, detail in cases:
        case = ET.SubElement(suite, "testcase", classname=f"patchkit.{kind}", name=name,
                             time=f"{seconds:.1f}")
        if status == FAIL:
            ET.SubElement(case, "failure", message=(detail or "failed")[:200]).text = detail
        elif status == ERROR:
            ET.SubElement(case, "error", message=(detail or "error")[:200]).text = detail
        elif status == SKIP:
            ET.SubElement(case, "skipped", message=detail or "skipped")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode") + "\n"


def write_junit(result: RunResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(result))
    return path


def figures_text(figures: dict, limit: int = 4) -> str:
    items = list(figures.items())[:limit]
    return ", ".join(f"{k}={v}" for k, v in items)


def print_table(result: RunResult) -> None:
    from rich.console import Console
    from rich.table import Table

    colour = {PASS: "green", FAIL: "red", ERROR: "red", SKIP: "yellow"}
    table = Table(title=f"patchkit {result.command}: {result.status}")
    table.add_column("stage / test")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("detail")
    for s in result.stages:
        table.add_row(s.name, f"[{colour.get(s.status, 'white')}]{s.status}[/]",
                      f"{s.seconds:.1f}s", s.detail[:90])
    for t in result.tests:
        detail = t.get("detail") or figures_text(t.get("figures", {}))
        table.add_row("  " + t["name"], f"[{colour.get(t['status'], 'white')}]{t['status']}[/]",
                      f"{t.get('seconds', 0.0):.1f}s", detail[:90])
    Console(stderr=True).print(table)


# ---------------------------------------------------------------- many runs into one

MERGED_COMMAND = "report merge"


def load_result(path: Path) -> RunResult:
    """A RunResult back from a results.json (write_json's output)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        from patchkit.errors import UserError
        raise UserError(f"cannot read results {path}: {exc}") from exc
    if not isinstance(data, dict) or "stages" not in data or "command" not in data:
        from patchkit.errors import UserError
        raise UserError(f"{path} is not a patchkit results.json (no command/stages)")
    names = {f.name for f in dataclasses.fields(StageResult)}
    stages = [StageResult(**{k: v for k, v in s.items() if k in names}) for s in data["stages"]]
    return RunResult(command=data["command"], stages=stages, tests=list(data.get("tests", [])),
                     info=dict(data.get("info", {})))


def find_results(roots: list[Path], skip: Path | None = None) -> list[Path]:
    """Every results.json under roots (a file counts as itself), sorted, outside skip."""
    found = []
    for root in roots:
        root = Path(root)
        if root.is_file():
            found.append(root)
            continue
        if not root.is_dir():
            from patchkit.errors import UserError
            raise UserError(f"{root} is neither a results.json nor a directory")
        found += [p for p in root.rglob("results.json")
                  if not (skip and p.resolve().is_relative_to(skip.resolve()))]
    return sorted(set(found))


def result_seconds(data: dict) -> float:
    """Wall time of one run: its stages (the boot stage includes its tests)."""
    return round(sum(s.get("seconds", 0.0) for s in data.get("stages", [])), 1)


def cell_id(result: RunResult, path: Path) -> str:
    return result.info.get("cell", {}).get("id") or path.parent.name


def kernel_identity(info: dict) -> dict:
    """Which kernel a run built or booted: commit, config hash, release."""
    build = info.get("build") or {}
    return {"commit": build.get("commit"), "config_hash": (build.get("config") or {}).get("hash"),
            "kernelrelease": build.get("kernelrelease"), "commits": info.get("commits")}


def merge_results(results: list[tuple[str, RunResult]]) -> RunResult:
    """One RunResult of many: each run's stages and tests named '<cell>: <name>',
    info.cells the per-cell summary, and the fault matrix's comparison across
    cells (each kernel against the baseline of the same tree and config)."""
    from patchkit import faults

    merged = RunResult(command=MERGED_COMMAND, info={"cells": []})
    fault_rows: dict[tuple[str, str], list] = {}
    for cid, r in sorted(results, key=lambda x: x[0]):
        merged.stages += [dataclasses.replace(s, name=f"{cid}: {s.name}") for s in r.stages]
        merged.tests += [dict(t, name=f"{cid}: {t['name']}") for t in r.tests]
        counts = {st: sum(t["status"] == st for t in r.tests) for st in (PASS, FAIL, SKIP, ERROR)}
        merged.info["cells"].append({
            "id": cid, "status": r.status, "command": r.command,
            "cell": r.info.get("cell", {}), "seconds": round(sum(s.seconds for s in r.stages), 1),
            "stages": {s.name: s.status for s in r.stages}, "tests": counts,
            "kernel": kernel_identity(r.info),
            "failed": [s.name for s in r.stages if s.status in (FAIL, ERROR)]
                      + [t["name"] for t in r.tests if t["status"] in (FAIL, ERROR)],
        })
        if "faults" in r.info:
            tree = r.info.get("cell", {}).get("tree") or r.info.get("tree", {}).get("name", "")
            for row in faults.rows_from_json(r.info["faults"]):
                fault_rows.setdefault((tree, row.config), []).append(row)
    for (tree, config), rows in sorted(fault_rows.items()):
        stage = faults.compare_stage(rows)
        stage.name = f"faults:compare {tree} {config}".replace("  ", " ")
        merged.stages.append(stage)
    if fault_rows:
        merged.info["faults"] = {f"{t} {c}".strip(): faults.to_json(rows) for (t, c), rows in fault_rows.items()}
    return merged


def merged_junit(results: list[tuple[str, RunResult]], merged: RunResult) -> str:
    """<testsuites> with one testsuite per cell (named after it), and the merge's own checks."""
    root = ET.Element("testsuites", name="patchkit matrix")
    for cid, r in sorted(results, key=lambda x: x[0]):
        suite = ET.fromstring(junit_xml(r))
        suite.set("name", cid)
        root.append(suite)
    own = RunResult(command=MERGED_COMMAND, stages=[s for s in merged.stages if s.name.startswith("faults:compare")])
    if own.stages:
        root.append(ET.fromstring(junit_xml(own)))
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, 0)) for s in root)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def summary_rows(merged: RunResult) -> list[list[str]]:
    rows = []
    for c in merged.info["cells"]:
        t = c["tests"]
        rows.append([c["id"], c["status"], f"{t[PASS]}/{sum(t.values())}", f"{c['seconds']:.0f}s",
                     ", ".join(c["failed"])[:120] or "-"])
    for s in merged.stages:
        if s.name.startswith("faults:compare"):
            rows.append([s.name, s.status, "-", "-", s.detail[:120] or "-"])
    return rows


SUMMARY_HEAD = ["cell", "status", "tests passed", "time", "failed"]


def summary_markdown(merged: RunResult) -> str:
    lines = [f"# patchkit matrix: {merged.status} ({len(merged.info['cells'])} cells)", "",
             "| " + " | ".join(SUMMARY_HEAD) + " |", "|" + " --- |" * len(SUMMARY_HEAD)]
    lines += ["| " + " | ".join(r) + " |" for r in summary_rows(merged)]
    return "\n".join(lines) + "\n"


def print_summary(merged: RunResult) -> None:
    from rich.console import Console
    from rich.table import Table

    colour = {PASS: "green", FAIL: "red", ERROR: "red", SKIP: "yellow"}
    table = Table(title=f"patchkit matrix: {merged.status} ({len(merged.info['cells'])} cells)")
    for col in SUMMARY_HEAD:
        table.add_column(col, overflow="fold")
    for r in summary_rows(merged):
        table.add_row(r[0], f"[{colour.get(r[1], 'white')}]{r[1]}[/]", *r[2:])
    Console(stderr=True).print(table)


def merge(roots: list[Path], output: Path) -> dict:
    """patchkit report merge: every results.json under roots into output/
    results.json, junit.xml and summary.md; returns the merged results.json data."""
    output = Path(output)
    files = [p for p in find_results(roots, skip=output)]
    if not files:
        from patchkit.errors import UserError
        raise UserError(f"no results.json under {', '.join(str(r) for r in roots)}",
                        hint="each matrix cell writes OUT/<cell>/results.json: patchkit matrix cell ID -o OUT")
    results = []
    seen: dict[str, Path] = {}
    for path in files:
        r = load_result(path)
        if r.command == MERGED_COMMAND:
            continue  # an earlier merge lying among the cells
        cid = cell_id(r, path)
        if cid in seen:
            from patchkit.errors import UserError
            raise UserError(f"cell {cid} twice: {seen[cid]} and {path}")
        seen[cid] = path
        r.info["results_json"] = str(path)
        results.append((cid, r))
    merged = merge_results(results)
    write_json(merged, output / "results.json")
    (output / "junit.xml").write_text(merged_junit(results, merged))
    (output / "summary.md").write_text(summary_markdown(merged))
    print_summary(merged)
    return json.loads((output / "results.json").read_text())


def outcome(data: dict) -> dict:
    """What two runs of the same cells must agree on, timings and paths left
    out: each cell's status, its stages' and tests' statuses, and which kernel
    (commit, config hash) it built or booted."""
    found = {}
    for c in data.get("info", {}).get("cells", []):
        found[c["id"]] = {"status": c["status"], "stages": c["stages"], "kernel": c.get("kernel")}
    for s in data.get("stages", []):
        cid, _, name = s["name"].partition(": ")
        if cid in found:
            continue
        found[s["name"]] = {"status": s["status"]}
    for t in data.get("tests", []):
        cid, _, name = t["name"].partition(": ")
        found.setdefault(cid, {}).setdefault("tests", {})[name] = t["status"]
    return found


def outcome_differences(a: dict, b: dict) -> list[str]:
    """Every way two outcome() dicts differ, in words."""
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            diffs.append(f"{key}: only in the {'first' if key in a else 'second'}")
        elif a[key] != b[key]:
            diffs.append(f"{key}: {json.dumps(a[key], sort_keys=True)} != {json.dumps(b[key], sort_keys=True)}")
    return diffs


# ---------------------------------------------------------------- CLI


def add_arguments(p) -> None:
    p.add_argument("action", choices=["merge", "compare"],
                   help="merge: many runs' results.json into one; compare: two merged results.json "
                        "(exit 1 unless every cell, stage and test has the same status, timings aside)")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="merge: directories searched for results.json (or results.json files); "
                        "compare: two merged results.json")
    p.add_argument("-o", "--output", type=Path, default=Path("results/merged"),
                   help="merge: where results.json, junit.xml and summary.md go (default results/merged)")


def _read(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        from patchkit.errors import UserError
        raise UserError(f"cannot read results {path}: {exc}") from exc


def run(args) -> int:
    from patchkit import ui

    if args.action == "compare":
        if len(args.paths) != 2:
            from patchkit.errors import UserError
            raise UserError("patchkit report compare takes two merged results.json files")
        a, b = (outcome(_read(p)) for p in args.paths)
        for path, got in zip(args.paths, (a, b)):
            if not got:
                from patchkit.errors import UserError
                raise UserError(f"{path} has no cells to compare (a merged results.json: patchkit report merge)")
        diffs = outcome_differences(a, b)
        for d in diffs:
            ui.error(f"differs: {d}")
        if diffs:
            return 1
        ui.info("report", f"same outcome: {len(a)} cells and checks in {args.paths[0]} and {args.paths[1]}")
        return 0
    data = merge(args.paths, args.output)
    ui.info("report", f"{data['status']}: {len(data['info']['cells'])} cells merged into {args.output}")
    return 0 if data["status"] == PASS else 1
