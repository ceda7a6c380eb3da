"""Results of a run: results.json, JUnit XML for CI, KCIDB, the terminal table.

A run is a list of stages (tree, render, build, boot, ...) and the guest
tests of each boot.  Every stage and test has a status PASS / FAIL / SKIP /
ERROR; a stage after a failed one is SKIP, never silently run.

results.json carries "format": "patchkit-results" and a "format_version";
its JSON Schema is patchkit/schemas/results.schema.json (validate_results()).
`patchkit report RESULTS` checks a results.json against it and prints it;
`--kcidb` exports the run (checkout, builds, tests) as KCIDB data, checked
with the kcidb-io package; `--junit FILE` writes JUnit XML again.  The
functions below (load_results, validate_results, junit_xml, kcidb_data,
validate_kcidb) work on the plain dicts, so other commands (report merge)
reuse them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchkit.errors import InfraError, UserError
# the status vocabulary and the stage record are the pipeline's (one place)
from patchkit.pipeline import ERROR, FAIL, PASS, SKIP, StageResult, now  # noqa: F401 (re-exported)


FORMAT = "patchkit-results"
FORMAT_VERSION = 1
SCHEMA = Path(__file__).resolve().parent / "schemas" / "results.schema.json"
EXCERPT_LINES = 40
KCIDB_VERSION = {"major": 5, "minor": 3}
ORIGIN = "patchkit"


@dataclass
class RunResult:
    command: str
    stages: list[StageResult] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)  # guest tests: name, status, seconds, figures, events, detail
    info: dict = field(default_factory=dict)
    started: str = field(default_factory=now)
    finished: str | None = None

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


def results_dict(result: RunResult) -> dict:
    """results.json's content for a run."""
    data = to_jsonable(result)
    data["finished"] = result.finished or now()
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "status": result.status, **data}


def write_json(result: RunResult, path: Path) -> Path:
    data = results_dict(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def schema() -> dict:
    return json.loads(SCHEMA.read_text())


def validate_results(data: dict, where: str = "results.json") -> None:
    """A UserError naming the first place data breaks the results schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        at = "/".join(str(x) for x in e.absolute_path) or "(top level)"
        raise UserError(f"{where}: {at}: {e.message}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                        hint=f"the schema: {SCHEMA}")


def load_results(path: Path) -> dict:
    """A results.json, checked against the schema."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}",
                        hint="give a results.json (or the -o folder of patchkit validate/check)") from None
    except ValueError as exc:
        raise UserError(f"{path} is not JSON: {exc}") from None
    if isinstance(data, dict) and "format_version" not in data and "stages" in data:
        raise UserError(f"{path} has no format_version: written by an older patchkit",
                        hint="run the command again to write a results.json of this version")
    validate_results(data, str(path))
    return data


def _log_tail(path: str | None, lines: int = EXCERPT_LINES) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip("\n")
    except OSError:
        return ""


