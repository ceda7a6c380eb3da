"""pk-bench, the guest's bench workload program, run natively on the host.

The host has no zram swap to measure, so these check the contract with the
host side: usage errors, the figure lines (all parseable by the console
reader), "n/a" for counters this kernel lacks, and the read-back check.
"""

import os
import shutil
import subprocess

import pytest

from patchkit import console, initramfs, paths

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is needed to build pk-bench")


@pytest.fixture(scope="module")
def pk_bench(tmp_path_factory):
    return initramfs.compile_program(paths.GUEST / "bench" / "pk-bench.c", cache=tmp_path_factory.mktemp("bin"))


def run(prog, *args):
    return subprocess.run([str(prog), *args], capture_output=True, text=True, timeout=120)


def figures(stdout):
    out = {}
    for line in stdout.splitlines():
        key, value = line.split(" ", 1)
        out[key] = console.parse_value(value)
    return out


@pytest.mark.parametrize("args", [[], ["nope", "-m", "4"], ["swapout"], ["latency", "-m", "4", "-k", "0"],
                                  ["swapoff"], ["exit"]])
def test_usage_errors_exit_64(pk_bench, args):
    res = run(pk_bench, *args)
    assert res.returncode == 64
    assert "usage: pk-bench" in res.stderr


def test_swapout_prints_every_figure_and_verifies_the_pages(pk_bench):
    res = run(pk_bench, "swapout", "-m", "8")
    # 0 if something on the host swapped meanwhile, 2 ("swapped nothing") otherwise; never 1 (bad data)
    assert res.returncode in (0, 2), res.stderr
    figs = figures(res.stdout)
    assert figs["swapout.fill_mb"] == 8
    assert figs["swapout.verified_pages"] == 8 * 256 // 4  # every 4th page
    assert figs["swapout.bad_pages"] == 0
    assert isinstance(figs["swapout.seconds"], float) and figs["swapout.seconds"] > 0
    assert isinstance(figs["swapout.cycles"], int) and figs["swapout.cycles"] > 0
    for key in ("swapout.mb_s", "swapout.pages_s", "swapout.sys_s", "swapout.io.zram_requests",
                "swapout.io.write_submits", "swapout.io.write_folios_per_submit", "swapout.io.swapped_pages"):
        assert key in figs
    if res.returncode == 2:
        assert "swapped nothing" in res.stderr


@pytest.mark.skipif(os.path.exists("/sys/kernel/debug/swap_io"), reason="this host has the swap_io counters")
def test_counters_missing_on_this_kernel_are_reported_as_na(pk_bench):
    res = run(pk_bench, "swapout", "-m", "4")
    figs = figures(res.stdout)
    # the host has no /sys/kernel/debug/swap_io (the base layer's counters)
    assert figs["swapout.io.write_submits"] == "n/a"
    assert figs["swapout.io.write_folios_per_submit"] == "n/a"


def test_tsc_rate_matches_the_host_clock(pk_bench):
    res = run(pk_bench, "tsc")
    assert res.returncode == 0
    key, value = res.stdout.split()
    assert key == "tsc_mhz"
    assert 100 < float(value) < 10000  # a real x86 TSC, in MHz


def test_swapout_times_the_calibration_fill_and_the_pageout_calls(pk_bench):
    res = run(pk_bench, "swapout", "-m", "8", "-c", "4", "-f", "4")
    assert res.returncode in (0, 2), res.stderr
    figs = figures(res.stdout)
    assert figs["swapout.fill_cal_pages"] == 4 * 256
    assert figs["swapout.fill_cal_cycles"] > 0
    assert figs["swapout.fill_pages"] == 8 * 256
    # the fill includes the MADV_PAGEOUT calls, so it takes longer than they do
    assert 0 < figs["swapout.pageout_cycles"] < figs["swapout.fill_cycles"]


def test_reclaim_mode_has_no_pageout_figure(pk_bench):
    figs = figures(run(pk_bench, "swapout", "-m", "4").stdout)
    assert "swapout.pageout_cycles" not in figs and figs["swapout.fill_cycles"] > 0


def test_every_phase_marker_the_host_knows_is_in_the_program(pk_bench):
    """pk-bench and patchkit/icount.py share the phase numbers: each one the host names
    is a 'nopl 0x504bNNNN(%rax)' in the binary, and so is the plugin's flush."""
    from patchkit import icount

    code = pk_bench.read_bytes()
    for n in [*icount.PHASES, 0, 0xffff]:
        assert bytes([0x0F, 0x1F, 0x80]) + n.to_bytes(2, "little") + b"KP" in code, n
