"""Pinned kernel trees: fetch, verify against manifests, deterministic git base.

A pinned tree is a Debian ``linux-source-X`` tarball described by a manifest
in kernel-fixtures/manifests/<name>.toml (package version, tarball sha256,
the sha256 of every file a series touches, and the base commit id).  Fetching
installs the package when its tarball is missing, checks the tarball hash,
extracts it next to the cache, turns it into a git repository with one
commit whose author, committer, dates, message and branch are fixed, checks
that the commit id is the manifest's, and only then renames the finished
tree into place: an interrupted fetch leaves nothing half-done.

Every git command that builds the base commit runs with the user's and the
system's git configuration switched off (GIT_CONFIG_GLOBAL=/dev/null,
GIT_CONFIG_NOSYSTEM, GIT_ATTR_NOSYSTEM, no templates, no hooks) so that
autocrlf, filters, signing or an odd init.defaultBranch cannot change the id.

A user's own checkout (``--tree PATH``) works too: its version comes from
its Makefile, its base is its HEAD, and touched_file_diffs() names the
touched files that differ from the manifest of the same kernel line.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from patchkit import archive, git, paths, proc, ui
from patchkit.errors import CommandFailed, InfraError, UserError

DEFAULT_TREE = "linux-source-6.12"

# Every file a series touches.  The diffs of templates/<series>/v<N>/<patch>/
# name theirs; touched_files() adds those, and a
# unit test checks that each declared file is in every manifest.
TOUCHED_FILES = (
    "Documentation/filesystems/locking.rst",
    "drivers/block/zram/zram_drv.c",
    "drivers/block/zram/zram_drv.h",
    "include/linux/blkdev.h",
    "include/linux/swap.h",
    "include/linux/swap_ops.h",
    "include/linux/writeback.h",
    "mm/madvise.c",
    "mm/memory.c",
    "mm/page_io.c",
    "mm/shmem.c",
    "mm/swap.h",
    "mm/swap_state.c",
    "mm/swapfile.c",
    "mm/vmscan.c",
    "mm/zswap.c",
    "rust/kernel/block/mq/gen_disk.rs",
)

# A touched file the tree does not have (e.g. a Rust file on 6.1).
ABSENT = "absent"

# What makes the base commit id the same on every machine.  Changing any of
# these changes every manifest's base_commit: regenerate them all.
BASE_BRANCH = "patchkit/base"
BASE_IDENTITY = ("patchkit", "patchkit@localhost")
BASE_DATE = "946684800 +0000"  # 2000-01-01T00:00:00Z, git's raw date format


# Unpacked tree + .git, as a multiple of the .tar.xz size (6.12: 152 MB ->
# 1.7 GB + 0.6 GB); checked before extracting so a full disk is reported
# up front instead of half-way.
SPACE_FACTOR = 16


@dataclass
class Manifest:
    name: str
    package: str
    package_version: str
    kernel_version: str
    tarball: str
    tarball_sha256: str
    base_commit: str
    files: dict[str, str] = field(default_factory=dict)
    suite: str = ""               # the Debian suite that serves package_version
    deb_sha256: str = ""          # sha256 of the .deb (empty: not recorded)
    swap_ops_base: bool | None = None  # mainline's swap_ops base layer is in the tree
    # The mainline release the unpacked tree is (a tag, e.g. v7.3-rc7), that
    # tag's commit id when public facts establish it, and how they did: a
    # mail's base-commit names upstream_commit, never base_commit (a commit
    # made on this machine from the tarball).
    upstream_tag: str = ""
    upstream_commit: str = ""
    upstream_source: str = ""
    source: Path | None = field(default=None, compare=False, repr=False)


@dataclass
class Tree:
    path: Path
    name: str
    version: str
    base_commit: str
    manifest: Manifest | None
    package_version: str | None = None  # the Debian version actually unpacked
    note: str | None = None             # why it is not the manifest's pin, if it is not


@dataclass
class FetchReport:
    tree: Tree
    phases: dict[str, float]  # phase -> seconds, in order
    fetched: bool             # False: the cache already had it


# ---------------------------------------------------------------- manifests

MANIFEST_KEYS = ("name", "package", "package_version", "kernel_version", "tarball",
                 "tarball_sha256", "base_commit")
# Written when known; a manifest without a suite cannot be downloaded.
OPTIONAL_KEYS = ("suite", "deb_sha256", "upstream_tag", "upstream_commit", "upstream_source")


def manifest_path(name: str) -> Path:
    return paths.MANIFESTS / f"{name}.toml"


def manifest_names() -> list[str]:
    return sorted(p.stem for p in paths.MANIFESTS.glob("*.toml"))


def load_manifest(name: str) -> Manifest:
    """The manifest kernel-fixtures/manifests/<name>.toml, checked."""
    path = manifest_path(name)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name) or not path.is_file():
        known = ", ".join(manifest_names()) or "none"
        raise UserError(f"unknown tree {name!r} (no {path})",
                        hint=f"known trees: {known}; or pass --tree PATH for your own checkout")
    return parse_manifest(path)


def parse_manifest(path: Path) -> Manifest:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from exc
    for key in MANIFEST_KEYS:
        if not isinstance(data.get(key), str) or not data[key]:
            raise UserError(f"{path}: missing or empty string key {key!r}",
                            hint=f"regenerate it: patchkit tree manifest {path.stem} --write")
    files = data.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise UserError(f"{path}: [files] must map each path to a sha256 or {ABSENT!r}")
    if data["name"] != path.stem:
        raise UserError(f"{path}: name = {data['name']!r} does not match the file name")
    for key in OPTIONAL_KEYS:
        if not isinstance(data.get(key, ""), str):
            raise UserError(f"{path}: {key!r} must be a string")
    upstream = data.get("upstream_commit", "")
    if isinstance(upstream, str) and upstream and not re.fullmatch(r"[0-9a-f]{40}", upstream):
        raise UserError(f"{path}: upstream_commit must be a full 40-hex commit id or empty, "
                        f"not {upstream!r}")
    base = data.get("swap_ops_base")
    if base is not None and not isinstance(base, bool):
        raise UserError(f"{path}: 'swap_ops_base' must be true or false")
    return Manifest(**{k: data[k] for k in MANIFEST_KEYS}, files=dict(files),
                    **{k: data.get(k, "") for k in OPTIONAL_KEYS}, swap_ops_base=base,
                    source=path)


def manifests() -> list[Manifest]:
    return [load_manifest(n) for n in manifest_names()]


def dump_manifest(m: Manifest) -> str:
    """The manifest as TOML (the format load_manifest reads)."""
    lines = [
        f"# Pinned tree {m.name}: Debian package {m.package}, Linux {m.kernel_version}.",
        f"# Generated; regenerate with: patchkit tree manifest {m.name} --write",
    ]
    order = ("name", "package", "package_version", "suite", "deb_sha256", "kernel_version",
             "tarball", "tarball_sha256", "base_commit")
    lines += [f"{key} = {_toml_str(getattr(m, key))}" for key in order
              if key in MANIFEST_KEYS or getattr(m, key)]
    if m.swap_ops_base is not None:
        lines += ["# mainline's swap_ops base layer (include/linux/swap_ops.h: struct swap_ops)",
                  f"swap_ops_base = {'true' if m.swap_ops_base else 'false'}"]
    if m.upstream_tag:
        lines += ["# the mainline release this tree is; base-commit of mails (empty: not established)"]
        lines += [f"{key} = {_toml_str(getattr(m, key))}"
                  for key in ("upstream_tag", "upstream_commit", "upstream_source")]
    lines += ["", "# sha256 of every file any series touches (\"absent\": not in this tree)",
              "[files]"]
    lines += [f"{_toml_str(p)} = {_toml_str(h)}" for p, h in sorted(m.files.items())]
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(c) < 0x20 for c in escaped):
        raise ValueError(f"control character in manifest value {value!r}")
    return f'"{escaped}"'


def touched_files(templates: Path | None = None) -> list[str]:
    """TOUCHED_FILES plus every file a diff of templates/*/v*/*/ changes."""
    found = set(TOUCHED_FILES)
    for path, files in declared_files(templates):
        found.update(files)
    return sorted(found)


def declared_files(templates: Path | None = None) -> list[tuple[Path, list[str]]]:
    """(diff, the files it changes) for every patch diff of every series version."""
    from patchkit import series

    return series.declared_files(templates)


# ---------------------------------------------------------------- argv builders

def git_env(repo: Path) -> dict:
    """Environment for the base-commit git commands (git.pinned_env): no user
    or system config, a fixed identity and date, and every repository
    location spelled out."""
    name, email = BASE_IDENTITY
    return git.pinned_env(repo, name, email, BASE_DATE)


def git_argv(repo: Path, *args: str) -> list[str]:
    """git with the pinned configuration on repo (git.pinned_argv)."""
    return git.pinned_argv(repo, *args)


def git_init_argv(repo: Path) -> list[str]:
    return git.init_base_argv(repo, BASE_BRANCH)


def git_add_argv(repo: Path) -> list[str]:
    return git.add_all_argv(repo)


def git_commit_tree_argv(repo: Path, tree_id: str, message: str) -> list[str]:
    return git.commit_tree_argv(repo, tree_id, message)


def pinned_git(repo: Path, *args: str, check: bool = True, input=None) -> proc.Result:
    """Run git on a pinned tree, immune to the caller's git environment."""
    return git.run_pinned(repo, *args, env=git_env(repo), check=check, input=input)


