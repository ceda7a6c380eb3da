"""The Debian linux-source package a pinned tree is unpacked from.

obtain_tarball() gives the tarball of exactly a manifest's package version:
the host's installed copy when it hashes as pinned, else one downloaded
before (cache/packages/), else `apt-get download` through a private apt
state (patchkit/archive.py); when the archive no longer has the version,
its current one, marked as a substitute.  check_tarball() holds it to the
manifest's sha256.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from patchkit import archive, paths, proc, ui
from patchkit.errors import InfraError, UserError
from patchkit.manifests import Manifest, display_path, sha256_file


def dpkg_version_argv(package: str) -> list[str]:
    return ["dpkg-query", "--show", "--showformat=${Version}", package]


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


def cached_tarball(m: Manifest, version: str) -> Obtained | None:
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
    cached = cached_tarball(m, m.package_version)
    if cached:
        return cached
    if not m.suite:
        raise UserError(f"{display_path(m.source)} names no suite, so patchkit cannot download "
                        f"{m.package} {m.package_version}",
                        hint=f"re-pin with the suite that serves it: patchkit tree manifest "
                             f"{m.name} --suite SUITE --write")
    arch = archive.Archive(m.suite, log_dir=paths.logs_dir())
    offers = arch.offers(m.package)
    if not offers:
        raise InfraError(f"{m.package} is not in {m.suite} at {arch.mirror.uri} "
                         f"(mirror from {arch.mirror.origin})",
                         hint=f"another mirror: {archive.MIRROR_ENV}=URI; or re-pin to a suite "
                              f"that has it: patchkit tree manifest {m.name} --suite SUITE --write")
    if any(o.version == m.package_version for o in offers):
        return download(arch, m, m.package_version, expect=m.deb_sha256,
                        expect_from=display_path(m.source))
    candidate = (arch.offers(m.package, candidate=True) or offers)[0]
    got = download(arch, m, candidate.version, expect=candidate.sha256,
                   expect_from=f"the {m.suite} index")
    got.substitute = (f"{m.package} {m.package_version}, pinned by {display_path(m.source)}, is no "
                      f"longer in {m.suite}; it has {candidate.version}")
    return got


def download(arch, m: Manifest, version: str, *, expect: str, expect_from: str) -> Obtained:
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
            ui.warn("tree", f"{display_path(m.source)} records no deb_sha256: only the tarball's "
                            f"sha256 is checked (re-pin: patchkit tree manifest {m.name} --write)")
        tarball = archive.extract_member(deb, m.tarball, work / "data",
                                         log=paths.logs_dir() / f"tree-{m.name}-unpack-deb.log")
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
    return (f"installed {m.package} is {installed}, but {display_path(m.source)} pins "
            f"{m.package_version}")


def check_tarball(m: Manifest, got: Obtained) -> None:
    """UserError unless the tarball's sha256 is the manifest's."""
    digest = sha256_file(got.tarball)
    if digest == m.tarball_sha256:
        return
    raise UserError(f"hash mismatch: {got.tarball} ({m.package} {got.package_version}) has "
                    f"sha256 {digest}, {display_path(m.source)} expects {m.tarball_sha256}",
                    hint=f"download it again: patchkit tree fetch {m.name} --force; if the "
                         f"archive changed the package under the same version, re-pin "
                         f"(maintainers): patchkit tree manifest {m.name} --write")
