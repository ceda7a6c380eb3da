"""A real minimal kernel build of the pinned tree in a podman container."""

import json
import os
from pathlib import Path

import pytest

from patchkit import build, kconfig, tree, worktrees

pytestmark = pytest.mark.slow


def pinned_tree() -> Path:
    if os.environ.get("PATCHKIT_TEST_TREE"):  # a checkout of the pinned tree, for development
        return Path(os.environ["PATCHKIT_TEST_TREE"])
    t = tree.open_tree()
    # the work tree `patchkit validate --series none` builds, so CI builds it once
    return worktrees.worktree(t.path, t.base_commit, f"{t.name}-validate")


def test_minimal_build_in_podman_gives_a_bootable_bzimage_and_metadata():
    source = pinned_tree()
    res = build.build(source, config="minimal", runtime="podman", jobs=2)

    # a bzImage: the x86 boot protocol header magic "HdrS" at 0x202
    with open(res.kernel, "rb") as f:
        f.seek(0x202)
        assert f.read(4) == b"HdrS"
    assert res.kernel.stat().st_size > 500_000

    config = kconfig.values((res.build_dir / ".config").read_text())
    wanted = kconfig.merge([kconfig.read_fragment(p) for p in build.flavour_fragments("minimal")])
    assert kconfig.not_landed(wanted, config) == []
    assert config["CONFIG_ZRAM"] == "y" and config["CONFIG_ZRAM_WRITEBACK"] == "y"

    meta = json.loads((res.build_dir / "metadata.json").read_text())
    assert meta["runtime"]["name"] == "podman" and meta["runtime"]["image"] == "patchkit-builder:bookworm"
    assert meta["runtime"]["image_id"] and meta["compiler"]["version_full"].startswith("gcc (Debian 12")
    assert meta["compiler"]["name"] == "gcc" and meta["compiler"]["version"].startswith("12.")
    assert meta["git"]["git_commit"] == build.source_identity(source)[0]
    assert meta["source"]["kernelversion"].startswith("6.12")
    assert meta["results"]["status"] == "PASS" and meta["results"]["targets"]["kernel"]["status"] == "PASS"
    assert meta["patchkit"]["kernelrelease"].startswith("6.12")
    assert res.log.read_text().startswith(f"# reproduce: {meta['patchkit']['reproducer']}\n")
    assert "--network none" in res.log.read_text()

    # nothing changed: reused without running make
    again = build.build(source, config="minimal", runtime="podman", jobs=2)
    assert again.reused is True and again.kernel == res.kernel
