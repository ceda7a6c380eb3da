"""Boot a real kernel under QEMU and run the guest suite (minutes under TCG).

The kernel comes from $PATCHKIT_TEST_KERNEL (with its tree in
$PATCHKIT_TEST_SOURCE), or is built from the pinned tree with
patchkit.build.build(); a build that fails fails the tests.
"""

import os
from pathlib import Path

import pytest

from patchkit import boot, build, tree, worktrees

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel():
    if os.environ.get("PATCHKIT_TEST_KERNEL"):
        source = os.environ.get("PATCHKIT_TEST_SOURCE")
        if not source:
            pytest.fail("PATCHKIT_TEST_KERNEL is set: set PATCHKIT_TEST_SOURCE to its kernel tree too")
        return Path(os.environ["PATCHKIT_TEST_KERNEL"]), Path(source)
    pinned = tree.open_tree(None)
    # the same work tree (and so the same build) as `patchkit validate --series none`
    source = worktrees.worktree(pinned.path, pinned.base_commit, f"{pinned.name}-validate")
    built = build.build(source, config="minimal", fragments=[], runtime="auto", modules=False)
    return Path(built.kernel), Path(source)


def test_full_suite_passes_on_the_kernel(kernel, tmp_path):
    bzimage, source = kernel
    res = boot.boot(bzimage, source=source, log_dir=tmp_path)
    summary = "\n".join(f"{t.name}: {t.status} {t.detail}" for t in res.tests)
    assert res.status == boot.PASS, f"{res.detail}\n{summary}\nconsole: {res.console_log}"
    assert res.accel in ("kvm", "tcg")
    assert [t.name for t in res.tests] == boot.DEFAULT_TESTS
    by_name = {t.name: t for t in res.tests}
    hog = by_name["hog"].figures
    assert hog["hog.verified_pages"] == hog["hog.pages"] > 0
    assert hog["hog.mismatches"] == 0
    assert hog["vm.pswpout"] > 0
    assert by_name["zram-setup"].figures["zram.algorithm"]
    assert res.boot_seconds is not None


def test_guest_still_running_at_the_timeout_is_killed(kernel, tmp_path):
    bzimage, source = kernel
    # Two seconds is not enough to boot and run the hog under any accelerator.
    res = boot.boot(bzimage, source=source, tests=["hog"], timeout=2, log_dir=tmp_path)
    assert res.status == boot.FAIL
    assert res.events[-1].kind == "timeout"
    assert res.tests[0].status in (boot.FAIL, boot.SKIP)
    assert res.seconds < 60


def module_kernel():
    """(bzImage, INSTALL_MOD_PATH root, tree) of a CONFIG_ZRAM=m build: from
    $PATCHKIT_TEST_MODULE_KERNEL / _MODULES / _SOURCE, else built from the
    pinned tree with configs/zram-module.config."""
    names = ("PATCHKIT_TEST_MODULE_KERNEL", "PATCHKIT_TEST_MODULES", "PATCHKIT_TEST_SOURCE")
    if all(os.environ.get(n) for n in names):
        return tuple(Path(os.environ[n]) for n in names)
    from patchkit import build, paths, tree

    pinned = tree.open_tree(None)
    source = worktrees.worktree(pinned.path, pinned.base_commit, f"{pinned.name}-validate")
    built = build.build(source, config="minimal", fragments=[paths.CONFIGS / "zram-module.config"],
                        runtime="auto", modules=True)
    return Path(built.kernel), Path(built.modules_dir), Path(source)


def test_zram_built_as_a_module_is_loaded_by_the_guest(tmp_path):
    bzimage, modules, source = module_kernel()
    res = boot.boot(bzimage, source=source, modules_dir=modules, tests=["zram-setup", "hog"],
                    log_dir=tmp_path)
    assert res.status == boot.PASS, f"{res.detail}; console: {res.console_log}"
    assert "zram: Added device: zram0" in res.console_log.read_text()
