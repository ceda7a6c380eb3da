"""The final check of issue 6 on the real series: render zram-swap-ops (and
the series it depends on) on the pinned tree, mail it with -o, and check that
b4 accepts the mbox with no warnings and that git am of b4's output onto the
base gives exactly the rendered tree.

Runs once render.py, tree.py and templates/zram-swap-ops are merged; skips
(saying which part is missing) before that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from patchkit import cli, series as series_mod
from patchkit.errors import PatchkitError

pytestmark = pytest.mark.integration

SERIES = os.environ.get("PATCHKIT_MAIL_SERIES", "zram-swap-ops")
B4 = shutil.which("b4") or str(Path(sys.executable).with_name("b4"))


def git(repo, *args):
    env = {**os.environ, "GIT_COMMITTER_NAME": "Maintainer", "GIT_COMMITTER_EMAIL": "m@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    render = pytest.importorskip("patchkit.render")
    if not hasattr(render, "renderer_for_send"):
        pytest.skip("patchkit.render has no renderer_for_send yet")
    if SERIES not in series_mod.available():
        pytest.skip(f"templates/{SERIES} is not in this checkout")
    series = series_mod.load(SERIES)
    args = type("Args", (), {"tree": None})()
    try:
        return render.renderer_for_send(args, series)
    except PatchkitError as exc:
        pytest.skip(f"cannot render {SERIES} here: {exc.msg}")


@pytest.mark.skipif(not Path(B4).exists(), reason="b4 not installed (pip install -e '.[test]')")
def test_real_series_mbox_passes_b4_am_and_git_am_gives_the_rendered_tree(rendered, tmp_path):
    out = tmp_path / "mail"
    assert cli.main(["send", SERIES, "--repo", str(rendered.repo), "--base", rendered.base,
                     "--tip", rendered.tip, *(["--prerequisite-base", rendered.prerequisite_base]
                                              if rendered.prerequisite_base else []),
                     "--from", "Patchkit Test <patchkit@example.org>",
                     "--date", "2026-06-14T11:35:53+00:00", "-o", str(out)]) == 0
    mbox = next(out.glob("*.mbox"))
    res = subprocess.run([B4, "--offline-mode", "am", "-m", str(mbox), "-o", str(tmp_path / "b4")],
                         capture_output=True, text=True, cwd=tmp_path)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log
    for bad in ("WARNING", "ERROR", "CRITICAL"):
        assert bad not in log, log
    mbx = next((tmp_path / "b4").glob("*.mbx"))

    # A sparse clone holding only the touched files: git am needs no full checkout.
    clone = tmp_path / "am"
    git(tmp_path, "clone", "-q", "--shared", "--no-checkout", str(rendered.repo), str(clone))
    touched = git(rendered.repo, "diff", "--name-only", rendered.base, rendered.tip).splitlines()
    git(clone, "sparse-checkout", "set", "--no-cone", *touched)
    git(clone, "checkout", "-q", "-b", "apply", rendered.base)
    git(clone, "am", str(mbx))
    assert git(clone, "rev-parse", "HEAD^{tree}") == git(rendered.repo, "rev-parse", f"{rendered.tip}^{{tree}}")
    fmt = "--format=%an <%ae>%n%B"
    assert git(clone, "log", fmt, f"{rendered.base}..HEAD") == \
        git(rendered.repo, "log", fmt, f"{rendered.base}..{rendered.tip}")
