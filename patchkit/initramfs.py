"""The guest image: a cpio (newc) initramfs written by Python.

Deterministic by construction: entries sorted by path, mtime 0, uid/gid 0,
inode numbers handed out in path order, modes normalised (0755 / 0644).
The same inputs give the same bytes, so the image is cached under the
sha256 of its own content and a second boot with nothing changed reuses it.

What goes in (see build_image()):
  /init and /patchkit/...       the init script, the test scripts, our C programs
  /bin/busybox + applet links   Debian busybox-static
  /usr/bin/stress-ng            with its shared libraries and the dynamic loader
  /bin/bash, /sbin/mkfs.ext2    the host's, with their libraries (the selftests want them)
                                (these two only when their tests are selected)
  /selftests/zram/...           the tree's tools/testing/selftests/zram
  /lib/modules/...              kernel modules, when zram is built as a module
  /dev/console, /dev/null       nodes the kernel needs before devtmpfs is mounted
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from patchkit import paths, proc
from patchkit.errors import InfraError, UserError

# Guest C programs: source file in patchkit/guest/ -> path in the image.
GUEST_PROGRAMS = {
    "pk-hog.c": "/patchkit/bin/pk-hog",
    "pk-exit.c": "/patchkit/bin/pk-exit",
    "pk-profile.c": "/patchkit/bin/pk-profile",  # kernel tick profile per test (boot --profile)
    "bench/pk-bench.c": "/patchkit/bin/pk-bench",  # patchkit bench's workloads
    "faults/pk-faulthog.c": "/patchkit/bin/pk-faulthog",
    "faults/pk-rastall.c": "/patchkit/bin/pk-rastall",  # fault-stall's readers
}
GCC_FLAGS = ["-static", "-O2", "-Wall", "-Wextra", "-Werror"]
# shared by the guest programs (#include "pk-guest.h"); part of every program's cache key
GUEST_HEADER = paths.GUEST / "pk-guest.h"
SELFTESTS_ZRAM = "tools/testing/selftests/zram"
DIRS = ["/dev", "/proc", "/sys", "/tmp", "/mnt", "/run", "/root", "/etc", "/sys/kernel/debug"]


@dataclass(frozen=True)
class Entry:
    """One file, directory, symlink or device node of the image."""

    path: str  # absolute path inside the guest
    kind: str  # "file" | "dir" | "symlink" | "chardev"
    mode: int = 0o644  # permission bits only
    data: bytes = b""  # file content or symlink target
    rdev: tuple[int, int] = (0, 0)

    def type_bits(self) -> int:
        return {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK,
                "chardev": stat.S_IFCHR}[self.kind]


def file_entry(path: str, src: Path, executable: bool | None = None) -> Entry:
    src = Path(src)
    data = src.read_bytes()
    if executable is None:
        executable = os.access(src, os.X_OK)
    return Entry(path, "file", 0o755 if executable else 0o644, data)


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def normalise(entries: list[Entry]) -> list[Entry]:
    """Add missing parent directories, reject duplicates, sort by path."""
    by_path: dict[str, Entry] = {}
    for e in entries:
        if not e.path.startswith("/") or e.path == "/":
            raise ValueError(f"initramfs entry path must be absolute and not '/': {e.path!r}")
        old = by_path.get(e.path)
        if old is not None and old != e:
            if old.kind == e.kind == "dir":
                continue
            raise ValueError(f"initramfs: two different entries for {e.path}")
        by_path[e.path] = e
    for e in list(by_path.values()):
        for parent in _parents(e.path):
            if parent not in by_path:
                by_path[parent] = Entry(parent, "dir", 0o755)
            elif by_path[parent].kind != "dir":
                raise ValueError(f"initramfs: {parent} is a {by_path[parent].kind} but {e.path} needs it as a directory")
    return [by_path[p] for p in sorted(by_path)]


def _pad4(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


def _header(ino: int, mode: int, nlink: int, size: int, rdev: tuple[int, int], namesize: int) -> bytes:
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], namesize, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def write_cpio(entries: list[Entry]) -> bytes:
    """cpio newc archive of entries (normalised first): deterministic bytes."""
    out = io.BytesIO()
    for ino, e in enumerate(normalise(entries), start=1):
        name = e.path.lstrip("/").encode() + b"\0"
        data = e.data if e.kind in ("file", "symlink") else b""
        mode = e.type_bits() | (0o777 if e.kind == "symlink" else e.mode)
        nlink = 2 if e.kind == "dir" else 1
        hdr = _header(ino, mode, nlink, len(data), e.rdev, len(name))
        out.write(hdr + name + _pad4(len(hdr) + len(name)))
        out.write(data + _pad4(len(data)))
    name = b"TRAILER!!!\0"
    hdr = _header(0, 0, 1, 0, (0, 0), len(name))
    out.write(hdr + name + _pad4(len(hdr) + len(name)))
    # The kernel reads the archive in 512-byte blocks; pad like cpio(1) does.
    size = out.tell()
    out.write(b"\0" * ((512 - size % 512) % 512))
    return out.getvalue()


def read_cpio(data: bytes) -> dict[str, tuple[int, bytes]]:
    """Parse a newc archive back into {path: (mode, data)} (for tests and inspection)."""
    result = {}
    pos = 0
    while True:
        if data[pos:pos + 6] != b"070701":
            raise ValueError(f"bad cpio magic at offset {pos}")
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        pos += 110
        name = data[pos:pos + namesize - 1].decode()
        pos += namesize
        pos += (4 - pos % 4) % 4
        body = data[pos:pos + size]
        pos += size
        pos += (4 - pos % 4) % 4
        if name == "TRAILER!!!":
            return result
        result["/" + name] = (mode, body)


# ---------------------------------------------------------------- pieces


def busybox_entries(busybox: Path | None = None) -> list[Entry]:
    """Static busybox at /bin/busybox plus one symlink per applet."""
    busybox = Path(busybox or proc.require("busybox"))
    if _is_dynamic(busybox):
        raise InfraError(f"{busybox} is dynamically linked; the guest needs a static busybox",
                         hint="apt-get install busybox-static")
    res = proc.run([str(busybox), "--list-full"])
    entries = [file_entry("/bin/busybox", busybox, executable=True)]
    for line in sorted(set(res.stdout.split())):
        applet = "/" + line.strip("/")
        if applet in ("/bin/busybox",):
            continue
        # Applets live in bin, sbin, usr/bin, usr/sbin: point each at /bin/busybox.
        entries.append(Entry(applet, "symlink", data=b"/bin/busybox"))
    return entries


def _is_dynamic(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    # A PT_INTERP program header names the loader; static binaries have none.
    return b"/lib64/ld-linux" in head or b"ld-linux-x86-64.so" in head


LDD_LINE = re.compile(r"^\s*(?:(\S+)\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def parse_ldd(output: str) -> list[str]:
    """Library paths (and the loader) named by ldd's output, in order."""
    found = []
    for line in output.splitlines():
        if "not found" in line:
            raise InfraError(f"shared library missing on the host: {line.strip()}")
        m = LDD_LINE.match(line)
        if m:
            found.append(m.group(2))
    return found


