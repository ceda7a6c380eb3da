"""The Docker API runtime (the Docker SDK lives only here).

It talks to DOCKER_HOST: a Docker Engine, or Podman's Docker-compatible
service.  With no DOCKER_HOST and podman installed, it starts
`podman --runtime runc system service` on a private socket under the cache
for the duration of the build and stops it afterwards.

Containers run detached; their logs are streamed into the build log and
wait() is called with no client timeout: the SDK's default 60 s read
timeout would otherwise raise while a long, quiet link step goes on.
"""

from __future__ import annotations

import os
import shutil
import shlex
import time
from pathlib import Path

from patchkit import image, paths, proc, ui
from patchkit.errors import InfraError
from patchkit.runtimes.base import ContainerRuntime, Mount

ULIMITS = {"nofile": 1024, "nproc": 4096}
SERVICE_START_TIMEOUT = 30.0


def service_argv(sock: Path) -> list[str]:
    return ["podman", "--runtime", "runc", "system", "service", "--time=0", f"unix://{sock}"]


def container_kwargs(name: str, image_ref: str, argv: list[str], *, mounts: list[Mount],
                     env: dict[str, str], workdir: str) -> dict:
    """Arguments of containers.run() for one build step (plain data; the
    ulimits become docker.types.Ulimit at the call)."""
    return {
        "image": image_ref,
        "command": list(argv),
        "name": name,
        "detach": True,
        "network_mode": "none",
        "ulimits": [{"name": k, "soft": v, "hard": v} for k, v in ULIMITS.items()],
        "volumes": {str(m.host): {"bind": m.container, "mode": "ro" if m.read_only else "rw"}
                    for m in mounts},
        "environment": dict(sorted(env.items())),
        "working_dir": workdir,
    }


def cli_equivalent(kwargs: dict, docker_host: str | None) -> str:
    """The docker CLI line doing what containers.run(**kwargs) does (for logs)."""
    argv = ["docker", "run", "--rm", "--name", kwargs["name"], "--network", kwargs["network_mode"]]
    for u in kwargs["ulimits"]:
        argv += ["--ulimit", f"{u['name']}={u['soft']}:{u['hard']}"]
    for host, v in kwargs["volumes"].items():
        argv += ["-v", f"{host}:{v['bind']}:{v['mode']}"]
    for key, value in kwargs["environment"].items():
        argv += ["-e", f"{key}={value}"]
    argv += ["-w", kwargs["working_dir"], kwargs["image"], *kwargs["command"]]
    prefix = f"DOCKER_HOST={shlex.quote(docker_host)} " if docker_host else ""
    return prefix + shlex.join(argv)


def _sdk():
    try:
        import docker
    except ImportError as exc:
        raise InfraError("the Docker SDK for Python is not installed",
                         hint="pip install docker   (or: make setup)") from exc
    return docker


class PodmanService:
    """`podman system service` on a private socket, owned by this process."""

    def __init__(self, sock: Path):
        self.sock = sock
        self.proc = None

    def start(self) -> str:
        proc.require("podman")
        proc.require("runc")
        self.sock.parent.mkdir(parents=True, exist_ok=True)
        self.sock.unlink(missing_ok=True)
        log = paths.cache_dir() / "logs" / f"podman-service-{os.getpid()}.log"
        self.proc = proc.spawn(service_argv(self.sock), log=log)
        deadline = time.monotonic() + SERVICE_START_TIMEOUT
        while not self.sock.exists():
            if self.proc.poll() is not None:
                raise InfraError(f"podman system service exited ({self.proc.returncode}): "
                                 f"{proc.tail_of(log, 5).strip()}", hint=f"log: {log}")
            if time.monotonic() > deadline:
                self.stop()
                raise InfraError(f"podman system service did not create {self.sock} in "
                                 f"{SERVICE_START_TIMEOUT:.0f} s", hint=f"log: {log}")
            time.sleep(0.1)
        return f"unix://{self.sock}"

    def stop(self) -> None:
        if self.proc is not None:
            proc.kill_group(self.proc)
            self.proc = None
        self.sock.unlink(missing_ok=True)