def tar_extract_argv(tarball: Path, dest: Path) -> list[str]:
    return ["tar", "--extract", f"--file={tarball}", f"--directory={dest}", "--no-same-owner",
            "--delay-directory-restore"]


def dpkg_version_argv(package: str) -> list[str]:
    return ["dpkg-query", "--show", "--showformat=${Version}", package]


def base_message(m: Manifest) -> str:
    return (f"Linux {m.kernel_version} ({m.package} {m.package_version})\n\n"
            f"Unpacked from {Path(m.tarball).name} by patchkit tree fetch;\n"
            f"tarball sha256 {m.tarball_sha256}.")


# ---------------------------------------------------------------- package / tarball

def installed_version(package: str) -> str | None:
    """The installed Debian version of package, or None (not installed, no dpkg)."""
    if shutil.which("dpkg-query") is None:
        return None
    res = proc.run(dpkg_version_argv(package), check=False)
    version = res.stdout.strip()
    return version if res.returncode == 0 and version else None


@dataclass
class Obtained:
    """A package's tarball, ready to unpack."""
    tarball: Path
    package_version: str          # the Debian version it comes from
    deb_sha256: str | None        # of the downloaded .deb (None: the host's installed copy)
    substitute: str | None = None  # why this is not the pinned version, if it is not


def package_dir(package: str, version: str) -> Path:
    """Where a downloaded package's tarball is kept (one folder per version)."""
    return paths.cache_dir() / "packages" / f"{package}_{version.replace(':', '%3a')}"


DEB_SHA_FILE = "deb.sha256"


def _cached(m: Manifest, version: str) -> Obtained | None:
    folder = package_dir(m.package, version)
    tarball = folder / Path(m.tarball).name
    if not tarball.is_file():
        return None
    sha = folder / DEB_SHA_FILE
    return Obtained(tarball, version, sha.read_text().strip() if sha.is_file() else None)


