"""Where a build runs: on the host, in a podman container, or through the Docker API.

A runtime is told which host directories to bind (bind() returns the path to
use in commands), is prepared once (prepare(): tools present, image ready),
then runs argv lists with run(), appending their output to a log.  The argv
of every container command is built by pure functions in the runtime's
module and tested by list equality.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from patchkit import image, ui
from patchkit.errors import InfraError, UserError

NAMES = ("auto", "podman", "docker", "host")
_counter = itertools.count(1)


@dataclass(frozen=True)
class Mount:
    host: Path
    container: str
    read_only: bool = False


class Runtime:
    name = "?"

    def __init__(self) -> None:
        self.mounts: list[Mount] = []
        self.image_id: str | None = None
        self.image: str | None = None

    def bind(self, host: Path, container: str, *, read_only: bool = False) -> str:
        raise NotImplementedError

    def path_env(self) -> str:
        """PATH for build commands: ccache's compiler wrappers first."""
        raise NotImplementedError

    def prepare(self) -> None:
        pass

    def run(self, argv: list[str], *, cwd: str, env: dict[str, str], log: Path) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ContainerRuntime(Runtime):
    def __init__(self, image_ref: str = image.NAME) -> None:
        super().__init__()
        self.image = image_ref

    def bind(self, host: Path, container: str, *, read_only: bool = False) -> str:
        self.mounts.append(Mount(Path(host), container, read_only))
        return container

    def path_env(self) -> str:
        return image.IMAGE_PATH

    @staticmethod
    def container_name() -> str:
        return f"patchkit-build-{os.getpid()}-{next(_counter)}"


def create(name: str) -> Runtime:
    """An unprepared runtime by name."""
    if name == "host":
        from patchkit.runtimes.host import HostRuntime
        return HostRuntime()
    if name == "podman":
        from patchkit.runtimes.podman import PodmanRuntime
        return PodmanRuntime()
    if name == "docker":
        from patchkit.runtimes.docker import DockerRuntime
        return DockerRuntime()
    raise UserError(f"unknown runtime {name!r}", hint=f"use one of: {', '.join(NAMES)}")


def auto_order(environ: dict[str, str]) -> list[str]:
    """Container runtimes to try for --runtime auto, in order.

    A DOCKER_HOST the user set means a Docker engine they chose: try it
    first.  Otherwise the podman CLI; the Docker API through a podman service
    would only repeat the same engine.
    """
    return ["docker", "podman"] if environ.get("DOCKER_HOST") else ["podman"]


def select(name: str) -> Runtime:
    """A prepared runtime.  auto: the first container runtime that works, else
    the host with a warning (the result records which one ran)."""
    if name != "auto":
        rt = create(name)
        try:
            rt.prepare()
        except BaseException:
            rt.close()
            raise
        return rt
    reasons = []
    for candidate in auto_order(dict(os.environ)):
        rt = create(candidate)
        try:
            rt.prepare()
            return rt
        except InfraError as exc:
            rt.close()
            reasons.append(f"{candidate}: {exc.msg.splitlines()[0]}")
        except BaseException:
            rt.close()
            raise
    ui.warn("build", "no container runtime works (" + "; ".join(reasons)
            + "); building on the HOST: results depend on this machine's compiler")
    rt = create("host")
    rt.prepare()
    return rt
