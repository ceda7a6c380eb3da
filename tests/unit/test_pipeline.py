"""The one orchestration module: stage order, the SKIP rule, the compared kernels."""

from pathlib import Path
from types import SimpleNamespace

from patchkit import pipeline, worktrees
from patchkit.errors import UserError
from patchkit.pipeline import FAIL, PASS, SKIP, Pipeline
from patchkit.report import RunResult


def boom():
    raise UserError("broken template")


def test_a_failed_stage_skips_every_later_stage_with_the_reason():
    r = RunResult("validate")
    pipe = Pipeline(r)
    assert pipe.stage("a", lambda: 1) == 1
    assert pipe.stage("b", boom) is None
    assert pipe.stage("c", lambda: 3) is None
    assert [(s.name, s.status, s.detail) for s in r.stages] == [
        ("a", PASS, ""), ("b", FAIL, "broken template"), ("c", SKIP, "skipped: b failed")]


def test_a_fresh_pipeline_per_unit_keeps_one_units_failure_to_itself(capsys):
    """check: each patch's stages are skipped after its own failure only."""
    r = RunResult("check")
    for label, first in (("0001-a", boom), ("0002-b", lambda: "ok")):
        pipe = Pipeline(r, prefix=label)
        pipe.stage("checkpatch", first, describe=str)
        pipe.stage("build", lambda: "built")
    assert [(s.name, s.status) for s in r.stages] == [
        ("0001-a: checkpatch", FAIL), ("0001-a: build", SKIP),
        ("0002-b: checkpatch", PASS), ("0002-b: build", PASS)]
    assert r.stages[2].detail == "ok"
    assert "I: 0002-b: checkpatch: PASS in 0:00:00 (ok)" in capsys.readouterr().err


def test_a_judged_value_fails_its_stage_but_is_returned_for_what_it_recorded():
    r = RunResult("validate")
    pipe = Pipeline(r)
    booted = SimpleNamespace(status=FAIL)
    got = pipe.stage("boot", lambda: booted, judge=lambda b: "guest ended FAIL" if b.status != PASS else None)
    assert got is booted
    assert (r.stages[0].status, r.stages[0].detail) == (FAIL, "guest ended FAIL")
    assert pipe.stage("report", lambda: 1) is None and r.stages[1].status == SKIP


def test_stop_skips_later_stages_without_a_failure():
    r = RunResult("validate")
    pipe = Pipeline(r)
    pipe.stop("--build-only")
    pipe.stage("boot", lambda: 1)
    assert (r.stages[0].status, r.stages[0].detail) == (SKIP, "skipped: --build-only")
    assert r.ok()


def rendered(tip, repo, deps=(), name="s"):
    return SimpleNamespace(tip=tip, repo=repo, dependencies=list(deps), series=SimpleNamespace(name=name))


def test_compared_kernels_are_the_baseline_the_base_layer_and_the_series(tmp_path):
    t = SimpleNamespace(name="linux-source-6.12", base_commit="b" * 40)
    full = rendered("s" * 40, tmp_path, [rendered("l" * 40, tmp_path, name="swap-batching")], "zram-swap-ops")
    got = pipeline.compared_kernels(t, full)
    assert list(got) == ["baseline", "base-layer", "series"]
    assert {k: v.commit for k, v in got.items()} == {"baseline": "b" * 40, "base-layer": "l" * 40,
                                                     "series": "s" * 40}
    assert got["base-layer"].origin == f"render swap-batching @ {'l' * 12}"
    assert got["baseline"].origin == f"linux-source-6.12 @ {'b' * 12}"
    # no base layer when the series sits on none, or when the run asks for none
    assert list(pipeline.compared_kernels(t, rendered("s" * 40, tmp_path))) == ["baseline", "series"]
    assert list(pipeline.compared_kernels(t, full, with_base_layer=False)) == ["baseline", "series"]
    # a base layer rendered alone (bench --base-layer X) wins over the dependency
    alone = rendered("x" * 40, tmp_path / "other", name="other")
    assert pipeline.compared_kernels(t, full, base_layer=alone)["base-layer"].repo == tmp_path / "other"


def test_each_compared_kernel_gets_its_own_work_tree(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(worktrees, "worktree", lambda repo, commit, name: made.append((repo, commit, name))
                        or tmp_path / name)
    k = pipeline.Compared("base-layer", Path("/r"), "c" * 40, "x")
    assert pipeline.checkout(SimpleNamespace(name="t"), k, "faults") == tmp_path / "t-faults-base-layer"
    assert made == [(Path("/r"), "c" * 40, "t-faults-base-layer")]
