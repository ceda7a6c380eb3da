"""The matrix declaration (matrix.toml) and its cells: expansion, selection, plan."""

from pathlib import Path

import pytest

from patchkit import matrix
from patchkit.errors import UserError


@pytest.fixture(scope="module")
def declared():
    return matrix.load()


def test_the_declared_matrix_has_every_tree_kernel_and_config(declared):
    assert declared.trees == {"6.12": "linux-source-6.12", "7.3": "linux-source-7.3"}
    assert declared.kernels == ("baseline", "base-layer", "series")
    assert set(declared.variants) == {"minimal", "debug", "zram-m", "no-wb", "no-swap", "nfs-swap"}


def test_full_matrix_cell_counts(declared):
    cells = matrix.expand(declared)
    kinds = {k: sum(c.kind == k for c in cells) for k in matrix.KINDS}
    groups_per_kernel = sum(len(v.groups) for v in declared.variants.values())
    assert kinds == {"build": 2 * 3 * 6, "test": 2 * 3 * groups_per_kernel, "faults": 2 * 3 * 2, "bench": 2}
    assert len({c.id for c in cells}) == len(cells)


def test_every_test_cell_boots_a_build_cell_of_its_own_kernel(declared):
    cells = matrix.expand(declared)
    builds = {c.id: c for c in cells if c.kind == "build"}
    for c in cells:
        if c.kind == "test":
            (need,) = c.needs
            b = builds[need]
            assert (b.tree, b.kernel, b.variant) == (c.tree, c.kernel, c.variant)
            assert c.tests == declared.groups[c.group]
        else:
            assert c.needs == ()
    # no-swap is a build-only variant: a build cell, no test cell
    assert "build-6.12-series-no-swap" in builds
    assert not [c for c in cells if c.kind == "test" and c.variant.name == "no-swap"]


def test_reduced_subset_boots_the_bare_tree_and_the_series_twice_each(declared):
    cells = matrix.expand(declared, "reduced")
    assert [c.id for c in cells] == [
        "build-6.12-baseline-minimal", "build-6.12-series-minimal",
        "test-6.12-baseline-minimal-smoke", "test-6.12-baseline-minimal-pageout",
        "test-6.12-series-minimal-smoke", "test-6.12-series-minimal-pageout"]
    assert cells[2].needs == cells[3].needs == ("build-6.12-baseline-minimal",)
    assert cells[4].needs == cells[5].needs == ("build-6.12-series-minimal",)
    assert declared.series_of(cells[1].kernel) == declared.series


def test_a_ci_job_finds_the_cells_of_subsets_too(declared, tmp_path, monkeypatch):
    """patchkit matrix cell ID is what every CI job runs, also for a subset's pipeline."""
    cells = matrix.all_cells(declared)
    assert "test-6.12-baseline-minimal-smoke" in cells and "test-6.12-series-minimal-swap" in cells
    ran = []
    monkeypatch.setattr(matrix, "run_cell", lambda m, cell, out, **kw: ran.append(cell.id) or "PASS")
    from patchkit import cli
    assert cli.main(["matrix", "cell", "test-6.12-baseline-minimal-smoke", "-o", str(tmp_path)]) == 0
    assert ran == ["test-6.12-baseline-minimal-smoke"]
    assert cli.main(["matrix", "cell", "test-nowhere", "-o", str(tmp_path)]) == 2


def test_select_brings_the_builds_a_test_needs(declared):
    cells = matrix.select(matrix.expand(declared), ["test-7.3-base-layer-debug-*"])
    assert [c.id for c in cells] == ["build-7.3-base-layer-debug", "test-7.3-base-layer-debug-swap",
                                     "test-7.3-base-layer-debug-stress", "test-7.3-base-layer-debug-files"]
    with pytest.raises(UserError, match="no cell matches nothing-\\*"):
        matrix.select(matrix.expand(declared), ["nothing-*"])


def test_cells_run_validate_with_the_kernel_config_and_tests_they_name(declared):
    by_id = {c.id: c for c in matrix.expand(declared)}
    kw = matrix.validate_kwargs(declared, by_id["test-7.3-base-layer-zram-m-swap"], author=None, runtime="host")
    assert kw["series"] == "swap-batching" and kw["tree_spec"] == "linux-source-7.3"
    assert kw["fragments"] == [matrix.paths.REPO / "patchkit/configs/zram-module.config"]
    assert kw["modules"] is True and kw["build_only"] is False
    assert kw["tests"] == list(declared.groups["swap"])
    kw = matrix.validate_kwargs(declared, by_id["build-6.12-baseline-debug"], author="A <a@b>", runtime="auto")
    assert kw["series"] is None and kw["config"] == "debug" and kw["memory_mb"] == 512
    assert kw["build_only"] is True and kw["tests"] is None
    assert kw["worktree_name"] == "linux-source-6.12-matrix-baseline"


def write(tmp_path, text) -> Path:
    p = tmp_path / "matrix.toml"
    p.write_text(text)
    return p


BASE = """
series = "s"
base_layer = "b"
[trees]
"6.12" = "linux-source-6.12"
[kernels]
names = ["baseline", "series"]
[groups]
smoke = ["zram-setup"]
"""


