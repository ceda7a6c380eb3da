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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from patchkit.errors import InfraError, UserError

PASS, FAIL, SKIP, ERROR = "PASS", "FAIL", "SKIP", "ERROR"

FORMAT = "patchkit-results"
FORMAT_VERSION = 1
SCHEMA = Path(__file__).resolve().parent / "schemas" / "results.schema.json"
EXCERPT_LINES = 40
KCIDB_VERSION = {"major": 5, "minor": 3}
ORIGIN = "patchkit"


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


# ------------------------------------------------------------------ CLI

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: report only reads RESULTS and writes what you ask for'


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", type=Path, metavar="RESULTS",
                   help="a results.json (or the -o folder holding it) of validate, check or faults")
    p.add_argument("--kcidb", action="store_true",
                   help="export the run (checkout, builds, tests) as KCIDB data, checked with kcidb-io")
    p.add_argument("--origin", default=ORIGIN, help=f"KCIDB origin: the CI system's name (default {ORIGIN})")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write the run as JUnit XML to FILE")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="with --kcidb: write the JSON to FILE (default: standard output)")


def run(args) -> int:
    from patchkit import proc

    if proc.DRY_RUN:
        raise UserError("patchkit report has no --dry-run: it only reads RESULTS and writes what you ask for")
    data = load_results(args.results)
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
    return 0 if data["status"] == PASS else 1
