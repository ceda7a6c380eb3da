"""The final check of issue 6 on the real series: render zram-swap-ops (and
the series it depends on) on the pinned tree, mail it with -o, and check that
b4 accepts the mbox with no warnings and that git am of b4's output onto the
base gives exactly the rendered tree.

An unknown series, a tree that cannot be opened or a render error fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from patchkit import cli, render, series as series_mod

from maintainer_git import git, git_am_gives_the_tip

pytestmark = pytest.mark.integration

SERIES = os.environ.get("PATCHKIT_MAIL_SERIES", "zram-swap-ops")
B4 = shutil.which("b4") or str(Path(sys.executable).with_name("b4"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    # a render error is what this test is here to catch: it fails, never skips
    series = series_mod.load(SERIES)
    args = type("Args", (), {"tree": None})()
    return render.renderer_for_send(args, series)


@pytest.mark.skipif(not Path(B4).exists(), reason="b4 not installed (pip install -e '.[test]')")
def test_real_series_mbox_passes_b4_am_and_git_am_gives_the_rendered_tree(rendered, tmp_path):
    """With --with-deps: the prerequisite series and the series, each through
    b4 am, then git am of both onto the tree's base gives the rendered tip."""
    out = tmp_path / "mail"
    deps = ["--with-deps", "--prerequisite-base", rendered.prerequisite_base] \
        if rendered.prerequisite_base else []
    assert cli.main(["send", SERIES, "--repo", str(rendered.repo), "--base", rendered.base,
                     "--tip", rendered.tip, *deps,
                     "--from", "Patchkit Test <patchkit@example.org>",
                     "--date", "2026-06-14T11:35:53+00:00", "-o", str(out)]) == 0
    mbx = []
    for mbox in sorted(out.glob("*.mbox"), key=lambda p: not p.name.startswith(str(rendered.series.depends))):
        dest = tmp_path / ("b4-" + mbox.stem)
        res = subprocess.run([B4, "--offline-mode", "am", "-m", str(mbox), "-o", str(dest)],
                             capture_output=True, text=True, cwd=tmp_path)
        log = res.stdout + res.stderr
        assert res.returncode == 0, log
        for bad in ("WARNING", "ERROR", "CRITICAL"):
            assert bad not in log, log
        mbx.append(next(dest.glob("*.mbx")))
    assert len(mbx) == (2 if deps else 1)
    start = rendered.prerequisite_base or rendered.base

    clone = git_am_gives_the_tip(rendered, start, mbx, tmp_path)
    fmt = "--format=%an <%ae>%n%B"
    assert git(clone, "log", fmt, f"{start}..HEAD") == \
        git(rendered.repo, "log", fmt, f"{start}..{rendered.tip}")
