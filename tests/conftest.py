"""Every test runs isolated by default.

- no GIT_DIR / GIT_AUTHOR_* / ... from the calling shell, no get_maintainer
  failure switch, the default run options (patchkit/options.py);
- unit tests (not marked integration or slow) also get an empty git config
  and a private patchkit cache, tmp_path/cache (make_mini_tree puts its trees
  there), and no PATCHKIT_ACCEL;
- integration and slow tests use the shared cache on purpose (the pinned
  trees, warm builds, the accelerator probe) and isolate git themselves
  where they commit.

Helpers shared by test folders live in tests/helpers/ (on pytest's
pythonpath, pyproject.toml): mini_trees, mailrepo, badkit.
"""

import pytest
from mini_trees import mini_tree_maker

from patchkit import options

GIT_ENV = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME",
           "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
           "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES")


def real(request) -> bool:
    return any(request.node.get_closest_marker(m) for m in ("integration", "slow"))


@pytest.fixture(autouse=True)
def isolated(request, monkeypatch):
    for var in (*GIT_ENV, "GETMAINT_FAIL"):
        monkeypatch.delenv(var, raising=False)
    if not real(request):
        tmp_path = request.getfixturevalue("tmp_path")
        empty = tmp_path / "gitconfig"
        empty.write_text("")
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
        monkeypatch.delenv("PATCHKIT_ACCEL", raising=False)
    with options.using(options.DEFAULT):
        yield


@pytest.fixture
def make_mini_tree(tmp_path):
    """make_mini_tree(name, where='cache'|'checkout') -> MiniTree: a mini tree
    of kernel-fixtures/mini/ committed once as a real git repository."""
    return mini_tree_maker(tmp_path)
