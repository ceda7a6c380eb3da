"""pk-faulthog, the fault tests' hog, run natively: it must tell verified,
SIGBUS-reported and corrupted pages apart and keep going after a SIGBUS."""

import shutil
import subprocess

import pytest

from patchkit import initramfs, paths

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is needed to build pk-faulthog")


@pytest.fixture(scope="module")
def hog(tmp_path_factory):
    return initramfs.compile_program(paths.GUEST / "faults" / "pk-faulthog.c",
                                     cache=tmp_path_factory.mktemp("bin"))


def run(hog, tmp_path, *args):
    fig = tmp_path / "fig"
    res = subprocess.run([str(hog), *args, "-f", str(fig)], capture_output=True, text=True, timeout=60, env={})
    figures = dict(line.split() for line in fig.read_text().splitlines()) if fig.exists() else {}
    return res, figures


def test_clean_run_verifies_every_page(hog, tmp_path):
    res, f = run(hog, tmp_path, "-m", "4", "-s", "3")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f["fhog.pages"] == f["fhog.verified_pages"] == "1024"
    assert f["fhog.sigbus_pages"] == f["fhog.mismatches"] == f["fhog.lost_pages"] == "0"


def test_sigbus_pages_are_counted_and_the_rest_still_verifies(hog, tmp_path):
    res, f = run(hog, tmp_path, "-m", "4", "-B", "5")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f["fhog.sigbus_pages"] == "5"
    assert f["fhog.verified_pages"] == "1019"
    assert f["fhog.mismatches"] == f["fhog.lost_pages"] == "0"


def test_corruption_fails_even_next_to_sigbus(hog, tmp_path):
    res, f = run(hog, tmp_path, "-m", "4", "-B", "2", "-X", "9")
    assert res.returncode == 1
    assert f["fhog.mismatches"] == "1" and f["fhog.sigbus_pages"] == "2"
    assert "first mismatch at page 9" in res.stdout


def test_hold_retry_accesses_sigbus_pages_again(hog, tmp_path):
    hold = tmp_path / "hold"
    hold.mkdir()
    fig = tmp_path / "fig"
    p = subprocess.Popen([str(hog), "-m", "2", "-B", "3", "-H", str(hold), "-R", "-f", str(fig)],
                         stdout=subprocess.PIPE, text=True, env={})
    for name in ("go", "retry"):
        (hold / name).touch()
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out
    f = dict(line.split() for line in fig.read_text().splitlines())
    assert f["fhog.retry_sigbus"] == "3" and f["fhog.retry_ok"] == "0"
    assert (hold / "ready").exists() and (hold / "verified").exists()


def test_usage_errors(hog, tmp_path):
    assert run(hog, tmp_path)[0].returncode == 64
    assert run(hog, tmp_path, "-m", "1", "-R")[0].returncode == 64  # -R needs -H
