"""Interruptions: SIGINT, SIGTERM and SIGHUP at several points of apply,
render and send, delivered to a real `python -m patchkit` subprocess.

The points are controlled from outside patchkit: a `git` stand-in first on
PATH blocks its Nth call whose arguments contain a given word (before it
runs), a post-applypatch hook blocks git am after its Nth patch, or the
sendmail stand-in blocks on its Nth message.  The test waits until the
stand-in says it is blocked, then sends the signal (see badkit.run_pk).

Each case checks the exit code (130), the one E: line (what was restored or
what went out) and the state afterwards:
  * apply: the checkout exactly as before (and the next run works);
  * render: branches, output folders and the cache exactly as before, or,
    when the signal comes while publishing, exactly the new render whole;
  * send: the sent record names exactly the messages that went out, and the
    same command sends the rest, each message once.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

import badkit
import mailrepo
from badkit import dir_state, diff_state, git, one_error_line, run_pk, state
from mini_trees import SERIES
from patchkit import sentrecords

AUTHOR = "Ada Tester <ada@example.org>"
INT, TERM, HUP = signal.SIGINT, signal.SIGTERM, signal.SIGHUP


# ------------------------------------------------------------------ apply

APPLY_POINTS = [
    # id, signal, how to block, series being applied, checked: rerun works
    ("before-git-am", INT, {"PK_BLOCK": "am", "PK_BLOCK_NTH": 1}, "dep", True),
    ("dep-patch-1-committed", TERM, {"PK_HOOK_NTH": 1}, "dep", False),
    ("between-series", INT, {"PK_BLOCK": "am", "PK_BLOCK_NTH": 2}, "top", False),
    ("top-patch-1-committed", TERM, {"PK_HOOK_NTH": 3}, "top", True),
    ("dep-patch-2-committed", HUP, {"PK_HOOK_NTH": 2}, "dep", False),
]


@pytest.mark.parametrize("point,sig,block,series,rerun", APPLY_POINTS,
                         ids=[p[0] for p in APPLY_POINTS])
def test_apply_interrupted(tmp_path, point, sig, block, series, rerun):
    hm = badkit.handmade_series(tmp_path / "hm")
    (hm.checkout / "notes.o").write_text("ignored, must survive\n")
    extra = dict(block)
    if "PK_HOOK_NTH" in block:
        extra.update(badkit.hook_env(tmp_path))
    env = badkit.pk_env(tmp_path, **extra)
    argv = ["apply", hm.top, "--tree", str(hm.checkout), "--patches", str(hm.top_patches)]
    before = state(hm.checkout)
    done = run_pk(argv, env, stop=sig)
    assert done.returncode == 130, done.stderr
    line = one_error_line(done.stderr)
    assert line == (f"interrupted while applying {series}: the checkout is back on master at "
                    f"{hm.base[:12]} as it was (branch patchkit/top-v1 removed)")
    assert state(hm.checkout) == before, diff_state(before, state(hm.checkout))
    if rerun:
        again = run_pk(argv, badkit.pk_env(tmp_path))
        assert again.returncode == 0, again.stderr
        assert git(hm.checkout, "log", "--format=%s", "-4").splitlines() == [
            "zram: top two", "mm: add pk_new.c", "mm/page_io: dep two", "mm/swap: dep one"]


# ------------------------------------------------------------------ render

def render_world(tmp_path):
    checkout = badkit.mini_checkout(tmp_path / "co" / "zram-6.12")
    series = tmp_path / "series"
    shutil.copytree(SERIES, series)
    (series / "mini-zram" / "cover.j2").write_text("The mini series {{ name }}.\n")
    toml = series / "mini-zram" / "series.toml"
    toml.write_text(toml.read_text() + '\n[changes]\n2 = "- the second take"\n')
    out = tmp_path / "out"
    argv = ["render", str(series / "mini-zram"), "--tree", str(checkout), "-o", str(out),
            "--author", AUTHOR]
    return checkout, series, out, argv


def render_state(tmp_path, checkout, out) -> dict:
    cache = tmp_path / "cache"
    repos = {}
    for repo in sorted((cache / "render-repos").glob("*")):
        repos[repo.name] = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return {"checkout": state(checkout), "out": dir_state(out), "repos": repos,
            "cache": sorted(str(p.relative_to(tmp_path)) for p in cache.rglob("*")
                            if "objects" not in p.parts and p.is_dir()) if cache.exists() else []}


RENDER_POINTS = [
    ("first-commit-tree", INT, {"PK_BLOCK": "commit-tree", "PK_BLOCK_NTH": 2}, False),
    ("second-format-patch", TERM, {"PK_BLOCK": "format-patch", "PK_BLOCK_NTH": 2}, False),
    ("cover-letter", INT, {"PK_BLOCK": "shortlog", "PK_BLOCK_NTH": 1}, False),
    ("re-render-cover-letter", TERM, {"PK_BLOCK": "shortlog", "PK_BLOCK_NTH": 1}, True),
]


@pytest.mark.parametrize("point,sig,block,again", RENDER_POINTS, ids=[p[0] for p in RENDER_POINTS])
def test_render_interrupted_changes_nothing(tmp_path, point, sig, block, again):
    checkout, series, out, argv = render_world(tmp_path)
    if again:   # a finished render first: the interrupted one must keep it
        first = run_pk(argv, badkit.pk_env(tmp_path))
        assert first.returncode == 0, first.stderr
        (series / "mini-zram" / "cover.j2").write_text("A new cover for {{ name }}.\n")
    before = render_state(tmp_path, checkout, out)
    done = run_pk(argv, badkit.pk_env(tmp_path, **block), stop=sig)
    assert done.returncode == 130, done.stderr
    assert one_error_line(done.stderr) == ("interrupted while rendering mini-base + mini-zram: no "
                                           "branch, output folder or cache entry was changed")
    after = render_state(tmp_path, checkout, out)
    assert after == before
    assert not list(out.glob(".*")) if out.exists() else True


def test_render_interrupted_while_publishing_publishes_everything(tmp_path):
    checkout, series, out, argv = render_world(tmp_path)
    clean = run_pk(argv, badkit.pk_env(tmp_path / "clean"))     # the same render, uninterrupted
    assert clean.returncode == 0, clean.stderr
    expected = dir_state(out)
    shutil.rmtree(out)
    # update-ref --stdin moves both branches; it is held 2 s, the signal comes meanwhile
    env = badkit.pk_env(tmp_path, PK_BLOCK="update-ref --stdin", PK_BLOCK_NTH=1,
                        PK_BLOCK_SECONDS=2)
    done = run_pk(argv, env, stop=TERM)
    assert done.returncode == 130, done.stderr
    assert one_error_line(done.stderr).startswith(
        "interrupted as render of mini-base + mini-zram ended: its branches and folders are complete")
    assert dir_state(out) == expected
    (repo,) = (tmp_path / "cache" / "render-repos").glob("*.git")
    refs = git(repo, "for-each-ref", "--format=%(refname)").splitlines()
    assert refs == ["refs/heads/patchkit/mini-base-v1", "refs/heads/patchkit/mini-zram-v2"]


# ------------------------------------------------------------------ send

SENDMAIL = """#!/bin/sh
n=$(ls "$MAILDIR" | wc -l)
if [ -n "$HOLD_AT" ] && [ "$n" -eq "$HOLD_AT" ]; then
  : > "$PK_BLOCK_DIR/blocked"
  while [ ! -e "$PK_BLOCK_DIR/release" ]; do sleep 0.05; done