def junit_xml(result: RunResult | dict) -> str:
    """JUnit XML (with its declaration) of a run or a results.json dict: one
    testsuite, a testcase per stage and guest test; a failing one carries
    its detail and the excerpt of its log (stage log tail, test console)."""
    data = results_dict(result) if isinstance(result, RunResult) else result
    cases = [("stage", s["name"], s["status"], s.get("seconds", 0.0), s.get("detail", ""),
              _log_tail(s.get("log")) if s["status"] in (FAIL, ERROR) else "")
             for s in data["stages"]]
    cases += [("guest", t["name"], t["status"], t.get("seconds", 0.0), t.get("detail", ""),
               t.get("excerpt", "")) for t in data["tests"]]
    suites = ET.Element("testsuites", name=f"patchkit {data['command']}", tests=str(len(cases)),
                        failures=str(sum(c[2] == FAIL for c in cases)),
                        errors=str(sum(c[2] == ERROR for c in cases)),
                        time=f"{sum(c[3] for c in cases):.1f}")
    suite = ET.SubElement(
        suites, "testsuite",
        name=f"patchkit.{data['command']}",
        tests=str(len(cases)),
        failures=str(sum(c[2] == FAIL for c in cases)),
        errors=str(sum(c[2] == ERROR for c in cases)),
        skipped=str(sum(c[2] == SKIP for c in cases)),
        time=f"{sum(c[3] for c in cases):.1f}",
        timestamp=(data.get("started") or now())[:19],   # JUnit: ISO 8601 without a zone
        hostname=socket.gethostname(),
    )
    props = ET.SubElement(suite, "properties")
    for key in ("series", "config"):
        if key in data.get("info", {}):
            ET.SubElement(props, "property", name=key, value=str(data["info"][key]))
    for kind, name, status, seconds, detail, excerpt in cases:
        case = ET.SubElement(suite, "testcase", classname=f"patchkit.{kind}", name=name,
                             time=f"{seconds:.1f}")
        if status in (FAIL, ERROR):
            tag = "failure" if status == FAIL else "error"
            first = (detail or status.lower()).splitlines()[0][:200]
            ET.SubElement(case, tag, message=first, type=status).text = detail or None
            if excerpt:
                ET.SubElement(case, "system-out").text = excerpt
        elif status == SKIP:
            ET.SubElement(case, "skipped", message=detail or "skipped")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(result: RunResult | dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(result))
    return path


# ------------------------------------------------------------------ KCIDB

