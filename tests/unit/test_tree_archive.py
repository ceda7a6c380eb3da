"""Pinned trees downloaded from the Debian archive, with a fake apt on PATH.

No network: apt-get, apt-cache and dpkg-deb are small scripts that serve a
folder of hand-made packages.  They record every call, so the tests also see
that apt only ever ran against the private state under the patchkit cache.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from patchkit import archive, cli, debsource, manifests, paths, pinned, tree, worktrees
from patchkit.errors import InfraError, UserError
from test_tree import FILES, make_tarball

NAME = "fake-source-9.9"
PACKAGE = "fake-source-9.9"
MEMBER = "/usr/src/fake-source-9.9.tar.xz"
SUITE = "fakesuite"
MIRROR = "http://mirror.invalid/debian"
TOUCHED = ["drivers/block/zram/zram_drv.c", "include/linux/swap_ops.h", "mm/page_io.c",
           "mm/swap.h"]

# The fake tools.  Options come as `-o Key=Value`; the archive is $FAKE_ARCHIVE:
#   index/<package>      apt-cache show output, newest version first
#   pool/<deb file>      the packages (a .deb here is a plain tar of its files)
#   fail-update          when present, `apt-get update` fails like a dead mirror
FAKE_APT_GET = r'''#!/usr/bin/env python3
import json, os, shutil, sys
arch = os.environ["FAKE_ARCHIVE"]
args, opts = [], {}
it = iter(sys.argv[1:])
for a in it:
    if a == "-o":
        k, _, v = next(it).partition("=")
        opts[k] = v
    elif not a.startswith("-"):
        args.append(a)
with open(os.path.join(arch, "calls.jsonl"), "a") as f:
    f.write(json.dumps({"tool": "apt-get", "args": args, "opts": opts, "cwd": os.getcwd()}) + "\n")
if args[0] == "update":
    if os.path.exists(os.path.join(arch, "fail-update")):
        print("E: Failed to fetch http://mirror.invalid/debian/dists/x/InRelease", file=sys.stderr)
        sys.exit(100)
    src = open(opts["Dir::Etc::sourcelist"]).read()
    os.makedirs(opts["Dir::State::Lists"], exist_ok=True)
    open(os.path.join(opts["Dir::State::Lists"], "sources-seen"), "w").write(src)
    sys.exit(0)
if args[0] == "download":
    pkg, _, ver = args[1].partition("=")
    deb = os.path.join(arch, "pool", f"{pkg}_{ver}_all.deb")
    if not os.path.exists(deb):
        print(f"E: Version '{ver}' for '{pkg}' was not found", file=sys.stderr)
        sys.exit(100)
    shutil.copy(deb, os.getcwd())
    sys.exit(0)
sys.exit(99)
'''

FAKE_APT_CACHE = r'''#!/usr/bin/env python3
import json, os, sys
arch = os.environ["FAKE_ARCHIVE"]
args = [a for a in sys.argv[1:] if not a.startswith("-")]
opts = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "-o"]
args = [a for a in args if a not in opts]
with open(os.path.join(arch, "calls.jsonl"), "a") as f:
    f.write(json.dumps({"tool": "apt-cache", "args": sys.argv[1:]}) + "\n")
if not os.path.exists(os.path.join(opts and [o.split("=", 1)[1] for o in opts
                                             if o.startswith("Dir::State::Lists=")][0],
                                   "sources-seen")):
    print("W: no lists: run apt-get update", file=sys.stderr)
path = os.path.join(arch, "index", args[1])
if not os.path.exists(path):
    print(f"N: Unable to locate package {args[1]}", file=sys.stderr)
    print(f"E: No packages found", file=sys.stderr)
    sys.exit(100)
stanzas = open(path).read().strip().split("\n\n")
if "--no-all-versions" in sys.argv:
    stanzas = stanzas[:1]
print("\n\n".join(stanzas) + "\n")
'''

FAKE_DPKG_DEB = r'''#!/bin/sh
# dpkg-deb --fsys-tarfile DEB: our fake .deb already is that tar
[ "$1" = "--fsys-tarfile" ] || exit 2
exec cat "$2"
'''


def _tool(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)


class FakeArchive:
    def __init__(self, root: Path):
        self.root = root
        (root / "index").mkdir(parents=True)
        (root / "pool").mkdir()

    def publish(self, version: str, files=FILES) -> str:
        """Put PACKAGE=version (holding a kernel tarball of files) in the
        archive, newest first; its .deb's sha256."""
        kernel = make_tarball(self.root / f"kernel-{version}.tar.xz", files=files)
        deb = self.root / "pool" / archive.deb_name(PACKAGE, version)
        with tarfile.open(deb, "w") as tar:
            for d in ("./", "./usr/", "./usr/src/"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            data = kernel.read_bytes()
            info = tarfile.TarInfo("." + MEMBER)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        sha = manifests.sha256_file(deb)
        index = self.root / "index" / PACKAGE
        old = index.read_text() if index.exists() else ""
        index.write_text(f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n"
                         f"Filename: pool/main/f/{deb.name}\nSize: {deb.stat().st_size}\n"
                         f"SHA256: {sha}\nDescription: fake kernel source\n continued line\n\n"
                         + old)
        return sha

    def withdraw(self, version: str) -> None:
        index = self.root / "index" / PACKAGE
        stanzas = [s for s in index.read_text().strip().split("\n\n")
                   if f"\nVersion: {version}\n" not in s]
        index.write_text("\n\n".join(stanzas) + "\n")
        (self.root / "pool" / archive.deb_name(PACKAGE, version)).unlink()

    def calls(self) -> list[dict]:
        path = self.root / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake archive serving PACKAGE 9.9.1-1, fake apt tools first on PATH, a
    cache and a manifest pinning 9.9.1-1 (written by patchkit itself)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "apt-get", FAKE_APT_GET)
    _tool(bin_dir, "apt-cache", FAKE_APT_CACHE)
    _tool(bin_dir, "dpkg-deb", FAKE_DPKG_DEB)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    fa = FakeArchive(tmp_path / "archive")
    monkeypatch.setenv("FAKE_ARCHIVE", str(fa.root))
    monkeypatch.setenv(archive.MIRROR_ENV, MIRROR)
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "MANIFESTS", tmp_path / "manifests")
    monkeypatch.setattr(manifests, "touched_files", lambda templates=None: list(TOUCHED))
    assert not Path(MEMBER).exists()
    fa.publish("9.9.1-1")
    m = pinned.regenerate_manifest(NAME, write=True, suite=SUITE)
    assert m.package_version == "9.9.1-1"
    shutil.rmtree(paths.cache_dir())  # start every test from a clean cache
    (fa.root / "calls.jsonl").unlink()
    return fa


