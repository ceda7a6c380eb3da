import json
import xml.etree.ElementTree as ET

from patchkit import report
from patchkit.errors import UserError
from patchkit.report import FAIL, PASS, SKIP, RunResult, StageResult
from patchkit.validate import Pipeline


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
    root = ET.fromstring(report.junit_xml(r))
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


def test_pipeline_skips_every_stage_after_a_failure():
    r = RunResult("validate")
    pipe = Pipeline(r)
    ran = []

    def ok():
        ran.append("ok")
        return 1

    def bad():
        raise UserError("broken template")

    assert pipe.stage("a", ok) == 1
    assert pipe.stage("b", bad) is None
    assert pipe.stage("c", ok) is None
    assert ran == ["ok"]
    assert [(s.name, s.status) for s in r.stages] == [("a", PASS), ("b", FAIL), ("c", SKIP)]
    assert "broken template" in r.stages[1].detail


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