def _kcidb_id(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _path_part(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", name).strip("_") or "unnamed"


def _file_url(path: str | None) -> str | None:
    return Path(path).resolve().as_uri() if path else None


def kcidb_data(results: dict, origin: str = ORIGIN) -> dict:
    """A patchkit run (a results.json dict) as KCIDB I/O data: one checkout
    (the tree's base commit plus the series), one build per build stage,
    one test per guest test (and per checkpatch / boot stage of `check`).
    Ids are origin-prefixed hashes of what identifies the object, so the same
    run exports the same ids."""
    info = results.get("info", {})
    tree = info.get("tree") or {}
    series = info.get("series", "none")
    base = tree.get("base_commit") or ""
    tip = info.get("series_tip") or base
    checkout_id = f"{origin}:" + _kcidb_id(base, series, tip)
    stages = {s["name"]: s for s in results.get("stages", [])}
    before_build = [s for s in results.get("stages", []) if s["name"] in ("tree", "render", "checkout")]
    checkout = {
        "id": checkout_id, "origin": origin,
        "comment": f"{series} on {tree.get('name', 'a tree')}",
        "valid": all(s["status"] == PASS for s in before_build) if before_build else True,
    }
    if tree.get("name"):
        checkout["tree_name"] = tree["name"]
    if re.fullmatch(r"[0-9a-f]{40}", base):
        checkout["git_commit_hash"] = base
    if tree.get("version"):
        checkout["git_commit_name"] = str(tree["version"])
    if results.get("started"):
        checkout["start_time"] = results["started"]
    checkout["misc"] = {"series": series, "series_tip": tip, "patchkit_command": results.get("command", "")}

    meta = info.get("build") or {}
    builds, tests = [], []
    build_stages = [s for s in results.get("stages", []) if s["name"] == "build" or s["name"].endswith(": build")]
    for s in build_stages:
        label = s["name"][: -len(": build")] if s["name"].endswith(": build") else ""
        build_id = f"{checkout_id}-" + _kcidb_id(s["name"], info.get("config", ""))
        b = {"id": build_id, "origin": origin, "checkout_id": checkout_id,
             "architecture": "x86_64", "duration": float(s.get("seconds", 0.0)),
             "status": s["status"] if s["status"] in (PASS, FAIL, ERROR, SKIP) else ERROR,
             "config_name": info.get("config", "minimal")}
        if label:
            b["comment"] = f"patch {label}"
        if s.get("log"):
            b["log_url"] = _file_url(s["log"])
        if s["status"] in (FAIL, ERROR):
            b["log_excerpt"] = (s.get("detail") or "")[-16000:] or _log_tail(s.get("log"))
        if meta and not label:
            cmd = (meta.get("build") or {}).get("reproducer_cmdline")
            if cmd:
                import shlex
                b["command"] = shlex.join(cmd)
            comp = (meta.get("compiler") or {}).get("version_full")
            if comp:
                b["compiler"] = comp
            res = meta.get("results") or {}
            b["misc"] = {"warnings": res.get("warnings", 0), "errors": res.get("errors", 0),
                         "runtime": (meta.get("build") or {}).get("runtime", "")}
        builds.append(b)
        # stages of `check` that test this patch's build
        for kind in ("checkpatch", "boot"):
            t = stages.get(f"{label}: {kind}") if label else None
            if t is not None:
                tests.append(_kcidb_test(build_id, origin, f"patchkit.{kind}", t["status"],
                                         t.get("seconds", 0.0), t.get("detail", ""), _log_tail(t.get("log"))))
    if not label_only_builds(build_stages) and build_stages:
        build_id = builds[0]["id"]
        boot = info.get("boot") or {}
        for t in results.get("tests", []):
            test = _kcidb_test(build_id, origin, "patchkit.guest." + _path_part(t["name"]), t["status"],
                               t.get("seconds", 0.0), t.get("detail", ""), t.get("excerpt", ""),
                               log=boot.get("console_log"))
            if boot.get("accel"):
                test["environment"] = {"comment": f"QEMU {boot.get('qemu_version', '')} ({boot['accel']})",
                                       "misc": {"accel": boot["accel"]}}
            figures = {k: v for k, v in (t.get("figures") or {}).items()}
            if figures:
                test["misc"] = {"figures": figures}
            tests.append(test)
    return {"version": dict(KCIDB_VERSION), "checkouts": [checkout], "builds": builds, "tests": tests}


def label_only_builds(build_stages) -> bool:
    """True for `check` results (one build per patch, no suite-wide guest tests)."""
    return bool(build_stages) and all(s["name"].endswith(": build") for s in build_stages)


def _kcidb_test(build_id: str, origin: str, path: str, status: str, seconds: float, detail: str,
                excerpt: str, log: str | None = None) -> dict:
    t = {"id": f"{build_id}-" + _kcidb_id(path), "origin": origin, "build_id": build_id, "path": path,
         "status": status if status in (PASS, FAIL, ERROR, SKIP) else ERROR,
         "duration": float(seconds or 0.0)}
    if detail:
        t["comment"] = detail.splitlines()[0][:500]
    if excerpt and status in (FAIL, ERROR):
        t["log_excerpt"] = excerpt[-16000:]
    if log:
        t["log_url"] = _file_url(log)
    return t


def validate_kcidb(data: dict) -> None:
    """Check data against KCIDB's I/O schema with the kcidb-io package."""
    try:
        from kcidb_io import schema as kcidb_schema
    except ImportError as exc:
        raise InfraError("the kcidb-io package is not installed: cannot check the KCIDB export",
                         hint="pip install kcidb-io   (or: make venv)") from exc
    version = next((v for v in kcidb_schema.LATEST.history
                    if (v.major, v.minor) == (data["version"]["major"], data["version"]["minor"])), None)
    if version is None:
        raise InfraError(f"kcidb-io knows no schema v{data['version']['major']}.{data['version']['minor']}",
                         hint="pip install -U kcidb-io")
    try:
        version.validate_exactly(data)
    except Exception as exc:   # jsonschema.ValidationError, with the path inside
        raise UserError(f"the KCIDB export does not validate: {str(exc).splitlines()[0]}") from None


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
    own = build.get("patchkit") or {}
    return {"commit": (build.get("git") or {}).get("git_commit"),
            "config_hash": (own.get("config") or {}).get("hash"),
            "kernelrelease": own.get("kernelrelease"), "commits": info.get("commits")}


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
        suite = ET.fromstring(junit_xml(r).split("\n", 1)[1]).find("testsuite")
        suite.set("name", cid)
        root.append(suite)
    own = RunResult(command=MERGED_COMMAND, stages=[s for s in merged.stages if s.name.startswith("faults:compare")])
    if own.stages:
        root.append(ET.fromstring(junit_xml(own).split("\n", 1)[1]).find("testsuite"))
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, 0)) for s in root)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


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



