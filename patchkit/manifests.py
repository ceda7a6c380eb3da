"""Tree manifests: kernel-fixtures/manifests/<name>.toml, what pins a tree.

A manifest names the Debian linux-source package and version, the
tarball and its sha256, the deterministic base commit id, and the sha256
of every file a series touches (touched_files(): TOUCHED_FILES plus every
file a template diff changes).  load_manifest() reads and checks one,
dump_manifest()/write_manifest() write one, matching_manifest() finds the
one of a user's checkout; kernel_version(), hash_path() and swap_ops_in()
read what a manifest records.  Fetching and re-pinning (pinned.py) use
these; nothing here runs a command.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from patchkit import paths
from patchkit import series as series_mod
from patchkit.errors import UserError


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
    return series_mod.declared_files(templates)


def files_digest(files: dict[str, str]) -> str:
    """One sha256 over a manifest's touched-file table."""
    text = "".join(f"{p} {h}\n" for p, h in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def display_path(path: Path | None) -> str:
    """A manifest's path as messages show it: relative to the repository."""
    if path is None:
        return "the manifest"
    try:
        return str(Path(path).relative_to(paths.REPO))
    except ValueError:
        return str(path)


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


def write_manifest(m: Manifest, path: Path) -> None:
    """Write atomically (a Ctrl-C never leaves half a manifest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dump_manifest(m), encoding="utf-8")
    os.replace(tmp, path)


DEFAULT_TREE = "linux-source-6.12"


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


def file_diffs(root: Path, m: Manifest) -> list[str]:
    """The touched files under root whose sha256 is not m's."""
    return [p for p, want in sorted(m.files.items()) if hash_path(root / p) != want]


def hash_path(path: Path) -> str:
    return sha256_file(path) if path.is_file() else ABSENT


SWAP_OPS_HEADER = "include/linux/swap_ops.h"


def swap_ops_in(header_text: str | None) -> bool:
    """Whether a swap_ops.h text declares mainline's struct swap_ops."""
    return bool(header_text) and re.search(r"^struct swap_ops\s*\{", header_text, re.M) is not None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
