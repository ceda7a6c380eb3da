"""patchkit boot: boot a built kernel under QEMU and run the guest test suite.

boot() is the stage the validate pipeline calls; run() is the subcommand.
The guest's tests live in patchkit/guest/tests/NAME.sh; each reports
PASS / FAIL / SKIP with figures through console markers, and every kernel
event on the console (panic, BUG, WARNING, lockdep, OOM kill, ...) fails
the test that was running and the run.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from patchkit import console, faults, initramfs, paths, proc, qemu, ui
from patchkit.console import Event
from patchkit.errors import CommandFailed, UserError
from patchkit.pipeline import ERROR, FAIL, PASS, SKIP  # noqa: F401 (boot.PASS ... for callers)


# The suite in the order it runs by default.
DEFAULT_TESTS = ["zram-setup", "hog", "pageout", "swapoff", "writeback", "reset",
                 "selftests", "stress-ng", "swapfile-ext2", "swap-disk",
                 # skips unless the kernel has NFS and nfsd (--fragment patchkit/configs/nfs-swap.config)
                 "swapfile-nfs",
                 # zram-swap-ops v2: skip unless the kernel is built with
                 # --fragment patchkit/configs/swap-ops.config (and, for
                 # swap-ops-driver, --extmod patchkit/guest/kmod/pk_swapdev)
                 "zram-swap-ops", "zram-mthp", "swap-ops-disk", "swap-ops-driver"]

# Scratch disks: test -> (serial the guest looks for, size in MiB, filesystem or None).
DISKS = {
    "writeback": ("pk-wb", 256, None),
    "swapfile-ext2": ("pk-swapfs", 256, "ext2"),
    "swap-disk": ("pk-swapdev", 192, None),
    "swap-ops-disk": ("pk-sodisk", 192, None),
    "zram-swap-ops": ("pk-sowb", 256, None),
    "swapfile-nfs": ("pk-nfs", 256, "ext2"),  # the filesystem nfsd exports
    "bench-writeback": ("pk-bench-wb", 256, None),
    # the fault tests' own (patchkit/guest/faults/, their table is faults.DISKS)
    **faults.DISKS,
}


@dataclass
class TestResult:
    name: str
    status: str  # PASS | FAIL | SKIP | ERROR
    seconds: float = 0.0
    figures: dict = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    detail: str = ""
    excerpt: str = ""  # the end of the test's console output when it did not pass


@dataclass
class BootResult:
    accel: str
    qemu_version: str
    kernel: Path
    status: str  # PASS | FAIL | ERROR
    tests: list[TestResult]
    events: list[Event]  # every kernel event of the run (also those outside tests)
    console_log: Path
    seconds: float
    boot_seconds: float | None = None  # guest uptime when the first test started
    accel_reason: str = ""
    detail: str = ""
    clock: str = "wall"  # "icount": guest time counts guest instructions (qemu.py)
    initrd_sha256: str = ""  # the image this boot ran (bench compares only boots of one image)


def available_tests(guest_dir: Path = paths.GUEST) -> list[str]:
    guest_dir = Path(guest_dir)
    return sorted([p.stem for p in (guest_dir / "tests").glob("*.sh")]
                  + [p.stem for p in (guest_dir / "faults").glob("fault-*.sh")])


def bench_tests(guest_dir: Path = paths.GUEST) -> list[str]:
    """patchkit bench's workloads (guest/bench/*.sh): runnable by name, never in the default suite."""
    return sorted(p.stem for p in (Path(guest_dir) / "bench").glob("*.sh"))


def select_tests(tests: list[str] | None, guest_dir: Path = paths.GUEST) -> list[str]:
    """The tests to run, in order; unknown names are a UserError naming the known ones."""
    known = available_tests(guest_dir) + bench_tests(guest_dir)
    if tests is None:
        return [t for t in DEFAULT_TESTS if t in known]
    unknown = [t for t in tests if t not in known]
    if unknown:
        raise UserError(f"unknown guest test(s): {', '.join(unknown)}",
                        hint=f"known tests: {', '.join(DEFAULT_TESTS)}")
    return list(tests)


def mkfs_argv(image: Path, fs: str) -> list[str]:
    return [f"mkfs.{fs}", "-F", "-q", "-b", "4096", str(image)]


# Under icount these tests use no disk (bench-writeback backs zram with a second zram):
# a disk the guest probes at boot waits for the host, and the guest's instruction counts
# would move from boot to boot with the host's speed.
ICOUNT_DISKLESS = ("bench-writeback",)


