"""patchkit report merge / compare: many cells' results.json into one report."""

import dataclasses
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


# ---------------------------------------------------------------- issue 20: the merged KCIDB export

BASE, SERIES_TIP = "b" * 40, "a" * 40
TREE = {"name": "linux-source-6.12", "version": "6.12.57", "base_commit": BASE}


def matrix_cell(cid, kind, kernel, variant, tests=(), group="", prebuilt=False, status=PASS):
    """A matrix cell's results.json as validate writes it (build or test cell)."""
    coords = {"id": cid, "kind": kind, "tree": "linux-source-6.12", "tree_key": "6.12", "kernel": kernel,
              "config": variant}
    if group:
        coords.update(group=group, tests=[n for n, _ in tests])
    info = {"cell": coords, "series": "none" if kernel == "baseline" else "zram-swap-ops",
            "config": "minimal" if variant != "debug" else "debug", "tree": TREE,
            "build": {"git": {"git_commit": BASE if kernel == "baseline" else SERIES_TIP},
                      "patchkit": {"config": {"hash": f"h-{variant}"},
                                   **({"prebuilt": f"/x/kernels/6.12-{kernel}-{variant}"} if prebuilt else {})}}}
    if kernel != "baseline":
        info["series_tip"] = SERIES_TIP
    stages = [StageResult("tree", PASS, 1.0)] + ([StageResult("render", PASS, 2.0)] if kernel != "baseline" else [])
    stages += [StageResult("checkout", PASS, 1.0), StageResult("build", status, 0.2 if prebuilt else 120.0)]
    if kind == "build":
        stages += [StageResult("export", PASS, 1.0), StageResult("boot", SKIP, detail="--build-only")]
    else:
        stages.append(StageResult("boot", PASS, 30.0))
        info["boot"] = {"accel": "kvm", "qemu_version": "7.2", "console_log": f"/x/{cid}/console.log"}
    return RunResult("validate", stages, info=info,
                     tests=[{"name": n, "status": s, "seconds": 3.0, "figures": {"pages": 7}} for n, s in tests])


def fault_cell(kernel="series"):
    rows = [faults.FaultRow("fault-zram-full", kernel, "minimal", PASS, pages=10, lost=0, corrupted=0),
            faults.FaultRow("fault-alloc", kernel, "minimal", FAIL, pages=10, lost=1, corrupted=0)]
    return RunResult(
        "validate --faults",
        [StageResult("tree", PASS), StageResult("render", PASS), StageResult(f"checkout:{kernel}", PASS),
         StageResult(f"faults:{kernel}", PASS, 400.0), faults.compare_stage(rows)],
        tests=[{"name": f"{r.fault} [{r.kernel}]", "status": r.status, "seconds": 20.0,
                "figures": {"pages": 10}} for r in rows],
        info={"cell": {"id": f"faults-6.12-{kernel}-minimal", "kind": "faults", "tree": "linux-source-6.12",
                       "tree_key": "6.12", "kernel": kernel, "config": "minimal"},
              "series": "zram-swap-ops", "config": "minimal", "kernels": [kernel], "tree": TREE,
              "commits": {"baseline": BASE, "base-layer": "c" * 40, "series": SERIES_TIP},
              "faults": faults.to_json(rows)})


# cell -> the kernel (matrix.Cell.build_id) whose build its tests must link to
MATRIX_CELLS = {
    "build-6.12-baseline-minimal": "6.12-baseline-minimal",
    "build-6.12-series-minimal": "6.12-series-minimal",
    # zram-m is config "minimal" plus a fragment: the same config name as the line above
    "build-6.12-series-zram-m": "6.12-series-zram-m",
    "test-6.12-baseline-minimal-smoke": "6.12-baseline-minimal",
    "test-6.12-series-minimal-smoke": "6.12-series-minimal",
    # the same kernel and the same zram-setup test as the line above, another cell
    "test-6.12-series-minimal-pageout": "6.12-series-minimal",
    "test-6.12-series-zram-m-swap": "6.12-series-zram-m",
    "faults-6.12-series-minimal": "faults-6.12-series-minimal",
}


