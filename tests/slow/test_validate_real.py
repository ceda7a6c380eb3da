"""The CI job: `patchkit validate` of the default series on the pinned tree.

Renders swap-batching + zram-swap-ops, builds the result in a container,
boots it under QEMU and runs the whole guest suite.  Besides "everything
passed", it checks that the series' new path is the one that ran.
"""

import json

import pytest

from patchkit import boot, cli, report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate")
    rc = cli.main(["validate", "zram-swap-ops", "-o", str(out)])
    data = json.loads((out / "results.json").read_text())
    return rc, data, out


def test_the_default_series_passes_every_stage_and_guest_test(results):
    rc, data, out = results
    failed = [(s["name"], s["detail"]) for s in data["stages"] if s["status"] != "PASS"]
    failed += [(t["name"], t["detail"]) for t in data["tests"] if t["status"] not in ("PASS", "SKIP")]
    assert rc == 0 and data["status"] == "PASS", failed
    assert [s["name"] for s in data["stages"]] == ["tree", "render", "checkout", "build", "boot"]
    assert [t["name"] for t in data["tests"]] == boot.DEFAULT_TESTS
    assert (out / "junit.xml").read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')


def test_the_records_others_read(results):
    """results.json validates against its schema, exports as KCIDB data that
    kcidb-io accepts, and the build's artifacts sit in the output folder as
    tuxmake leaves them."""
    rc, data, out = results
    assert report.load_results(out) == data
    kcidb = report.kcidb_data(data)
    report.validate_kcidb(kcidb)
    assert len(kcidb["tests"]) == len(boot.DEFAULT_TESTS)
    for name in ("bzImage", "config", "System.map", "build.log", "metadata.json"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["results"]["status"] == "PASS" and meta["results"]["targets"]["kernel"]["status"] == "PASS"
    assert meta["build"]["reproducer_cmdline"][:2] == ["patchkit", "build"]
    assert meta["git"]["git_commit"] == data["info"]["build"]["git"]["git_commit"]


def test_no_page_was_corrupted(results):
    tests = {t["name"]: t["figures"] for t in results[1]["tests"]}
    assert tests["hog"]["hog.verified_pages"] == tests["hog"]["hog.pages"] > 0
    for name, figures in tests.items():
        for key, value in figures.items():
            if key.endswith(".mismatches"):
                assert value == 0, f"{name}: {key} = {value}"


def test_zram_swaps_through_its_own_ops_and_a_plain_disk_keeps_swap_bdev_ops(results):
    tests = {t["name"]: t["figures"] for t in results[1]["tests"]}
    zram, disk = tests["hog"], tests["swap-disk"]
    assert zram["swapio.ops"] == "zram_swap_submit_write"
    assert zram["swapio.write_folios"] > 0
    assert disk["swapio.ops"] == "swap_bdev_submit_write"
    # the base layer batches a non-synchronous block device: more than one folio per bio
    assert disk["swapio.write_folios"] > disk["swapio.write_submits"] > 0