fi
{ echo "ARGS: $*"; cat; } > "$MAILDIR/$(printf %03d "$n")"
"""


def send_world(tmp_path):
    info = mailrepo.make_repo(tmp_path / "m")
    mailrepo.make_series(tmp_path / "m")
    maildir = tmp_path / "maildir"
    maildir.mkdir()
    script = tmp_path / "sendmail"
    script.write_text(SENDMAIL)
    script.chmod(0o755)
    git(info["repo"], "config", "sendemail.sendmailCmd", str(script))
    argv = ["send", str(tmp_path / "m" / "templates" / "zram-swap-ops"), "--repo", str(info["repo"]),
            "--base", info["base"], "--tip", info["tip"], "--no-auto-to-cc",
            "--date", "2026-06-20T08:00:00+00:00", "--send"]
    return info, maildir, argv


def delivered_ids(maildir: Path) -> list[str]:
    ids = []
    for f in sorted(maildir.iterdir()):
        for line in f.read_text().splitlines():
            if line.lower().startswith("message-id:"):
                ids.append(line.split(":", 1)[1].strip())
                break
    return ids




def test_send_interrupted_while_composing_sends_and_records_nothing(tmp_path):
    info, maildir, argv = send_world(tmp_path)
    out = tmp_path / "mails"
    before = state(info["repo"])
    env = badkit.pk_env(tmp_path, MAILDIR=maildir, PK_BLOCK="format-patch", PK_BLOCK_NTH=1)
    done = run_pk([*argv, "-o", str(out)], env, stop=TERM)
    assert done.returncode == 130, done.stderr
    assert one_error_line(done.stderr) == ("interrupted while composing: nothing was sent, "
                                           "written or recorded")
    assert state(info["repo"]) == before
    assert list(maildir.iterdir()) == [] and not out.exists()
    assert sentrecords.load_record(info["repo"], "zram-swap-ops", 1) is None


@pytest.mark.parametrize("sig", [INT, TERM], ids=["INT", "TERM"])
def test_send_interrupted_while_delivering_records_exactly_what_went_out(tmp_path, sig):
    """The signal comes while message 2 is being delivered: send finishes that
    message, records it, stops; the same command then sends message 3 only."""
    import subprocess
    import sys

    info, maildir, argv = send_world(tmp_path)
    env = badkit.pk_env(tmp_path, MAILDIR=maildir, HOLD_AT=1)
    p = subprocess.Popen([sys.executable, "-m", "patchkit", *argv], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    blocked = Path(env["PK_BLOCK_DIR"]) / "blocked"
    deadline = time.monotonic() + 60
    while not blocked.exists():
        assert p.poll() is None, p.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p.send_signal(sig)
    time.sleep(0.3)                       # the signal is pending, not acted on yet
    (Path(env["PK_BLOCK_DIR"]) / "release").touch()
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert one_error_line(err) == ("interrupted after 2 of 3 messages went out; each is recorded: "
                                   "run the same command again to send the rest")
    record = sentrecords.load_record(info["repo"], "zram-swap-ops", 1)
    assert record.sent == delivered_ids(maildir) and len(record.sent) == 2
    again = run_pk(argv, badkit.pk_env(tmp_path, MAILDIR=maildir))
    assert again.returncode == 0, again.stderr
    ids = delivered_ids(maildir)
    assert len(ids) == 3 and len(set(ids)) == 3
    assert sentrecords.load_record(info["repo"], "zram-swap-ops", 1).complete


def test_send_interrupted_while_recording_keeps_the_record_true(tmp_path):
    """update-ref of the record is held 2 s; the signal waits for it."""
    info, maildir, argv = send_world(tmp_path)
    env = badkit.pk_env(tmp_path, MAILDIR=maildir, PK_BLOCK="update-ref", PK_BLOCK_NTH=1,
                        PK_BLOCK_SECONDS=2)
    done = run_pk(argv, env, stop=INT)
    assert done.returncode == 130, done.stderr
    assert one_error_line(done.stderr).startswith("interrupted after 1 of 3 messages went out")
    record = sentrecords.load_record(info["repo"], "zram-swap-ops", 1)
    assert record.sent == delivered_ids(maildir) and len(record.sent) == 1
