"""The kernel tick profile: pk-profile (guest) run on the host against
hand-made /proc/profile and /proc/kallsyms files, and the host side of
boot --profile."""

import shutil
import struct
import subprocess

import pytest

from patchkit import boot, cli, initramfs, paths

STEXT = 0xFFFFFFFF81000000

KALLSYMS = f"""\
{STEXT:016x} T _stext
{STEXT:016x} T startup_64
{STEXT + 0x100:016x} t zram_write_page
{STEXT + 0x180:016x} T memcpy
{STEXT + 0x200:016x} D some_data
{STEXT + 0x240:016x} t clear_page_erms
{STEXT + 0x400:016x} t zram_helper\t[zram]
"""


def profile_file(path, step, counts):
    """The layout of /proc/profile: the bucket size, then one count per bucket from _stext."""
    path.write_bytes(struct.pack(f"<I{len(counts)}I", step, *counts))
    return path


@pytest.fixture(scope="module")
def pk_profile(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("gcc is needed to build pk-profile")
    return initramfs.compile_program(paths.GUEST / "pk-profile.c", cache=tmp_path_factory.mktemp("bin"))


def run_top(pk_profile, tmp_path, counts, n=10, step=4):
    syms = tmp_path / "kallsyms"
    syms.write_text(KALLSYMS)
    prof = profile_file(tmp_path / "profile", step, counts)
    return subprocess.run([str(pk_profile), "top", str(n), str(prof), str(syms)],
                          capture_output=True, text=True, timeout=30)


def figures(out):
    return [(k, int(v)) for k, v in (line.split() for line in out.splitlines())]


def test_buckets_are_summed_into_the_function_that_contains_them(pk_profile, tmp_path):
    counts = [0] * 0x100  # 4-byte buckets over 0x400 bytes
    counts[0x100 // 4] = 3  # zram_write_page's first bucket
    counts[0x17C // 4] = 4  # its last bucket
    counts[0x180 // 4] = 2  # memcpy
    counts[0x220 // 4] = 1  # a data symbol is no function: still memcpy's
    counts[0x300 // 4] = 5  # clear_page_erms
    res = run_top(pk_profile, tmp_path, counts)
    assert res.returncode == 0, res.stderr
    assert figures(res.stdout) == [("profile.samples", 15), ("profile.fn.zram_write_page", 7),
                                   ("profile.fn.clear_page_erms", 5), ("profile.fn.memcpy", 3)]


def test_top_n_cuts_the_list_but_not_the_total(pk_profile, tmp_path):
    counts = [0] * 0x100
    counts[0x100 // 4], counts[0x180 // 4], counts[0x300 // 4] = 1, 2, 3
    res = run_top(pk_profile, tmp_path, counts, n=1)
    assert figures(res.stdout) == [("profile.samples", 6), ("profile.fn.clear_page_erms", 3)]


def test_bucket_size_comes_from_the_file(pk_profile, tmp_path):
    counts = [0] * 0x10
    counts[0x180 // 0x40] = 9  # 64-byte buckets (profile=6): 0x180 is memcpy
    res = run_top(pk_profile, tmp_path, counts, step=0x40)
    assert figures(res.stdout) == [("profile.samples", 9), ("profile.fn.memcpy", 9)]


def test_profiling_off_exits_3_and_says_how_to_turn_it_on(pk_profile, tmp_path):
    res = subprocess.run([str(pk_profile), "top", "5", str(tmp_path / "nope"), str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 3
    assert "profile=2" in res.stderr and "CONFIG_PROFILING" in res.stderr


def test_profile_rows_rank_functions_and_give_their_share():
    figs = {"profile.samples": 200, "profile.fn.memcpy": 50, "profile.fn.zram_write_page": 100,
            "pswpout": 7, "profile.fn.clear_page_erms": 50}
    assert boot.profile_rows(figs, limit=2) == [("zram_write_page", 100, 0.5), ("clear_page_erms", 50, 0.25)]


def build_dir_kernel(tmp_path, config_text):
    kernel = tmp_path / "build" / "arch" / "x86" / "boot" / "bzImage"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"x")
    (tmp_path / "build" / ".config").write_text(config_text)
    return kernel


def test_profile_on_a_kernel_without_config_profiling_is_refused_with_the_fragment(tmp_path, capsys):
    kernel = build_dir_kernel(tmp_path, "CONFIG_SWAP=y\n# CONFIG_PROFILING is not set\n")
    assert cli.main(["boot", "--kernel", str(kernel), "--source", str(tmp_path), "--profile"]) == 2
    err = capsys.readouterr().err
    assert "CONFIG_PROFILING is not set" in err and str(boot.PROFILE_FRAGMENT) in err


def test_profile_boots_with_profile_param_on_a_profiling_kernel(tmp_path, monkeypatch):
    kernel = build_dir_kernel(tmp_path, "CONFIG_PROFILING=y\n")
    seen = {}

    def fake_boot(kernel, **kw):
        seen.update(kw)
        raise SystemExit(0)

    monkeypatch.setattr(boot, "boot", fake_boot)
    with pytest.raises(SystemExit):
        cli.main(["boot", "--kernel", str(kernel), "--source", str(tmp_path), "--profile", "--append", "x=1"])
    assert seen["cmdline"] == ["x=1", "profile=2"]


def test_the_fragment_turns_profiling_on():
    assert "CONFIG_PROFILING=y" in boot.PROFILE_FRAGMENT.read_text().splitlines()


def test_profile_with_faults_is_refused_rather_than_ignored(capsys):
    assert cli.main(["validate", "--faults", "--profile"]) == 2
    assert "--profile does not apply to --faults" in capsys.readouterr().err
