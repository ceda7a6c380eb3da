"""The builder image patchkit-builder:bookworm (a Debian 12 with the kernel build deps).

One recipe, runtimes/Containerfile, two ways to make it:
  * `podman build` of the Containerfile, where a registry serving
    debian:bookworm is reachable;
  * offline (this machine kind reaches no registry): debootstrap the same
    package list from the Debian mirror apt already uses, then
    `tar -C ROOT -c . | podman import - NAME`.
Both stamp the image with the label patchkit.recipe=<hash of the
Containerfile>, so an image is reused while the recipe is unchanged and
rebuilt when it changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shlex
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from patchkit import paths, proc, ui
from patchkit.errors import CommandFailed, InfraError

NAME = "patchkit-builder:bookworm"
SUITE = "bookworm"
CONTAINERFILE = paths.PACKAGE / "runtimes" / "Containerfile"
LABEL = "patchkit.recipe"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
IMAGE_PATH = "/usr/lib/ccache:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def build_deps(containerfile_text: str) -> list[str]:
    """The packages named by the Containerfile's ARG BUILD_DEPS="..." line."""
    m = re.search(r'^ARG BUILD_DEPS="([^"]*)"\s*$', containerfile_text, re.M)
    if not m or not m.group(1).split():
        raise InfraError(f"{CONTAINERFILE}: no ARG BUILD_DEPS=\"...\" line")
    return m.group(1).split()


def recipe_hash(containerfile_text: str) -> str:
    return hashlib.sha256(containerfile_text.encode()).hexdigest()[:16]


def debian_mirror(sources: dict[str, str], suite: str = SUITE) -> str | None:
    """The first Debian mirror URI that serves `suite` itself.

    sources maps a file name to its text: one-line style (sources.list,
    *.list) and deb822 style (*.sources) are both understood.  Security and
    -updates suites do not count: debootstrap needs the main archive.
    """
    for uri, suites, _signed_by, _where in debian_entries(sources):
        if suite in suites:
            return uri
    return None


def debian_entries(sources: dict[str, str]) -> list[tuple[str, list[str], str | None, str]]:
    """(URI, suites, signed-by keyring or None, file name) of every `deb`
    entry in sources (file name -> text, one-line or deb822 style), in order."""
    out = []
    for name, text in sources.items():
        if name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
                if fields.get("enabled", ["yes"]) == ["no"]:
                    continue
                if "deb" in fields.get("types", []) and fields.get("uris"):
                    signed = fields.get("signed-by")
                    signed_by = signed[0] if signed and signed[0].startswith("/") else None
                    for uri in fields["uris"]:
                        out.append((uri, fields.get("suites", []), signed_by, name))
        else:
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) >= 3 and words[0] == "deb":
                    rest, signed_by = words[1:], None
                    if rest[0].startswith("["):  # deb [arch=amd64 signed-by=...] URI suite
                        opts = []
                        while rest and not rest[0].endswith("]"):
                            opts.append(rest[0])
                            rest = rest[1:]
                        opts.append(rest[0])
                        rest = rest[1:]
                        for opt in " ".join(opts).strip("[]").split():
                            if opt.startswith("signed-by="):
                                signed_by = opt.partition("=")[2]
                    if len(rest) >= 2:
                        out.append((rest[0], [rest[1]], signed_by, name))
    return out


def host_sources(root: Path = Path("/etc/apt")) -> dict[str, str]:
    files = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list")),
             *sorted((root / "sources.list.d").glob("*.sources"))]
    return {str(f): f.read_text(errors="replace") for f in files if f.is_file()}


# -- argv builders (pure) ------------------------------------------------------

def inspect_argv(podman: list[str], name: str = NAME) -> list[str]:
    return [*podman, "image", "inspect", "--format",
            "{{.Id}} {{index .Config.Labels \"%s\"}}" % LABEL, name]


def containerfile_build_argv(podman: list[str], recipe: str, name: str = NAME,
                             containerfile: Path = CONTAINERFILE) -> list[str]:
    return [*podman, "build", "--label", f"{LABEL}={recipe}", "-t", name,
            "-f", str(containerfile), str(containerfile.parent)]


def debootstrap_argv(root: Path, mirror: str, deps: list[str], suite: str = SUITE) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(deps)}",
            suite, str(root), mirror]


