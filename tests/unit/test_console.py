"""The console classifier on hand-written console excerpts."""

from patchkit import console

BOOT = """\
[    0.000000] Linux version 6.12.57 (builder@host) (gcc 12.2.0) #1 SMP
[    0.412345] Run /init as init process
@@patchkit suite-start 0.52
"""


def parse(text):
    return console.parse(text.splitlines(keepends=True))


def kinds(con):
    return [(e.kind, e.test) for e in con.events]


def test_clean_run_gives_results_and_no_events():
    con = parse(BOOT + """\
@@patchkit test-start hog
pk-hog: OK: 100 pages verified
@@patchkit figure hog hog.pages 100
@@patchkit figure hog zram.algorithm lz4
@@patchkit figure hog hog.fill_seconds 1.250
@@patchkit test-end hog PASS 3.40
@@patchkit suite-end PASS
""")
    assert con.events == []
    assert con.kernel_started
    assert con.suite_start_uptime == 0.52
    assert con.suite_end == "PASS"
    rec = con.tests["hog"]
    assert (rec.status, rec.seconds) == ("PASS", 3.40)
    assert rec.figures == {"hog.pages": 100, "zram.algorithm": "lz4", "hog.fill_seconds": 1.25}
    assert con.running is None


def test_warning_is_tied_to_the_running_test():
    con = parse(BOOT + """\
@@patchkit test-start zram-setup
@@patchkit test-end zram-setup PASS 1.0
@@patchkit test-start writeback
[   12.000001] ------------[ cut here ]------------
[   12.000002] WARNING: CPU: 1 PID: 77 at mm/page_io.c:301 swap_write_end+0x12/0x40
[   12.000003] Modules linked in:
@@patchkit test-end writeback PASS 5.0
""")
    assert kinds(con) == [("warning", "writeback")]
    assert con.events[0].text.startswith("WARNING: CPU: 1 PID: 77 at mm/page_io.c:301")
    assert con.events[0].line == 8


def test_each_kernel_report_kind_is_recognised():
    cases = {
        "BUG: KASAN: slab-use-after-free in zram_free_page+0x1/0x2": "kasan",
        "WARNING: possible recursive locking detected": "lockdep",
        "WARNING: inconsistent lock state": "lockdep",
        "WARNING: possible circular locking dependency detected": "lockdep",
        "BUG: sleeping function called from invalid context at mm/page_alloc.c:4200": "sleep-in-atomic",
        "BUG: scheduling while atomic: kswapd0/30/0x00000002": "sleep-in-atomic",
        "INFO: task kswapd0:30 blocked for more than 120 seconds.": "hung-task",
        "watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [pk-hog:99]": "soft-lockup",
        "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:": "rcu-stall",
        "rcu: INFO: rcu_sched self-detected stall on CPU": "rcu-stall",
        "Kernel panic - not syncing: Fatal exception": "panic",
        "Oops: general protection fault, probably for non-canonical address 0xdead": "oops",
        "Oops: 0000 [#1] PREEMPT SMP": "oops",
        "kernel BUG at mm/swapfile.c:1234!": "bug",
        "BUG: unable to handle page fault for address: ffff888000000000": "bug",
        "BUG: Bad page state in process pk-hog  pfn:0a1b2": "bug",
        "WARNING: CPU: 0 PID: 1 at drivers/block/zram/zram_drv.c:99 zram_submit_bio+0x1/0x2": "warning",
        "Out of memory: Killed process 123 (pk-hog) total-vm:300000kB, anon-rss:1000kB": "oom-kill",
        "Memory cgroup out of memory: Killed process 55 (stress-ng-vm) total-vm:1kB": "oom-kill",
        "UBSAN: shift-out-of-bounds in mm/swapfile.c:10:2": "ubsan",
    }
    for text, kind in cases.items():
        assert console.classify(text) is not None, text
        assert console.classify(text)[0] == kind, text


def test_harmless_kernel_lines_are_not_events():
    for text in [
        "Adding 524284k swap on /dev/zram0.  Priority:-2 extents:1 across:524284k SS",
        "zram0: detected capacity change from 0 to 1048576",
        "zram: Added device: zram1",
        "Freeing unused kernel image (initmem) memory: 1000K",
        "random: crng init done",
        "oom_reaper: reaped process 123 (pk-hog), now anon-rss:0kB",
    ]:
        assert console.classify(text) is None, text


def test_oom_kill_names_the_victim_and_is_allowed_only_when_declared():
    con = parse(BOOT + """\
@@patchkit test-start zram-full
@@patchkit allow-oom pk-hog
[    9.1] Out of memory: Killed process 120 (pk-hog) total-vm:300000kB
[    9.2] Out of memory: Killed process 1 (sh) total-vm:3000kB
@@patchkit test-end zram-full PASS 4.0
@@patchkit test-start hog
[   19.1] Out of memory: Killed process 130 (pk-hog) total-vm:300000kB
""")
    assert [(e.victim, e.test, e.allowed) for e in con.events] == [
        ("pk-hog", "zram-full", True), ("sh", "zram-full", False), ("pk-hog", "hog", False)]
    assert [e.kind for e in con.failing_events()] == ["oom-kill", "oom-kill"]


def test_panic_inside_a_test_leaves_it_running():
    con = parse(BOOT + """\
@@patchkit test-start swapoff
[   30.0] BUG: unable to handle page fault for address: 0000000000000008
[   30.1] Oops: 0000 [#1] PREEMPT SMP
[   30.2] Kernel panic - not syncing: Fatal exception
""")
    assert con.running == "swapoff"
    assert kinds(con) == [("bug", "swapoff"), ("oops", "swapoff"), ("panic", "swapoff")]
    assert con.suite_end is None


def test_user_output_without_timestamp_is_not_a_kernel_event():
    con = parse(BOOT + """\
@@patchkit test-start selftests
zram01 : [FAIL] BUG: this is a test program talking
WARNING: CPU: 0 PID: 1 at a.c:1 f+0x0/0x0
@@patchkit test-end selftests FAIL 2.0
""")
    assert con.events == []


def test_without_timestamps_every_line_is_classified():
    con = parse("Linux version 6.12\n@@patchkit test-start hog\nKernel panic - not syncing: x\n")
    assert kinds(con) == [("panic", "hog")]


def test_marker_after_kernel_text_on_the_same_line():
    con = parse(BOOT + """\
@@patchkit test-start hog
[    5.0] WARNING: CPU: 0 PID: 9 at mm/vmscan.c:1 f+0x0/0x1@@patchkit test-end hog PASS 1.0
@@patchkit test-start pageout
""")
    assert con.tests["hog"].status == "PASS"
    assert kinds(con) == [("warning", "hog")]
    assert con.running == "pageout"


def test_detail_and_json_figures_on_test_end():
    con = parse(BOOT + """\
@@patchkit test-start writeback
@@patchkit test-detail writeback bd_stat shows no page written back
@@patchkit test-end writeback FAIL 7.5 {"bd_writes": 0, "backing": "/dev/vda"}
""")
    rec = con.tests["writeback"]
    assert rec.detail == "bd_stat shows no page written back"
    assert rec.figures == {"bd_writes": 0, "backing": "/dev/vda"}
    assert rec.status == "FAIL"


def test_carriage_returns_from_the_serial_console_are_dropped():
    con = parse("[    0.0] Linux version 6.12\r\n@@patchkit test-start hog\r\n@@patchkit test-end hog SKIP 0.1\r\n")
    assert con.tests["hog"].status == "SKIP"
    assert con.tests["hog"].seconds == 0.1
