"""swapfile-nfs: swap over NFS (swap_fs_ops) served by the guest to itself.

The guest script's paths that only exist in the guest (/patchkit/lib.sh,
/proc/filesystems, the swap_io debugfs file) are pointed at files of the
test, so its skip path and its figure parsing run natively on the host.
"""

import re
import subprocess
from pathlib import Path

from patchkit import boot, build, initramfs, kconfig, paths

SCRIPT = paths.GUEST / "tests" / "swapfile-nfs.sh"
FRAGMENT = paths.CONFIGS / "nfs-swap.config"


def fragment_values():
    return {s: e.value for s, e in kconfig.parse(FRAGMENT.read_text(), str(FRAGMENT)).items()}


def test_fragment_enables_the_nfs_client_swap_and_the_v4_server():
    values = fragment_values()
    for sym in ("CONFIG_INET", "CONFIG_NFS_FS", "CONFIG_NFS_V4", "CONFIG_NFS_V4_2", "CONFIG_NFS_SWAP",
                "CONFIG_SUNRPC_SWAP", "CONFIG_NFSD", "CONFIG_NFSD_V4",
                # what lets the test end the grace period instead of waiting 10 s
                "CONFIG_NFSD_LEGACY_CLIENT_TRACKING"):
        assert values.get(sym) == "y", sym


def test_fragment_is_merged_after_minimal_and_changes_nothing_minimal_asks_for():
    # the swap tests need SWAP, zram and debugfs exactly as in minimal
    minimal = {s: e.value for s, e in kconfig.parse((paths.CONFIGS / "minimal.config").read_text()).items()}
    values = fragment_values()
    assert {s: values[s] for s in values if s in minimal} == {s: minimal[s] for s in values if s in minimal}
    assert build.flavour_fragments("nfs-swap") == [paths.CONFIGS / "minimal.config", FRAGMENT]


def test_default_minimal_config_has_no_networking_or_nfs():
    # everyone's default kernel must not be rebuilt or grow for this test
    minimal = kconfig.parse((paths.CONFIGS / "minimal.config").read_text())
    assert not [s for s in minimal if re.match(r"CONFIG_(NET|INET|NFS|NFSD|SUNRPC)(_|$)", s)]


def test_swapfile_nfs_is_in_the_default_suite_with_an_ext2_disk_to_export(tmp_path, monkeypatch):
    assert "swapfile-nfs" in boot.DEFAULT_TESTS
    ran = []
    monkeypatch.setattr(boot.proc, "run", lambda argv, **kw: ran.append(argv))
    disks = boot.make_disks(["zram-setup", "swapfile-nfs"], tmp_path)
    assert [d.serial for d in disks] == ["pk-nfs"]
    assert ran == [boot.mkfs_argv(tmp_path / "pk-nfs.img", "ext2")]


def test_every_disk_serial_is_the_one_its_guest_script_looks_for():
    scripts = {p.stem: p for p in (paths.GUEST / "tests").glob("*.sh")}
    for test, (serial, _, _) in boot.DISKS.items():
        if test in scripts:
            assert f"disk_by_serial {serial}" in scripts[test].read_text(), test


def test_script_is_shipped_in_the_image_as_a_guest_test():
    entries = {e.path: e for e in initramfs.guest_script_entries()}
    assert entries["/patchkit/tests/swapfile-nfs.sh"].mode == 0o755
    assert "swapfile-nfs" in boot.available_tests()


def host_copy(tmp_path, filesystems):
    """The script with its guest-only paths pointed into tmp_path."""
    (tmp_path / "filesystems").write_text(filesystems)
    text = SCRIPT.read_text()
    assert ". /patchkit/lib.sh" in text and "/proc/filesystems" in text
    text = text.replace(". /patchkit/lib.sh", f". {paths.GUEST / 'lib.sh'}")
    text = text.replace("/proc/filesystems", str(tmp_path / "filesystems"))
    script = tmp_path / "swapfile-nfs.sh"
    script.write_text(text)
    return script


def run_script(tmp_path, script):
    env = {"PATH": "/usr/bin:/bin", "PK_TEST": "swapfile-nfs",
           "PK_FIGURES": str(tmp_path / "figures"), "PK_DETAIL": str(tmp_path / "detail")}
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)