def import_changes(recipe: str) -> list[str]:
    return [f"LABEL {LABEL}={recipe}", f"ENV PATH={IMAGE_PATH}", "WORKDIR /build"]


def import_argv(podman: list[str], root: Path, recipe: str, name: str = NAME) -> list[str]:
    """tar ROOT | podman import: one pipeline, failing if either side fails."""
    changes = []
    for change in import_changes(recipe):
        changes += ["--change", change]
    pipeline = (f"tar -C {shlex.quote(str(root))} --numeric-owner -c . | "
                + shlex.join([*podman, "import", *changes, "-", name]))
    return ["bash", "-o", "pipefail", "-c", pipeline]


# -- making sure the image exists ---------------------------------------------

@contextmanager
def cache_lock(name: str):
    """An exclusive lock under the cache so two patchkit runs never race."""
    lock_dir = paths.cache_dir() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def current(podman: list[str], recipe: str, name: str = NAME) -> str | None:
    """Id of the image `name` when it was made from this recipe, else None."""
    res = proc.run(inspect_argv(podman, name), check=False)
    if res.returncode != 0:
        return None
    image_id, _, label = res.stdout.strip().partition(" ")
    return image_id if label.strip() == recipe else None


def ensure(podman: list[str], *, name: str = NAME, method: str = "auto", log_dir: Path | None = None) -> str:
    """Id of the builder image, building it first when it is missing or stale.

    method: "auto" (Containerfile, then debootstrap when no registry answers),
    "containerfile" or "debootstrap".
    """
    text = CONTAINERFILE.read_text()
    recipe = recipe_hash(text)
    image_id = current(podman, recipe, name)
    if image_id:
        return image_id
    log_dir = log_dir or paths.cache_dir() / "logs"
    with cache_lock("image"):
        image_id = current(podman, recipe, name)  # another run may have built it meanwhile
        if image_id:
            return image_id
        if method in ("auto", "containerfile"):
            ui.info("image", f"building {name} from {CONTAINERFILE.name}")
            try:
                proc.run(containerfile_build_argv(podman, recipe, name),
                         log=log_dir / "image-containerfile.log")
            except CommandFailed as exc:
                if method == "containerfile":
                    raise
                ui.info("image", f"no registry for debian:{SUITE} ({exc.log}); building offline with debootstrap")
            else:
                return _checked_id(podman, recipe, name)
        with ui.stage("image", f"debootstrap + podman import {name}"):
            build_offline(podman, recipe, build_deps(text), name=name, log_dir=log_dir)
        return _checked_id(podman, recipe, name)


def _checked_id(podman, recipe, name) -> str:
    image_id = current(podman, recipe, name)
    if not image_id:
        raise InfraError(f"image {name} was built but does not carry {LABEL}={recipe}")
    return image_id


def build_offline(podman: list[str], recipe: str, deps: list[str], *, name: str = NAME,
                  log_dir: Path) -> None:
    """debootstrap into a scratch root, import it, and always remove the root."""
    proc.require("debootstrap")
    mirror = debian_mirror(host_sources())
    if mirror is None:
        ui.warn("image", f"no {SUITE} mirror in /etc/apt/sources.list(.d); using {DEFAULT_MIRROR}")
        mirror = DEFAULT_MIRROR
    tmp_parent = paths.cache_dir() / "tmp"
    tmp_parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="builder-root-", dir=tmp_parent))
    try:
        proc.run(debootstrap_argv(root, mirror, deps), log=log_dir / "image-debootstrap.log",
                 hint=f"debootstrap needs root and the mirror {mirror}")
        proc.run(import_argv(podman, root, recipe, name), log=log_dir / "image-import.log")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def export_rootfs_tar(dest: Path, *, log_dir: Path) -> Path:
    """An offline root filesystem tarball (for engines other than podman)."""
    text = CONTAINERFILE.read_text()
    mirror = debian_mirror(host_sources()) or DEFAULT_MIRROR
    tmp_parent = paths.cache_dir() / "tmp"
    tmp_parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="builder-root-", dir=tmp_parent))
    try:
        proc.run(debootstrap_argv(root, mirror, build_deps(text)), log=log_dir / "image-debootstrap.log")
        partial = dest.with_suffix(".partial")
        proc.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."])
        partial.rename(dest)
        return dest
    finally:
        shutil.rmtree(root, ignore_errors=True)
