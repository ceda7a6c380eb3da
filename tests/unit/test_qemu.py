"""QEMU command lines (list equality) and the accelerator choice."""

from pathlib import Path

import pytest

from patchkit import qemu


def test_qemu_argv_tcg_with_disks():
    argv = qemu.qemu_argv(kernel=Path("/k/bzImage"), initrd=Path("/c/i.cpio"), append="console=ttyS0",
                          accel="tcg", memory_mb=256, smp=2,
                          disks=[qemu.Disk(Path("/d/wb.img"), "pk-wb")])
    assert argv == [
        "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg,thread=multi",
        "-m", "256M", "-smp", "2",
        "-kernel", "/k/bzImage", "-initrd", "/c/i.cpio", "-append", "console=ttyS0",
        "-nographic", "-no-reboot", "-nic", "none",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-drive", "file=/d/wb.img,format=raw,if=none,id=pkd0,cache=unsafe",
        "-device", "virtio-blk-pci,drive=pkd0,serial=pk-wb",
    ]


def test_qemu_argv_kvm_has_no_tcg_threading():
    argv = qemu.qemu_argv(kernel=Path("k"), initrd=Path("i"), append="", accel="kvm", smp=1, memory_mb=128)
    assert argv[3:5] == ["-accel", "kvm"]
    assert "tcg,thread=multi" not in argv
    assert argv[5:9] == ["-m", "128M", "-smp", "1"]


def test_unknown_accelerator_is_refused():
    with pytest.raises(ValueError):
        qemu.accel_args("hvf")


def test_kernel_cmdline_names_tests_and_panics_to_reboot():
    line = qemu.kernel_cmdline(["zram-setup", "hog"], test_timeout=120)
    assert line == ("console=ttyS0 panic=-1 printk.time=1 "
                    "patchkit.tests=zram-setup,hog patchkit.test_timeout=120")


def test_guest_status_decodes_isa_debug_exit():
    assert qemu.guest_status(1) == 0
    assert qemu.guest_status(3) == 1
    assert qemu.guest_status(85) == qemu.PROBE_STATUS
    assert qemu.guest_status(0) is None  # reboot after a panic
    assert qemu.guest_status(-9) is None  # killed at our timeout
    assert qemu.guest_status(2) is None


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("PATCHKIT_ACCEL", raising=False)
    return tmp_path


def test_probe_falls_back_to_tcg_without_kvm(cache, monkeypatch):
    monkeypatch.setattr(qemu, "kvm_usable", lambda: False)
    monkeypatch.setattr(qemu, "_run_probe", lambda *a: pytest.fail("must not boot a probe"))
    assert qemu.probe_accel(Path("k"), qemu_version="7.2")[0] == "tcg"


def test_probe_result_is_cached_per_qemu_version(cache, monkeypatch):
    calls = []
    monkeypatch.setattr(qemu, "kvm_usable", lambda: True)
    monkeypatch.setattr(qemu, "_run_probe", lambda *a: calls.append(a) or ("tcg", "KVM boot failed"))
    assert qemu.probe_accel(Path("k"), qemu_version="7.2") == ("tcg", "KVM boot failed")
    assert qemu.probe_accel(Path("k"), qemu_version="7.2") == ("tcg", "cached probe: KVM boot failed")
    assert len(calls) == 1
    qemu.probe_accel(Path("k"), qemu_version="8.0")
    assert len(calls) == 2


def test_requested_accelerator_skips_the_probe(cache, monkeypatch):
    monkeypatch.setattr(qemu, "_run_probe", lambda *a: pytest.fail("must not probe"))
    assert qemu.probe_accel(Path("k"), qemu_version="7.2", requested="kvm") == ("kvm", "requested")
    monkeypatch.setenv("PATCHKIT_ACCEL", "tcg")
    # an explicit --accel wins over the environment; the environment fills in "auto"
    assert qemu.probe_accel(Path("k"), qemu_version="7.2", requested="kvm") == ("kvm", "requested")
    assert qemu.probe_accel(Path("k"), qemu_version="7.2", requested="auto") == ("tcg", "requested")


def test_kvm_failure_text_is_recognised():
    assert qemu.KVM_FAILURE.search("KVM internal error. Suberror: 1\nemulation failure")
    assert not qemu.KVM_FAILURE.search("[    1.0] Run /init as init process")


def test_icount_clock_runs_single_threaded_tcg_with_one_ns_per_instruction():
    argv = qemu.qemu_argv(kernel=Path("k"), initrd=Path("i"), append="", accel="tcg", smp=1, clock="icount",
                          plugins=["/p/pk-insn.so,out=/o/c.txt"])
    assert argv[3:11] == ["-accel", "tcg", "-icount", "shift=0,sleep=off", "-seed", "1",
                          "-rtc", "base=2026-01-01T00:00:00,clock=vm"]
    assert "tcg,thread=multi" not in argv  # QEMU refuses icount with multi-threaded TCG
    assert argv[-2:] == ["-plugin", "/p/pk-insn.so,out=/o/c.txt"]


@pytest.mark.parametrize("accel, smp", [("kvm", 1), ("tcg", 2)])
def test_icount_clock_refuses_kvm_and_more_than_one_vcpu(accel, smp):
    with pytest.raises(ValueError):
        qemu.qemu_argv(kernel=Path("k"), initrd=Path("i"), append="", accel=accel, smp=smp, clock="icount")


def test_unknown_clock_is_refused():
    with pytest.raises(ValueError, match="clock"):
        qemu.accel_args("tcg", "realtime")


def test_console_to_a_file_takes_the_serial_off_stdout():
    argv = qemu.qemu_argv(kernel=Path("k"), initrd=Path("i"), append="", accel="tcg", smp=1, clock="icount",
                          serial_file=Path("/o/console.log"))
    i = argv.index("-serial")
    assert argv[i:i + 4] == ["-serial", "file:/o/console.log", "-monitor", "none"]
    assert "-serial" not in qemu.qemu_argv(kernel=Path("k"), initrd=Path("i"), append="", accel="tcg")
