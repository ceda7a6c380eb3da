"""Mainline 7.3, unpatched, through the whole harness.

`patchkit validate --series none --tree linux-source-7.3`: fetches the pinned
tree when the cache lacks it (a 166 MB download, then extract + git, about
four minutes), builds the minimal config cold (the shared ccache only knows
6.12), boots it and runs every guest test.  About 20 minutes on a fresh
machine, hence the matrix marker (make test-matrix), not make test.
"""

import json

import pytest

from patchkit import boot, cli, manifests

pytestmark = [pytest.mark.slow, pytest.mark.matrix]

NAME = "linux-source-7.3"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate-7.3")
    rc = cli.main(["validate", "--series", "none", "--tree", NAME, "-o", str(out)])
    data = json.loads((out / "results.json").read_text())
    return rc, data


def test_mainline_passes_every_stage_and_guest_test(results):
    rc, data = results
    failed = [(s["name"], s["detail"]) for s in data["stages"] if s["status"] != "PASS"]
    failed += [(t["name"], t["detail"]) for t in data["tests"] if t["status"] not in ("PASS", "SKIP")]
    assert rc == 0 and data["status"] == "PASS", failed
    assert [t["name"] for t in data["tests"]] == boot.DEFAULT_TESTS
    # every test but the NFS one (it needs the nfs-swap fragment) ran
    skipped = [t["name"] for t in data["tests"] if t["status"] == "SKIP"]
    assert skipped == ["swapfile-nfs"], skipped


def test_results_record_the_mainline_pin(results):
    info = results[1]["info"]["tree"]
    m = manifests.load_manifest(NAME)
    assert (info["name"], info["version"]) == (NAME, m.kernel_version)
    assert info["pinned_version"] == m.package_version
    # the version actually unpacked: the pin, or a substitute with a note
    assert info["package_version"] == m.package_version or info.get("note")
    assert results[1]["info"]["build"]["tree"]["pinned"]["package_version"] == info["package_version"]


def test_no_page_was_corrupted_and_swap_was_used(results):
    tests = {t["name"]: t["figures"] for t in results[1]["tests"]}
    assert tests["hog"]["hog.verified_pages"] == tests["hog"]["hog.pages"] > 0
    for name, figures in tests.items():
        for key, value in figures.items():
            if key.endswith(".mismatches"):
                assert value == 0, f"{name}: {key} = {value}"
