"""Swap over NFS on the real series: swap_fs_ops with NFS's ->swap_rw.

`patchkit validate` of the default series with patchkit/configs/nfs-swap.config
merged on top (a build of its own, minutes), then the guest serves NFS to
itself and swaps to a file on the mount (test swapfile-nfs).  Part of the
matrix, not of `make test`: the default suite's kernel has no NFS.
"""

import json

import pytest

from patchkit import cli, paths

pytestmark = [pytest.mark.slow, pytest.mark.matrix]

FRAGMENT = paths.CONFIGS / "nfs-swap.config"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate-nfs")
    rc = cli.main(["validate", "zram-swap-ops", "--fragment", str(FRAGMENT),
                   "--tests", "zram-setup,swapfile-nfs", "-o", str(out)])
    data = json.loads((out / "results.json").read_text())
    return rc, data


def test_swap_over_nfs_runs_and_passes_on_the_series(results):
    rc, data = results
    failed = [(s["name"], s["detail"]) for s in data["stages"] if s["status"] != "PASS"]
    failed += [(t["name"], t["status"], t["detail"]) for t in data["tests"] if t["status"] != "PASS"]
    assert rc == 0 and data["status"] == "PASS" and not failed, failed


def test_every_page_swapped_over_nfs_came_back_intact(results):
    figs = {t["name"]: t["figures"] for t in results[1]["tests"]}["swapfile-nfs"]
    assert figs["hog.verified_pages"] == figs["hog.pages"] > 0
    assert figs["hog.mismatches"] == 0
    assert figs["hog.pswpout"] > 0 and figs["hog.pswpin"] > 0


def test_swap_fs_ops_served_the_nfs_swap_file(results):
    figs = {t["name"]: t["figures"] for t in results[1]["tests"]}["swapfile-nfs"]
    assert figs["nfs.areas"] == 1
    # swap_fs_ops in the version 1 base layer, NFS's own ops in the mainline backport
    assert figs["nfs.ops"] in ("swap_fs_submit_write", "nfs_swap_submit_write")
    assert figs["nfs.write_folios"] >= figs["nfs.write_submits"] > 0
    assert figs["nfs.read_folios"] >= figs["nfs.read_submits"] > 0