class DockerRuntime(ContainerRuntime):
    name = "docker"

    def __init__(self, image_ref: str = image.NAME) -> None:
        super().__init__(image_ref)
        self.client = None
        self.service: PodmanService | None = None
        self.base_url: str | None = None

    def prepare(self) -> None:
        docker = _sdk()
        self.base_url = os.environ.get("DOCKER_HOST")
        if not self.base_url:
            if not shutil.which("podman"):
                raise InfraError("DOCKER_HOST is not set and podman is not installed to serve the Docker API",
                                 hint="apt-get install podman runc, or export DOCKER_HOST=unix:///run/docker.sock")
            self.service = PodmanService(paths.cache_dir() / "run" / f"podman-{os.getpid()}.sock")
            self.base_url = self.service.start()
            ui.info("build", f"started podman API service at {self.base_url}")
        try:
            # timeout=None: no client read timeout (see the module docstring)
            self.client = docker.DockerClient(base_url=self.base_url, timeout=None)
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise InfraError(f"cannot reach the Docker API at {self.base_url}: {exc}",
                             hint="start the engine, or unset DOCKER_HOST to use a podman service") from exc
        self.image_id = self._ensure_image(docker)

    def _ensure_image(self, docker) -> str:
        recipe = image.recipe_hash(image.CONTAINERFILE.read_text())

        def current():
            try:
                img = self.client.images.get(self.image)
            except docker.errors.ImageNotFound:
                return None
            return img.id if (img.labels or {}).get(image.LABEL) == recipe else None

        if current():
            return current()
        log_dir = paths.cache_dir() / "logs"
        with image.cache_lock("image"):
            if current():
                return current()
            try:
                self.client.images.build(path=str(image.CONTAINERFILE.parent), dockerfile="Containerfile",
                                         tag=self.image, labels={image.LABEL: recipe}, rm=True)
            except (docker.errors.BuildError, docker.errors.APIError) as exc:
                ui.info("image", f"no registry for debian:{image.SUITE} ({str(exc)[:120]}); "
                                 "building offline with debootstrap")
                tar = image.export_rootfs_tar(paths.cache_dir() / "tmp" / "builder-rootfs.tar",
                                              log_dir=log_dir)
                try:
                    repo, _, tag = self.image.partition(":")
                    self.client.api.import_image_from_file(str(tar), repository=repo, tag=tag or "latest",
                                                           changes=image.import_changes(recipe))
                finally:
                    tar.unlink(missing_ok=True)
        image_id = current()
        if not image_id:
            raise InfraError(f"image {self.image} was built but does not carry {image.LABEL}={recipe}")
        return image_id

    def run(self, argv: list[str], *, cwd: str, env: dict[str, str], log: Path) -> int:
        docker = _sdk()
        kwargs = container_kwargs(self.container_name(), self.image, argv, mounts=self.mounts,
                                  env=env, workdir=cwd)
        with open(log, "a", encoding="utf-8", errors="replace") as f:
            f.write(f"# reproduce: {cli_equivalent(kwargs, self.base_url)}\n")
        call = dict(kwargs, ulimits=[docker.types.Ulimit(**u) for u in kwargs["ulimits"]])
        container = self.client.containers.run(**call)
        try:
            with open(log, "ab") as f:
                for chunk in container.logs(stream=True, follow=True):
                    f.write(chunk)
                    f.flush()
            status = container.wait(timeout=None)
        except BaseException:
            # SIGTERM first so make removes half-written targets, then remove
            try:
                container.stop(timeout=10)
            finally:
                container.remove(force=True)
            raise
        container.remove(force=True)
        return int(status.get("StatusCode", 1))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.service is not None:
            self.service.stop()
            self.service = None
