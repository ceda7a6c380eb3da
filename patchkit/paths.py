"""Where things live: the repository's data folders and the user's cache."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
TEMPLATES = Path(os.environ.get("PATCHKIT_TEMPLATES", REPO / "templates"))
FIXTURES = REPO / "kernel-fixtures"
MANIFESTS = FIXTURES / "manifests"
PROFILES = TEMPLATES / "profiles"
CONFIGS = PACKAGE / "configs"
GUEST = PACKAGE / "guest"


def cache_dir() -> Path:
    """$PATCHKIT_CACHE, else $XDG_CACHE_HOME/patchkit, else ~/.cache/patchkit."""
    if os.environ.get("PATCHKIT_CACHE"):
        return Path(os.environ["PATCHKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "patchkit"


def trees_dir() -> Path:
    return cache_dir() / "trees"


def logs_dir() -> Path:
    """Logs of work outside any run's output folder (tree fetches, downloads)."""
    return cache_dir() / "logs"


def builds_dir() -> Path:
    return cache_dir() / "builds"


def out_dir() -> Path:
    return cache_dir() / "out"


def build_dir_of(kernel: Path) -> Path | None:
    """The build dir a bzImage sits in (BUILD/arch/x86/boot/bzImage), or None."""
    kernel = Path(kernel).resolve()
    if kernel.parent.name == "boot" and len(kernel.parents) >= 4 and (kernel.parents[3] / ".config").is_file():
        return kernel.parents[3]
    return None
