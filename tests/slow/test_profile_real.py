"""`patchkit validate --profile` for real: a CONFIG_PROFILING build of the
series, booted with profile=2, hands back each test's kernel ticks per
function, and the swap-out test's hot spots are zram's."""

import json

import pytest

from patchkit import cli

pytestmark = [pytest.mark.slow, pytest.mark.matrix]

ZRAM_PATH = ("lzo", "zram_", "zs_", "zcomp_", "LZ4", "ZSTD", "swap_")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("profile")
    rc = cli.main(["validate", "zram-swap-ops", "--profile", "--tests", "zram-setup,pageout",
                   "-o", str(out)])
    return rc, json.loads((out / "results.json").read_text())


def test_profiled_run_passes_and_counts_kernel_ticks_per_test(results):
    rc, data = results
    assert rc == 0 and data["status"] == "PASS"
    assert any(f.endswith("profile.config") for f in data["info"]["build"]["config"]["fragments"])
    for t in data["tests"]:
        fns = {k: v for k, v in t["figures"].items() if k.startswith("profile.fn.")}
        assert t["figures"]["profile.samples"] >= sum(fns.values()) > 0, t["name"]


def test_swap_out_time_is_spent_in_the_zram_path(results):
    pageout = next(t for t in results[1]["tests"] if t["name"] == "pageout")
    fns = [k[len("profile.fn."):] for k in pageout["figures"] if k.startswith("profile.fn.")]
    assert any(fn.startswith(ZRAM_PATH) for fn in fns[:10]), fns[:10]
