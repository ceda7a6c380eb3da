"""patchkit.tree on the real pinned linux-source-6.12 tree.

The tree is fetched into the user's cache (paths.cache_dir()) as patchkit
itself does, once per machine: on a fresh CI machine that is a real cold
fetch (about two minutes), later runs reuse it, and the build and boot tests
read the same tree.  A temporary cache would cost a 2.3 GB delete per run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from patchkit import cli, git, manifests, tree
from patchkit import pinned as pinned_trees

pytestmark = pytest.mark.integration

NAME = manifests.DEFAULT_TREE


@pytest.fixture(scope="session")
def pinned():
    """(cache dir, FetchReport) of the default tree, fetched when missing
    (downloaded from the archive unless the host has the pinned tarball)."""
    from patchkit import paths
    return paths.cache_dir(), pinned_trees.fetch_tree(NAME)


@pytest.fixture
def cache_env(pinned, monkeypatch):
    monkeypatch.setenv("PATCHKIT_CACHE", str(pinned[0]))
    return pinned[1].tree


def test_fetch_reproduces_the_manifests_base_commit(pinned):
    report = pinned[1]
    manifest = manifests.load_manifest(NAME)
    assert report.tree.path == pinned[0] / "trees" / NAME
    assert git.out(report.tree.path, "rev-parse", "HEAD") == manifest.base_commit
    assert git.out(report.tree.path, "symbolic-ref", "--short", "HEAD") == pinned_trees.BASE_BRANCH
    if report.fetched:
        assert list(report.phases) == ["package", "sha256", "extract", "git add", "git commit"]


def test_every_file_of_the_tarball_is_committed(pinned):
    path = pinned[1].tree.path
    # untracked files (ignored ones included) would mean `git add` dropped some
    assert git.out(path, "ls-files", "--others") == ""
    count = int(subprocess.run(f"git -C {path} ls-files | wc -l", shell=True, check=True,
                               capture_output=True, text=True).stdout)
    assert count > 80000


def test_cache_holds_no_partial_tree(pinned):
    names = [p.name for p in (pinned[0] / "trees").iterdir()]
    assert NAME in names
    assert not [n for n in names if ".partial" in n], names


def test_verify_passes_on_the_fetched_tree(cache_env, capsys):
    assert cli.main(["tree", "verify", NAME]) == 0
    assert f"{NAME} at {cache_env.path}: OK (Linux 6.12.117" in capsys.readouterr().err


def test_open_tree_uses_the_cache_without_refetching(cache_env):
    t = tree.open_tree(None, fetch=False)
    assert (t.path, t.version, t.base_commit) == \
        (cache_env.path, "6.12.117", manifests.load_manifest(NAME).base_commit)
    assert t.package_version == manifests.load_manifest(NAME).package_version and t.note is None


def test_the_default_tree_lacks_mainlines_swap_ops_base(cache_env):
    assert tree.has_swap_ops_base(cache_env) is False
    assert manifests.load_manifest(NAME).swap_ops_base is False


def present(manifest) -> list[str]:
    return [f for f, h in manifest.files.items() if h != manifests.ABSENT]


def _partial_clone(src: Path, dst: Path, paths: list[str]) -> Path:
    """A user checkout sharing the pinned tree's objects, with only some files."""
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(src), str(dst)],
                   check=True)
    subprocess.run(["git", "-C", str(dst), "checkout", "-q", pinned_trees.BASE_BRANCH, "--", *paths],
                   check=True)
    return dst


def test_user_checkout_of_the_base_matches_the_manifest(cache_env, tmp_path):
    manifest = manifests.load_manifest(NAME)
    clone = _partial_clone(cache_env.path, tmp_path / "linux", ["Makefile", *present(manifest)])
    t = tree.open_tree(str(clone))
    assert (t.path, t.name, t.version, t.base_commit) == \
        (clone, NAME, "6.12.117", manifest.base_commit)
    assert tree.touched_file_diffs(t, manifest) == []


def test_user_checkout_names_each_differing_touched_file(cache_env, tmp_path, capsys):
    manifest = manifests.load_manifest(NAME)
    clone = _partial_clone(cache_env.path, tmp_path / "linux", ["Makefile", *present(manifest)])
    with open(clone / "mm/swap.h", "a") as f:
        f.write("/* local change */\n")
    os.unlink(clone / "mm/zswap.c")
    t = tree.open_tree(str(clone))
    assert tree.touched_file_diffs(t, manifest) == ["mm/swap.h", "mm/zswap.c"]
    assert cli.main(["tree", "verify", "--tree", str(clone)]) == 1
    err = capsys.readouterr().err
    assert "touched file mm/swap.h: sha256" in err
    assert "touched file mm/zswap.c: missing" in err