def dynamic_program_entries(program: Path, dest: str) -> list[Entry]:
    """program at dest, plus every shared library ldd names at the same path."""
    program = Path(program)
    entries = [file_entry(dest, program, executable=True)]
    for lib in parse_ldd(proc.run(["ldd", str(program)]).stdout):
        entries.append(file_entry(lib, Path(lib).resolve(), executable=True))
    return entries


def selftests_entries(source: Path) -> list[Entry]:
    """The tree's tools/testing/selftests/zram at /selftests/zram."""
    src = Path(source) / SELFTESTS_ZRAM
    if not src.is_dir():
        raise UserError(f"{src} does not exist: --source must be a kernel tree with {SELFTESTS_ZRAM}")
    return [file_entry(f"/selftests/zram/{p.name}", p)
            for p in sorted(src.iterdir()) if p.is_file()]


def modules_entries(modules_dir: Path) -> list[Entry]:
    """Everything under INSTALL_MOD_PATH/lib/modules, symlinks (build/source) left out."""
    root = Path(modules_dir) / "lib" / "modules"
    if not root.is_dir():
        raise UserError(f"{root} does not exist: modules_dir must be an INSTALL_MOD_PATH root "
                        "(make modules_install INSTALL_MOD_PATH=DIR)")
    entries = []
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        entries.append(file_entry("/lib/modules/" + p.relative_to(root).as_posix(), p, executable=False))
    return entries


def guest_script_entries(guest_dir: Path = paths.GUEST) -> list[Entry]:
    """/init, /patchkit/lib.sh and /patchkit/tests/*.sh from patchkit/guest/."""
    guest_dir = Path(guest_dir)
    entries = [file_entry("/init", guest_dir / "init", executable=True),
               file_entry("/patchkit/lib.sh", guest_dir / "lib.sh", executable=False)]
    for p in sorted((guest_dir / "tests").glob("*.sh")) + sorted((guest_dir / "bench").glob("*.sh")):
        entries.append(file_entry(f"/patchkit/tests/{p.name}", p, executable=True))
    # The fault tests (patchkit/faults.py) run like any other guest test.
    faults = guest_dir / "faults"
    if faults.is_dir():
        entries.append(file_entry("/patchkit/faults-lib.sh", faults / "lib.sh", executable=False))
        for p in sorted(faults.glob("fault-*.sh")):
            entries.append(file_entry(f"/patchkit/tests/{p.name}", p, executable=True))
    return entries