def disk_tests(tests: list[str], clock: str) -> list[str]:
    """The tests whose scratch disk this boot attaches."""
    return [t for t in tests if not (clock == "icount" and t in ICOUNT_DISKLESS)]


def make_disks(tests: list[str], workdir: Path) -> list[qemu.Disk]:
    """Fresh sparse raw images for the tests that need a disk."""
    disks = []
    for test in tests:
        if test not in DISKS:
            continue
        serial, size_mb, fs = DISKS[test]
        image = workdir / f"{serial}.img"
        image.unlink(missing_ok=True)
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        if fs:
            proc.run(mkfs_argv(image, fs))
        disks.append(qemu.Disk(image, serial))
    return disks


class GuestProgress:
    """Reads the console while QEMU runs: one line per guest test as it ends
    (live.event), the running test on the live line."""

    def __init__(self, live):
        self.live = live
        self.running = ""
        self.done = 0

    def line(self, text: str) -> None:
        m = console.MARKER.search(text)
        if not m:
            if not self.running and "Linux version" in text:
                self.running = "kernel booting"
            return
        kind, rest = m.group(1), (m.group(2) or "").split()
        if kind == "test-start" and rest:
            self.running = f"running {rest[0]}"
        elif kind == "test-end" and len(rest) >= 2:
            self.done += 1
            secs = f" in {rest[2]}s" if len(rest) >= 3 else ""
            self.live.event(f"{rest[0]}: {rest[1]}{secs}")
            self.running = ""
        elif kind == "suite-end":
            self.running = "suite ended, powering off"

    def status(self) -> str:
        return ", ".join(filter(None, [f"{self.done} tests done" if self.done else "", self.running]))


EXCERPT_LINES = 40


def console_excerpt(text: list[str], rec, lines: int = EXCERPT_LINES) -> str:
    """The last lines of a test's console output (start to end marker, or to
    the end of the console when it never ended): the JUnit / KCIDB log excerpt."""
    if not text:
        return ""
    end = rec.end_line or len(text)
    return "\n".join(line.rstrip("\r\n") for line in text[max(rec.start_line - 1, end - lines):end])


def results_from_console(con: console.Console, tests: list[str], *, guest_status: int | None,
                         timed_out: bool, timeout: float,
                         console_lines: list[str] | None = None) -> tuple[list[TestResult], str, str]:
    """Per-test results, the run's status and a one-line reason from a parsed console."""
    if timed_out:
        why = f"killed at the host timeout of {timeout:.0f}s"
    else:
        fatal = [e for e in con.events if e.kind in ("panic", "oops", "bug", "kasan")]
        why = (f"guest stopped: {fatal[-1].text}" if fatal else
               "guest stopped without finishing the suite")
    results = []
    for name in tests:
        rec = con.tests.get(name)
        events = [e for e in con.events if e.test == name]
        bad = [e for e in events if not e.allowed]
        if rec is None:
            results.append(TestResult(name, SKIP, detail=f"not reached: {why}" if con.suite_end is None
                                      else "not run by the guest"))
            continue
        status = rec.status or FAIL
        detail = rec.detail
        if rec.status is None:
            detail = "; ".join(filter(None, [detail, f"did not finish: {why}"]))
        if bad and status != FAIL:
            status = FAIL
        if bad:
            detail = "; ".join(filter(None, [detail, *(f"kernel {e.kind}: {e.text}" for e in bad[:3])]))
        allowed = [e for e in events if e.allowed]
        if allowed:
            detail = "; ".join(filter(None, [detail, *(f"allowed OOM kill of {e.victim}" for e in allowed)]))
        if status not in (PASS, FAIL, SKIP):
            detail = f"guest reported status {status!r}; {detail}"
            status = ERROR
        excerpt = console_excerpt(console_lines or [], rec) if status in (FAIL, ERROR) else ""
        results.append(TestResult(name, status, rec.seconds or 0.0, rec.figures, events, detail, excerpt))

    outside = [e for e in con.events if e.test is None and not e.allowed]
    finished = con.suite_end is not None and guest_status in (0, 1) and not timed_out
    if not con.kernel_started and not timed_out and guest_status is None:
        return results, ERROR, "no kernel output on the console: QEMU or the kernel image failed"
    if not finished:
        return results, FAIL, why
    if outside:
        return results, FAIL, f"kernel {outside[0].kind} outside any test: {outside[0].text}"
    if any(r.status in (FAIL, ERROR) for r in results) or guest_status != 0:
        bad = [r.name for r in results if r.status in (FAIL, ERROR)]
        return results, FAIL, f"failed: {', '.join(bad) or 'guest reported failure'}"
    return results, PASS, ""


