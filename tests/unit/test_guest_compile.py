"""Guest programs compiled by several runs at once (parallel CI cells) into one cache."""

import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

from patchkit import initramfs, paths

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is needed to build guest programs")


def _compile(args):
    barrier, cache = args
    barrier.wait()
    return str(initramfs.compile_program(paths.GUEST / "pk-exit.c", cache=cache))


def test_concurrent_compiles_of_one_program_all_succeed_and_leave_no_temp_file(tmp_path):
    ctx = multiprocessing.get_context("fork")
    n = 4
    with ctx.Manager() as manager:
        barrier = manager.Barrier(n)
        with ctx.Pool(n) as pool:
            outs = pool.map(_compile, [(barrier, tmp_path)] * n)
    assert len(set(outs)) == 1
    binary = Path(outs[0])
    assert binary.read_bytes()[:4] == b"\x7fELF" and os.access(binary, os.X_OK)
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []
