"""A maintainer's side of mailed series: git as they run it, and `git am` onto the base."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(repo, *args) -> str:
    """git in repo with a maintainer's committer identity; stdout, stripped."""
    env = {**os.environ, "GIT_COMMITTER_NAME": "Maintainer", "GIT_COMMITTER_EMAIL": "m@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def git_am_gives_the_tip(rendered, start: str, mbx: list[Path], tmp_path: Path) -> Path:
    """`git am` every mbox onto start in a sparse clone holding only the files
    the series touches (no full checkout), assert the result is the rendered
    tip's tree, and return the clone."""
    clone = tmp_path / "am"
    git(tmp_path, "clone", "-q", "--shared", "--no-checkout", str(rendered.repo), str(clone))
    touched = git(rendered.repo, "diff", "--name-only", start, rendered.tip).splitlines()
    git(clone, "sparse-checkout", "set", "--no-cone", *touched)
    git(clone, "checkout", "-q", "-b", "apply", start)
    for m in mbx:
        git(clone, "am", str(m))
    assert git(clone, "rev-parse", "HEAD^{tree}") == git(rendered.repo, "rev-parse", f"{rendered.tip}^{{tree}}")
    return clone
