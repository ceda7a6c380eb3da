"""render + apply a test-only series on the real 6.12 tree (sparse checkout)."""

from pathlib import Path

import pytest

from patchkit import apply, git, render

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SERIES = REPO / "tests" / "data" / "series" / "kernel-smoke"
PROFILES = REPO / "templates" / "profiles"
AUTHOR = "Ada Tester <ada@example.org>"


def pinned():
    """The pinned tree (fetched into the user's cache when missing)."""
    from patchkit import tree

    return tree.open_tree(None)


def sparse_checkout(tree, dest: Path) -> Path:
    """A user-like checkout of the base with only the touched folders on disk."""
    git.run(None, "clone", "-q", "--shared", "--no-checkout", str(tree.path), str(dest))
    git.out(dest, "sparse-checkout", "set", "drivers/block/zram", "mm", "include/linux")
    git.out(dest, "checkout", "-q", "-b", "work", tree.base_commit)
    git.out(dest, "config", "user.name", "User")
    git.out(dest, "config", "user.email", "user@example.org")
    return dest


def test_render_then_apply_on_the_real_tree(tmp_path, monkeypatch):
    tree = pinned()    # the user's cache: fetched once, not per test
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    result = render.render(str(SERIES), tree, author=AUTHOR, profiles=PROFILES,
                           out_root=tmp_path / "out")
    assert [c.subject for c in result.commits] == [
        "mm/swap: give swap_info_struct an ops pointer",
        "zram: a helper taking zram_slot_lock"]
    zram = git.out(result.repo, "show", f"{result.tip}:drivers/block/zram/zram_drv.c")
    assert "\tzram_slot_lock(zram, index);\n\tzram_accessed(zram, index);\n" in zram
    again = render.render(str(SERIES), tree, author=AUTHOR, profiles=PROFILES,
                          out_root=tmp_path / "out2")
    assert again.tip == result.tip
    assert [p.read_bytes() for p in again.patch_files] == \
        [p.read_bytes() for p in result.patch_files]

    checkout = sparse_checkout(tree, tmp_path / "linux")
    applied = apply.apply_chain(checkout, apply.chain_from_render(result))
    assert applied.applied == ["kernel-smoke"]
    assert git.out(checkout, "rev-parse", "HEAD^{tree}") == \
        git.out(result.repo, "rev-parse", f"{result.tip}^{{tree}}")
    assert apply.apply_chain(checkout, apply.chain_from_render(result)).already