def matrix_cells():
    cells = []
    for cid, kernel in MATRIX_CELLS.items():
        kind = cid.split("-")[0]
        _, kname, variant = kernel.split("-", 2) if kind != "faults" else (None, None, None)
        if kind == "build":
            cells.append(matrix_cell(cid, "build", kname, variant))
        elif kind == "test":
            group = cid.rsplit("-", 1)[1]
            tests = {"smoke": (("zram-setup", PASS), ("hog", FAIL if kname == "baseline" else PASS)),
                     "pageout": (("zram-setup", PASS), ("pageout", PASS)),
                     "swap": (("zram-setup", PASS), ("swapoff", PASS))}[group]
            cells.append(matrix_cell(cid, "test", kname, variant, tests, group, prebuilt=True))
        else:
            cells.append(fault_cell())
    bench = RunResult("bench", [StageResult("bench", PASS, 600.0)],
                      info={"cell": {"id": "bench-6.12", "kind": "bench", "tree": "linux-source-6.12",
                                     "tree_key": "6.12"}, "bench": {"rounds": 5}})
    return cells + [bench]


def test_merged_kcidb_keeps_every_build_and_test_of_every_cell_linked_to_its_kernel(tmp_path):
    pytest.importorskip("kcidb_io")
    cells = matrix_cells()
    write_cells(tmp_path / "cells", cells)
    data = report.merge([tmp_path / "cells"], tmp_path / "merged")
    kcidb = json.loads((tmp_path / "merged" / "kcidb.json").read_text())
    report.validate_kcidb(kcidb)                     # kcidb-io's schema, and no dangling or doubled id
    assert data["info"]["kcidb"] == {"file": "kcidb.json", "origin": "patchkit", "checkouts": 2,
                                     "builds": 4, "tests": 10}

    # one build per kernel, as its build cell (or the fault cell) exported it; not a test cell's check
    builds = {b["id"]: b for b in kcidb["builds"]}
    assert sorted((b["misc"]["kernel"], b["misc"]["cell"]) for b in builds.values()) == [
        ("6.12-baseline-minimal", "build-6.12-baseline-minimal"),
        ("6.12-series-minimal", "build-6.12-series-minimal"),
        ("6.12-series-zram-m", "build-6.12-series-zram-m"),
        ("faults-6.12-series-minimal", "faults-6.12-series-minimal")]
    assert all(b["duration"] > 100 and "prebuilt" not in b["misc"] for b in builds.values())

    # every guest and fault test of every cell once, linked to the build of the kernel it booted
    want = sorted((r.info["cell"]["id"], t["name"], t["status"]) for r in cells for t in r.tests)
    got = []
    for t in kcidb["tests"]:
        cell = t["misc"]["cell"]
        assert builds[t["build_id"]]["misc"]["kernel"] == MATRIX_CELLS[cell], (cell, t["path"])
        name = t["path"].split(".", 2)[2]
        got.append((cell, name if cell.startswith("test-") else f"{name} [series]", t["status"]))
    assert sorted(got) == want

    # the bare tree and the series are two checkouts; the series' builds (also the fault kernel) share one
    checkouts = {c["id"]: c for c in kcidb["checkouts"]}
    assert sorted(c["misc"]["series_tip"] for c in checkouts.values()) == [SERIES_TIP, BASE]
    series_checkout = next(c for c in checkouts.values() if c["misc"]["series_tip"] == SERIES_TIP)
    assert {b["misc"]["kernel"] for b in builds.values() if b["checkout_id"] == series_checkout["id"]} == {
        "6.12-series-minimal", "6.12-series-zram-m", "faults-6.12-series-minimal"}
    assert all(c["git_commit_hash"] == BASE for c in checkouts.values())

    # each cell exported alone gives the same objects the merge holds
    for r in cells[:-1]:
        alone = report.kcidb_data(json.loads((tmp_path / "cells" / r.info["cell"]["id"] / "results.json")
                                             .read_text()))
        assert {t["id"] for t in alone["tests"]} <= {t["id"] for t in kcidb["tests"]}
        assert {b["id"] for b in alone["builds"]} <= set(builds)


def test_merged_kcidb_without_the_build_cells_links_tests_to_the_kernel_the_test_cells_checked(tmp_path):
    pytest.importorskip("kcidb_io")
    cells = [r for r in matrix_cells() if r.info["cell"]["id"].startswith("test-6.12-series-minimal")]
    write_cells(tmp_path, cells)
    report.merge([tmp_path], tmp_path / "merged")
    kcidb = json.loads((tmp_path / "merged" / "kcidb.json").read_text())
    (build,) = kcidb["builds"]
    assert build["misc"]["prebuilt"] is True and build["misc"]["kernel"] == "6.12-series-minimal"
    assert len(kcidb["tests"]) == 4 and {t["build_id"] for t in kcidb["tests"]} == {build["id"]}
    assert len({t["id"] for t in kcidb["tests"]}) == 4   # zram-setup in two cells: two tests


