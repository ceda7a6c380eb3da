"""The guest image: cpio newc bytes, determinism, and what the image holds."""

import random
import shutil
import stat

import pytest

from patchkit import initramfs
from patchkit.initramfs import Entry


def sample_entries():
    return [
        Entry("/init", "file", 0o755, b"#!/bin/sh\necho hi\n"),
        Entry("/bin/busybox", "file", 0o755, b"\x7fELF..."),
        Entry("/bin/sh", "symlink", data=b"/bin/busybox"),
        Entry("/dev/console", "chardev", 0o600, rdev=(5, 1)),
        Entry("/etc/passwd", "file", 0o644, b"root:x:0:0::/root:/bin/sh\n"),
    ]


def test_same_entries_in_any_order_give_the_same_bytes():
    entries = sample_entries()
    first = initramfs.write_cpio(entries)
    shuffled = entries[:]
    random.Random(4).shuffle(shuffled)
    assert initramfs.write_cpio(shuffled) == first


def test_archive_reads_back_with_parents_modes_and_trailer():
    data = initramfs.write_cpio(sample_entries())
    files = initramfs.read_cpio(data)
    assert list(files) == sorted(files)
    assert files["/init"] == (stat.S_IFREG | 0o755, b"#!/bin/sh\necho hi\n")
    assert files["/bin/sh"] == (stat.S_IFLNK | 0o777, b"/bin/busybox")
    assert files["/bin"][0] == stat.S_IFDIR | 0o755  # parent added
    assert stat.S_ISCHR(files["/dev/console"][0])
    assert len(data) % 512 == 0


def test_headers_have_zero_mtime_owner_and_sequential_inodes():
    data = initramfs.write_cpio(sample_entries())
    pos, inodes = 0, []
    while True:
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        ino, mode, uid, gid, nlink, mtime, size = fields[:7]
        namesize = fields[11]
        name = data[pos + 110: pos + 110 + namesize - 1]
        if name == b"TRAILER!!!":
            break
        assert (uid, gid, mtime) == (0, 0, 0)
        inodes.append(ino)
        pos += 110 + namesize
        pos += (4 - pos % 4) % 4
        pos += size + (4 - size % 4) % 4
    assert inodes == list(range(1, len(inodes) + 1))


def test_device_numbers_are_written_as_rdev():
    data = initramfs.write_cpio([Entry("/dev/console", "chardev", 0o600, rdev=(5, 1))])
    name = data.index(b"dev/console\0")
    fields = [int(data[name - 110 + 6 + 8 * i: name - 110 + 14 + 8 * i], 16) for i in range(13)]
    assert (fields[9], fields[10]) == (5, 1)  # rdevmajor, rdevminor


def test_conflicting_entries_are_refused():
    with pytest.raises(ValueError, match="two different entries for /init"):
        initramfs.normalise([Entry("/init", "file", data=b"a"), Entry("/init", "file", data=b"b")])
    with pytest.raises(ValueError, match="needs it as a directory"):
        initramfs.normalise([Entry("/bin", "file", data=b"a"), Entry("/bin/sh", "symlink", data=b"x")])


def test_parse_ldd_keeps_libraries_and_loader():
    out = """\
\tlinux-vdso.so.1 (0x00007ffd5a3f2000)
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f0a1c000000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a1be00000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0a1c05a000)
"""
    assert initramfs.parse_ldd(out) == ["/lib/x86_64-linux-gnu/libz.so.1",
                                        "/lib/x86_64-linux-gnu/libc.so.6",
                                        "/lib64/ld-linux-x86-64.so.2"]


def test_parse_ldd_names_a_missing_library():
    from patchkit.errors import InfraError
    with pytest.raises(InfraError, match="libjpeg.so.62 => not found"):
        initramfs.parse_ldd("\tlibjpeg.so.62 => not found\n")


def test_selftests_need_a_kernel_tree(tmp_path):
    from patchkit.errors import UserError
    with pytest.raises(UserError, match="tools/testing/selftests/zram"):
        initramfs.selftests_entries(tmp_path)


# ---- the real image (needs gcc, busybox-static, stress-ng, bash from the host)

needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("gcc", "busybox", "stress-ng", "ldd", "bash")),
    reason="gcc, busybox-static, stress-ng and bash are needed to build the guest image")


@pytest.fixture(scope="module")
def fake_tree(tmp_path_factory):
    tree = tmp_path_factory.mktemp("tree")
    sel = tree / "tools/testing/selftests/zram"
    sel.mkdir(parents=True)
    (sel / "zram.sh").write_text("#!/bin/bash\necho zram\n")
    (sel / "zram.sh").chmod(0o755)
    (sel / "zram_lib.sh").write_text("# lib\n")
    mods = tree / "modroot/lib/modules/6.12.0"
    (mods / "kernel/drivers/block/zram").mkdir(parents=True)
    (mods / "kernel/drivers/block/zram/zram.ko").write_bytes(b"\x7fELFmodule")
    (mods / "modules.dep").write_text("kernel/drivers/block/zram/zram.ko:\n")
    (mods / "build").symlink_to("/nonexistent")
    return tree


@needs_tools
def test_image_holds_everything_the_guest_needs_and_is_cached(fake_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    first = initramfs.build_image(source=fake_tree, modules_dir=fake_tree / "modroot")
    files = initramfs.read_cpio(first.read_bytes())
    for path in ["/init", "/bin/busybox", "/bin/sh", "/sbin/swapon", "/usr/bin/stress-ng",
                 "/lib64/ld-linux-x86-64.so.2", "/bin/bash", "/sbin/mkfs.ext2", "/patchkit/bin/pk-hog",
                 "/patchkit/bin/pk-exit", "/patchkit/lib.sh", "/patchkit/tests/hog.sh",
                 "/selftests/zram/zram.sh", "/dev/console",
                 "/lib/modules/6.12.0/kernel/drivers/block/zram/zram.ko",
                 "/lib/modules/6.12.0/modules.dep"]:
        assert path in files, path
    assert "/lib/modules/6.12.0/build" not in files
    assert files["/selftests/zram/zram.sh"][0] & 0o111
    libc = [p for p in files if p.endswith("/libc.so.6")]
    assert libc and files[libc[0]][1][:4] == b"\x7fELF"
    mtime_before = first.stat().st_mtime_ns
    second = initramfs.build_image(source=fake_tree, modules_dir=fake_tree / "modroot")
    assert second == first
    assert second.stat().st_mtime_ns == mtime_before  # reused, not rewritten


@needs_tools
def test_image_changes_when_a_guest_file_changes(fake_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    first = initramfs.build_image(source=fake_tree)
    (fake_tree / "tools/testing/selftests/zram/zram_lib.sh").write_text("# lib changed\n")
    assert initramfs.build_image(source=fake_tree) != first


@needs_tools
def test_image_leaves_out_programs_of_tests_not_selected(fake_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    small = initramfs.build_image(source=fake_tree, tests=["zram-setup", "hog"])
    files = initramfs.read_cpio(small.read_bytes())
    assert "/usr/bin/stress-ng" not in files and "/bin/bash" not in files
    assert "/patchkit/bin/pk-hog" in files and "/bin/busybox" in files
    full = initramfs.build_image(source=fake_tree, tests=["stress-ng", "selftests"])
    files = initramfs.read_cpio(full.read_bytes())
    assert "/usr/bin/stress-ng" in files and "/bin/bash" in files and "/sbin/mkfs.ext2" in files
    assert small.stat().st_size * 3 < full.stat().st_size
