"""The podman CLI runtime.

Podman 4.3 on Debian 12 works only with runc (its default crun fails here
with "cgroups in hybrid mode not supported") and only with ulimits the
machine can grant without CAP_SYS_RESOURCE; both are in every argv below.

CPU share under contention (cgroup v1 here): every container sits in
cpu:/libpod_parent, which weighs as ONE nice-0 task against all host tasks,
while `nice` inside the container only orders tasks within it.  On a busy
shared machine a container build therefore gets less CPU than the same build
on the host (measured 2026-11-26, load ~20: host cold 49.6 min, podman about
65 % done at that time).  --cgroups=disabled is refused with runc; a larger
--cpu-shares with --cgroup-parent=/ is the untested next step.
"""

from __future__ import annotations

from pathlib import Path

from patchkit import image, proc
from patchkit.errors import InfraError
from patchkit.runtimes.base import ContainerRuntime, Mount

PODMAN = ["podman", "--runtime", "runc"]
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def run_argv(name: str, image_ref: str, argv: list[str], *, mounts: list[Mount],
             env: dict[str, str], workdir: str) -> list[str]:
    """podman run for one build step: no network, named so it can be killed."""
    out = [*PODMAN, "run", "--rm", "--name", name, *ULIMITS, "--network", "none"]
    for m in mounts:
        out += ["-v", f"{m.host}:{m.container}:{'ro' if m.read_only else 'rw'}"]
    for key in sorted(env):
        out += ["-e", f"{key}={env[key]}"]
    out += ["-w", workdir, image_ref, *argv]
    return out


def stop_argv(name: str, grace: int = 10) -> list[str]:
    """SIGTERM first: make removes half-written targets before it exits."""
    return [*PODMAN, "stop", "--ignore", "-t", str(grace), name]


def rm_argv(name: str) -> list[str]:
    return [*PODMAN, "rm", "--ignore", "-f", name]


def probe_argv(image_ref: str) -> list[str]:
    return [*PODMAN, "run", "--rm", *ULIMITS, "--network", "none", image_ref, "true"]


class PodmanRuntime(ContainerRuntime):
    name = "podman"

    def prepare(self) -> None:
        proc.require("podman")
        proc.require("runc")
        self.image_id = image.ensure(PODMAN, name=self.image)
        res = proc.run(probe_argv(self.image), check=False)
        if res.returncode != 0:
            raise InfraError(
                f"podman cannot run a container: {(res.stderr or res.stdout).strip()[-300:]}",
                hint="apt-get install podman runc   (podman must use --runtime runc here)")

    def run(self, argv: list[str], *, cwd: str, env: dict[str, str], log: Path) -> int:
        name = self.container_name()
        cmd = run_argv(name, self.image, argv, mounts=self.mounts, env=env, workdir=cwd)
        try:
            res = proc.run(cmd, log=log, append=True, check=False)
        except BaseException:
            # Ctrl-C or a kill: podman's CLI dies but conmon keeps the
            # container; stop it so make cleans up, then remove it.
            proc.run(stop_argv(name), check=False)
            proc.run(rm_argv(name), check=False)
            raise
        return res.returncode
