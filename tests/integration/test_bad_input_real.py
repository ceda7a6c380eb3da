"""A few bad-input / interruption cases of the matrix on the real pinned tree
and the real series (the rest run on mini trees: tests/unit/test_bad_input_*).

The pinned tree is only read: rendering uses a private cache (PATCHKIT_CACHE
in tmp_path), so render borrows the tree's objects through a bare repository
there and never writes to the shared tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

import badkit
from badkit import dir_state, diff_state, one_error_line, run_pk, state
from patchkit import cli, render

pytestmark = pytest.mark.integration
AUTHOR = "Ada Tester <ada@example.org>"


@pytest.fixture(scope="module")
def pinned():
    from patchkit import tree

    return tree.open_tree(None)      # the user's cache: fetched once, shared


def sparse_clone(tree, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(tree.path), str(dest)],
                   check=True)
    badkit.git(dest, "sparse-checkout", "set", "drivers/block/zram", "mm", "include/linux",
               "Documentation/filesystems")
    badkit.git(dest, "checkout", "-q", "-b", "work", tree.base_commit)
    badkit.git(dest, "config", "user.name", "User")
    badkit.git(dest, "config", "user.email", "user@example.org")
    return dest


def test_real_render_v99_changes_nothing(pinned, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    refs = badkit.git(pinned.path, "for-each-ref", "--format=%(refname) %(objectname)")
    code = cli.main(["render", "zram-swap-ops", "--tree", str(pinned.path), "-o", str(out),
                     "--author", AUTHOR, "-v", "99"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "unknown version v99 of zram-swap-ops" in one_error_line(err)
    assert not out.exists() and not (tmp_path / "cache").exists()
    assert badkit.git(pinned.path, "for-each-ref", "--format=%(refname) %(objectname)") == refs


@pytest.fixture(scope="module")
def real_patches(pinned, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real-render")
    old = os.environ.get("PATCHKIT_CACHE")
    os.environ["PATCHKIT_CACHE"] = str(tmp / "cache")
    try:
        result = render.render("zram-swap-ops", pinned, author=AUTHOR, out_root=tmp / "out")
    finally:
        if old is None:
            os.environ.pop("PATCHKIT_CACHE")
        else:
            os.environ["PATCHKIT_CACHE"] = old
    return result


@pytest.mark.parametrize("sig,where", [(signal.SIGTERM, "dependency"), (signal.SIGINT, "series")],
                         ids=["TERM-in-the-dependency", "INT-in-zram-swap-ops"])
def test_real_apply_interrupted_rolls_back(pinned, real_patches, tmp_path, sig, where):
    (dep,) = real_patches.dependencies
    # after the dependency's 2nd patch, or after the series' 1st
    nth = 2 if where == "dependency" else len(dep.commits) + 1
    series = dep.series.name if where == "dependency" else "zram-swap-ops"
    checkout = sparse_clone(pinned, tmp_path / "linux")
    before = state(checkout)
    env = badkit.pk_env(tmp_path, PK_HOOK_NTH=nth, **badkit.hook_env(tmp_path))
    done = run_pk(["apply", "zram-swap-ops", "--tree", str(checkout), "--patches",
                   str(real_patches.out_dir), "--version", str(real_patches.series.version),
                   "--on", pinned.name],
                  env, stop=sig, timeout=600)
    assert done.returncode == 130, done.stderr
    assert one_error_line(done.stderr).startswith(
        f"interrupted while applying {series}: the checkout is back on work at "
        f"{pinned.base_commit[:12]} as it was")
    assert state(checkout) == before, diff_state(before, state(checkout))


def test_real_apply_on_a_dirty_checkout_changes_nothing(pinned, real_patches, tmp_path, capsys):
    checkout = sparse_clone(pinned, tmp_path / "linux")
    (checkout / "mm" / "page_io.c").write_text("/* my work in progress */\n")
    before = state(checkout)
    code = cli.main(["apply", "zram-swap-ops", "--tree", str(checkout), "--patches",
                     str(real_patches.out_dir), "--version", str(real_patches.series.version),
                     "--on", pinned.name])
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == f"{checkout} has uncommitted changes in: mm/page_io.c"
    assert state(checkout) == before
    assert dir_state(real_patches.out_dir)
