"""patchkit's mail against b4 (from PyPI, offline) on the small mail repo:

* `patchkit send --with-deps -o` writes the prerequisite series and the
  series; `b4 am` of each mbox, then `git am` of both onto the tree's base,
  gives exactly the rendered tip (tree and commit messages);
* the union recipients are those `b4 prep --auto-to-cc` computes for the same
  commits (a real b4-prepared branch: b4 prep --enroll), and every message
  is addressed as `b4 send -o` addresses it.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mailrepo

from patchkit import cli

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (shutil.which("b4") or Path(sys.executable).with_name("b4").exists()),
                                 reason="b4 not installed (pip install -e '.[test]')")]

B4 = shutil.which("b4") or str(Path(sys.executable).with_name("b4"))
DATE = "2026-06-20T08:00:00+00:00"


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))    # no b4 user config
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    info = mailrepo.make_repo(tmp_path, from_line=False)
    info["root"] = tmp_path
    return info


def git(repo, *args):
    env = {**os.environ, "GIT_COMMITTER_NAME": "Maintainer", "GIT_COMMITTER_EMAIL": "m@example.org",
           "GIT_AUTHOR_NAME": "Ada Author", "GIT_AUTHOR_EMAIL": "ada@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def b4(cwd, *args) -> str:
    res = subprocess.run([B4, "--offline-mode", *args], capture_output=True, text=True, cwd=cwd)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log
    return log


def headers(path: Path):
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def addrs(msg, key) -> list[str]:
    return [a.addr_spec for a in msg[key].addresses] if msg[key] else []


def test_b4_am_then_git_am_of_both_mailed_series_gives_the_rendered_tree(tree):
    mailrepo.make_series(tree["root"], to=(), cc=(), depends="swap-batching")
    out = tree["root"] / "mail"
    assert cli.main(["send", str(tree["root"] / "templates" / "zram-swap-ops"), "--with-deps",
                     "--repo", str(tree["repo"]), "--base", tree["base"], "--tip", tree["tip"],
                     "--prerequisite-base", tree["base0"], "--date", DATE, "-o", str(out)]) == 0
    mbx = []
    for name, count in (("swap-batching-v1", 1), ("zram-swap-ops-v1", 2)):
        log = b4(tree["root"], "am", "-m", str(out / f"{name}.mbox"), "-o", str(tree["root"] / name))
        for bad in ("WARNING", "ERROR", "CRITICAL"):
            assert bad not in log, log
        assert f"Total patches: {count}" in log, log
        mbx.append(next((tree["root"] / name).glob("*.mbx")))
        cover = next((tree["root"] / name).glob("*.cover")).read_text()
        assert f"base-commit: {tree['base0']}" in cover
    assert "prerequisite-change-id: 20260520-swap-batching-6e1f2a7c9b30:v1" in cover

    dest = tree["root"] / "maintainer"
    git(tree["root"], "clone", "-q", str(tree["repo"]), str(dest))
    git(dest, "checkout", "-q", "-b", "applied", tree["base0"])
    for m in mbx:                                   # the prerequisite first, as a maintainer would
        git(dest, "am", str(m))
    assert git(dest, "rev-parse", "HEAD^{tree}") == git(tree["repo"], "rev-parse", f"{tree['tip']}^{{tree}}")
    fmt = "--format=%an <%ae>%n%B"
    assert git(dest, "log", fmt, f"{tree['base0']}..HEAD") == git(tree["repo"], "log", fmt,
                                                                   f"{tree['base0']}..{tree['tip']}")


def test_union_recipients_match_b4_prep_auto_to_cc_and_b4_send(tree):
    repo = tree["repo"]
    mailrepo.make_series(tree["root"], to=(), cc=())
    # b4's side: a real prep branch with the same two commits on the same base
    git(repo, "checkout", "-q", "-b", "b4-zram", tree["tip"])
    git(repo, "config", "b4.send-me-too", "no")     # patchkit never mails the sender
    b4(repo, "prep", "--enroll", tree["base"])
    assert git(repo, "diff", tree["tip"], "HEAD") == ""
    b4(repo, "prep", "--auto-to-cc")
    cover_commit = git(repo, "rev-list", "--reverse", f"{tree['base']}..HEAD").split()[0]
    prep = git(repo, "log", "-1", "--format=%B", cover_commit)    # b4's cover letter commit
    b4_to = [email.utils.parseaddr(line[4:])[1] for line in prep.splitlines() if line.startswith("To: ")]
    b4_cc = [email.utils.parseaddr(line[4:])[1] for line in prep.splitlines() if line.startswith("Cc: ")]
    assert b4_to and b4_cc, prep
    b4(repo, "send", "--no-sign", "-o", str(tree["root"] / "b4-out"))
    b4_msgs = [headers(p) for p in sorted((tree["root"] / "b4-out").glob("*.eml"))]

    out = tree["root"] / "pk-out"
    assert cli.main(["send", str(tree["root"] / "templates" / "zram-swap-ops"), "--repo", str(repo),
                     "--base", tree["base"], "--tip", tree["tip"], "--date", DATE, "-o", str(out)]) == 0
    ours = [headers(p) for p in sorted(out.glob("*.patch"))]

    # the union: auto-to-cc's To and Cc trailers, in b4's order, on every patch
    assert addrs(ours[1], "To") == b4_to and addrs(ours[2], "To") == b4_to
    assert addrs(ours[1], "Cc") == b4_cc
    # and each message addressed as b4 send addresses it (patch 2 and the
    # cover also Cc the other author named in patch 2's trailers)
    assert len(b4_msgs) == len(ours) == 3
    for theirs, mine in zip(b4_msgs, ours):
        assert addrs(mine, "To") == addrs(theirs, "To")
        assert addrs(mine, "Cc") == addrs(theirs, "Cc")
    assert "juergen@example.org" in addrs(ours[2], "Cc")