def test_skips_naming_the_fragment_on_a_kernel_without_nfs(tmp_path):
    # the default minimal kernel: no nfs4, no nfsd
    script = host_copy(tmp_path, "nodev\tsysfs\nnodev\ttmpfs\n\text2\n")
    res = run_script(tmp_path, script)
    assert res.returncode == 4, res.stdout + res.stderr
    detail = (tmp_path / "detail").read_text()
    assert "CONFIG_NFS_V4" in detail and "patchkit/configs/nfs-swap.config" in detail


def test_skips_on_a_kernel_with_the_client_but_no_server(tmp_path):
    script = host_copy(tmp_path, "nodev\tnfs\nnodev\tnfs4\n")
    res = run_script(tmp_path, script)
    assert res.returncode == 4, res.stdout + res.stderr
    assert "CONFIG_NFSD" in (tmp_path / "detail").read_text()


def busy_figs(tmp_path, devices):
    """Run lib.sh's swap_io_figs (what swapfile-nfs calls) on a fake debugfs devices file."""
    text = (SCRIPT.parent.parent / "lib.sh").read_text()
    func = re.search(r"^swap_io_figs\(\) \{\n.*?^\}\n", text, re.S | re.M).group(0)
    (tmp_path / "devices").write_text(devices)
    func = func.replace("/sys/kernel/debug/swap_io/devices", str(tmp_path / "devices"))
    figures = tmp_path / "figures"
    figures.write_text("")
    subprocess.run(["sh", "-c", func + "swap_io_figs nfs"], env={"PK_FIGURES": str(figures)},
                   check=True, timeout=30)
    return dict(line.split(" ", 1) for line in figures.read_text().splitlines())


HEADER = "type submit_write read_submits read_folios write_submits write_folios\n"


def test_busy_figs_report_the_area_that_did_io_not_a_stale_one(tmp_path):
    # type 1 is a row left by an earlier test's block swap (zeroed by swap_io_reset)
    figs = busy_figs(tmp_path, HEADER + "0 swap_fs_submit_write 40 310 12 900\n"
                     "1 swap_bdev_submit_write 0 0 0 0\n")
    assert figs == {"nfs.ops": "swap_fs_submit_write", "nfs.read_submits": "40", "nfs.read_folios": "310",
                    "nfs.write_submits": "12", "nfs.write_folios": "900", "nfs.areas": "1"}


def test_busy_figs_count_every_area_that_did_io(tmp_path):
    figs = busy_figs(tmp_path, HEADER + "0 swap_fs_submit_write 1 1 1 1\n1 swap_bdev_submit_write 0 0 3 3\n")
    assert figs["nfs.areas"] == "2"


def test_busy_figs_say_no_area_did_io(tmp_path):
    assert busy_figs(tmp_path, HEADER + "0 swap_bdev_submit_write 0 0 0 0\n") == {"nfs.areas": "0"}


def test_export_is_the_v4_root_and_does_not_squash_root():
    # <linux/nfsd/export.h>: NFSEXP_FSID 0x2000 (with fsid 0: the pseudo-root the
    # client mounts as "/"), NFSEXP_ROOTSQUASH 0x4 (root could not write the swap file)
    text = SCRIPT.read_text()
    expr = re.search(r"^EXPORT_FLAGS=(.*)$", text, re.M).group(1)
    flags = int(subprocess.run(["sh", "-c", f"echo {expr}"], capture_output=True, text=True,
                               check=True, timeout=30).stdout)
    assert flags & 0x2000 and not flags & 0x4
    line = re.search(r'channel nfsd.export "(.*)"', text).group(1).split()
    assert line[3:] == ["$EXPORT_FLAGS", "65534", "65534", "0"]  # anonuid anongid fsid=0


def test_script_is_valid_sh():
    subprocess.run(["sh", "-n", str(SCRIPT)], check=True, timeout=30)


def test_fragment_path_named_by_the_script_exists():
    text = SCRIPT.read_text()
    named = re.search(r"^FRAGMENT=(\S+)$", text, re.M).group(1)
    assert (paths.REPO / named) == FRAGMENT and Path(paths.REPO / named).is_file()