def _read(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        from patchkit.errors import UserError
        raise UserError(f"cannot read results {path}: {exc}") from exc


# ------------------------------------------------------------------ CLI

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: report only reads RESULTS and writes what you ask for'


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", type=Path, nargs="+", metavar="RESULTS",
                   help="a results.json (or the -o folder holding it) of validate, check or faults; "
                        "or 'merge DIR...' (many runs' results.json into one results.json, junit.xml "
                        "and summary.md under -o, default results/merged); or 'compare A B' (two merged "
                        "results.json: exit 1 unless every cell, stage and test has the same status)")
    p.add_argument("--kcidb", action="store_true",
                   help="export the run (checkout, builds, tests) as KCIDB data, checked with kcidb-io")
    p.add_argument("--origin", default=ORIGIN, help=f"KCIDB origin: the CI system's name (default {ORIGIN})")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write the run as JUnit XML to FILE")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="with --kcidb: write the JSON to FILE (default: standard output); "
                        "with merge: the output folder (default results/merged)")


def run(args) -> int:
    if args.options.dry_run:
        raise UserError("patchkit report has no --dry-run: it only reads RESULTS and writes what you ask for")
    action = str(args.results[0])
    if action in ("merge", "compare"):
        return run_many(action, args.results[1:], args.output)
    if len(args.results) != 1:
        raise UserError(f"patchkit report takes one RESULTS, not {len(args.results)}",
                        hint="patchkit report merge DIR... merges many")
    data = load_results(args.results[0])
    if args.junit:
        write_junit(data, args.junit)
    if args.kcidb:
        if not re.fullmatch(r"[a-z0-9_]+", args.origin):
            raise UserError(f"--origin {args.origin!r}: KCIDB origins are lower-case letters, digits and _")
        out = kcidb_data(data, args.origin)
        validate_kcidb(out)
        text = json.dumps(out, indent=2, sort_keys=True) + "\n"
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text)
        else:
            print(text, end="")
        return 0
    if not args.junit:
        print_table(RunResult(data["command"], [StageResult(**{k: v for k, v in s.items()
                                                                if k in StageResult.__dataclass_fields__})
                                                for s in data["stages"]],
                              tests=data["tests"], info=data["info"]))
    return 0


def run_many(action: str, paths: list[Path], output: Path | None) -> int:
    """patchkit report merge DIR... / report compare A B."""
    from patchkit import ui

    if action == "compare":
        if len(paths) != 2:
            raise UserError("patchkit report compare takes two merged results.json files")
        a, b = (outcome(_read(p)) for p in paths)
        for path, got in zip(paths, (a, b)):
            if not got:
                raise UserError(f"{path} has no cells to compare (a merged results.json: patchkit report merge)")
        diffs = outcome_differences(a, b)
        for d in diffs:
            ui.error(f"differs: {d}")
        if diffs:
            return 1
        ui.info("report", f"same outcome: {len(a)} cells and checks in {paths[0]} and {paths[1]}")
        return 0
    if not paths:
        raise UserError("patchkit report merge needs at least one directory or results.json")
    output = output or Path("results/merged")
    data = merge(paths, output)
    ui.info("report", f"{data['status']}: {len(data['info']['cells'])} cells merged into {output}")
    return 0 if data["status"] == PASS else 1
