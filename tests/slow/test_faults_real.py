"""The fault matrix on real kernels under QEMU (tens of minutes under TCG).

Kernel trees: $PATCHKIT_FAULTS_BASELINE and $PATCHKIT_FAULTS_SERIES (kernel
checkouts), else the pinned tree and the rendered zram-swap-ops series
(patchkit.tree / patchkit.render).  Each is built with minimal.config +
faults.config through patchkit.build (a finished identical build is reused).
"""

import os
from pathlib import Path

import pytest

from patchkit import faults, pipeline, render, tree, validate

pytestmark = [pytest.mark.slow, pytest.mark.matrix]


@pytest.fixture(scope="module")
def sources():
    env = {k: os.environ.get(f"PATCHKIT_FAULTS_{k.upper()}") for k in ("baseline", "series")}
    if all(env.values()):
        return {k: Path(v) for k, v in env.items()}
    pinned = tree.open_tree(None)
    rendered = render.render("zram-swap-ops", pinned)
    kernels = pipeline.compared_kernels(pinned, rendered)
    return {k: pipeline.checkout(pinned, kernels[k], "faults") for k in ("baseline", "series")}


@pytest.fixture(scope="module")
def rows(sources, tmp_path_factory):
    got = []
    for kernel, source in sources.items():
        got += validate.run_fault_kernel(source, kernel=kernel, config="minimal", runtime="host",
                                         log_dir=tmp_path_factory.mktemp(kernel))
    print("\n".join(faults.table_lines(got)))
    return got


def test_every_fault_ran_on_both_kernels(rows):
    assert sorted((r.kernel, r.fault) for r in rows) == sorted(
        (k, f) for k in ("baseline", "series") for f in faults.FAULT_TESTS)
    assert all(r.status != faults.ERROR for r in rows), [r.detail for r in rows if r.status == faults.ERROR]


def test_no_page_is_lost_or_corrupted_under_any_fault(rows):
    for r in rows:
        if r.status == faults.SKIP:
            continue
        assert r.corrupted == 0 and r.lost == 0, f"{r.fault} on {r.kernel}: {r.detail}"
        assert r.pages and r.verified is not None


def test_faults_were_really_injected(rows):
    for r in rows:
        if r.status == faults.PASS:
            assert r.injected and r.injected > 0, f"{r.fault} on {r.kernel} injected nothing"


def test_series_is_no_worse_than_the_baseline(rows):
    assert faults.regressions(rows) == []
