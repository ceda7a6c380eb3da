"""zram-swap-ops v2 mailed from the pinned mainline tree (linux-source-7.3)
and from 6.12: on 7.3 no prerequisite and no base-commit naming the commit
patchkit made from the tarball (the manifest's upstream_commit, or no line
while that is not established); on 6.12 swap-batching v2 as the
prerequisite.  b4 am accepts each mbox without warnings and git am of its
output onto the base gives the rendered tree.  Skips when a tree is not
fetched (patchkit tree fetch NAME)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from patchkit import cli, manifests, series as series_mod, tree as trees
from patchkit.errors import PatchkitError

from maintainer_git import git, git_am_gives_the_tip

pytestmark = pytest.mark.integration

B4 = shutil.which("b4") or str(Path(sys.executable).with_name("b4"))
FROM = "Patchkit Test <patchkit@example.org>"
DATE = "2026-11-30T12:00:00+00:00"


def render_v2(tree_name):
    from patchkit import render
    try:
        tree = trees.open_tree(tree_name)
    except PatchkitError as exc:
        pytest.skip(f"{tree_name} is not available here: {exc.msg}")
    if not Path(tree.path).is_dir():
        pytest.skip(f"{tree_name} is not fetched: patchkit tree fetch {tree_name}")
    series = series_mod.load("zram-swap-ops", version=2)
    args = type("Args", (), {"tree": tree_name, "author": FROM})()
    return render.renderer_for_send(args, series)


def b4_am(mbox: Path, dest: Path) -> tuple[Path, str]:
    res = subprocess.run([B4, "--offline-mode", "am", "-m", str(mbox), "-o", str(dest)],
                         capture_output=True, text=True, cwd=dest.parent)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log
    for bad in ("WARNING", "ERROR", "CRITICAL"):
        assert bad not in log, log
    return next(dest.glob("*.mbx")), next(dest.glob("*.cover")).read_text()


@pytest.mark.skipif(not Path(B4).exists(), reason="b4 not installed (pip install -e '.[test]')")
def test_v2_on_mainline_names_no_local_base_and_no_prerequisite(tmp_path):
    rendered = render_v2("linux-source-7.3")
    manifest = manifests.load_manifest("linux-source-7.3")
    assert rendered.prerequisite_base is None and rendered.base == manifest.base_commit
    out = tmp_path / "mail"
    assert cli.main(["send", "zram-swap-ops", "-v", "2", "--tree", "linux-source-7.3", "--rfc",
                     "--author", FROM, "--from", FROM, "--date", DATE, "-o", str(out)]) == 0
    mbx, cover = b4_am(out / "zram-swap-ops-v2.mbox", tmp_path / "b4")
    assert manifest.base_commit not in cover
    assert "prerequisite-" not in cover
    if manifest.upstream_commit:
        assert f"base-commit: {manifest.upstream_commit}\n" in cover
    else:
        assert "base-commit:" not in cover
    assert "Rebased onto mainline (7.3-rc7)" in cover
    git_am_gives_the_tip(rendered, rendered.base, [mbx], tmp_path)


@pytest.mark.skipif(not Path(B4).exists(), reason="b4 not installed (pip install -e '.[test]')")
def test_v2_on_612_names_the_backport_as_prerequisite(tmp_path):
    rendered = render_v2("linux-source-6.12")
    assert rendered.prerequisite_base, "v2 on 6.12 sits on swap-batching v2"
    out = tmp_path / "mail"
    assert cli.main(["send", "zram-swap-ops", "-v", "2", "--tree", "linux-source-6.12", "--rfc",
                     "--with-deps", "--author", FROM, "--from", FROM, "--date", DATE,
                     "-o", str(out)]) == 0
    dep, _ = b4_am(out / "swap-batching-v2.mbox", tmp_path / "b4-dep")
    mbx, cover = b4_am(out / "zram-swap-ops-v2.mbox", tmp_path / "b4")
    assert "prerequisite-change-id: 20260520-swap-batching-6e1f2a7c9b30:v2\n" in cover
    assert cover.count("prerequisite-patch-id: ") == 6
    assert "swap-batching v2" in cover and "Rebased onto the 6.12 backport" in cover
    git_am_gives_the_tip(rendered, rendered.prerequisite_base, [dep, mbx], tmp_path)
