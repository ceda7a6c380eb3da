"""pk-hog, the guest's checksummed memory hog, run natively on the host."""

import shutil
import subprocess

import pytest

from patchkit import initramfs, paths

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is needed to build pk-hog")


@pytest.fixture(scope="module")
def hog(tmp_path_factory):
    return initramfs.compile_program(paths.GUEST / "pk-hog.c", cache=tmp_path_factory.mktemp("bin"))


def run(hog, *args, figures=None):
    cmd = [str(hog), *args] + (["-f", str(figures)] if figures else [])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={})


def read_figures(path):
    return {k: v for k, v in (line.split() for line in path.read_text().splitlines())}


def test_clean_run_verifies_every_page_of_every_kind(hog, tmp_path):
    fig = tmp_path / "fig"
    res = run(hog, "-m", "8", "-p", "2", "-s", "5", figures=fig)
    assert res.returncode == 0, res.stdout + res.stderr
    f = read_figures(fig)
    assert f["hog.pages"] == "2048" == f["hog.verified_pages"]
    assert f["hog.mismatches"] == "0"
    for kind in ("zero", "same", "comp", "rand"):
        assert int(f[f"hog.{kind}_pages"]) > 300, kind  # each kind is well represented


def test_one_flipped_bit_is_found_and_fails(hog, tmp_path):
    fig = tmp_path / "fig"
    res = run(hog, "-m", "4", "-p", "1", "-k", "r", "-X", "17", figures=fig)
    assert res.returncode == 1
    assert "first mismatch at page 17" in res.stdout
    assert read_figures(fig)["hog.mismatches"] == "1"


@pytest.mark.parametrize("kinds", ["z", "s", "c"])
def test_corruption_is_found_in_every_page_kind(hog, kinds):
    assert run(hog, "-m", "1", "-p", "1", "-k", kinds, "-X", "3").returncode == 1


def test_hold_waits_for_go_and_keeps_verifying(hog, tmp_path):
    p = subprocess.Popen([str(hog), "-m", "2", "-p", "2", "-H", str(tmp_path), "-f", str(tmp_path / "fig")],
                         stdout=subprocess.PIPE, text=True)
    for _ in range(500):
        if (tmp_path / "ready").exists():
            break
        subprocess.run(["sleep", "0.01"])
    assert (tmp_path / "ready").exists()
    assert p.poll() is None
    (tmp_path / "go").touch()
    assert p.wait(timeout=30) == 0
    f = read_figures(tmp_path / "fig")
    assert int(f["hog.loop_passes"]) >= 1
    assert f["hog.loop_mismatches"] == "0"


def test_usage_errors(hog):
    assert run(hog).returncode == 64
    assert run(hog, "-m", "1", "-k", "q").returncode == 64
