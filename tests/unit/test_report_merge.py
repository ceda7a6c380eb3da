"""patchkit report merge / compare: many cells' results.json into one report."""

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from patchkit import build, cli, faults, report
from patchkit.errors import UserError
from patchkit.report import FAIL, PASS, SKIP, RunResult, StageResult


def cell_result(cid, kind="test", tests=(("hog", PASS),), build_status=PASS, seconds=10.0, commit="c0ffee"):
    stages = [StageResult("tree", PASS, 1.0), StageResult("build", build_status, seconds)]
    if kind == "test":
        stages.append(StageResult("boot", PASS, seconds))
    return RunResult("validate", stages,
                     tests=[{"name": n, "status": s, "seconds": seconds} for n, s in tests],
                     info={"cell": {"id": cid, "kind": kind, "tree": "linux-source-6.12"},
                           "build": {"git": {"git_commit": commit},
                                     "patchkit": {"config": {"hash": "h1"}, "kernelrelease": "6.12.117"}}})


def write_cells(root, results):
    for r in results:
        report.write_json(r, root / r.info["cell"]["id"] / "results.json")


def test_merge_names_every_stage_and_test_by_cell_and_fails_when_one_does(tmp_path):
    write_cells(tmp_path / "cells", [
        cell_result("build-a", kind="build", tests=()),
        cell_result("test-a-smoke", tests=(("zram-setup", PASS), ("hog", FAIL))),
        cell_result("test-b-smoke"),
    ])
    data = report.merge([tmp_path / "cells"], tmp_path / "merged")
    assert data["status"] == FAIL
    assert [c["id"] for c in data["info"]["cells"]] == ["build-a", "test-a-smoke", "test-b-smoke"]
    cells = {c["id"]: c for c in data["info"]["cells"]}
    assert cells["test-a-smoke"]["failed"] == ["hog"]
    assert cells["test-b-smoke"]["status"] == PASS and cells["test-b-smoke"]["tests"][PASS] == 1
    assert "test-a-smoke: hog" in {t["name"] for t in data["tests"]}
    assert "build-a: build" in {s["name"] for s in data["stages"]}
    suites = ET.parse(tmp_path / "merged" / "junit.xml").getroot()
    assert [s.get("name") for s in suites] == ["build-a", "test-a-smoke", "test-b-smoke"]
    assert suites.get("failures") == "1"
    summary = (tmp_path / "merged" / "summary.md").read_text()
    assert "| test-a-smoke | FAIL | 1/2 |" in summary


def test_merge_compares_fault_rows_of_separate_kernel_cells(tmp_path):
    """Fault cells run one kernel each; the merge compares them with the baseline."""
    def fault_cell(kernel, status):
        row = faults.FaultRow("fault-alloc", kernel, "minimal", status, pages=10, lost=0, corrupted=0)
        return RunResult("validate --faults", [StageResult(f"faults:{kernel}", PASS)],
                         info={"cell": {"id": f"faults-6.12-{kernel}-minimal", "kind": "faults",
                                        "tree": "linux-source-6.12"},
                               "faults": faults.to_json([row])})
    write_cells(tmp_path, [fault_cell("baseline", PASS), fault_cell("series", FAIL)])
    data = report.merge([tmp_path], tmp_path / "merged")
    compare = [s for s in data["stages"] if s["name"].startswith("faults:compare")]
    assert [(s["name"], s["status"]) for s in compare] == [("faults:compare linux-source-6.12 minimal", FAIL)]
    assert "fault-alloc (minimal) on series: FAIL where the baseline passes" in compare[0]["detail"]


def test_merge_refuses_a_cell_twice_and_an_empty_tree(tmp_path):
    write_cells(tmp_path / "a", [cell_result("test-x")])
    write_cells(tmp_path / "b", [cell_result("test-x")])
    with pytest.raises(UserError, match="cell test-x twice"):
        report.merge([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no results.json under"):
        report.merge([tmp_path / "empty"], tmp_path / "merged")


def test_merge_leaves_out_its_own_earlier_output(tmp_path):
    write_cells(tmp_path, [cell_result("test-x")])
    report.merge([tmp_path], tmp_path / "merged")
    data = report.merge([tmp_path], tmp_path / "merged")
    assert [c["id"] for c in data["info"]["cells"]] == ["test-x"]


def test_compare_ignores_timings_but_not_statuses_or_kernels(tmp_path):
    write_cells(tmp_path / "one", [cell_result("test-x", seconds=10.0)])
    write_cells(tmp_path / "two", [cell_result("test-x", seconds=99.0)])
    write_cells(tmp_path / "three", [cell_result("test-x", tests=(("hog", FAIL),))])
    write_cells(tmp_path / "four", [cell_result("test-x", commit="beef")])
    merged = {}
    for name in ("one", "two", "three", "four"):
        report.merge([tmp_path / name], tmp_path / f"m-{name}")
        merged[name] = str(tmp_path / f"m-{name}" / "results.json")
    assert cli.main(["report", "compare", merged["one"], merged["two"]]) == 0
    assert cli.main(["report", "compare", merged["one"], merged["three"]]) == 1
    a, c = (report.outcome(json.loads(open(merged[n]).read())) for n in ("one", "three"))
    assert report.outcome_differences(a, c) == [
        'test-x: {"kernel": {"commit": "c0ffee", "commits": null, "config_hash": "h1", "kernelrelease": "6.12.117"}, '
        '"stages": {"boot": "PASS", "build": "PASS", "tree": "PASS"}, "status": "PASS", "tests": {"hog": "PASS"}} != '
        '{"kernel": {"commit": "c0ffee", "commits": null, "config_hash": "h1", "kernelrelease": "6.12.117"}, '
        '"stages": {"boot": "PASS", "build": "PASS", "tree": "PASS"}, "status": "FAIL", "tests": {"hog": "FAIL"}}']
    assert cli.main(["report", "compare", merged["one"], merged["four"]]) == 1


def test_compare_refuses_a_report_without_cells(tmp_path):
    empty = tmp_path / "r.json"
    report.write_json(RunResult("report merge", info={"cells": []}), empty)
    assert cli.main(["report", "compare", str(empty), str(empty)]) == 2


def test_cli_merge_exit_status_follows_the_cells(tmp_path):
    write_cells(tmp_path / "ok", [cell_result("test-x")])
    assert cli.main(["report", "merge", str(tmp_path / "ok"), "-o", str(tmp_path / "m1")]) == 0
    write_cells(tmp_path / "bad", [cell_result("build-x", kind="build", tests=(), build_status=FAIL)])
    assert cli.main(["report", "merge", str(tmp_path / "bad"), "-o", str(tmp_path / "m2")]) == 1


def kernel_tree(path):
    path.mkdir()
    (path / "Makefile").write_text("all:\n")
    (path / "Kconfig").write_text("")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(path), "PATH": "/usr/bin:/bin"}
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(path), *argv], check=True, env=env)
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def exported_kernel(tmp_path, commit, config="minimal", name="artifact"):
    bdir = tmp_path / f"build-{name}"
    (bdir / "arch/x86/boot").mkdir(parents=True)
    (bdir / "arch/x86/boot/bzImage").write_bytes(b"kernel")
    (bdir / ".config").write_text("CONFIG_ZRAM=y\n")
    (bdir / "modules-install/lib/modules").mkdir(parents=True)
    frags = build.flavour_fragments(config)
    from patchkit import kconfig
    meta = {"git": {"git_commit": commit},
            "patchkit": {"dirty": None, "config": {
                "name": config, "hash": kconfig.fragments_hash([kconfig.read_fragment(p) for p in frags])}}}
    res = build.BuildResult(bdir / "arch/x86/boot/bzImage", bdir, bdir / "modules-install", meta, bdir / "log")
    return build.export(res, tmp_path / name)


def test_a_test_job_boots_the_exported_kernel_only_if_built_from_its_source_and_config(tmp_path):
    commit = kernel_tree(tmp_path / "src")
    art = exported_kernel(tmp_path, commit)
    assert sorted(p.name for p in art.iterdir()) == [".config", "bzImage", "metadata.json", "modules-install"]
    got = build.prebuilt(art, source=tmp_path / "src", config="minimal")
    assert got.kernel.read_bytes() == b"kernel" and got.modules_dir == art / "modules-install"
    assert got.metadata["patchkit"]["prebuilt"] == str(art)
    with pytest.raises(UserError, match="built with config minimal .* not debug"):
        build.prebuilt(art, source=tmp_path / "src", config="debug")
    other = exported_kernel(tmp_path, "0" * 40, name="other")
    with pytest.raises(UserError, match="was built from 0000000000000000000000000000000000000000, but"):
        build.prebuilt(other, source=tmp_path / "src", config="minimal")
    with pytest.raises(UserError, match="no exported kernel in"):
        build.prebuilt(tmp_path / "nowhere", source=tmp_path / "src")