def test_kcidb_link_check_refuses_doubled_ids_and_dangling_links():
    data = {"version": {"major": 5, "minor": 3}, "checkouts": [{"id": "patchkit:c", "origin": "patchkit"}],
            "builds": [{"id": "patchkit:b", "origin": "patchkit", "checkout_id": "patchkit:c"},
                       {"id": "patchkit:b", "origin": "patchkit", "checkout_id": "patchkit:gone"}],
            "tests": [{"id": "patchkit:t", "origin": "patchkit", "build_id": "patchkit:nowhere", "path": "x"}]}
    assert report.kcidb_link_problems(data) == [
        "build patchkit:b twice",
        "build patchkit:b names checkout patchkit:gone, which is not in the data",
        "test patchkit:t (x) names build patchkit:nowhere, which is not in the data"]
    pytest.importorskip("kcidb_io")
    with pytest.raises(UserError, match="does not validate: build patchkit:b twice \\(and 2 more\\)"):
        report.validate_kcidb(data)


def test_a_merged_report_refuses_the_single_run_export(tmp_path):
    write_cells(tmp_path, [cell_result("test-x")])
    data = report.merge([tmp_path], tmp_path / "merged")
    with pytest.raises(UserError, match="kcidb.json that patchkit report merge wrote"):
        report.kcidb_data(data)


def test_compare_looks_at_junit_summary_and_kcidb_beside_the_merged_results(tmp_path):
    pytest.importorskip("kcidb_io")
    cells = matrix_cells()
    write_cells(tmp_path / "one", cells)
    for r in cells:
        r.stages = [dataclasses.replace(s, seconds=s.seconds * 3) for s in r.stages]
    write_cells(tmp_path / "two", cells)
    a, b = tmp_path / "m1", tmp_path / "m2"
    report.merge([tmp_path / "one"], a)
    report.merge([tmp_path / "two"], b)
    diffs, compared = report.compare_merged(a / "results.json", b / "results.json")
    assert (diffs, compared) == ([], ["results.json", "junit.xml", "summary.md", "kcidb.json"])
    assert cli.main(["report", "compare", str(a / "results.json"), str(b / "results.json")]) == 0

    # a test linked to another build in one KCIDB export only
    kcidb = json.loads((b / "kcidb.json").read_text())
    kcidb["tests"][0]["build_id"] = kcidb["builds"][0]["id"]
    (b / "kcidb.json").write_text(json.dumps(kcidb))
    diffs, _ = report.compare_merged(a, b)
    assert len(diffs) == 1 and diffs[0].startswith(f"kcidb.json: kcidb test {kcidb['tests'][0]['id']}: ")
    assert cli.main(["report", "compare", str(a / "results.json"), str(b / "results.json")]) == 1

    # a JUnit testcase's status, a summary row, a missing file
    report.merge([tmp_path / "two"], b)
    junit = (b / "junit.xml").read_text()
    (b / "junit.xml").write_text(junit.replace('<testcase classname="patchkit.guest" name="pageout" time="3.0" />',
                                               '<testcase classname="patchkit.guest" name="pageout" time="3.0">'
                                               '<skipped message="x" /></testcase>', 1))
    (b / "summary.md").write_text((b / "summary.md").read_text().replace("| test-6.12-series-zram-m-swap | PASS",
                                                                         "| test-6.12-series-zram-m-swap | FAIL"))
    (a / "kcidb.json").unlink()
    diffs, compared = report.compare_merged(a, b)
    assert compared == ["results.json", "junit.xml", "summary.md"]
    assert [d.split(":")[0] for d in diffs] == ["junit.xml", "summary.md", "kcidb.json"]
    assert "junit test-6.12-series-minimal-pageout" in diffs[0]
    assert diffs[2] == "kcidb.json: only beside the second report"


def test_a_kcidb_export_that_does_not_validate_loses_none_of_the_other_merged_files(tmp_path, monkeypatch):
    write_cells(tmp_path / "cells", [cell_result("test-x")])
    monkeypatch.setattr(report, "merged_kcidb", lambda cells, origin: {
        "version": {"major": 5, "minor": 3}, "checkouts": [], "builds": [],
        "tests": [{"id": "patchkit:t", "origin": "patchkit", "build_id": "patchkit:gone", "path": "x"}]})
    pytest.importorskip("kcidb_io")
    with pytest.raises(UserError, match="names build patchkit:gone"):
        report.merge([tmp_path / "cells"], tmp_path / "merged")
    assert sorted(p.name for p in (tmp_path / "merged").iterdir()) == ["junit.xml", "results.json", "summary.md"]
    data = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert data["info"]["cells"][0]["id"] == "test-x" and "names build" in data["info"]["kcidb"]["error"]