def obtain_tarball(m: Manifest) -> Obtained:
    """The tarball of exactly the manifest's package version.

    The host's installed copy when its sha256 is the pinned one; else one
    downloaded before (cache/packages/); else `apt-get download` of that
    version from the manifest's suite through a private apt state (the host's
    apt configuration is not touched).  When the archive no longer offers the
    version, the archive's current version is downloaded and marked as a
    substitute: fetch_tree() decides whether it may stand in.
    """
    host = Path(m.tarball)
    if host.is_file():
        if sha256_file(host) == m.tarball_sha256:
            return Obtained(host, m.package_version, None)
        ui.info("tree", f"{host} is not the pinned {m.package} {m.package_version} "
                        f"(installed: {installed_version(m.package) or 'unknown'}): "
                        f"downloading the pinned version")
    cached = _cached(m, m.package_version)
    if cached:
        return cached
    if not m.suite:
        raise UserError(f"{_rel(m.source)} names no suite, so patchkit cannot download "
                        f"{m.package} {m.package_version}",
                        hint=f"re-pin with the suite that serves it: patchkit tree manifest "
                             f"{m.name} --suite SUITE --write")
    arch = archive.Archive(m.suite, log_dir=logs_dir())
    offers = arch.offers(m.package)
    if not offers:
        raise InfraError(f"{m.package} is not in {m.suite} at {arch.mirror.uri} "
                         f"(mirror from {arch.mirror.origin})",
                         hint=f"another mirror: {archive.MIRROR_ENV}=URI; or re-pin to a suite "
                              f"that has it: patchkit tree manifest {m.name} --suite SUITE --write")
    if any(o.version == m.package_version for o in offers):
        return _download(arch, m, m.package_version, expect=m.deb_sha256,
                         expect_from=_rel(m.source))
    candidate = (arch.offers(m.package, candidate=True) or offers)[0]
    got = _download(arch, m, candidate.version, expect=candidate.sha256,
                    expect_from=f"the {m.suite} index")
    got.substitute = (f"{m.package} {m.package_version}, pinned by {_rel(m.source)}, is no "
                      f"longer in {m.suite}; it has {candidate.version}")
    return got


