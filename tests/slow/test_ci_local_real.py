"""make ci-local: the reduced matrix through gitlab-ci-local and through patchkit matrix run,
with the same merged outcome (kernel builds and boots: the matrix marker, not make test)."""

import json
import subprocess

import pytest

from patchkit import paths, report

pytestmark = [pytest.mark.slow, pytest.mark.matrix]


def test_reduced_pipeline_through_gitlab_ci_local_equals_make_matrix():
    res = subprocess.run(["scripts/ci-local.sh"], cwd=paths.REPO, capture_output=True, text=True, timeout=7200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    out = paths.REPO / "results" / "ci-local"
    local = json.loads((out / "matrix" / "merged" / "results.json").read_text())
    through_ci = json.loads((out / "gitlab" / "artifacts" / "merge" / "results" / "merged" / "results.json").read_text())
    tests = [f"test-6.12-{k}-minimal-{g}" for k in ("baseline", "series") for g in ("smoke", "pageout")]
    assert sorted(c["id"] for c in through_ci["info"]["cells"]) == sorted(
        ["build-6.12-baseline-minimal", "build-6.12-series-minimal", *tests])
    merged = out / "gitlab" / "artifacts" / "merge" / "results" / "merged"
    diffs, compared = report.compare_merged(out / "matrix" / "merged" / "results.json", merged / "results.json")
    assert diffs == [] and compared == ["results.json", "junit.xml", "summary.md", "kcidb.json"]
    kcidb = json.loads((merged / "kcidb.json").read_text())
    assert sorted(b["misc"]["kernel"] for b in kcidb["builds"]) == ["6.12-baseline-minimal", "6.12-series-minimal"]
    assert len(kcidb["tests"]) == sum(sum(c["tests"].values()) for c in through_ci["info"]["cells"])
    # the test jobs booted the kernels their build jobs exported, not ones they built
    for cell in tests:
        # gitlab-ci-local names artifact folders after the job with '.' spelt differently: glob
        (job,) = (out / "gitlab" / "artifacts").glob(f"*/results/matrix/{cell}/results.json")
        build = json.loads(job.read_text())["info"]["build"]
        kernel = cell.removeprefix("test-").rsplit("-", 1)[0]
        assert build["patchkit"]["prebuilt"].endswith(f"/results/matrix/kernels/{kernel}")
        assert "/gitlab/builds/" in build["patchkit"]["prebuilt"]  # the job's own isolated copy of the repository
