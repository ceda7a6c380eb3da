"""The Debian archive, read through a private apt configuration.

A pinned tree names a package, its exact version and the suite that serves
it (bookworm-security, experimental ...).  Downloading that version must not
change the host: no new entry in /etc/apt/sources.list.d, no apt-get update
of the host's lists, no root.  So every apt command here runs with its own
sources list, lists, status file and package cache under the patchkit cache
(cache/apt/<suite>/), and `apt-get download` fetches the .deb into a folder
of ours.  The host's apt.conf.d still applies (proxies, retries).

The mirror comes from the host's own apt sources at run time (as for the
builder image, patchkit/image.py): the entry that serves the suite, else the
host's main Debian archive with the suite put in (experimental is on the
same mirror as bookworm).  PATCHKIT_DEBIAN_MIRROR overrides it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from patchkit import image, paths, proc
from patchkit.errors import CommandFailed, InfraError, UserError

MIRROR_ENV = "PATCHKIT_DEBIAN_MIRROR"
COMPONENT = "main"


@dataclass(frozen=True)
class Offer:
    """One version of a package as the archive's index describes it."""
    version: str
    sha256: str
    size: int
    filename: str


@dataclass(frozen=True)
class Mirror:
    uri: str
    signed_by: str | None  # keyring of the host's entry, if it names one
    origin: str            # where it came from, for messages


# ---------------------------------------------------------------- the mirror

def mirror_for(suite: str, sources: dict[str, str] | None = None,
               environ: dict | None = None) -> Mirror:
    """The mirror to fetch suite from: $PATCHKIT_DEBIAN_MIRROR, else the host
    entry that serves suite, else the host's main archive (an entry for a
    suite without '-', which excludes -security and -updates)."""
    environ = os.environ if environ is None else environ
    if environ.get(MIRROR_ENV):
        return Mirror(environ[MIRROR_ENV].rstrip("/"), None, f"${MIRROR_ENV}")
    sources = image.host_sources() if sources is None else sources
    entries = image.debian_entries(sources)
    for uri, suites, signed_by, where in entries:
        if suite in suites:
            return Mirror(uri, signed_by, where)
    if "-" not in suite:  # experimental, sid, trixie: on the main archive's mirror
        for uri, suites, signed_by, where in entries:
            if any("-" not in s for s in suites):
                return Mirror(uri, signed_by, where)
    raise InfraError(f"no Debian mirror for {suite} in the host's apt sources "
                     f"(/etc/apt/sources.list, /etc/apt/sources.list.d)",
                     hint=f"name one: {MIRROR_ENV}=URI (the Debian archive that serves {suite})")


def sources_line(mirror: Mirror, suite: str) -> str:
    opts = f"[signed-by={mirror.signed_by}] " if mirror.signed_by else ""
    return f"deb {opts}{mirror.uri} {suite} {COMPONENT}\n"


# ---------------------------------------------------------------- argv builders (pure)

def root_dir(suite: str) -> Path:
    """The private apt state of one suite."""
    return paths.cache_dir() / "apt" / suite


def apt_options(root: Path, *, euid: int) -> list[str]:
    """-o options that point apt at root instead of the host's state."""
    opts = {
        "Dir::Etc::sourcelist": root / "sources.list",
        "Dir::Etc::sourceparts": root / "sources.list.d",
        "Dir::Etc::preferences": root / "preferences",
        "Dir::Etc::preferencesparts": root / "preferences.d",
        "Dir::State::Lists": root / "lists",
        "Dir::State::status": root / "status",
        "Dir::Cache": root / "cache",
        "Dir::Cache::archives": root / "cache" / "archives",
        "Acquire::Languages": "none",
    }
    if euid == 0:
        # root drops to _apt for downloads, which cannot enter a private
        # cache under /root: download as root instead (what apt would do
        # anyway, with a warning)
        opts["APT::Sandbox::User"] = "root"
    argv = []
    for key, value in opts.items():
        argv += ["-o", f"{key}={value}"]
    return argv


def update_argv(root: Path, *, euid: int) -> list[str]:
    return ["apt-get", *apt_options(root, euid=euid), "-q", "update"]


def show_argv(root: Path, package: str, *, euid: int, candidate: bool = False) -> list[str]:
    extra = ["--no-all-versions"] if candidate else []
    return ["apt-cache", *apt_options(root, euid=euid), "show", *extra, package]


def download_argv(root: Path, package: str, version: str, *, euid: int) -> list[str]:
    return ["apt-get", *apt_options(root, euid=euid), "-q", "download", f"{package}={version}"]


