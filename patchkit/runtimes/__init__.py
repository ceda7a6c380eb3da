"""Where a build runs: on the host, in a podman container, or through the Docker API.

A runtime is told which host directories to bind (bind() returns the path to
use in commands), is prepared once (prepare(): tools present, image ready),
then runs argv lists with run(), appending their output to a log.  The argv
of every container command is built by pure functions in the runtime's
module and tested by list equality.
"""

from __future__ import annotations

import os

from patchkit import ui
from patchkit.errors import InfraError, UserError
from patchkit.runtimes.base import ContainerRuntime, Mount, Runtime  # noqa: F401 (the package's API)
from patchkit.runtimes.docker import DockerRuntime
from patchkit.runtimes.host import HostRuntime
from patchkit.runtimes.podman import PodmanRuntime

NAMES = ("auto", "podman", "docker", "host")


def create(name: str) -> Runtime:
    """An unprepared runtime by name."""
    if name == "host":
        return HostRuntime()
    if name == "podman":
        return PodmanRuntime()
    if name == "docker":
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