def _download(arch, m: Manifest, version: str, *, expect: str, expect_from: str) -> Obtained:
    """Download package=version, check the .deb's sha256 (when one is
    expected), and keep only its tarball in package_dir()."""
    folder = package_dir(m.package, version)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        with ui.stage("tree download", f"apt-get download {m.package}={version}"):
            deb = arch.download(m.package, version, work)
        digest = sha256_file(deb)
        if expect and digest != expect:
            raise UserError(f"hash mismatch: {deb.name} from {arch.mirror.uri} {arch.suite} has "
                            f"sha256 {digest}, {expect_from} expects {expect}",
                            hint="the archive changed the package under the same version: "
                                 f"review it, then re-pin: patchkit tree manifest {m.name} --write")
        if not expect:
            ui.warn("tree", f"{_rel(m.source)} records no deb_sha256: only the tarball's "
                            f"sha256 is checked (re-pin: patchkit tree manifest {m.name} --write)")
        tarball = archive.extract_member(deb, m.tarball, work / "data",
                                         log=logs_dir() / f"tree-{m.name}-unpack-deb.log")
        keep = work / "keep"
        keep.mkdir()
        os.rename(tarball, keep / tarball.name)
        (keep / DEB_SHA_FILE).write_text(digest + "\n")
        if folder.exists():  # a stale or damaged copy (fetch --force)
            shutil.rmtree(folder)
        os.rename(keep, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Obtained(folder / Path(m.tarball).name, version, digest)


def version_note(m: Manifest, installed: str | None) -> str | None:
    """A sentence when the installed package is not the pinned version."""
    if installed is None or installed == m.package_version:
        return None
    return (f"installed {m.package} is {installed}, but {_rel(m.source)} pins "
            f"{m.package_version}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_tarball(m: Manifest, got: Obtained) -> None:
    """UserError unless the tarball's sha256 is the manifest's."""
    digest = sha256_file(got.tarball)
    if digest == m.tarball_sha256:
        return
    raise UserError(f"hash mismatch: {got.tarball} ({m.package} {got.package_version}) has "
                    f"sha256 {digest}, {_rel(m.source)} expects {m.tarball_sha256}",
                    hint=f"download it again: patchkit tree fetch {m.name} --force; if the "
                         f"archive changed the package under the same version, re-pin "
                         f"(maintainers): patchkit tree manifest {m.name} --write")


# ---------------------------------------------------------------- building a base

def logs_dir() -> Path:
    return paths.cache_dir() / "logs"


def _timed(phases: dict, phase: str):
    @contextlib.contextmanager
    def cm():
        start = time.monotonic()
        with ui.stage(f"tree {phase}"):
            yield
        phases[phase] = time.monotonic() - start
    return cm()


def check_space(tarball: Path, where: Path) -> None:
    need = tarball.stat().st_size * SPACE_FACTOR
    free = shutil.disk_usage(where).free
    if free < need:
        raise InfraError(f"not enough disk space in {where}: about {need >> 20} MiB needed "
                         f"to unpack {tarball.name}, {free >> 20} MiB free",
                         hint="free some space or point PATCHKIT_CACHE elsewhere")


def extract(tarball: Path, workdir: Path, log: Path, phases: dict) -> Path:
    """Unpack tarball into workdir; the path of its one top directory."""
    with _timed(phases, "extract"):
        try:
            proc.run(tar_extract_argv(tarball, workdir), log=log)
        except CommandFailed as exc:
            if "No space left" in exc.stderr:
                exc.hint = "the disk is full: free some space or point PATCHKIT_CACHE elsewhere"
            raise
    tops = list(workdir.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise UserError(f"{tarball} does not unpack into one top directory "
                        f"(found: {', '.join(sorted(p.name for p in tops)) or 'nothing'})")
    return tops[0]


def commit_base(repo: Path, m: Manifest, log: Path, phases: dict) -> str:
    """git init + add + the fixed base commit; its id."""
    env = git_env(repo)
    with _timed(phases, "git add"):
        proc.run(git_init_argv(repo), env=env)
        proc.run(git_add_argv(repo), env=env, log=log)
    with _timed(phases, "git commit"):
        tree_id = proc.run(git_argv(repo, "write-tree"), env=env).stdout.strip()
        commit = proc.run(git_commit_tree_argv(repo, tree_id, base_message(m)),
                          env=env).stdout.strip()
        proc.run(git_argv(repo, "update-ref", "-m", "patchkit tree fetch",
                          f"refs/heads/{BASE_BRANCH}", commit), env=env)
    return commit


def build_base(m: Manifest, tarball: Path, workdir: Path, phases: dict) -> tuple[Path, str]:
    """Extract tarball into workdir and commit it; (tree path, commit id)."""
    log = logs_dir() / f"tree-{m.name}"
    repo = extract(tarball, workdir, Path(f"{log}-extract.log"), phases)
    return repo, commit_base(repo, m, Path(f"{log}-git-add.log"), phases)


def _partial_prefix(name: str) -> str:
    return f".{name}.partial-"


@contextlib.contextmanager
def _locked(name: str):
    """Serialise fetches of one tree; clear what a killed fetch left behind."""
    trees = paths.trees_dir()
    trees.mkdir(parents=True, exist_ok=True)
    with open(trees / f".{name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            ui.info("tree", f"waiting for another patchkit fetching {name}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        for pattern in (_partial_prefix(name) + "*", f".{name}.old-*"):
            for stale in trees.glob(pattern):
                ui.info("tree", f"removing {stale}, left by an interrupted patchkit")
                shutil.rmtree(stale, ignore_errors=True)
        yield


def fetch_tree(name: str = DEFAULT_TREE, *, force: bool = False) -> FetchReport:
    """Make sure trees_dir()/<name> holds the pinned tree; report phase times.

    When the archive no longer has the pinned version, its current version
    stands in if every touched file hashes the same as the manifest says
    (with a warning; the version used is recorded with the tree and shows
    in Tree.package_version / Tree.note); otherwise the fetch fails naming
    the version the archive has and the command that re-pins.
    """
    m = load_manifest(name)
    dest = paths.trees_dir() / name
    phases: dict[str, float] = {}
    if not force and _is_fetched(dest):
        return FetchReport(open_pinned(name, fetch=False), phases, fetched=False)
    if proc.DRY_RUN:
        return _dry_run(m, dest)
    with _locked(name):
        if not force and _is_fetched(dest):  # another process finished it meanwhile
            return FetchReport(open_pinned(name, fetch=False), phases, fetched=False)
        if force:
            shutil.rmtree(package_dir(m.package, m.package_version), ignore_errors=True)
        with _timed(phases, "package"):
            got = obtain_tarball(m)
        used = m
        with _timed(phases, "sha256"):
            if got.substitute:
                used = _substitute_manifest(m, got)
            else:
                check_tarball(m, got)
        check_space(got.tarball, paths.trees_dir())
        work = Path(tempfile.mkdtemp(prefix=_partial_prefix(name), dir=paths.trees_dir()))
        try:
            repo, commit = build_base(used, got.tarball, work, phases)
            diffs = _diffs(repo, m)
            if diffs and got.substitute:
                raise UserError(
                    f"{got.substitute}, and its touched files differ from the pin: "
                    f"{', '.join(diffs)}",
                    hint=f"re-pin to {got.package_version} (maintainers): patchkit tree manifest "
                         f"{name} --write, then review the touched-file changes and commit "
                         f"{_rel(m.source)}")
            if diffs:
                raise UserError(f"hash mismatch in {name}: {', '.join(diffs)} differ from "
                                f"{_rel(m.source)} although the tarball's sha256 matches",
                                hint=f"regenerate the manifest: patchkit tree manifest {name} "
                                     f"--write")
            if got.substitute:
                ui.warn("tree", f"{got.substitute}: using {got.package_version}, whose "
                                f"{len(m.files)} touched files hash as pinned (base commit "
                                f"{commit[:12]} instead of {m.base_commit[:12]}); re-pin: "
                                f"patchkit tree manifest {name} --write")
            elif commit != m.base_commit:
                raise InfraError(
                    f"base commit of {name} is {commit} here, {_rel(m.source)} says "
                    f"{m.base_commit}: git did not reproduce the pinned commit",
                    hint="report this with `git --version`; nothing was written to the cache")
            write_pin_record(repo, m, got, commit, used.tarball_sha256)
            _install(repo, dest)
        except BaseException:
            ui.info("tree", f"removing the unfinished tree {work}")
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return FetchReport(open_pinned(name, fetch=False), phases, fetched=True)


def _substitute_manifest(m: Manifest, got: Obtained) -> Manifest:
    """m as it would read for the substitute version (its base commit message
    names the version and tarball hash actually unpacked)."""
    return dataclasses.replace(m, package_version=got.package_version,
                               tarball_sha256=sha256_file(got.tarball),
                               deb_sha256=got.deb_sha256 or "", base_commit="")


# The record of what a fetch unpacked, kept in the tree's .git.
PIN_RECORD = "patchkit-pin.json"


def files_digest(files: dict[str, str]) -> str:
    """One sha256 over a manifest's touched-file table."""
    text = "".join(f"{p} {h}\n" for p, h in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def write_pin_record(repo: Path, m: Manifest, got: Obtained, commit: str,
                     tarball_sha256: str) -> None:
    record = {
        "name": m.name, "package": m.package,
        "package_version": got.package_version, "pinned_version": m.package_version,
        "deb_sha256": got.deb_sha256, "tarball_sha256": tarball_sha256,
        "base_commit": commit, "pinned_base_commit": m.base_commit,
        "files_sha256": files_digest(m.files), "substitute": got.substitute,
    }
    (repo / ".git" / PIN_RECORD).write_text(json.dumps(record, indent=1) + "\n")


def read_pin_record(dest: Path) -> dict | None:
    try:
        record = json.loads((dest / ".git" / PIN_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _dry_run(m: Manifest, dest: Path) -> FetchReport:
    """Print the commands a fetch runs; create nothing."""
    tarball = Path(m.tarball)
    cached = _cached(m, m.package_version)
    if cached:
        tarball = cached.tarball
    elif not tarball.is_file():
        folder = package_dir(m.package, m.package_version)
        root, euid = archive.root_dir(m.suite or "SUITE"), os.geteuid()
        proc.run(archive.update_argv(root, euid=euid))
        proc.run(archive.download_argv(root, m.package, m.package_version, euid=euid),
                 cwd=folder)
        proc.run(archive.deb_member_argv(folder / archive.deb_name(m.package, m.package_version),
                                         m.tarball, folder))
        tarball = folder / Path(m.tarball).name
    work = dest.parent / f"{_partial_prefix(m.name)}XXXXXX"
    repo = work / dest.name
    proc.run(tar_extract_argv(tarball, work))
    env = git_env(repo)
    for argv in (git_init_argv(repo), git_add_argv(repo), git_argv(repo, "write-tree"),
                 git_commit_tree_argv(repo, "TREE", base_message(m)),
                 git_argv(repo, "update-ref", f"refs/heads/{BASE_BRANCH}", "COMMIT")):
        proc.run(argv, env=env)
    tree = Tree(path=dest, name=m.name, version=m.kernel_version, base_commit=m.base_commit,
                manifest=m)
    return FetchReport(tree, {}, fetched=False)


def _install(built: Path, dest: Path) -> None:
    """Rename a finished tree into place (replacing an old one, if any)."""
    if not dest.exists():
        os.rename(built, dest)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rename(dest, trash / dest.name)
    try:
        os.rename(built, dest)
    except BaseException:
        os.rename(trash / dest.name, dest)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _is_fetched(dest: Path) -> bool:
    return (dest / ".git").is_dir()


def _rel(path: Path | None) -> str:
    if path is None:
        return "the manifest"
    try:
        return str(Path(path).relative_to(paths.REPO))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- opening trees

def open_tree(spec: str | None = None, *, fetch: bool = True) -> Tree:
    """None: the default pinned tree; a manifest name: that pinned tree
    (fetched when missing and fetch is true); a directory: a user checkout."""
    if spec is None:
        return open_pinned(DEFAULT_TREE, fetch=fetch)
    if os.sep not in spec and manifest_path(spec).is_file():
        return open_pinned(spec, fetch=fetch)
    path = Path(spec).expanduser()
    if path.is_dir():
        return open_checkout(path)
    if os.sep in spec or spec.startswith("."):
        raise UserError(f"{spec}: no such directory")
    load_manifest(spec)  # raises the unknown-tree error
    raise AssertionError("unreachable")


def open_pinned(name: str, *, fetch: bool = True) -> Tree:
    m = load_manifest(name)
    dest = paths.trees_dir() / name
    if not _is_fetched(dest):
        if not fetch:
            raise UserError(f"tree {name} is not fetched (no {dest})",
                            hint=f"patchkit tree fetch {name}")
        return fetch_tree(name).tree
    commit, version, note = m.base_commit, m.package_version, None
    record = read_pin_record(dest)  # None: fetched before records were kept
    if record and record.get("base_commit") != m.base_commit and _same_pin(record, m):
        # the archive's version stood in for the pinned one (see fetch_tree)
        commit, version = record["base_commit"], record["package_version"]
        note = (f"{record.get('substitute') or 'not the pinned version'}: using "
                f"{version}, whose touched files hash as pinned")
    res = pinned_git(dest, "cat-file", "-e", f"{commit}^{{commit}}", check=False)
    if res.returncode != 0:
        raise UserError(f"cached tree {dest} is not the one {_rel(m.source)} pins "
                        f"(no base commit {commit[:12]})",
                        hint=f"patchkit tree fetch {name} --force")
    return Tree(path=dest, name=name, version=m.kernel_version, base_commit=commit,
                manifest=m, package_version=version, note=note)


def _same_pin(record: dict, m: Manifest) -> bool:
    """Whether a substitute recorded by a fetch still stands for manifest m."""
    return (record.get("pinned_version") == m.package_version
            and record.get("pinned_base_commit") == m.base_commit
            and record.get("files_sha256") == files_digest(m.files)
            and isinstance(record.get("base_commit"), str)
            and isinstance(record.get("package_version"), str))


def pin_info(t: Tree) -> dict:
    """What results.json and build metadata record about a tree's pin."""
    info = {"name": t.name, "version": t.version, "base_commit": t.base_commit}
    m = getattr(t, "manifest", None)
    if m is not None:
        info["package"] = m.package
        info["pinned_version"] = m.package_version
        info["package_version"] = getattr(t, "package_version", None) or m.package_version
        if getattr(t, "note", None):
            info["note"] = t.note
    return info


def pin_of(source: Path) -> dict | None:
    """pin_info() of the pinned tree a source directory belongs to (the tree
    itself, or a work tree of its repository such as cache/worktrees/*),
    None for anything else (a user's own checkout)."""
    res = git.run(source, "rev-parse", "--path-format=absolute", "--git-common-dir",
                  check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    common = Path(res.stdout.strip()).resolve()
    trees = paths.trees_dir().resolve()
    if common.name != ".git" or common.parent.parent != trees:
        return None
    name = common.parent.name
    if not manifest_path(name).is_file():
        return None
    try:
        return pin_info(open_pinned(name, fetch=False))
    except UserError:
        return None


def worktree_argv(repo: Path, dest: Path, commit: str) -> list[str]:
    return git.worktree_add_argv(repo, dest, commit)


def checkout_argv(dest: Path, commit: str) -> list[str]:
    return git.checkout_detached_argv(dest, commit)


_HELD_WORKTREES: dict[Path, object] = {}


def _hold_worktree(dest: Path) -> None:
    """Own dest until this process ends: a second patchkit run that wants the
    same work tree (say validate --config debug next to validate) waits here
    instead of checking out another commit under the first one's build."""
    if dest in _HELD_WORKTREES:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock = open(dest.parent / f".{dest.name}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        ui.info("checkout", f"waiting for another patchkit run that is using {dest}")
        fcntl.flock(lock, fcntl.LOCK_EX)
    _HELD_WORKTREES[dest] = lock  # released when the process exits


def worktree(repo: Path, commit: str, name: str) -> Path:
    """A detached work tree of repo at commit, kept at cache/worktrees/<name>.

    Builds and boots read sources from here, never from a user's checkout or
    the pinned tree's own work tree.  An existing one is moved to commit with
    a checkout, which rewrites only the files that differ, so the kernel
    build that follows is incremental.  The calling process owns the work
    tree from then on; other patchkit processes wait for it.
    """
    dest = paths.cache_dir() / "worktrees" / name
    _hold_worktree(dest)
    if (dest / ".git").exists():
        proc.run(checkout_argv(dest, commit))
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        git.run(repo, "worktree", "prune")
        proc.run(worktree_argv(repo, dest, commit))
    return dest


def kernel_version(makefile: Path) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL+EXTRAVERSION, as the kernel's own Makefile builds it."""
    try:
        text = makefile.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"{makefile.parent} is not a Linux kernel tree ({makefile}: "
                        f"{exc.strerror})") from exc
    fields = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        found = re.search(rf"^{key}\s*=[ \t]*(\S*)[ \t]*$", text, re.M)
        fields[key] = found.group(1) if found else None
    if not fields["VERSION"] or not fields["VERSION"].isdigit():
        raise UserError(f"{makefile.parent} is not a Linux kernel tree "
                        f"(no VERSION = N in {makefile})")
    version = fields["VERSION"]
    if fields["PATCHLEVEL"]:
        version += f".{fields['PATCHLEVEL']}"
        if fields["SUBLEVEL"]:
            version += f".{fields['SUBLEVEL']}"
    return version + (fields["EXTRAVERSION"] or "")


def matching_manifest(version: str, candidates: list[Manifest] | None = None) -> Manifest | None:
    """The manifest of exactly this version, else of the same major.minor line."""
    candidates = manifests() if candidates is None else candidates
    for m in candidates:
        if m.kernel_version == version:
            return m
    line = ".".join(version.split("-")[0].split(".")[:2])
    for m in candidates:
        if ".".join(m.kernel_version.split(".")[:2]) == line:
            return m
    return None


def open_checkout(path: Path) -> Tree:
    """A user's own kernel checkout: must be a git repository with a commit."""
    path = Path(path).expanduser().resolve()
    top = git.toplevel(path)
    if top is None:
        raise UserError(f"{path} is not a git repository",
                        hint=f"commit it first (cd {path} && git init && git add -A && "
                             f"git commit -m base) or use a pinned tree: patchkit tree fetch")
    head = git.rev_parse(top, "HEAD", kind="commit")
    if head is None:
        raise UserError(f"{top} has no commit yet", hint="commit the tree first")
    version = kernel_version(top / "Makefile")
    m = matching_manifest(version)
    # The name selects the render profile: a checkout of a pinned kernel line
    # uses that line's profile.
    name = m.name if m else f"linux-{version}"
    return Tree(path=top, name=name, version=version, base_commit=head,
                manifest=m)


# ---------------------------------------------------------------- comparing

def _diffs(root: Path, m: Manifest) -> list[str]:
    return [p for p, want in sorted(m.files.items()) if _hash_path(root / p) != want]


def _hash_path(path: Path) -> str:
    return sha256_file(path) if path.is_file() else ABSENT


def touched_file_diffs(tree: Tree, manifest: Manifest) -> list[str]:
    """Touched files whose work-tree content differs from the manifest
    (a file the manifest records as absent counts when present, and the
    other way round)."""
    return _diffs(tree.path, manifest)


def describe_diffs(tree: Tree, manifest: Manifest, diffs: list[str]) -> list[str]:
    out = []
    for p in diffs:
        have, want = _hash_path(tree.path / p), manifest.files[p]
        if want == ABSENT:
            out.append(f"{p}: present, {manifest.name} does not have it")
        elif have == ABSENT:
            out.append(f"{p}: missing")
        else:
            out.append(f"{p}: sha256 {have[:16]}…, {manifest.name} has {want[:16]}…")
    return out


def hashes_at(repo: Path, rev: str, files: list[str]) -> dict[str, str]:
    """sha256 of each file as committed in rev (ABSENT when not there)."""
    query = "".join(f"{rev}:{f}\n" for f in files).encode()
    out = pinned_git(repo, "cat-file", "--batch", input=query).stdout
    result, pos = {}, 0
    for f in files:
        end = out.index(b"\n", pos)
        header = out[pos:end].rsplit(b" ", 2)
        pos = end + 1
        if header[-1] == b"missing" or len(header) != 3 or header[1] != b"blob":
            result[f] = ABSENT
            continue
        size = int(header[2])
        result[f] = hashlib.sha256(out[pos:pos + size]).hexdigest()
        pos += size + 1
    return result


def verify(tree: Tree) -> list[str]:
    """Problems found (empty: the tree is what its manifest pins)."""
    m = tree.manifest
    if m is None:
        return [f"no manifest for Linux {tree.version} (known: {', '.join(manifest_names())})"]
    problems = []
    pinned = Path(tree.path).resolve() == (paths.trees_dir() / m.name).resolve()
    if not pinned:
        if tree.version != m.kernel_version:
            ui.info("tree", f"{tree.path} is Linux {tree.version}; comparing with {m.name} "
                            f"(Linux {m.kernel_version})")
        return [f"touched file {d}" for d in describe_diffs(tree, m, touched_file_diffs(tree, m))]
    base = tree.base_commit or m.base_commit
    if tree.note:
        ui.warn("tree", tree.note)
    else:
        host, cached = Path(m.tarball), _cached(m, m.package_version)
        tarball = cached.tarball if cached else host
        if tarball.is_file():
            digest = sha256_file(tarball)
            if digest != m.tarball_sha256:
                note = version_note(m, installed_version(m.package)) if tarball == host else None
                problems.append(f"{tarball}: sha256 {digest}, expected {m.tarball_sha256}"
                                + (f" ({note})" if note else ""))
        else:
            ui.info("tree", f"neither {host} nor a downloaded copy is here: tarball hash "
                            f"not checked")
    branch = pinned_git(tree.path, "rev-parse", "--verify", "-q", f"refs/heads/{BASE_BRANCH}",
                        check=False).stdout.strip()
    if branch != base:
        problems.append(f"branch {BASE_BRANCH} is at {branch or 'nothing'}, "
                        f"expected {base}")
    committed = hashes_at(tree.path, base, sorted(m.files))
    problems += [f"{p}: committed sha256 {h}, expected {m.files[p]}"
                 for p, h in committed.items() if h != m.files[p]]
    head = pinned_git(tree.path, "rev-parse", "HEAD", check=False).stdout.strip()
    if head == base:
        problems += [f"work tree {d}" for d in describe_diffs(tree, m, touched_file_diffs(tree, m))]
    else:
        ui.info("tree", f"work tree is at {head[:12]}, not the base: hashed the base commit")
    return problems


# ---------------------------------------------------------------- maintainer: manifests

def compute_manifest(name: str, package: str, tarball: Path, package_version: str,
                     workdir: Path | None = None,
                     files: list[str] | None = None, *, tarball_path: str | None = None,
                     suite: str = "", deb_sha256: str = "") -> tuple[Manifest, Path, Path]:
    """Unpack tarball and pin it: (manifest, tree path, temp dir holding it).

    tarball_path is what the manifest records as the tarball (the path the
    package installs it to; default: where tarball is now).
    The caller owns the temp dir (rename the tree out of it, then remove it)."""
    files = touched_files() if files is None else files
    m = Manifest(name=name, package=package, package_version=package_version,
                 kernel_version="", tarball=tarball_path or str(tarball),
                 tarball_sha256=sha256_file(tarball), base_commit="", suite=suite,
                 deb_sha256=deb_sha256)
    parent = workdir or paths.trees_dir()
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=_partial_prefix(name), dir=parent))
    log = logs_dir() / f"tree-{name}"
    try:
        repo = extract(tarball, work, Path(f"{log}-extract.log"), {})
        # the commit message names the kernel version: read it first
        m.kernel_version = kernel_version(repo / "Makefile")
        m.base_commit = commit_base(repo, m, Path(f"{log}-git-add.log"), {})
        m.files = {f: _hash_path(repo / f) for f in files}
        m.swap_ops_base = swap_ops_in(_read_text(repo / SWAP_OPS_HEADER))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return m, repo, work


def write_manifest(m: Manifest, path: Path) -> None:
    """Write atomically (a Ctrl-C never leaves half a manifest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dump_manifest(m), encoding="utf-8")
    os.replace(tmp, path)


def regenerate_manifest(name: str, *, write: bool, suite: str | None = None,
                        version: str | None = None) -> Manifest:
    """Recompute <name>'s manifest from the archive: the version given, else
    the one apt would install from the suite (the manifest's, or `suite`).
    Downloads through the private apt state like a fetch, and leaves the
    tree the new manifest pins in the cache."""
    try:
        old = load_manifest(name)
        package, member, old_suite = old.package, old.tarball, old.suite
    except UserError:
        old = None
        package, member, old_suite = name, f"/usr/src/{name}.tar.xz", ""
    suite = suite or old_suite
    if not suite:
        raise UserError(f"no suite for {name}: say which Debian suite serves {package}",
                        hint=f"patchkit tree manifest {name} --suite SUITE "
                             f"(e.g. bookworm-security, experimental)")
    arch = archive.Archive(suite, log_dir=logs_dir())
    offers = arch.offers(package)
    if version is None:
        picked = (arch.offers(package, candidate=True) or offers or [None])[0]
    else:
        picked = next((o for o in offers if o.version == version), None)
    if picked is None:
        have = ", ".join(o.version for o in offers) or "no version at all"
        raise UserError(f"{package} {version or ''} is not in {suite} at {arch.mirror.uri} "
                        f"(it has {have})".replace("  ", " "),
                        hint=f"patchkit tree manifest {name} --version VERSION or --suite SUITE")
    stub = Manifest(name=name, package=package, package_version=picked.version,
                    kernel_version="", tarball=member, tarball_sha256="", base_commit="",
                    suite=suite, source=manifest_path(name))
    with _locked(name):
        got = _cached(stub, picked.version)
        if got is None or got.deb_sha256 != picked.sha256:
            got = _download(arch, stub, picked.version, expect=picked.sha256,
                            expect_from=f"the {suite} index")
        m, repo, work = compute_manifest(name, package, got.tarball, picked.version,
                                         tarball_path=member, suite=suite,
                                         deb_sha256=got.deb_sha256 or "")
        m.source = manifest_path(name)
        try:
            dest = paths.trees_dir() / name
            if old is None or old.base_commit != m.base_commit or not _is_fetched(dest):
                write_pin_record(repo, m, got, m.base_commit, m.tarball_sha256)
                _install(repo, dest)  # the cache now holds the tree this manifest pins
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if write:
        write_manifest(m, manifest_path(name))
    return m


def rehash_manifest(name: str, *, write: bool) -> Manifest:
    """<name>'s manifest with its touched-file table recomputed for today's
    touched_files(), read from the base commit of the fetched tree (which
    must be the one the manifest pins).  Package, hashes and base commit are
    kept: a series naming a new file does not change the pin."""
    m = load_manifest(name)
    t = open_pinned(name)
    if t.base_commit != m.base_commit:
        raise UserError(f"the cached {name} is a stand-in for the pin ({t.note}); re-pin "
                        f"instead: patchkit tree manifest {name} --write")
    m.files = hashes_at(t.path, m.base_commit, touched_files())
    if write:
        write_manifest(m, manifest_path(name))
    return m


# ---------------------------------------------------------------- swap_ops base

SWAP_OPS_HEADER = "include/linux/swap_ops.h"


def swap_ops_in(header_text: str | None) -> bool:
    """Whether a swap_ops.h text declares mainline's struct swap_ops."""
    return bool(header_text) and re.search(r"^struct swap_ops\s*\{", header_text, re.M) is not None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def has_swap_ops_base(tree: Tree) -> bool:
    """Whether mainline's swap_ops base layer (Linux 7.3: include/linux/swap_ops.h
    with struct swap_ops) is in the tree's base commit, so a series for it
    needs no base-layer series below it.  Read from the commit, not the work
    tree, which a render or checkout may have moved."""
    res = git.run(tree.path, "cat-file", "blob", f"{tree.base_commit}:{SWAP_OPS_HEADER}",
                  check=False)
    return res.returncode == 0 and swap_ops_in(res.stdout)


# ---------------------------------------------------------------- CLI

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = "fetch prints the commands it would run; show reads only; verify and manifest are refused (they need the commands' output)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, help_text in (
        ("fetch", "install, check, unpack and commit a pinned tree into the cache"),
        ("show", "print a tree's version, base commit, path and manifest (no NAME: "
                 "one line per known tree)"),
        ("verify", "re-hash a tree's touched files and check its base commit"),
    ):
        p = sub.add_parser(action, help=help_text, description=help_text)
        p.add_argument("name", nargs="?", metavar="NAME",
                       help=f"pinned tree (default {DEFAULT_TREE}; known: "
                            f"{', '.join(manifest_names())})")
        if action == "fetch":
            p.add_argument("--force", action="store_true",
                           help="rebuild the cached tree even if present")
        else:
            p.add_argument("--tree", metavar="PATH", help="your own kernel checkout instead")
    p = sub.add_parser("manifest", help="(maintainers) pin a tree: recompute its manifest "
                                        "from the archive",
                       description="Recompute kernel-fixtures/manifests/NAME.toml from the "
                                   "Debian archive (the version apt would install from the "
                                   "manifest's suite, or --version) and a fresh extraction.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--suite", help="Debian suite that serves the package (default: the "
                                   "manifest's; e.g. bookworm-security, experimental)")
    p.add_argument("--version", dest="package_version", metavar="VERSION",
                   help="pin this package version (default: the suite's current one)")
    p.add_argument("--rehash", action="store_true",
                   help="keep the pin; only re-hash the touched files (the series' diffs name "
                        "new ones) from the fetched tree's base commit: no download")
    p.add_argument("--write", action="store_true", help="write the file (default: print it)")


def _selected(args) -> Tree:
    tree_path = getattr(args, "tree", None)
    if tree_path and args.name:
        raise UserError("give a tree NAME or --tree PATH, not both")
    if tree_path:
        path = Path(tree_path).expanduser()
        if not path.is_dir():
            raise UserError(f"--tree {tree_path}: no such directory")
        return open_checkout(path)
    return open_pinned(args.name or DEFAULT_TREE, fetch=False)


def run(args: argparse.Namespace) -> int:
    if proc.DRY_RUN and args.action in ("verify", "manifest"):
        raise UserError(f"tree {args.action} needs the output of the commands it runs: "
                        f"run it without --dry-run")
    if args.action == "fetch":
        report = fetch_tree(args.name or DEFAULT_TREE, force=args.force)
        t = report.tree
        if proc.DRY_RUN:
            return 0
        state = "fetched" if report.fetched else "already fetched"
        ui.info("tree", f"{t.name} {state}: {t.path} (Linux {t.version}, base {t.base_commit})")
        return 0
    if args.action == "show":
        if not args.name and not getattr(args, "tree", None):
            return _show_all()
        return _show(args)
    if args.action == "verify":
        t = _selected(args)
        problems = verify(t)
        if problems:
            ui.error(f"tree {t.name} at {t.path} does not match "
                     f"{_rel(t.manifest.source) if t.manifest else 'any manifest'}:\n"
                     + "\n".join(f"  {p}" for p in problems))
            return 1
        ui.info("tree", f"{t.name} at {t.path}: OK (Linux {t.version}, base {t.base_commit}, "
                        f"{len(t.manifest.files)} touched files match)")
        return 0
    if args.action == "manifest":
        if args.rehash:
            if args.suite or args.package_version:
                raise UserError("--rehash keeps the pin: it takes no --suite or --version")
            m = rehash_manifest(args.name, write=args.write)
        else:
            m = regenerate_manifest(args.name, write=args.write, suite=args.suite,
                                    version=args.package_version)
        if args.write:
            ui.info("tree", f"wrote {_rel(manifest_path(args.name))} (base {m.base_commit})")
        else:
            sys.stdout.write(dump_manifest(m))
        return 0
    raise UserError(f"unknown tree action {args.action}")


def _show(args) -> int:
    if getattr(args, "tree", None):
        t = _selected(args)
        rows = [("checkout", str(t.path)), ("kernel", t.version), ("HEAD", t.base_commit),
                ("manifest", _rel(t.manifest.source) if t.manifest else "none"),
                ("swap_ops base", _base_text(has_swap_ops_base(t)))]
        if t.manifest:
            diffs = touched_file_diffs(t, t.manifest)
            rows.append(("touched files", f"{len(diffs)} of {len(t.manifest.files)} differ "
                                          f"from {t.manifest.name}"))
            rows += [("", d) for d in describe_diffs(t, t.manifest, diffs)]
    else:
        m = load_manifest(args.name or DEFAULT_TREE)
        dest = paths.trees_dir() / m.name
        pkg = f"{m.package} {m.package_version}" + (f" from {m.suite}" if m.suite else "")
        host, cached = Path(m.tarball), _cached(m, m.package_version)
        if cached:
            tarball = f"{cached.tarball} (downloaded)"
        elif host.is_file():
            tarball = f"{host} (on the host; used when its sha256 is the pinned one)"
        else:
            tarball = f"not here: patchkit tree fetch {m.name} downloads it"
        rows = [("tree", m.name), ("manifest", _rel(m.source)), ("package", pkg),
                ("kernel", m.kernel_version),
                ("tarball", tarball),
                ("base commit", m.base_commit),
                ("path", f"{dest} ({'fetched' if _is_fetched(dest) else 'not fetched'})"),
                ("touched files", f"{len(m.files)} ({sum(h == ABSENT for h in m.files.values())} "
                                  f"absent)"),
                ("swap_ops base", _base_text(m.swap_ops_base))]
        if _is_fetched(dest):
            try:
                t = open_pinned(m.name, fetch=False)
            except UserError as exc:
                rows.append(("cache", exc.msg))
            else:
                if t.note:
                    rows.append(("in use", t.note))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':' if key else '':<{width + 1}} {value}")
    return 0


def _base_text(present: bool | None) -> str:
    if present is None:
        return "unknown (manifest predates the check: patchkit tree manifest NAME --write)"
    if present:
        return f"yes ({SWAP_OPS_HEADER} has struct swap_ops): series go straight on top"
    return "no: a series needs the base-layer series (swap-batching) below it"


def _show_all() -> int:
    """One line per known tree: version, pin, fetch state, swap_ops base."""
    rows = [("TREE", "KERNEL", "PACKAGE VERSION", "SUITE", "CACHE", "SWAP_OPS BASE")]
    for m in manifests():
        dest = paths.trees_dir() / m.name
        state = "not fetched"
        if _is_fetched(dest):
            try:
                t = open_pinned(m.name, fetch=False)
                state = "fetched" if not t.note else f"fetched ({t.package_version})"
            except UserError:
                state = "stale: fetch --force"
        base = {True: "yes", False: "no (needs swap-batching)", None: "unknown"}[m.swap_ops_base]
        rows.append((m.name + (" (default)" if m.name == DEFAULT_TREE else ""), m.kernel_version,
                     m.package_version, m.suite or "-", state, base))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