@functools.cache
def gcc_version() -> str:
    """The host gcc's version, asked once per process (every image build compiles five programs)."""
    return proc.run([proc.require("gcc"), "-dumpfullversion"]).stdout.strip()


def compile_program(src: Path, cache: Path | None = None) -> Path:
    """gcc -static -O2 src, cached by the hash of source, the shared header, flags and gcc version."""
    src = Path(src)
    key = hashlib.sha256(src.read_bytes() + GUEST_HEADER.read_bytes() + " ".join(GCC_FLAGS).encode()
                         + gcc_version().encode()).hexdigest()[:20]
    out = Path(cache or paths.cache_dir() / "guest-bin") / key / src.stem
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # One temporary name per process: two runs compiling the same program at
    # once (parallel CI cells, two validate runs) must not write into one file.
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    try:
        proc.run(["gcc", *GCC_FLAGS, "-I", str(GUEST_HEADER.parent), "-o", str(tmp), str(src)],
                 hint=f"the guest program {src.name} must build with gcc -static (apt-get install libc6-dev)")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def base_entries() -> list[Entry]:
    entries = [Entry(d, "dir", 0o755) for d in DIRS]
    entries[entries.index(Entry("/tmp", "dir", 0o755))] = Entry("/tmp", "dir", 0o1777)
    entries += [
        Entry("/dev/console", "chardev", 0o600, rdev=(5, 1)),
        Entry("/dev/null", "chardev", 0o666, rdev=(1, 3)),
        Entry("/etc/passwd", "file", 0o644, b"root:x:0:0:root:/root:/bin/sh\n"),
        Entry("/etc/group", "file", 0o644, b"root:x:0:\n"),
    ]
    return entries


# Big host programs only some tests need: leaving them out when those tests
# are not selected keeps the image small (38 MB -> 6 MB) and the boot short.
PROGRAMS_FOR_TEST = {
    "stress-ng": [("stress-ng", "/usr/bin/stress-ng")],
    # busybox has no bash applet and the selftests start with #!/bin/bash; they
    # also run mkfs.ext2 on zram, whose logical block size is 4 KiB: busybox's
    # mke2fs picks 1 KiB blocks there (the mount then fails), e2fsprogs does not.
    "selftests": [("bash", "/bin/bash"), ("mkfs.ext2", "/sbin/mkfs.ext2")],
}


def image_entries(*, source: Path, modules_dir: Path | None = None, tests: list[str] | None = None,
                  guest_dir: Path = paths.GUEST) -> list[Entry]:
    """Everything the guest needs to run tests (None: every test)."""
    entries = base_entries()
    entries += busybox_entries()
    entries += guest_script_entries(guest_dir)
    for src_name, dest in GUEST_PROGRAMS.items():
        entries.append(file_entry(dest, compile_program(Path(guest_dir) / src_name), executable=True))
    for test, programs in sorted(PROGRAMS_FOR_TEST.items()):
        if tests is None or test in tests:
            for program, dest in programs:
                entries += dynamic_program_entries(Path(proc.require(program)), dest)
    entries += selftests_entries(source)
    if modules_dir is not None:
        entries += modules_entries(modules_dir)
    return normalise(entries)


def build_image(*, source: Path, modules_dir: Path | None = None, tests: list[str] | None = None,
                cache: Path | None = None, guest_dir: Path = paths.GUEST) -> Path:
    """Write the guest initramfs (or reuse the cached one); returns its path."""
    data = write_cpio(image_entries(source=source, modules_dir=modules_dir, tests=tests, guest_dir=guest_dir))
    digest = hashlib.sha256(data).hexdigest()
    cache = Path(cache or paths.cache_dir() / "initramfs")
    out = cache / f"{digest[:24]}.cpio"
    if out.exists() and out.stat().st_size == len(data):
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)  # atomic: never a half-written image under the final name
    return out


def tiny_image(init_program: Path) -> bytes:
    """An image whose /init is one static program (the accelerator probe)."""
    return write_cpio(base_entries() + [file_entry("/init", Path(init_program), executable=True)])
