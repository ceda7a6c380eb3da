"""Live progress: a line while the build runs (elapsed, objects, last
target), one line per guest test as the console shows it ending, plain
lines (no carriage return) when not on a terminal, nothing with -q."""

from __future__ import annotations

import threading
import time

import pytest

from patchkit import boot, build, options, ui


@pytest.fixture(autouse=True)
def _loud():
    with options.using(quiet=False):
        yield


def test_plain_live_line_has_elapsed_and_text_and_no_carriage_return(capsys):
    live = ui.Live("build", "bzImage -j2", tty=False, every=0.0)
    live.update("120 objects, CC mm/swap.o")
    live.event("hog: PASS in 3.1s")
    live.stop()
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines() == ["I: build: 0:00:00, 120 objects, CC mm/swap.o", "I: build: hog: PASS in 3.1s"]


def test_plain_live_line_is_rate_limited(capsys):
    live = ui.Live("build", tty=False, every=3600)
    for i in range(50):
        live.update(f"{i} objects")
    live.stop()
    assert capsys.readouterr().err == ""


def test_quiet_prints_no_live_line_and_no_test_line(capsys):
    with options.using(quiet=True):
        live = ui.Live("boot", tty=False, every=0.0)
        live.update("running hog")
        live.event("hog: PASS in 1s")
        live.stop()
    assert capsys.readouterr().err == ""


def wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return cond()


def test_follower_reads_lines_while_the_file_grows_and_after_a_truncation(tmp_path):
    path = tmp_path / "console.log"
    seen = []
    reader = type("R", (), {"line": lambda self, t: seen.append(t)})()
    f = ui.Follower(path, reader, tick=0.02, from_start=True)
    f.start()
    with open(path, "w") as out:
        out.write("one\ntw")
        out.flush()
        assert wait_for(lambda: seen == ["one"])   # a half line waits for its end
        out.write("o\nthree\n")
        out.flush()
        assert wait_for(lambda: seen == ["one", "two", "three"])
    path.write_text("new\n")               # a new run truncates the log
    assert wait_for(lambda: seen[-1] == "new")
    f.stop()


def test_guest_progress_prints_each_test_as_it_ends(capsys):
    live = ui.Live("boot", tty=False, every=3600)
    g = boot.GuestProgress(live)
    for line in ["[    0.000000] Linux version 6.12.57 (patchkit@patchkit)",
                 "@@patchkit suite-start 1.52",
                 "@@patchkit test-start zram-setup",
                 "[    2.1] zram0: detected capacity change",
                 '@@patchkit test-end zram-setup PASS 0.84 {"zram.disksize": 1}',
                 "@@patchkit test-start hog",
                 "noise @@patchkit test-end hog FAIL 31.20"]:
        g.line(line)
        if "test-start hog" in line:
            assert g.status() == "1 tests done, running hog"
    live.stop()
    assert capsys.readouterr().err.splitlines() == ["I: boot: zram-setup: PASS in 0.84s",
                                                    "I: boot: hog: FAIL in 31.20s"]


def test_a_build_prints_live_lines_from_its_log_while_make_runs(tmp_path, capsys, monkeypatch):
    """The real pieces together: a writer appends kbuild lines, the stage
    prints plain progress lines while it is still writing."""
    monkeypatch.setattr(ui, "LIVE_EVERY", 0.1)
    monkeypatch.setattr(ui, "on_terminal", lambda: False)
    log = tmp_path / "build.log"
    log.write_text("# reproduce: make\n")

    def make():
        with open(log, "a") as f:
            for i in range(30):
                f.write(f"  CC      mm/file{i}.o\n")
                f.flush()
                time.sleep(0.02)

    got = []

    def printed(text):
        got.append(capsys.readouterr().err)
        return text in "".join(got)

    with ui.stage("build", "bzImage") as live, ui.follow(log, build.KbuildProgress(live)):
        t = threading.Thread(target=make)
        t.start()
        # while the stage still runs, a plain progress line with the count appears
        assert wait_for(lambda: printed("I: build: 0:00:0"))
        t.join()
        assert wait_for(lambda: printed("30 objects, CC mm/file29.o"))
    lines = "".join(got + [capsys.readouterr().err]).splitlines()
    assert "\r" not in "".join(lines)
    assert lines[-1].startswith("I: build: PASS in ")


def test_a_stage_inside_a_stage_shares_one_terminal_status_line():
    outer = ui.Live("bench build baseline", "building", tty=True)
    inner = ui.Live("build", "bzImage", tty=True)
    assert inner._status is outer._status           # one rich status, not two fighting
    inner.update("10 objects")
    inner.stop()
    assert outer._status is not None                # the outer line is back
    outer.stop()
    assert outer not in ui._ACTIVE and inner not in ui._ACTIVE