def test_manifest_pins_the_suites_version_with_both_hashes(fake):
    m = manifests.load_manifest(NAME)
    assert (m.package_version, m.suite, m.tarball) == ("9.9.1-1", SUITE, MEMBER)
    assert m.deb_sha256 == manifests.sha256_file(fake.root / "pool" / archive.deb_name(PACKAGE, "9.9.1-1"))
    assert m.tarball_sha256 == manifests.sha256_file(fake.root / "kernel-9.9.1-1.tar.xz")
    assert m.files["include/linux/swap_ops.h"] == manifests.ABSENT
    assert m.swap_ops_base is False


def test_fetch_downloads_exactly_the_pinned_version_through_private_apt_state(fake):
    fake.publish("9.9.1-2")  # newer, and apt's candidate: must not be taken
    report = pinned.fetch_tree(NAME)
    m = manifests.load_manifest(NAME)
    assert report.fetched and report.tree.base_commit == m.base_commit
    assert report.tree.package_version == "9.9.1-1" and report.tree.note is None
    calls = fake.calls()
    downloads = [c for c in calls if c["tool"] == "apt-get" and c["args"][0] == "download"]
    assert [c["args"][1] for c in downloads] == [f"{PACKAGE}=9.9.1-1"]
    private = paths.cache_dir() / "apt" / SUITE
    for c in calls:
        if c["tool"] == "apt-get":
            assert c["opts"]["Dir::Etc::sourcelist"] == str(private / "sources.list")
            assert c["opts"]["Dir::Etc::sourceparts"] == str(private / "sources.list.d")
            assert c["opts"]["Dir::State::Lists"] == str(private / "lists")
            assert c["opts"]["Dir::State::status"] == str(private / "status")
            assert c["opts"]["Dir::Cache"] == str(private / "cache")
    assert (private / "lists" / "sources-seen").read_text() == f"deb {MIRROR} {SUITE} main\n"
    # the .deb is not kept, its tarball is (with the .deb's hash)
    kept = sorted(p.name for p in debsource.package_dir(PACKAGE, "9.9.1-1").iterdir())
    assert kept == [debsource.DEB_SHA_FILE, Path(MEMBER).name]