def deb_member_argv(deb: Path, member: str, dest: Path) -> list[str]:
    """dpkg-deb --fsys-tarfile DEB | tar -x MEMBER into dest, failing if
    either side fails.  The member matches with or without a leading './'."""
    pattern = "*" + member.lstrip("/").removeprefix("./")
    pipeline = (f"dpkg-deb --fsys-tarfile {shlex.quote(str(deb))} | "
                + shlex.join(["tar", "--extract", "--file=-", f"--directory={dest}",
                              "--no-same-owner", "--wildcards", pattern]))
    return ["bash", "-o", "pipefail", "-c", pipeline]


def deb_name(package: str, version: str) -> str:
    """apt's file name for an arch-all package (an epoch's ':' is %3a)."""
    return f"{package}_{version.replace(':', '%3a')}_all.deb"


# ---------------------------------------------------------------- parsing

def parse_show(text: str) -> list[Offer]:
    """The stanzas of `apt-cache show` output, in the order given."""
    offers = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            if line[:1].isspace() or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "Version" in fields and "Filename" in fields:
            offers.append(Offer(fields["Version"], fields.get("SHA256", ""),
                                int(fields.get("Size", "0") or 0), fields["Filename"]))
    return offers


# ---------------------------------------------------------------- running apt

class Archive:
    """One suite of the Debian archive, seen through a private apt state."""

    def __init__(self, suite: str, *, log_dir: Path, mirror: Mirror | None = None):
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", suite):
            raise UserError(f"suite {suite!r} is not a Debian suite name")
        self.suite = suite
        self.mirror = mirror or mirror_for(suite)
        self.root = root_dir(suite)
        self.log_dir = log_dir
        self.euid = os.geteuid()
        self._updated = False
        self._held = 0

    @contextlib.contextmanager
    def locked(self):
        """Hold the suite's private apt state (two fetches of trees from one
        suite would otherwise run apt-get update on the same lists at once).
        Re-entrant within one Archive."""
        if self._held:
            self._held += 1
            try:
                yield
            finally:
                self._held -= 1
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with open(self.root.parent / f".{self.suite}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._held = 1
            try:
                yield
            finally:
                self._held = 0

    def _prepare(self) -> None:
        for sub in ("sources.list.d", "preferences.d", "lists/partial",
                    "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        line = sources_line(self.mirror, self.suite)
        src = self.root / "sources.list"
        if not src.is_file() or src.read_text() != line:
            src.write_text(line)

    def update(self) -> None:
        """apt-get update of the private lists (once per Archive)."""
        if self._updated:
            return
        with self.locked():
            self._prepare()
            proc.run(update_argv(self.root, euid=self.euid), env={"LC_ALL": "C"},
                     log=self.log_dir / f"apt-{self.suite}-update.log",
                     hint=f"the mirror {self.mirror.uri} (from {self.mirror.origin}) must serve "
                          f"{self.suite}; another mirror: {MIRROR_ENV}=URI")
        self._updated = True

    def offers(self, package: str, *, candidate: bool = False) -> list[Offer]:
        """Every version of package the suite has (or only apt's candidate)."""
        with self.locked():
            self.update()
            res = proc.run(show_argv(self.root, package, euid=self.euid, candidate=candidate),
                           env={"LC_ALL": "C"}, check=False)
        if res.returncode != 0:
            if "No packages found" in res.stderr or "Unable to locate" in res.stderr \
                    or not res.stderr.strip():
                return []
            raise CommandFailed(res.argv, res.returncode, res.stdout, res.stderr)
        return parse_show(res.stdout)

    def download(self, package: str, version: str, dest: Path) -> Path:
        """apt-get download package=version into dest; the .deb's path."""
        dest.mkdir(parents=True, exist_ok=True)
        with self.locked():
            self.update()
            proc.run(download_argv(self.root, package, version, euid=self.euid), cwd=dest,
                     env={"LC_ALL": "C"}, log=self.log_dir / f"apt-{package}-download.log",
                     hint=f"{package} {version} from {self.mirror.uri} {self.suite}")
        deb = dest / deb_name(package, version)
        if not deb.is_file():
            found = sorted(p.name for p in dest.glob(f"{package}_*.deb"))
            raise InfraError(f"apt-get download {package}={version} left no {deb.name} in {dest}"
                             + (f" (found: {', '.join(found)})" if found else ""))
        return deb


def extract_member(deb: Path, member: str, dest_dir: Path, *, log: Path) -> Path:
    """Unpack one file of a .deb (e.g. usr/src/linux-source-7.3.tar.xz) into
    dest_dir (keeping its path); the path of the unpacked file."""
    proc.require("dpkg-deb")
    dest_dir.mkdir(parents=True, exist_ok=True)
    proc.run(deb_member_argv(deb, member, dest_dir), log=log,
             hint=f"{deb} must be a Debian package holding {member}")
    out = dest_dir / member.lstrip("/")
    if not out.is_file():
        raise InfraError(f"{deb} has no {member}")
    return out
