"""Work trees: where builds and boots read their sources.

worktree(repo, commit, name) is a detached git work tree at
cache/worktrees/<name>, moved to the commit with a checkout (so the build
that follows is incremental) and owned by the calling process until it
ends: a second patchkit run that wants the same work tree waits for it.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from patchkit import git, paths, proc, ui


def worktree_argv(repo: Path, dest: Path, commit: str) -> list[str]:
    return git.worktree_add_argv(repo, dest, commit)


def checkout_argv(dest: Path, commit: str) -> list[str]:
    return git.checkout_detached_argv(dest, commit)


_HELD_WORKTREES: dict[Path, object] = {}


def _hold_worktree(dest: Path) -> None:
    """Own dest until this process ends: a second patchkit run that wants the
    same work tree (say validate --config debug next to validate) waits here
    instead of checking out another commit under the first one's build."""
    if dest in _HELD_WORKTREES:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock = open(dest.parent / f".{dest.name}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        ui.info("checkout", f"waiting for another patchkit run that is using {dest}")
        fcntl.flock(lock, fcntl.LOCK_EX)
    _HELD_WORKTREES[dest] = lock  # released when the process exits


def worktree(repo: Path, commit: str, name: str) -> Path:
    """A detached work tree of repo at commit, kept at cache/worktrees/<name>.

    Builds and boots read sources from here, never from a user's checkout or
    the pinned tree's own work tree.  An existing one is moved to commit with
    a checkout, which rewrites only the files that differ, so the kernel
    build that follows is incremental.  The calling process owns the work
    tree from then on; other patchkit processes wait for it.
    """
    dest = paths.cache_dir() / "worktrees" / name
    _hold_worktree(dest)
    if (dest / ".git").exists():
        proc.run(checkout_argv(dest, commit))
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        git.run(repo, "worktree", "prune")
        proc.run(worktree_argv(repo, dest, commit))
    return dest