def test_refetch_reuses_the_downloaded_tarball(fake):
    pinned.fetch_tree(NAME)
    shutil.rmtree(paths.trees_dir() / NAME)
    before = len(fake.calls())
    assert pinned.fetch_tree(NAME).fetched
    assert len(fake.calls()) == before  # no apt at all


def test_withdrawn_version_falls_back_when_touched_files_hash_the_same(fake, capsys):
    # 9.9.1-2 changes a file no series touches
    fake.publish("9.9.1-2", files={**FILES, "scripts/run.sh": (b"#!/bin/sh\necho new\n", 0o755)})
    fake.withdraw("9.9.1-1")
    m = manifests.load_manifest(NAME)
    t = pinned.fetch_tree(NAME).tree
    assert t.package_version == "9.9.1-2"
    assert t.base_commit != m.base_commit
    assert "no longer in fakesuite; it has 9.9.1-2" in t.note
    err = capsys.readouterr().err
    assert "W: tree:" in err and f"re-pin: patchkit tree manifest {NAME} --write" in err
    # the next process opens the same substitute, and verify accepts it
    again = tree.open_tree(NAME, fetch=False)
    assert (again.base_commit, again.package_version) == (t.base_commit, "9.9.1-2")
    assert tree.verify(again) == []
    record = json.loads((t.path / ".git" / pinned.PIN_RECORD).read_text())
    assert (record["package_version"], record["pinned_version"]) == ("9.9.1-2", "9.9.1-1")
    # the base commit names the version actually unpacked
    msg = pinned.pinned_git(t.path, "log", "-1", "--format=%s", t.base_commit).stdout
    assert msg.strip() == f"Linux 9.9.1 ({PACKAGE} 9.9.1-2)"


def test_withdrawn_version_with_other_touched_files_names_the_version_and_repin(fake):
    fake.publish("9.9.1-2", files={**FILES, "mm/page_io.c": (b"int changed;\n", 0o644)})
    fake.withdraw("9.9.1-1")
    with pytest.raises(UserError) as exc:
        pinned.fetch_tree(NAME)
    assert f"{PACKAGE} 9.9.1-1, pinned by" in exc.value.msg
    assert "is no longer in fakesuite; it has 9.9.1-2" in exc.value.msg
    assert "touched files differ from the pin: mm/page_io.c" in exc.value.msg
    assert exc.value.hint.startswith(f"re-pin to 9.9.1-2 (maintainers): patchkit tree manifest "
                                     f"{NAME} --write")
    assert not (paths.trees_dir() / NAME).exists()


def test_repin_with_the_tool_then_fetch_is_exact_again(fake):
    fake.publish("9.9.1-2", files={**FILES, "mm/page_io.c": (b"int changed;\n", 0o644)})
    fake.withdraw("9.9.1-1")
    assert cli.main(["tree", "manifest", NAME, "--write"]) == 0
    m = manifests.load_manifest(NAME)
    assert (m.package_version, m.suite) == ("9.9.1-2", SUITE)
    t = tree.open_tree(NAME)
    assert (t.base_commit, t.package_version, t.note) == (m.base_commit, "9.9.1-2", None)


def test_deb_hash_mismatch_is_refused_and_leaves_nothing(fake):
    deb = fake.root / "pool" / archive.deb_name(PACKAGE, "9.9.1-1")
    with open(deb, "ab") as f:
        f.write(b"\0" * 1024)  # same version, other bytes
    with pytest.raises(UserError) as exc:
        pinned.fetch_tree(NAME)
    assert exc.value.msg.startswith(f"hash mismatch: {deb.name} from {MIRROR} {SUITE} has sha256")
    assert not debsource.package_dir(PACKAGE, "9.9.1-1").exists()
    assert [p.name for p in paths.trees_dir().iterdir()] == [f".{NAME}.lock"]


def test_package_missing_from_the_suite_is_a_machine_error_naming_suite_and_mirror(fake, capsys):
    (fake.root / "index" / PACKAGE).unlink()
    assert cli.main(["tree", "fetch", NAME]) == 3
    err = capsys.readouterr().err
    assert f"E: {PACKAGE} is not in {SUITE} at {MIRROR}" in err
    assert archive.MIRROR_ENV in err