def boot(kernel: Path, *, source: Path, modules_dir: Path | None = None, tests: list[str] | None = None,
         timeout: float = 900, log_dir: Path | None = None, memory_mb: int = 256, smp: int = 2,
         accel: str = "auto", cmdline: list[str] | None = None, clock: str = "wall",
         plugins: list[str] | None = None, initrd: Path | None = None) -> BootResult:
    """Boot kernel under QEMU with the guest image, run tests, classify the console.

    initrd: an image already built (patchkit bench builds one for all its boots); by
    default one is built here from source and the tests.

    clock="icount": one vCPU under single-threaded TCG with -icount (qemu.py), and
    patchkit.clock=icount on the command line for the guest scripts that care."""
    start = time.monotonic()
    kernel = Path(kernel)
    if not kernel.is_file():
        raise UserError(f"kernel image {kernel} does not exist",
                        hint="build one first: patchkit build (it prints the bzImage path)")
    if source is None or not Path(source).is_dir():
        raise UserError(f"kernel source tree {source} does not exist (--source)")
    names = select_tests(tests)
    log_dir = Path(log_dir or paths.out_dir() / "boot" / time.strftime("%Y%m%d-%H%M%S"))
    log_dir.mkdir(parents=True, exist_ok=True)
    console_log = log_dir / "console.log"

    if clock not in qemu.CLOCKS:
        raise UserError(f"unknown clock {clock!r}", hint=f"clocks: {', '.join(qemu.CLOCKS)}")
    if clock == "icount":
        if accel == "kvm":
            raise UserError("the icount clock needs TCG: drop --accel kvm or use --clock wall")
        if smp != 1:
            raise UserError(f"the icount clock runs one vCPU, not --smp {smp}")
    proc.require(qemu.QEMU)
    qemu_version = qemu.version()
    if initrd is None:
        initrd = initramfs.build_image(source=Path(source), modules_dir=modules_dir, tests=names)
    elif not Path(initrd).is_file():
        raise UserError(f"initramfs {initrd} does not exist")
    initrd_sha256 = hashlib.sha256(Path(initrd).read_bytes()).hexdigest()
    if clock == "icount":
        chosen, reason = "tcg", "the icount clock needs TCG"
        # the same addresses every boot (user mappings, and the kernel's where KASLR is built in):
        # page-table and cache layouts that move would move instruction counts with them
        cmdline = [*(cmdline or []), "patchkit.clock=icount", "norandmaps", "nokaslr"]
    else:
        chosen, reason = qemu.probe_accel(kernel, qemu_version=qemu_version, requested=accel,
                                          log_dir=log_dir)
    ui.info("boot", f"{kernel} under {chosen} ({reason}), tests: {', '.join(names) or 'none'}")

    test_timeout = int(max(60, min(600, timeout * 0.6)))
    append = qemu.kernel_cmdline(names, test_timeout=test_timeout, extra=cmdline)
    workdir = log_dir / "disks"
    workdir.mkdir(exist_ok=True)
    try:
        while True:
            disks = make_disks(disk_tests(names, clock), workdir)
            # under icount the console goes to its file directly (qemu.qemu_argv says why)
            serial_file = console_log if clock == "icount" else None
            argv = qemu.qemu_argv(kernel=kernel, initrd=initrd, append=append, accel=chosen,
                                  memory_mb=memory_mb, smp=smp, disks=disks, clock=clock, plugins=plugins,
                                  serial_file=serial_file)
            timed_out, returncode = False, None
            live = ui.Live("boot", f"booting under {chosen}")
            try:
                console_log.unlink(missing_ok=True)    # the follower reads this run's console only
                with ui.follow(console_log, GuestProgress(live), from_start=True):
                    returncode = proc.run(argv, log=log_dir / "qemu.log" if serial_file else console_log,
                                          timeout=timeout, check=False).returncode
            except CommandFailed as exc:
                if exc.returncode != -9:
                    raise
                timed_out = True
            finally:
                live.stop()
            if chosen == "kvm" and qemu.KVM_FAILURE.search(proc.tail_of(console_log, 60)):
                # The cached probe was wrong for this kernel: say so, forget it, run under TCG.
                ui.warn("boot", "KVM could not run this kernel; falling back to TCG")
                qemu.remember("tcg", qemu_version, "a KVM boot failed after the probe passed")
                chosen, reason = "tcg", "KVM failed during the run"
                continue
            break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    con = console.parse_file(console_log)
    events = list(con.events)
    if timed_out:
        events.append(Event("timeout", f"QEMU killed after {timeout:.0f}s", 0, con.running))
    elif con.suite_end is None:
        events.append(Event("no-suite-end", f"QEMU exited with {returncode} before the suite ended", 0,
                            con.running))
    results, status, detail = results_from_console(
        con, names, guest_status=None if returncode is None else qemu.guest_status(returncode),
        timed_out=timed_out, timeout=timeout,
        console_lines=console_log.read_text(errors="replace").splitlines())
    for r in results:
        r.events.extend(e for e in events[len(con.events):] if e.test == r.name)
    return BootResult(accel=chosen, qemu_version=qemu_version, kernel=kernel, status=status,
                      tests=results, events=events, console_log=console_log,
                      seconds=time.monotonic() - start, boot_seconds=con.suite_start_uptime,
                      accel_reason=reason, detail=detail, clock=clock, initrd_sha256=initrd_sha256)