def test_bad_declarations_name_the_key(tmp_path):
    with pytest.raises(UserError, match=r"\[configs.x\]: unknown test group\(s\) nope"):
        matrix.load(write(tmp_path, BASE + '[configs.x]\ngroups = ["nope"]\n'))
    with pytest.raises(UserError, match=r"\[configs.x\]: fragment no/such.config does not exist"):
        matrix.load(write(tmp_path, BASE + '[configs.x]\nfragments = ["no/such.config"]\n'))
    with pytest.raises(UserError, match=r"\[kernels\]: unknown kernel\(s\) mainline"):
        matrix.load(write(tmp_path, BASE.replace('"series"]', '"mainline"]') + "[configs.x]\n"))
    with pytest.raises(UserError, match=r"\[faults\]: config debug is not one of"):
        matrix.load(write(tmp_path, BASE + '[configs.x]\n[faults]\nconfigs = ["debug"]\n'))
    with pytest.raises(UserError, match="unknown subset 'big'"):
        matrix.expand(matrix.load(write(tmp_path, BASE + "[configs.x]\n")), "big")


def test_schedule_waits_for_builds_and_fills_runners():
    v = matrix.Variant("minimal")
    b1 = matrix.Cell("build-a", "build", "t", "tree", "baseline", v)
    b2 = matrix.Cell("build-b", "build", "t", "tree", "series", v)
    t1 = matrix.Cell("test-a", "test", "t", "tree", "baseline", v, "g", needs=("build-a",))
    t2 = matrix.Cell("test-b", "test", "t", "tree", "series", v, "g", needs=("build-b",))
    f = matrix.Cell("faults-a", "faults", "t", "tree", "baseline", v)
    secs = {"build-a": 100, "build-b": 300, "test-a": 50, "test-b": 50, "faults-a": 200}
    cells = [b1, b2, t1, t2, f]
    assert matrix.schedule(cells, secs, 1) == 700
    # two runners: a 0-100, b 0-300; test-a 100-150; faults 150-350; test-b 300-350
    assert matrix.schedule(cells, secs, 2) == 350
    # enough runners: the longest chain, build-b then test-b
    assert matrix.schedule(cells, secs, 8) == 350


def test_plan_prefers_measured_seconds_over_estimates(declared):
    cells = matrix.expand(declared, "reduced")
    got = matrix.plan(declared, cells, {"build-6.12-baseline-minimal": 42.0}, [1])
    assert got["seconds"]["build-6.12-baseline-minimal"] == 42.0
    assert got["source"]["test-6.12-baseline-minimal-smoke"] == "estimate"
    assert got["seconds"]["test-6.12-baseline-minimal-smoke"] == declared.estimates["test"]
    assert got["measured"] == 1 and got["cells"] == 6
    assert got["local_seconds"] == pytest.approx(sum(got["seconds"].values()))
    job = declared.estimates["job"]
    # one runner: every job and its setup in turn, then the merge job
    assert got["wall_seconds"][1] == pytest.approx(sum(got["seconds"].values()) + 7 * job
                                                   + declared.estimates["merge"])


def test_plan_adds_up_measured_test_times_for_test_cells_nobody_ran(declared, tmp_path):
    from patchkit import report
    from patchkit.report import PASS, SKIP, RunResult, StageResult

    run = RunResult("validate", [StageResult("tree", PASS, 0.5), StageResult("render", PASS, 2.0),
                                 StageResult("checkout", PASS, 0.5), StageResult("build", PASS, 300.0),
                                 StageResult("boot", PASS, 12.0)],
                    tests=[{"name": "zram-setup", "status": PASS, "seconds": 1.0},
                           {"name": "hog", "status": PASS, "seconds": 5.0},
                           {"name": "pageout", "status": PASS, "seconds": 2.0},
                           {"name": "swapfile-nfs", "status": SKIP, "seconds": 0.0}],
                    info={"config": "minimal"})
    report.write_json(run, tmp_path / "v" / "results.json")
    tests = matrix.measured_tests([tmp_path])
    assert tests[("minimal", "hog")] == 5.0 and ("minimal", "swapfile-nfs") not in tests
    assert tests[("minimal", "(boot)")] == 4.0 and tests[("minimal", "(setup)")] == 3.0
    cells = matrix.expand(declared, "reduced") + [c for c in matrix.expand(declared)
                                                  if c.id in ("test-6.12-series-nfs-swap-nfs",
                                                              "test-6.12-series-debug-swap")]
    got = matrix.plan(declared, cells, {}, [1], tests)
    # smoke: zram-setup + hog + what the boot and the setup took beyond the tests
    assert got["seconds"]["test-6.12-series-minimal-smoke"] == 1.0 + 5.0 + 4.0 + 3.0
    assert got["seconds"]["test-6.12-baseline-minimal-pageout"] == 1.0 + 2.0 + 4.0 + 3.0
    assert got["source"]["test-6.12-series-minimal-smoke"] == "tests" and got["from_tests"] == 4
    # a skipped test measured nothing, and minimal times say nothing of debug kernels
    assert got["source"]["test-6.12-series-nfs-swap-nfs"] == "estimate"
    assert got["seconds"]["test-6.12-series-debug-swap"] == declared.estimates["test-debug"]
    assert got["source"]["build-6.12-series-minimal"] == "estimate"


def test_a_build_cell_that_reused_its_kernel_measured_no_build(tmp_path):
    from patchkit import report
    from patchkit.report import PASS, RunResult, StageResult

    for cid, reused in (("build-6.12-baseline-minimal", True), ("build-6.12-series-minimal", False)):
        report.write_json(RunResult("validate", [StageResult("build", PASS, 6.0 if reused else 41.0)],
                                    info={"cell": {"id": cid, "kind": "build"},
                                          "build": {"patchkit": {"reused": reused}}}),
                          tmp_path / "cells" / cid / "results.json")
    report.merge([tmp_path / "cells"], tmp_path / "merged")
    for where in (tmp_path / "cells", tmp_path / "merged"):
        assert matrix.measured_seconds([where]) == {"build-6.12-series-minimal": 41.0}