def test_dead_mirror_is_a_machine_error_with_the_log(fake, capsys):
    (fake.root / "fail-update").touch()
    assert cli.main(["tree", "fetch", NAME]) == 3
    err = capsys.readouterr().err
    assert "apt-get" in err and "update" in err and f"apt-{SUITE}-update.log" in err
    assert "Traceback" not in err


def test_manifest_for_an_unknown_version_lists_what_the_suite_has(fake, capsys):
    assert cli.main(["tree", "manifest", NAME, "--version", "9.9.0-7"]) == 2
    err = capsys.readouterr().err
    assert f"{PACKAGE} 9.9.0-7 is not in {SUITE} at {MIRROR} (it has 9.9.1-1)" in err


def test_show_lists_every_known_tree_with_its_swap_ops_base(fake, capsys):
    fake.publish("9.9.2-1", files={**FILES, "include/linux/swap_ops.h":
                                   (b"struct swap_ops {\n\tint flags;\n};\n", 0o644)})
    shutil.copy(manifests.manifest_path(NAME), paths.MANIFESTS / "old-9.9.toml")
    text = (paths.MANIFESTS / "old-9.9.toml").read_text()
    (paths.MANIFESTS / "old-9.9.toml").write_text(text.replace(f'name = "{NAME}"', 'name = "old-9.9"'))
    pinned.regenerate_manifest(NAME, write=True)
    assert manifests.load_manifest(NAME).swap_ops_base is True
    capsys.readouterr()
    assert cli.main(["tree", "show"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows[NAME].endswith("yes") and "fetched" in rows[NAME]
    assert rows["old-9.9"].endswith("no (needs swap-batching)") and "not fetched" in rows["old-9.9"]


def test_has_swap_ops_base_reads_the_base_commit(fake):
    t = pinned.fetch_tree(NAME).tree
    assert tree.has_swap_ops_base(t) is False
    fake.publish("9.9.2-1", files={**FILES, "include/linux/swap_ops.h":
                                   (b"/* x */\nstruct swap_ops {\n\tint flags;\n};\n", 0o644)})
    pinned.regenerate_manifest(NAME, write=True)
    t = tree.open_tree(NAME)
    assert tree.has_swap_ops_base(t) is True
    (t.path / "include/linux/swap_ops.h").unlink()  # the work tree does not count
    assert tree.has_swap_ops_base(t) is True


def test_swap_ops_in_wants_the_struct_not_just_the_header():
    assert manifests.swap_ops_in("struct swap_ops {\n};\n")
    assert not manifests.swap_ops_in("struct swap_ops;\n")
    assert not manifests.swap_ops_in(None)


# ------------------------------------------------------------ pure parts

HOST_SOURCES = {
    "/etc/apt/sources.list.d/debian.sources": (
        "Types: deb\nURIs: http://main.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://sec.invalid/debian-security\nSuites: bookworm-security\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"),
}


def test_mirror_is_the_host_entry_serving_the_suite():
    mirror = archive.mirror_for("bookworm-security", HOST_SOURCES, environ={})
    assert mirror.uri == "http://sec.invalid/debian-security"
    assert mirror.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_experimental_comes_from_the_hosts_main_archive():
    mirror = archive.mirror_for("experimental", HOST_SOURCES, environ={})
    assert mirror.uri == "http://main.invalid/debian"
    assert archive.sources_line(mirror, "experimental") == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://main.invalid/debian experimental main\n")


def test_one_line_sources_work_too_and_the_environment_wins():
    one_line = {"/etc/apt/sources.list": "deb [arch=amd64 signed-by=/k.gpg] http://m.invalid/d sid main\n"}
    assert archive.mirror_for("experimental", one_line, environ={}) == \
        archive.Mirror("http://m.invalid/d", "/k.gpg", "/etc/apt/sources.list")
    assert archive.mirror_for("sid", one_line, environ={archive.MIRROR_ENV: "http://e.invalid/"}).uri \
        == "http://e.invalid"


def test_no_mirror_for_a_security_suite_names_the_variable():
    only_main = {"/etc/apt/sources.list": "deb http://m.invalid/d bookworm main\n"}
    with pytest.raises(InfraError) as exc:
        archive.mirror_for("bookworm-security", only_main, environ={})
    assert archive.MIRROR_ENV in exc.value.hint


def test_parse_show_reads_every_stanza():
    text = ("Package: p\nVersion: 2\nFilename: pool/p_2_all.deb\nSize: 10\nSHA256: aa\n"
            "Description: x\n more\n\nPackage: p\nVersion: 1\nFilename: pool/p_1_all.deb\n"
            "Size: 9\nSHA256: bb\n")
    assert archive.parse_show(text) == [archive.Offer("2", "aa", 10, "pool/p_2_all.deb"),
                                        archive.Offer("1", "bb", 9, "pool/p_1_all.deb")]


def test_deb_member_argv_is_one_failing_pipeline():
    argv = archive.deb_member_argv(Path("/d/x y.deb"), "/usr/src/k.tar.xz", Path("/out"))
    assert argv[:3] == ["bash", "-o", "pipefail"]
    assert argv[4] == ("dpkg-deb --fsys-tarfile '/d/x y.deb' | tar --extract --file=- "
                       "--directory=/out --no-same-owner --wildcards '*usr/src/k.tar.xz'")


def test_root_downloads_unsandboxed_into_the_private_cache():
    root = Path("/c/apt/s")
    assert "APT::Sandbox::User=root" in archive.apt_options(root, euid=0)
    assert "APT::Sandbox::User=root" not in archive.apt_options(root, euid=1000)


def test_a_work_tree_of_a_substitute_records_the_version_actually_used(fake, tmp_path):
    fake.publish("9.9.1-2", files={**FILES, "scripts/run.sh": (b"#!/bin/sh\necho new\n", 0o755)})
    fake.withdraw("9.9.1-1")
    t = pinned.fetch_tree(NAME).tree
    work = worktrees.worktree(t.path, t.base_commit, f"{NAME}-pin-test")
    pin = tree.pin_of(work)  # what build metadata records
    assert (pin["name"], pin["package_version"], pin["pinned_version"]) == \
        (NAME, "9.9.1-2", "9.9.1-1")
    assert pin["base_commit"] == t.base_commit and "no longer in fakesuite" in pin["note"]
    assert tree.pin_info(t) == pin  # what results.json records
    plain = tmp_path / "mine"
    plain.mkdir()
    assert tree.pin_of(plain) is None


def test_an_exact_fetch_records_no_note(fake):
    t = pinned.fetch_tree(NAME).tree
    pin = tree.pin_of(t.path)
    assert (pin["package_version"], pin["pinned_version"]) == ("9.9.1-1", "9.9.1-1")
    assert "note" not in pin


def test_a_suites_private_apt_state_is_held_by_one_process_at_a_time(fake, tmp_path):
    import fcntl
    import threading

    arch = archive.Archive(SUITE, log_dir=tmp_path)
    lock_path = archive.root_dir(SUITE).parent / f".{SUITE}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    other = open(lock_path, "w")
    fcntl.flock(other, fcntl.LOCK_EX)  # another patchkit is using the suite
    done = threading.Event()
    worker = threading.Thread(target=lambda: (arch.offers(PACKAGE), done.set()))
    worker.start()
    assert not done.wait(1.0)  # offers() waits for the lock
    assert fake.calls() == []
    fcntl.flock(other, fcntl.LOCK_UN)
    other.close()
    assert done.wait(30)
    worker.join()
    assert [c["args"][0] for c in fake.calls() if c["tool"] == "apt-get"] == ["update"]


def test_rehash_adds_a_newly_touched_file_without_downloading(fake, monkeypatch):
    pinned.fetch_tree(NAME)
    before = manifests.load_manifest(NAME)
    calls = len(fake.calls())
    monkeypatch.setattr(manifests, "touched_files",
                        lambda templates=None: [*TOUCHED, "scripts/run.sh", "no/such/file.c"])
    assert cli.main(["tree", "manifest", NAME, "--rehash", "--write"]) == 0
    after = manifests.load_manifest(NAME)
    assert len(fake.calls()) == calls  # no apt
    assert (after.package_version, after.base_commit, after.tarball_sha256, after.deb_sha256) == \
        (before.package_version, before.base_commit, before.tarball_sha256, before.deb_sha256)
    assert after.files["scripts/run.sh"] == manifests.sha256_file(paths.trees_dir() / NAME / "scripts/run.sh")
    assert after.files["no/such/file.c"] == manifests.ABSENT
    assert {k: v for k, v in after.files.items() if k in before.files} == before.files
