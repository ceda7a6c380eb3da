import json

import pytest
import xml.etree.ElementTree as ET

from patchkit import report
from patchkit.errors import UserError
from patchkit.report import FAIL, PASS, SKIP, RunResult, StageResult


def test_run_fails_when_any_guest_test_fails():
    r = RunResult("validate", [StageResult("build", PASS)],
                  tests=[{"name": "hog", "status": FAIL}, {"name": "swapoff", "status": PASS}])
    assert r.status == FAIL
    assert not r.ok()


def test_run_passes_with_skipped_stages_only_when_nothing_failed():
    r = RunResult("validate", [StageResult("build", PASS), StageResult("extra", SKIP)])
    assert r.status == PASS


def test_junit_counts_failures_skips_and_carries_detail(tmp_path):
    r = RunResult("validate", [StageResult("build", FAIL, 3.0, "mm/page_io.c:12: error"),
                               StageResult("boot", SKIP, detail="build failed")],
                  tests=[{"name": "hog", "status": PASS, "seconds": 1.5}])
    root = ET.fromstring(report.junit_xml(r)).find("testsuite")
    assert root.get("tests") == "3"
    assert root.get("failures") == "1"
    assert root.get("skipped") == "1"
    failure = root.find("testcase[@name='build']/failure")
    assert failure is not None and "mm/page_io.c:12" in failure.text
    assert root.find("testcase[@name='hog']").get("classname") == "patchkit.guest"


def test_results_json_holds_status_and_stages(tmp_path):
    r = RunResult("validate", [StageResult("tree", PASS, 1.0)], info={"series": "x"})
    path = report.write_json(r, tmp_path / "out" / "results.json")
    data = json.loads(path.read_text())
    assert data["status"] == PASS
    assert data["stages"][0]["name"] == "tree"
    assert data["info"]["series"] == "x"


