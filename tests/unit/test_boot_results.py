"""From a parsed console to per-test results and the run's status."""

import pytest

from patchkit import boot, console
from patchkit.errors import UserError

HEAD = "[    0.0] Linux version 6.12.57\n@@patchkit suite-start 0.61\n"


def results(text, tests, *, guest_status=0, timed_out=False):
    con = console.parse(text.splitlines())
    return boot.results_from_console(con, tests, guest_status=guest_status, timed_out=timed_out,
                                     timeout=900)


def test_all_tests_pass():
    res, status, detail = results(HEAD + """\
@@patchkit test-start zram-setup
@@patchkit figure zram-setup zram.algorithm lz4
@@patchkit test-end zram-setup PASS 0.5
@@patchkit test-start writeback
@@patchkit test-detail writeback no $ZRAM/backing_dev: CONFIG_ZRAM_WRITEBACK is off
@@patchkit test-end writeback SKIP 0.1
@@patchkit suite-end PASS
""", ["zram-setup", "writeback"])
    assert [(r.name, r.status) for r in res] == [("zram-setup", "PASS"), ("writeback", "SKIP")]
    assert res[0].figures == {"zram.algorithm": "lz4"}
    assert "CONFIG_ZRAM_WRITEBACK is off" in res[1].detail
    assert (status, detail) == ("PASS", "")


def test_kernel_warning_fails_a_test_the_guest_passed():
    res, status, detail = results(HEAD + """\
@@patchkit test-start hog
[    3.0] WARNING: CPU: 0 PID: 50 at mm/page_io.c:10 f+0x0/0x1
@@patchkit test-end hog PASS 2.0
@@patchkit suite-end PASS
""", ["hog"])
    assert res[0].status == "FAIL"
    assert "kernel warning: WARNING: CPU: 0 PID: 50 at mm/page_io.c:10" in res[0].detail
    assert [e.kind for e in res[0].events] == ["warning"]
    assert status == "FAIL" and "hog" in detail


def test_panic_fails_the_running_test_and_later_tests_are_not_reached():
    res, status, detail = results(HEAD + """\
@@patchkit test-start zram-setup
@@patchkit test-end zram-setup PASS 0.5
@@patchkit test-start hog
[    9.0] Kernel panic - not syncing: Fatal exception
""", ["zram-setup", "hog", "pageout"], guest_status=None)
    assert [r.status for r in res] == ["PASS", "FAIL", "SKIP"]
    assert "did not finish: guest stopped: Kernel panic - not syncing: Fatal exception" in res[1].detail
    assert res[2].detail.startswith("not reached")
    assert status == "FAIL"


def test_timeout_is_named():
    res, status, detail = results(HEAD + "@@patchkit test-start swapoff\n", ["swapoff"],
                                  guest_status=None, timed_out=True)
    assert res[0].status == "FAIL"
    assert "killed at the host timeout of 900s" in res[0].detail
    assert status == "FAIL" and "timeout" in detail


def test_allowed_oom_kill_is_reported_but_does_not_fail():
    res, status, _ = results(HEAD + """\
@@patchkit test-start hog
@@patchkit allow-oom pk-hog
[    5.0] Out of memory: Killed process 77 (pk-hog) total-vm:1kB
@@patchkit test-end hog PASS 4.0
@@patchkit suite-end PASS
""", ["hog"])
    assert res[0].status == "PASS"
    assert "allowed OOM kill of pk-hog" in res[0].detail
    assert status == "PASS"


def test_event_during_boot_fails_the_run():
    _, status, detail = results("[    0.0] Linux version 6.12\n[    0.3] WARNING: CPU: 0 PID: 1 at init/main.c:1 f\n"
                                "@@patchkit suite-start 0.5\n@@patchkit suite-end PASS\n", [])
    assert status == "FAIL"
    assert detail.startswith("kernel warning outside any test")


def test_no_kernel_output_is_an_error_not_a_failure():
    _, status, detail = results("qemu-system-x86_64: -kernel /x: No such file\n", ["hog"], guest_status=None)
    assert status == "ERROR"
    assert "no kernel output" in detail


def test_guest_failure_status_without_markers_fails():
    res, status, _ = results(HEAD + "@@patchkit suite-end FAIL\n", ["hog"], guest_status=1)
    assert res[0].status == "SKIP"
    assert status == "FAIL"


def test_test_selection():
    assert boot.select_tests(None) == boot.DEFAULT_TESTS
    assert boot.select_tests(["hog", "zram-setup"]) == ["hog", "zram-setup"]
    with pytest.raises(UserError, match="unknown guest test.*nope"):
        boot.select_tests(["hog", "nope"])


def test_every_default_test_has_a_script_and_every_script_is_in_the_suite():
    # the fault tests (patchkit/guest/faults/) run only through patchkit/faults.py
    ordinary = [t for t in boot.available_tests() if not t.startswith("fault-")]
    assert sorted(boot.DEFAULT_TESTS) == ordinary


def test_mkfs_argv():
    assert boot.mkfs_argv(__import__("pathlib").Path("/t/d.img"), "ext2") == \
        ["mkfs.ext2", "-F", "-q", "-b", "4096", "/t/d.img"]


def test_disks_only_for_tests_that_need_them(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(boot.proc, "run", lambda argv, **kw: ran.append(argv))
    disks = boot.make_disks(["zram-setup", "writeback", "swapfile-ext2"], tmp_path)
    assert [d.serial for d in disks] == ["pk-wb", "pk-swapfs"]
    assert (tmp_path / "pk-wb.img").stat().st_size == 256 << 20
    assert ran == [boot.mkfs_argv(tmp_path / "pk-swapfs.img", "ext2")]


def test_table_shows_headline_figures_not_raw_zram_counters():
    text = boot.format_figures({"zram.algorithm": "lz4", "zram.mm_stat.orig_data_size": 4096,
                                "hog.verified_pages": 10, "hog.fill_seconds": 1.0, "hog.mismatches": 0})
    assert text == "zram.algorithm=lz4, hog.verified_pages=10, hog.mismatches=0"


def test_icount_boots_attach_no_disk_for_bench_writeback():
    from patchkit import boot

    assert boot.disk_tests(["bench-writeback", "writeback"], "icount") == ["writeback"]
    assert boot.disk_tests(["bench-writeback", "writeback"], "wall") == ["bench-writeback", "writeback"]
