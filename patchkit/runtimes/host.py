"""The host runtime: the build tools of this machine, no isolation."""

from __future__ import annotations

import os
from pathlib import Path

from patchkit import proc
from patchkit.runtimes.base import Runtime

CCACHE_WRAPPERS = Path("/usr/lib/ccache")


class HostRuntime(Runtime):
    name = "host"

    def bind(self, host: Path, container: str, *, read_only: bool = False) -> str:
        return str(host)

    def path_env(self) -> str:
        path = os.environ.get("PATH", "/usr/bin:/bin")
        if CCACHE_WRAPPERS.is_dir():
            return f"{CCACHE_WRAPPERS}:{path}"
        return path

    def prepare(self) -> None:
        for tool in ("make", "gcc", "flex", "bison", "bc", "perl"):
            proc.require(tool)

    def run(self, argv: list[str], *, cwd: str, env: dict[str, str], log: Path) -> int:
        # proc.run kills the whole process group on Ctrl-C: SIGTERM first, so
        # make deletes the targets it was writing.
        return proc.run(argv, cwd=cwd, env=env, log=log, append=True, check=False).returncode
