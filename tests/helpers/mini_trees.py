"""Fixtures for render/apply/template tests: mini trees as real git repos.

A mini tree is a plain folder kernel-fixtures/mini/<name>/; make_mini_tree
copies it into the (temporary) patchkit cache and commits it once with a
fixed identity and date, like the pinned tree's deterministic base commit.
MiniTree has the fields of patchkit.tree.Tree that render/apply use.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "kernel-fixtures" / "mini"
SERIES = REPO / "tests" / "data" / "series"
PROFILES = REPO / "templates" / "profiles"
AUTHOR = "Ada Tester <ada@example.org>"

# profile (tree) name of each mini tree
TREE_NAMES = {"zram-6.12": "linux-source-6.12", "mm-2026": "mm-2026"}


@dataclass
class MiniTree:
    path: Path
    name: str
    version: str
    base_commit: str
    manifest: object = None


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def init_repo(path: Path) -> str:
    """git init + one commit with fixed identity and date; returns its id."""
    env_date = "@1700000000 +0000"
    git(path.parent, "init", "-q", "-b", "master", str(path))
    git(path, "config", "user.name", "Tree Owner")
    git(path, "config", "user.email", "owner@example.org")
    git(path, "add", "-A")
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "base"], check=True,
                   env={**_env(), "GIT_AUTHOR_DATE": env_date, "GIT_COMMITTER_DATE": env_date})
    return git(path, "rev-parse", "HEAD")


def _env():
    import os
    return dict(os.environ)


def mini_tree_maker(tmp_path: Path):
    """make_mini_tree(name, where='cache'|'checkout') -> MiniTree (the fixture in tests/conftest.py)."""
    def make(name: str, where: str = "cache") -> MiniTree:
        root = tmp_path / "cache" / "trees" if where == "cache" else tmp_path / "checkouts"
        path = root / name
        n = 1
        while path.exists():
            n += 1
            path = root / f"{name}-{n}"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(MINI / name, path)
        base = init_repo(path)
        return MiniTree(path, TREE_NAMES[name], name.split("-", 1)[1], base)
    return make


def snapshot(repo: Path) -> dict:
    """Branches, HEAD, status and every work tree file's bytes."""
    files = {str(p.relative_to(repo)): p.read_bytes()
             for p in sorted(repo.rglob("*")) if p.is_file() and ".git" not in p.parts}
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "symref": subprocess.run(["git", "-C", str(repo), "symbolic-ref", "-q", "HEAD"],
                                 capture_output=True, text=True).stdout.strip(),
        "branches": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "files": files,
    }
