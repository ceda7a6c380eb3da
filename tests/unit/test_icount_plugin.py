"""pk-insn.so, the QEMU plugin: builds with the host's gcc and exports what QEMU looks up."""

import shutil
import subprocess

import pytest

from patchkit import icount

pytestmark = pytest.mark.skipif(not shutil.which("gcc") or not shutil.which("nm"), reason="needs gcc and nm")


def test_plugin_builds_once_and_exports_the_install_hook_and_api_version(tmp_path):
    so = icount.plugin_path(cache=tmp_path)
    assert so.is_file() and icount.plugin_path(cache=tmp_path) == so  # cached by source hash
    dynsyms = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True,
                             check=True).stdout
    exported = {line.split()[-1] for line in dynsyms.splitlines()}
    assert {"qemu_plugin_install", "qemu_plugin_version"} <= exported
    # only those two: the rest is hidden, so nothing clashes with QEMU's own symbols
    assert not {"on_marker", "block_for", "write_file"} & exported
