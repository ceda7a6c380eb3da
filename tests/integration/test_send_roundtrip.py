"""The mbox round-trips: b4 (from PyPI) accepts it with no warnings, and
git am of it onto the base gives exactly the series' tree and commit
messages.  Plus get_maintainer.pl of the real pinned tree, with b4's flags."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mailrepo

from patchkit import cli, recipients

pytestmark = pytest.mark.integration

B4 = shutil.which("b4") or str(Path(sys.executable).with_name("b4"))


@pytest.fixture(params=[True, False], ids=["from-line", "plain"])
def tree(tmp_path, monkeypatch, request):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    info = mailrepo.make_repo(tmp_path, from_line=request.param)
    info["from_line"] = request.param
    mailrepo.make_series(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["send", str(tmp_path / "templates" / "zram-swap-ops"), "--repo", str(info["repo"]),
                     "--base", info["base"], "--tip", info["tip"], "--prerequisite-base", info["base0"],
                     "--date", "2026-06-20T08:00:00+00:00", "-o", str(out)]) == 0
    info.update(root=tmp_path, mbox=out / "zram-swap-ops-v1.mbox", out=out)
    return info


def git(repo, *args, **kw):
    env = {**os.environ, "GIT_COMMITTER_NAME": "Maintainer", "GIT_COMMITTER_EMAIL": "m@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env, **kw).stdout.strip()


def fresh_checkout(tree, name="am") -> Path:
    dest = tree["root"] / name
    git(tree["root"], "clone", "-q", str(tree["repo"]), str(dest))
    git(dest, "checkout", "-q", "-b", "apply", tree["base"])
    return dest


def same_series(dest: Path, tree) -> None:
    assert git(dest, "rev-parse", "HEAD^{tree}") == git(tree["repo"], "rev-parse", f"{tree['tip']}^{{tree}}")
    fmt = "--format=%an <%ae>%n%B"
    assert git(dest, "log", fmt, f"{tree['base']}..HEAD") == git(tree["repo"], "log", fmt,
                                                                  f"{tree['base']}..{tree['tip']}")


@pytest.mark.skipif(not Path(B4).exists(), reason="b4 not installed (pip install -e '.[test]')")
def test_b4_am_accepts_the_mbox_without_warnings_and_git_am_gives_the_tip(tree):
    if tree["from_line"]:
        pytest.skip("b4 am -m reads a local mbox as mboxo: a body line '>From ' keeps its '>'")
    out = tree["root"] / "b4"
    res = subprocess.run([B4, "--offline-mode", "am", "-m", str(tree["mbox"]), "-o", str(out)],
                         capture_output=True, text=True, cwd=tree["root"])
    log = res.stdout + res.stderr
    assert res.returncode == 0, log
    for bad in ("WARNING", "ERROR", "CRITICAL", "Not sure", "missing", "not found"):
        assert bad not in log, log
    assert "Total patches: 2" in log
    mbx = list(out.glob("*.mbx"))
    cover = list(out.glob("*.cover"))
    assert len(mbx) == 1 and len(cover) == 1
    assert "base-commit: " + tree["base0"] in cover[0].read_text()
    dest = fresh_checkout(tree)
    git(dest, "am", str(mbx[0]))
    same_series(dest, tree)


def test_git_am_of_our_mboxrd_gives_the_tip_byte_exact(tree):
    dest = fresh_checkout(tree, "am-rd")
    # git am takes patches, not the cover: skip message 0, as maintainers do
    res = subprocess.run(["git", "-C", str(dest), "am", "--patch-format=mboxrd", str(tree["mbox"])],
                         capture_output=True, text=True,
                         env={**os.environ, "GIT_COMMITTER_NAME": "M", "GIT_COMMITTER_EMAIL": "m@e.org"})
    assert res.returncode != 0
    assert "Applying: mm/zram: route block swap I/O through swap_ops" in res.stdout   # the cover
    assert "No valid patches in input" in res.stderr
    git(dest, "am", "--skip")
    same_series(dest, tree)


def test_git_am_of_the_patch_files_gives_the_tip(tree):
    dest = fresh_checkout(tree, "am-files")
    git(dest, "am", *sorted(str(p) for p in tree["out"].glob("000[1-9]-*.patch")))
    same_series(dest, tree)


def test_real_get_maintainer_with_b4_flags_on_the_pinned_tree():
    from patchkit import tree as tree_mod

    kernel = Path(tree_mod.open_tree(None).path)     # the pinned tree (fetched by make setup)
    patch = (
        "From: Ada Author <ada@example.org>\nSubject: [PATCH] mm/zram: test\n\n---\n"
        "diff --git a/drivers/block/zram/zram_drv.c b/drivers/block/zram/zram_drv.c\n"
        "--- a/drivers/block/zram/zram_drv.c\n+++ b/drivers/block/zram/zram_drv.c\n"
        "@@ -1,1 +1,1 @@\n-a\n+b\n"
        "diff --git a/mm/page_io.c b/mm/page_io.c\n--- a/mm/page_io.c\n+++ b/mm/page_io.c\n"
        "@@ -1,1 +1,1 @@\n-a\n+b\n"
    ).encode()
    r = recipients.for_patch(kernel, patch, "a zram + page_io patch")
    to = " ".join(r.to)
    cc = " ".join(r.cc)
    assert "Minchan Kim <minchan@kernel.org>" in to
    assert "Sergey Senozhatsky <senozhatsky@chromium.org>" in to
    assert "Andrew Morton <akpm@linux-foundation.org>" in to
    assert "linux-mm@kvack.org" in cc and "linux-block@vger.kernel.org" in cc
    assert "linux-kernel@vger.kernel.org" in cc
    assert not any("@" in a and a in r.to for a in r.cc)
    assert all("(" not in a for a in r.to + r.cc)      # --norolestats: bare addresses
