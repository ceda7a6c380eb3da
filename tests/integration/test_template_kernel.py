"""template import + render round trip on the real 6.12 kernel tree."""

import tempfile
from pathlib import Path

import pytest

from patchkit import proc, render, template, tree

pytestmark = pytest.mark.integration

PROFILES = Path(__file__).resolve().parents[2] / "templates" / "profiles"


def kernel_repo():
    """The pinned tree (fetched into the user's cache when missing)."""
    t = tree.open_tree(None)
    return Path(t.path), t.base_commit


def test_import_of_a_kernel_commit_renders_back_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    src, base = kernel_repo()
    # a bare repo borrowing the kernel's objects: the source is never written
    repo = tmp_path / "k.git"
    proc.run(["git", "init", "-q", "--bare", str(repo)])
    objects = Path(proc.git(src, "rev-parse", "--git-common-dir"))
    objects = (objects if objects.is_absolute() else src / objects) / "objects"
    (repo / "objects" / "info" / "alternates").write_text(f"{objects.resolve()}\n")

    state = render.FileState(repo, base)
    zram = "drivers/block/zram/zram_drv.c"
    text = state.get(zram)
    fn = text.index("static void zram_accessed(")
    end = text.index("\n}\n", fn) + 3
    text = (text[:end] + "\nstatic void zram_touch(struct zram *zram, u32 index)\n{\n"
            "\tzram_slot_lock(zram, index);\n\tzram_accessed(zram, index);\n"
            "\tzram_slot_unlock(zram, index);\n}\n" + text[end:])
    text = text.replace("\tup_read(&zram->init_lock);\n", "\tup_read(&zram->init_lock); /* x */\n", 1)
    state.put(zram, text)
    swap_h = state.get("mm/swap.h")
    state.put("mm/swap.h", swap_h.replace("int sio_pool_init(void);\n",
                                          "int sio_pool_init(void);\nstruct swap_ops;\n"))
    with tempfile.TemporaryDirectory() as tmp:
        sha = render.Committer(repo, base, Path(tmp)).commit(
            base, state, "mm/zram: test\n\nBody.\n", "T", "t@example.org", "@1780000000 +0000")

    series_dir = tmp_path / "series" / "kimport"
    folder = template.import_commit(repo, sha, series_dir, "0001-test",
                                    profile="linux-source-6.12", profiles=PROFILES)
    edits = (folder / "edits.toml").read_text()
    assert "{{ slot_lock }}(zram, index);" in edits

    class Tree:
        path, name, version, base_commit, manifest = repo, "linux-source-6.12", "6.12", base, None

    result = render.render(str(series_dir), Tree, author="A <a@example.org>", profiles=PROFILES,
                           out_root=tmp_path / "out")
    assert proc.git(result.repo, "rev-parse", f"{result.tip}^{{tree}}") == \
        proc.git(repo, "rev-parse", f"{sha}^{{tree}}")
    assert [p.name for p in result.patch_files] == ["0001-mm-zram-test.patch"]
