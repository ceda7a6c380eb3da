"""make ci-local: the reduced matrix through gitlab-ci-local and through patchkit matrix run,
with the same merged outcome (two kernel builds and boots: the matrix marker, not make test)."""

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
    assert sorted(c["id"] for c in through_ci["info"]["cells"]) == [
        "build-6.12-baseline-minimal", "test-6.12-baseline-minimal-pageout", "test-6.12-baseline-minimal-smoke"]
    assert report.outcome_differences(report.outcome(local), report.outcome(through_ci)) == []
    # the test jobs booted the kernels their build jobs exported, not ones they built
    for cell in ("test-6.12-baseline-minimal-smoke", "test-6.12-baseline-minimal-pageout"):
        # gitlab-ci-local names artifact folders after the job with '.' spelt differently: glob
        (job,) = (out / "gitlab" / "artifacts").glob(f"*/results/matrix/{cell}/results.json")
        build = json.loads(job.read_text())["info"]["build"]
        assert build["prebuilt"].endswith("/results/matrix/kernels/6.12-baseline-minimal")
        assert "/gitlab/builds/" in build["prebuilt"]  # the job's own isolated copy of the repository