def test_validate_fails_when_the_guest_dies_after_every_test_passed(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from patchkit import boot, build, tree, validate

    t = SimpleNamespace(name="linux-source-6.12", version="6.12.117", base_commit="b" * 40,
                        manifest=None, path=tmp_path / "checkout")
    monkeypatch.setattr(tree, "open_tree", lambda spec: t)
    monkeypatch.setattr(build, "build", lambda source, **kw: SimpleNamespace(
        kernel=tmp_path / "bzImage", modules_dir=None, metadata={"runtime": "host"},
        build_dir=tmp_path / "build"))
    hog = boot.TestResult("hog", PASS, 1.0, {}, [], "")
    monkeypatch.setattr(boot, "boot", lambda kernel, **kw: SimpleNamespace(
        status=FAIL, detail="Kernel panic after the last test", tests=[hog], events=[],
        accel="tcg", qemu_version="7.2", console_log=tmp_path / "console.log", seconds=2.0))
    r = validate.validate(series=None, tree_spec=None, config="minimal", fragments=[], modules=False,
                          runtime="host", tests=None, timeout=60, output=tmp_path / "out")
    assert r.status == FAIL
    assert r.stages[-1].name == "boot" and r.stages[-1].status == FAIL
    assert "Kernel panic" in r.stages[-1].detail
    assert json.loads((tmp_path / "out" / "results.json").read_text())["status"] == FAIL
    report.load_results(tmp_path / "out")       # what validate writes follows the schema


# ---------------------------------------------------------------- issue 19: records others read

def _run(tmp_path, guest_status=FAIL):
    log = tmp_path / "build.log"
    log.write_text("# reproduce: patchkit build\n" + "".join(f"  CC      x{i}.o\n" for i in range(60)))
    r = RunResult("validate", [StageResult("tree", PASS, 0.5), StageResult("render", PASS, 7.0),
                               StageResult("build", PASS, 300.0, log=str(log)),
                               StageResult("boot", FAIL, 90.0, "guest ended FAIL: failed: hog")],
                  tests=[{"name": "zram-setup", "status": PASS, "seconds": 1.2,
                          "figures": {"zram.disksize": 268435456, "algorithm": "lzo-rle"}, "events": [],
                          "detail": "", "excerpt": ""},
                         {"name": "hog", "status": guest_status, "seconds": 30.0, "figures": {},
                          "events": [{"kind": "oops", "text": "Oops: 0000", "line": 812, "test": "hog",
                                      "victim": None, "allowed": False}],
                          "detail": "kernel oops: Oops: 0000",
                          "excerpt": "@@patchkit test-start hog\n[ 12.1] Oops: 0000 [#1] SMP\n[ 12.2] RIP: zram_read"}],
                  info={"series": "zram-swap-ops", "config": "minimal", "series_tip": "a" * 40,
                        "tree": {"name": "linux-source-6.12", "version": "6.12.57", "base_commit": "b" * 40},
                        "build": {"build": {"reproducer_cmdline": ["patchkit", "build", "/k"], "runtime": "podman"},
                                  "results": {"status": "PASS", "targets": {"kernel": {"status": "PASS",
                                                                                       "duration": 300.0}},
                                              "errors": 0, "warnings": 2},
                                  "compiler": {"version_full": "gcc (Debian 12.2.0-14) 12.2.0"}},
                        "boot": {"accel": "tcg", "qemu_version": "7.2.15", "console_log": str(tmp_path / "c.log"),
                                 "seconds": 90.0, "events": []}})
    return r


def test_results_json_has_a_format_version_and_validates_against_the_committed_schema(tmp_path):
    path = report.write_json(_run(tmp_path), tmp_path / "results.json")
    data = json.loads(path.read_text())
    assert (data["format"], data["format_version"]) == ("patchkit-results", 1)
    assert data["started"] and data["finished"]
    assert report.SCHEMA.is_file() and report.SCHEMA.parent.name == "schemas"
    report.validate_results(data)
    assert report.load_results(tmp_path) == data          # the folder works as well as the file


def test_a_results_json_that_breaks_the_schema_is_named_where(tmp_path):
    data = json.loads(report.write_json(_run(tmp_path), tmp_path / "results.json").read_text())
    data["tests"][1]["status"] = "BROKEN"
    with pytest.raises(UserError, match=r"results.json: tests/1/status: 'BROKEN' is not one of"):
        report.validate_results(data)
    del data["format_version"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="no format_version: written by an older patchkit"):
        report.load_results(tmp_path / "old.json")


def test_junit_has_a_declaration_timestamp_and_the_excerpt_of_a_failing_test(tmp_path):
    text = report.junit_xml(_run(tmp_path))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')
    root = ET.fromstring(text.split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite.get("timestamp") and "T" in suite.get("timestamp") and suite.get("hostname")
    assert (suite.get("tests"), suite.get("failures")) == ("6", "2")
    hog = suite.find("testcase[@name='hog']")
    assert hog.find("failure").get("message") == "kernel oops: Oops: 0000"
    assert "RIP: zram_read" in hog.find("system-out").text
    assert suite.find("testcase[@name='zram-setup']/failure") is None
    assert suite.find("testcase[@name='zram-setup']/system-out") is None


def test_junit_of_a_failed_stage_carries_the_tail_of_its_log(tmp_path):
    log = tmp_path / "b.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "mm/x.c:1:1: error: boom\n")
    r = RunResult("validate", [StageResult("build", FAIL, 3.0, "make failed", log=str(log))])
    case = ET.fromstring(report.junit_xml(r).split("\n", 1)[1]).find("testsuite/testcase[@name='build']")
    out = case.find("system-out").text.splitlines()
    assert out[-1] == "mm/x.c:1:1: error: boom" and len(out) == report.EXCERPT_LINES


def test_kcidb_export_validates_with_kcidb_io_and_links_checkout_build_tests(tmp_path):
    pytest.importorskip("kcidb_io")
    data = json.loads(report.write_json(_run(tmp_path), tmp_path / "results.json").read_text())
    out = report.kcidb_data(data)
    report.validate_kcidb(out)
    (checkout,), (build,) = out["checkouts"], out["builds"]
    assert checkout["id"].startswith("patchkit:") and checkout["git_commit_hash"] == "b" * 40
    assert checkout["tree_name"] == "linux-source-6.12" and checkout["valid"] is True
    assert build["checkout_id"] == checkout["id"] and build["status"] == PASS
    assert build["command"] == "patchkit build /k" and build["compiler"].startswith("gcc (Debian 12")
    assert [t["path"] for t in out["tests"]] == ["patchkit.guest.zram-setup", "patchkit.guest.hog"]
    assert all(t["build_id"] == build["id"] for t in out["tests"])
    hog = out["tests"][1]
    assert hog["status"] == FAIL and "RIP: zram_read" in hog["log_excerpt"]
    assert out["tests"][0]["misc"]["figures"]["algorithm"] == "lzo-rle"
    assert report.kcidb_data(data) == out                  # same run, same ids
    # the validator is real: a broken export is refused
    out["tests"][0]["status"] = "GREEN"
    with pytest.raises(UserError, match="does not validate"):
        report.validate_kcidb(out)


def test_report_command_exports_kcidb_and_junit(tmp_path, capsys):
    pytest.importorskip("kcidb_io")
    from patchkit import cli

    report.write_json(_run(tmp_path, guest_status=PASS), tmp_path / "results.json")
    assert cli.main(["report", "--kcidb", str(tmp_path / "results.json"), "-o", str(tmp_path / "k.json"),
                     "--junit", str(tmp_path / "j.xml")]) == 0
    assert json.loads((tmp_path / "k.json").read_text())["version"] == {"major": 5, "minor": 3}
    assert (tmp_path / "j.xml").read_text().startswith("<?xml")
    assert cli.main(["report", "--kcidb", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_kcidb_export_of_check_results_has_a_build_per_patch_with_its_tests(tmp_path):
    pytest.importorskip("kcidb_io")
    stages = []
    for label in ("0001-swap-io-ctx", "0002-block-swap-iocb"):
        stages += [StageResult(f"{label}: checkpatch", PASS, 2.0, "0 errors"),
                   StageResult(f"{label}: build", PASS if label.startswith("0001") else FAIL, 60.0,
                               "make failed at mm/page_io.c:9"),
                   StageResult(f"{label}: boot", PASS if label.startswith("0001") else SKIP, 30.0)]
    r = RunResult("check", stages, info={"series": "swap-batching",
                                         "tree": {"name": "linux-source-6.12", "version": "6.12.57",
                                                  "base_commit": "c" * 40}})
    data = json.loads(report.write_json(r, tmp_path / "results.json").read_text())
    out = report.kcidb_data(data)
    report.validate_kcidb(out)
    assert [b["status"] for b in out["builds"]] == [PASS, FAIL]
    assert out["builds"][1]["log_excerpt"] == "make failed at mm/page_io.c:9"
    assert [(t["path"], t["status"]) for t in out["tests"]] == [
        ("patchkit.checkpatch", PASS), ("patchkit.boot", PASS), ("patchkit.checkpatch", PASS), ("patchkit.boot", SKIP)]
    assert out["tests"][2]["build_id"] == out["builds"][1]["id"]


def test_the_fault_matrix_results_follow_the_schema_too(tmp_path):
    """validate --faults writes tests whose events are 'kind: text' lines."""
    r = RunResult("validate --faults", [StageResult("faults:series", PASS, 100.0)],
                  tests=[{"name": "fault-zram-full [series]", "status": FAIL, "seconds": 12.0,
                          "figures": {"pages": 10, "errors": 2}, "events": ["oops: Oops: 0000"],
                          "detail": "kernel oops"}],
                  info={"series": "zram-swap-ops", "config": "minimal", "kernels": ["series"],
                        "faults": [{"fault": "fault-zram-full", "kernel": "series"}]})
    report.load_results(report.write_json(r, tmp_path / "results.json"))
