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
