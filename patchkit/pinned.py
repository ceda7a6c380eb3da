"""The pinned trees in patchkit's cache: fetched, opened, re-pinned.

Fetching installs the linux-source package when its tarball is missing
(debsource.py), checks the tarball hash, extracts it next to the cache,
turns it into a git repository with one commit whose author, committer,
dates, message and branch are fixed, checks that the commit id is the
manifest's, and only then renames the finished tree into place under a
per-tree lock: an interrupted fetch leaves nothing half-done.

Every git command that builds the base commit runs with the user's and the
system's git configuration switched off (GIT_CONFIG_GLOBAL=/dev/null,
GIT_CONFIG_NOSYSTEM, GIT_ATTR_NOSYSTEM, no templates, no hooks) so that
autocrlf, filters, signing or an odd init.defaultBranch cannot change the id.

Maintainers re-pin a tree here too (compute_manifest, regenerate_manifest,
rehash_manifest): the manifest is computed from the tree it pins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from patchkit import archive, debsource, git, manifests, options, paths, proc, ui
from patchkit.errors import CommandFailed, InfraError, UserError
from patchkit.manifests import DEFAULT_TREE


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
class Tree:
    path: Path
    name: str
    version: str
    base_commit: str
    manifest: manifests.Manifest | None
    package_version: str | None = None  # the Debian version actually unpacked
    note: str | None = None             # why it is not the manifest's pin, if it is not


@dataclass
class FetchReport:
    tree: Tree
    phases: dict[str, float]  # phase -> seconds, in order
    fetched: bool             # False: the cache already had it


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


def base_message(m: manifests.Manifest) -> str:
    return (f"Linux {m.kernel_version} ({m.package} {m.package_version})\n\n"
            f"Unpacked from {Path(m.tarball).name} by patchkit tree fetch;\n"
            f"tarball sha256 {m.tarball_sha256}.")


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


def commit_base(repo: Path, m: manifests.Manifest, log: Path, phases: dict) -> str:
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


def build_base(m: manifests.Manifest, tarball: Path, workdir: Path, phases: dict) -> tuple[Path, str]:
    """Extract tarball into workdir and commit it; (tree path, commit id)."""
    log = paths.logs_dir() / f"tree-{m.name}"
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
    m = manifests.load_manifest(name)
    dest = paths.trees_dir() / name
    phases: dict[str, float] = {}
    if not force and is_fetched(dest):
        return FetchReport(open_pinned(name, fetch=False), phases, fetched=False)
    if options.current().dry_run:
        return _dry_run(m, dest)
    with _locked(name):
        if not force and is_fetched(dest):  # another process finished it meanwhile
            return FetchReport(open_pinned(name, fetch=False), phases, fetched=False)
        if force:
            shutil.rmtree(debsource.package_dir(m.package, m.package_version), ignore_errors=True)
        with _timed(phases, "package"):
            got = debsource.obtain_tarball(m)
        used = m
        with _timed(phases, "sha256"):
            if got.substitute:
                used = _substitute_manifest(m, got)
            else:
                debsource.check_tarball(m, got)
        check_space(got.tarball, paths.trees_dir())
        work = Path(tempfile.mkdtemp(prefix=_partial_prefix(name), dir=paths.trees_dir()))
        try:
            repo, commit = build_base(used, got.tarball, work, phases)
            diffs = manifests.file_diffs(repo, m)
            if diffs and got.substitute:
                raise UserError(
                    f"{got.substitute}, and its touched files differ from the pin: "
                    f"{', '.join(diffs)}",
                    hint=f"re-pin to {got.package_version} (maintainers): patchkit tree manifest "
                         f"{name} --write, then review the touched-file changes and commit "
                         f"{manifests.display_path(m.source)}")
            if diffs:
                raise UserError(f"hash mismatch in {name}: {', '.join(diffs)} differ from "
                                f"{manifests.display_path(m.source)} although the tarball's sha256 matches",
                                hint=f"regenerate the manifest: patchkit tree manifest {name} "
                                     f"--write")
            if got.substitute:
                ui.warn("tree", f"{got.substitute}: using {got.package_version}, whose "
                                f"{len(m.files)} touched files hash as pinned (base commit "
                                f"{commit[:12]} instead of {m.base_commit[:12]}); re-pin: "
                                f"patchkit tree manifest {name} --write")
            elif commit != m.base_commit:
                raise InfraError(
                    f"base commit of {name} is {commit} here, {manifests.display_path(m.source)} says "
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


def _substitute_manifest(m: manifests.Manifest, got: debsource.Obtained) -> manifests.Manifest:
    """m as it would read for the substitute version (its base commit message
    names the version and tarball hash actually unpacked)."""
    return dataclasses.replace(m, package_version=got.package_version,
                               tarball_sha256=debsource.sha256_file(got.tarball),
                               deb_sha256=got.deb_sha256 or "", base_commit="")


# The record of what a fetch unpacked, kept in the tree's .git.
PIN_RECORD = "patchkit-pin.json"


def write_pin_record(repo: Path, m: manifests.Manifest, got: debsource.Obtained, commit: str,
                     tarball_sha256: str) -> None:
    record = {
        "name": m.name, "package": m.package,
        "package_version": got.package_version, "pinned_version": m.package_version,
        "deb_sha256": got.deb_sha256, "tarball_sha256": tarball_sha256,
        "base_commit": commit, "pinned_base_commit": m.base_commit,
        "files_sha256": manifests.files_digest(m.files), "substitute": got.substitute,
    }
    (repo / ".git" / PIN_RECORD).write_text(json.dumps(record, indent=1) + "\n")


def read_pin_record(dest: Path) -> dict | None:
    try:
        record = json.loads((dest / ".git" / PIN_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _dry_run(m: manifests.Manifest, dest: Path) -> FetchReport:
    """Print the commands a fetch runs; create nothing."""
    tarball = Path(m.tarball)
    cached = debsource.cached_tarball(m, m.package_version)
    if cached:
        tarball = cached.tarball
    elif not tarball.is_file():
        folder = debsource.package_dir(m.package, m.package_version)
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


def is_fetched(dest: Path) -> bool:
    return (dest / ".git").is_dir()


def open_pinned(name: str, *, fetch: bool = True) -> Tree:
    m = manifests.load_manifest(name)
    dest = paths.trees_dir() / name
    if not is_fetched(dest):
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
        raise UserError(f"cached tree {dest} is not the one {manifests.display_path(m.source)} pins "
                        f"(no base commit {commit[:12]})",
                        hint=f"patchkit tree fetch {name} --force")
    return Tree(path=dest, name=name, version=m.kernel_version, base_commit=commit,
                manifest=m, package_version=version, note=note)


def _same_pin(record: dict, m: manifests.Manifest) -> bool:
    """Whether a substitute recorded by a fetch still stands for manifest m."""
    return (record.get("pinned_version") == m.package_version
            and record.get("pinned_base_commit") == m.base_commit
            and record.get("files_sha256") == manifests.files_digest(m.files)
            and isinstance(record.get("base_commit"), str)
            and isinstance(record.get("package_version"), str))


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
            result[f] = manifests.ABSENT
            continue
        size = int(header[2])
        result[f] = hashlib.sha256(out[pos:pos + size]).hexdigest()
        pos += size + 1
    return result


def compute_manifest(name: str, package: str, tarball: Path, package_version: str,
                     workdir: Path | None = None,
                     files: list[str] | None = None, *, tarball_path: str | None = None,
                     suite: str = "", deb_sha256: str = "") -> tuple[manifests.Manifest, Path, Path]:
    """Unpack tarball and pin it: (manifest, tree path, temp dir holding it).

    tarball_path is what the manifest records as the tarball (the path the
    package installs it to; default: where tarball is now).
    The caller owns the temp dir (rename the tree out of it, then remove it)."""
    files = manifests.touched_files() if files is None else files
    m = manifests.Manifest(name=name, package=package, package_version=package_version,
                           kernel_version="", tarball=tarball_path or str(tarball),
                           tarball_sha256=debsource.sha256_file(tarball), base_commit="", suite=suite,
                           deb_sha256=deb_sha256)
    parent = workdir or paths.trees_dir()
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=_partial_prefix(name), dir=parent))
    log = paths.logs_dir() / f"tree-{name}"
    try:
        repo = extract(tarball, work, Path(f"{log}-extract.log"), {})
        # the commit message names the kernel version: read it first
        m.kernel_version = manifests.kernel_version(repo / "Makefile")
        m.base_commit = commit_base(repo, m, Path(f"{log}-git-add.log"), {})
        m.files = {f: manifests.hash_path(repo / f) for f in files}
        m.swap_ops_base = manifests.swap_ops_in(manifests.read_text(repo / manifests.SWAP_OPS_HEADER))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return m, repo, work


def regenerate_manifest(name: str, *, write: bool, suite: str | None = None,
                        version: str | None = None) -> manifests.Manifest:
    """Recompute <name>'s manifest from the archive: the version given, else
    the one apt would install from the suite (the manifest's, or `suite`).
    Downloads through the private apt state like a fetch, and leaves the
    tree the new manifest pins in the cache."""
    try:
        old = manifests.load_manifest(name)
        package, member, old_suite = old.package, old.tarball, old.suite
    except UserError:
        old = None
        package, member, old_suite = name, f"/usr/src/{name}.tar.xz", ""
    suite = suite or old_suite
    if not suite:
        raise UserError(f"no suite for {name}: say which Debian suite serves {package}",
                        hint=f"patchkit tree manifest {name} --suite SUITE "
                             f"(e.g. bookworm-security, experimental)")
    arch = archive.Archive(suite, log_dir=paths.logs_dir())
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
    stub = manifests.Manifest(name=name, package=package, package_version=picked.version,
                              kernel_version="", tarball=member, tarball_sha256="", base_commit="",
                              suite=suite, source=manifests.manifest_path(name))
    with _locked(name):
        got = debsource.cached_tarball(stub, picked.version)
        if got is None or got.deb_sha256 != picked.sha256:
            got = debsource.download(arch, stub, picked.version, expect=picked.sha256,
                                     expect_from=f"the {suite} index")
        m, repo, work = compute_manifest(name, package, got.tarball, picked.version,
                                         tarball_path=member, suite=suite,
                                         deb_sha256=got.deb_sha256 or "")
        m.source = manifests.manifest_path(name)
        try:
            dest = paths.trees_dir() / name
            if old is None or old.base_commit != m.base_commit or not is_fetched(dest):
                write_pin_record(repo, m, got, m.base_commit, m.tarball_sha256)
                _install(repo, dest)  # the cache now holds the tree this manifest pins
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if write:
        manifests.write_manifest(m, manifests.manifest_path(name))
    return m


def rehash_manifest(name: str, *, write: bool) -> manifests.Manifest:
    """<name>'s manifest with its touched-file table recomputed for today's
    touched_files(), read from the base commit of the fetched tree (which
    must be the one the manifest pins).  Package, hashes and base commit are
    kept: a series naming a new file does not change the pin."""
    m = manifests.load_manifest(name)
    t = open_pinned(name)
    if t.base_commit != m.base_commit:
        raise UserError(f"the cached {name} is a stand-in for the pin ({t.note}); re-pin "
                        f"instead: patchkit tree manifest {name} --write")
    m.files = hashes_at(t.path, m.base_commit, manifests.touched_files())
    if write:
        manifests.write_manifest(m, manifests.manifest_path(name))
    return m
