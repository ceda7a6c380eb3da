"""QEMU x86_64: command lines (pure functions), the accelerator probe, versions.

Direct kernel boot, serial console on stdout (captured to the console log
by proc.run), no reboot: a panic (panic=-1) or a reboot ends QEMU, and the
guest's init hands its status through isa-debug-exit, which makes QEMU exit
with (status << 1) | 1.  Anything else (0 after a panic, -9 after our
timeout) means the guest did not finish.

/dev/kvm can exist and still fail a standard kernel (a nested paravirtual
hypervisor here: "emulation failure").  So KVM is used only after a real
boot under it worked; the verdict is cached per host and QEMU version, and
TCG (multi-threaded) is the fallback.

The icount clock (patchkit bench --clock icount): single-threaded TCG with
`-icount shift=0,sleep=off` on one vCPU advances the guest clock, and the TSC
the guest reads, one nanosecond per guest instruction, and jumps it to the
next timer when the guest idles.  Guest timings become instruction counts
that repeat from boot to boot (docs/bench.md).  A TCG plugin
(patchkit/plugins/pk-insn.c) can ride along with -plugin.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from patchkit import paths, proc, ui
from patchkit.errors import CommandFailed

QEMU = "qemu-system-x86_64"
DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x04"
PROBE_STATUS = 42  # pk-exit's status when it runs as /init (patchkit/guest/pk-exit.c)
PROBE_TIMEOUT = 25.0  # a KVM boot that works reaches /init in a few seconds
ACCELS = ("auto", "kvm", "tcg")
CLOCKS = ("wall", "icount")
ICOUNT = "shift=0,sleep=off"  # one guest ns per guest instruction; idle time jumps, never waits
ICOUNT_SEED = "1"
ICOUNT_RTC = "base=2026-01-01T00:00:00,clock=vm"
# QEMU's own words when KVM cannot run the guest.
KVM_FAILURE = re.compile(r"KVM internal error|emulation failure|kvm run failed|KVM: entry failed"
                         r"|error: failed to set MSR", re.I)


@dataclass(frozen=True)
class Disk:
    """A raw image attached as virtio-blk; the guest finds it by serial."""

    path: Path
    serial: str


def accel_args(accel: str, clock: str = "wall") -> list[str]:
    if clock == "icount":
        if accel != "tcg":
            raise ValueError(f"the icount clock needs TCG, not {accel!r}")
        # icount runs TCG single-threaded: thread=multi would be refused.  -seed: RDRAND and
        # every other random number the guest gets from QEMU repeat too (freelist and
        # stack-offset randomisation would otherwise move the counts from boot to boot)
        # -rtc: the CMOS clock from the guest's own time and a fixed date, not the host's
        return ["-accel", "tcg", "-icount", ICOUNT, "-seed", ICOUNT_SEED, "-rtc", ICOUNT_RTC]
    if clock != "wall":
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, not {clock!r}")
    if accel == "kvm":
        return ["-accel", "kvm"]
    if accel == "tcg":
        return ["-accel", "tcg,thread=multi"]
    raise ValueError(f"accelerator must be kvm or tcg, not {accel!r}")


def disk_args(disks: list[Disk]) -> list[str]:
    args = []
    for i, d in enumerate(disks):
        args += ["-drive", f"file={d.path},format=raw,if=none,id=pkd{i},cache=unsafe",
                 "-device", f"virtio-blk-pci,drive=pkd{i},serial={d.serial}"]
    return args


def kernel_cmdline(tests: list[str], *, test_timeout: int, extra: list[str] | None = None) -> str:
    words = ["console=ttyS0", "panic=-1", "printk.time=1"]
    words += [f"patchkit.tests={','.join(tests)}", f"patchkit.test_timeout={test_timeout}"]
    return " ".join(words + list(extra or []))


def plugin_args(plugins: list[str] | None) -> list[str]:
    """-plugin SPEC for each "PATH.so,key=value,..." given."""
    return [a for spec in plugins or [] for a in ("-plugin", spec)]


def qemu_argv(*, kernel: Path, initrd: Path, append: str, accel: str, memory_mb: int = 256,
              smp: int = 2, disks: list[Disk] | None = None, qemu: str = QEMU, clock: str = "wall",
              plugins: list[str] | None = None, serial_file: Path | None = None) -> list[str]:
    """The full QEMU command line for one guest boot.

    serial_file: the console goes straight to this file instead of stdout.  Under
    icount that matters: a console write that finds the host's pipe full is retried
    when the host gets to it, the guest's driver polls meanwhile, and the guest's
    instruction counts stop repeating; a file never pushes back."""
    if clock == "icount" and smp != 1:
        raise ValueError(f"the icount clock runs one vCPU, not {smp}")
    return [
        qemu, "-machine", "pc", *accel_args(accel, clock),
        "-m", f"{memory_mb}M", "-smp", str(smp),
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", append,
        "-nographic", "-no-reboot", "-nic", "none",
        *(["-serial", f"file:{serial_file}", "-monitor", "none"] if serial_file else []),
        "-device", DEBUG_EXIT,
        *disk_args(disks or []),
        *plugin_args(plugins),
    ]


def guest_status(returncode: int) -> int | None:
    """The status the guest wrote to isa-debug-exit, or None if it wrote none."""
    if returncode > 0 and returncode & 1:
        return returncode >> 1
    return None


def version(qemu: str = QEMU) -> str:
    out = proc.run([qemu, "--version"]).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else out.strip().splitlines()[0]


def _probe_key(qemu_version: str) -> str:
    host = f"{platform.release()}|{platform.machine()}|{qemu_version}"
    try:
        with open("/proc/cpuinfo") as f:
            host += "|" + next((line for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return hashlib.sha256(host.encode()).hexdigest()[:16]


def _cache_file() -> Path:
    return paths.cache_dir() / "accel-probe.json"


def _load_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def remember(accel: str, qemu_version: str, reason: str) -> None:
    """Record the verdict for this host and QEMU (atomically)."""
    cache = _load_cache()
    cache[_probe_key(qemu_version)] = {"accel": accel, "reason": reason}
    f = _cache_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".{f.name}.{os.getpid()}")
    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    tmp.replace(f)


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def probe_accel(kernel: Path, *, qemu_version: str, requested: str = "auto",
                log_dir: Path | None = None) -> tuple[str, str]:
    """(accelerator, why): kvm only if a real boot under KVM reached /init.

    An explicit kvm or tcg wins; PATCHKIT_ACCEL only fills in an "auto"
    (the default: no --accel given)."""
    if requested == "auto":
        requested = os.environ.get("PATCHKIT_ACCEL", "auto")
    if requested in ("kvm", "tcg"):
        return requested, "requested"
    if requested != "auto":
        raise ValueError(f"accelerator must be one of {', '.join(ACCELS)}, not {requested!r}")
    if not kvm_usable():
        return "tcg", "no usable /dev/kvm"
    cached = _load_cache().get(_probe_key(qemu_version))
    if cached:
        return cached["accel"], f"cached probe: {cached['reason']}"
    accel, reason = _run_probe(kernel, log_dir)
    remember(accel, qemu_version, reason)
    return accel, reason


def _run_probe(kernel: Path, log_dir: Path | None) -> tuple[str, str]:
    from patchkit import initramfs

    pk_exit = initramfs.compile_program(paths.GUEST / "pk-exit.c")
    with tempfile.TemporaryDirectory(prefix="patchkit-probe-") as tmp:
        initrd = Path(tmp) / "probe.cpio"
        initrd.write_bytes(initramfs.tiny_image(pk_exit))
        argv = qemu_argv(kernel=kernel, initrd=initrd, append="console=ttyS0 panic=-1",
                         accel="kvm", memory_mb=128, smp=1)
        log = Path(log_dir or tmp) / "accel-probe.log"
        ui.info("boot", "probing KVM with a real boot (once per host and QEMU version)")
        try:
            res = proc.run(argv, log=log, timeout=PROBE_TIMEOUT, check=False)
        except CommandFailed:
            return "tcg", f"KVM boot did not finish within {PROBE_TIMEOUT:.0f}s"
        if guest_status(res.returncode) == PROBE_STATUS:
            return "kvm", "a KVM boot reached /init"
        text = proc.tail_of(log, 5).strip().replace("\n", " | ")
        return "tcg", f"KVM boot failed (exit {res.returncode}): {text[-200:]}"