# ---------------------------------------------------------------- CLI


# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: the guest must run to be classified; the console log starts with the QEMU command line'


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", type=Path, help="bzImage to boot")
    p.add_argument("--source", type=Path, help="the kernel tree it was built from (for selftests/zram)")
    p.add_argument("--modules", type=Path, default=None,
                   help="INSTALL_MOD_PATH root, when zram is built as a module")
    p.add_argument("--tests", default=None,
                   help=f"comma-separated guest tests (default: all: {','.join(DEFAULT_TESTS)})")
    p.add_argument("--timeout", type=float, default=900, help="hard limit for the whole boot, seconds")
    p.add_argument("--memory", type=int, default=256, help="guest RAM in MiB")
    p.add_argument("--smp", type=int, default=None, help="guest CPUs (default 2; 1 with --clock icount)")
    p.add_argument("--accel", choices=qemu.ACCELS, default="auto",
                   help="auto probes KVM with a real boot and falls back to TCG")
    p.add_argument("--clock", choices=qemu.CLOCKS, default="wall",
                   help="icount: one vCPU under TCG with -icount shift=0,sleep=off, so guest time "
                        "counts guest instructions (use with --smp 1)")
    p.add_argument("--log-dir", type=Path, default=None, help="where console.log goes")
    p.add_argument("--append", action="append", default=[], metavar="PARAM",
                   help="extra kernel command line parameter, e.g. slab_debug=U,kmalloc-1k (repeatable)")
    p.add_argument("--profile", action="store_true",
                   help="count kernel timer ticks per function for each test (boots with profile=2; the "
                        "kernel needs --fragment patchkit/configs/profile.config)")
    p.add_argument("--list-tests", action="store_true", help="print the guest tests and exit")


def run(args) -> int:
    if args.options.dry_run and not args.list_tests:
        raise UserError("patchkit boot has no --dry-run: the guest must run to be classified",
                        hint="the console log's first line is the QEMU command that reproduces the run")
    if args.list_tests:
        for name in select_tests(None):
            print(name)
        return 0
    if args.kernel is None or args.source is None:
        raise UserError("patchkit boot needs --kernel BZIMAGE and --source TREE")
    smp = args.smp if args.smp is not None else (1 if args.clock == "icount" else 2)
    check_numbers(memory=args.memory, smp=smp, timeout=args.timeout)
    tests = [t for t in args.tests.split(",") if t] if args.tests is not None else None
    select_tests(tests)
    if not Path(args.source).is_dir():
        raise UserError(f"{args.source}: no such kernel source folder",
                        hint="--source names the tree the kernel was built from")
    check_kernel(args.kernel)
    cmdline = list(args.append)
    if args.profile:
        require_profiling(args.kernel)
        cmdline.append(PROFILE_PARAM)
    result = boot(args.kernel, source=args.source, modules_dir=args.modules, tests=tests,
                  timeout=args.timeout, log_dir=args.log_dir, memory_mb=args.memory,
                  smp=smp, accel=args.accel, cmdline=cmdline,
                  clock=args.clock)
    # The stage line carries the guest's verdict, not just "QEMU ran".
    ui.info("boot", f"{result.status} in {ui.duration(result.seconds)}")
    print_table(result)
    if args.profile:
        print_profiles(result.tests)
    return 0 if result.status == PASS else 1


# ---------------------------------------------------------------- kernel profile

# 4-byte buckets: a 6 MB kernel text takes 6 MB of counters, summed per
# function in the guest by pk-profile (patchkit/guest/pk-profile.c).
PROFILE_PARAM = "profile=2"
PROFILE_FRAGMENT = paths.CONFIGS / "profile.config"


def check_numbers(*, memory: int, smp: int = 1, timeout: float = 1) -> None:
    """Guest sizes and limits that cannot work, refused before QEMU starts."""
    if memory < 64:
        raise UserError(f"--memory {memory}: the guest needs at least 64 MiB")
    if smp < 1:
        raise UserError(f"--smp {smp}: the guest needs at least 1 CPU")
    if not timeout > 0:
        raise UserError(f"--timeout {timeout:g}: give a number of seconds above 0")


def check_kernel(kernel: Path) -> None:
    kernel = Path(kernel)
    if not kernel.is_file():
        raise UserError(f"kernel image {kernel} does not exist",
                        hint="build one: patchkit build (it prints the bzImage path)")


def require_profiling(kernel: Path) -> None:
    """--profile on a kernel whose .config says CONFIG_PROFILING is off is a UserError."""
    from patchkit import kconfig

    build_dir = paths.build_dir_of(kernel)
    if build_dir is None:
        return  # not in a build dir: the guest reports no samples if it is off
    config = build_dir / ".config"
    if kconfig.values(config.read_text()).get("CONFIG_PROFILING") != "y":
        raise UserError(f"{config}: CONFIG_PROFILING is not set, so --profile would count nothing",
                        hint=f"rebuild with: patchkit build --fragment {PROFILE_FRAGMENT} ...")


def profile_rows(figures: dict, limit: int = 12) -> list[tuple[str, int, float]]:
    """(function, ticks, share of the test's kernel ticks) from pk-profile's figures, most first."""
    total = figures.get("profile.samples") or 0
    rows = [(k[len("profile.fn."):], v) for k, v in figures.items()
            if k.startswith("profile.fn.") and isinstance(v, int)]
    rows.sort(key=lambda r: (-r[1], r[0]))
    return [(fn, n, n / total if total else 0.0) for fn, n in rows[:limit]]


def print_profiles(tests: list[TestResult], limit: int = 12) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console()
    for t in tests:
        name, figures = t.name, t.figures
        if "profile.samples" not in figures:
            out.print(f"{name}: no kernel profile (kernel without CONFIG_PROFILING, or the test did not end)")
            continue
        table = Table(title=f"{name}: kernel ticks per function ({figures['profile.samples']} samples)")
        table.add_column("function")
        table.add_column("ticks", justify="right")
        table.add_column("share", justify="right")
        for fn, n, share in profile_rows(figures, limit):
            table.add_row(fn, str(n), f"{share * 100:.1f}%")
        out.print(table)


# Figures worth a place in the terminal table (all of them go to results.json).
HEADLINE = ("verified_pages", "mismatches", "pswpout", "pswpin", "algorithm", "bd_writes", "bd_reads",
            "ratio_pct", "swap_used_kb_before", "exit_status", "size_mb")


def format_figures(figures: dict, limit: int = 7) -> str:
    raw = ("zram.mm_stat", "zram.io_stat", "zram.bd_stat")
    keys = [k for k in figures if k.rsplit(".", 1)[-1] in HEADLINE and not k.startswith(raw)]
    return ", ".join(f"{k}={figures[k]}" for k in keys[:limit])


def print_table(result: BootResult) -> None:
    from rich.console import Console
    from rich.table import Table

    colour = {PASS: "green", FAIL: "red", SKIP: "yellow", ERROR: "magenta"}
    table = Table(title=f"patchkit boot: {result.status} ({result.accel}, QEMU {result.qemu_version}, "
                        f"{ui.duration(result.seconds)})")
    table.add_column("test")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("figures / detail", overflow="fold")
    for t in result.tests:
        text = "; ".join(filter(None, [t.detail, format_figures(t.figures)]))
        table.add_row(t.name, f"[{colour.get(t.status, 'white')}]{t.status}[/]", f"{t.seconds:.1f}s", text)
    out = Console()
    out.print(table)
    for e in result.events:
        if e.test is None or e.kind in ("timeout", "no-suite-end"):
            out.print(f"event: {e.describe()}")
    if result.detail:
        out.print(f"{result.status}: {result.detail}")
    out.print(f"console log: {result.console_log}")
