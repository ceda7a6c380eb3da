from pathlib import Path

import pytest

from patchkit import image, runtimes
from patchkit.errors import UserError
from patchkit.runtimes import Mount, docker, podman

MOUNTS = [Mount(Path("/k/linux"), "/src", True), Mount(Path("/c/b"), "/build"), Mount(Path("/c/cc"), "/ccache")]
ENV = {"PATH": "/usr/lib/ccache:/usr/bin", "CCACHE_DIR": "/ccache"}


def test_podman_run_argv_uses_runc_ulimits_no_network_and_mounts():
    argv = podman.run_argv("pk-1", "patchkit-builder:bookworm", ["make", "-C", "/src", "O=/build"],
                           mounts=MOUNTS, env=ENV, workdir="/build")
    assert argv == [
        "podman", "--runtime", "runc", "run", "--rm", "--name", "pk-1",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--network", "none",
        "-v", "/k/linux:/src:ro", "-v", "/c/b:/build:rw", "-v", "/c/cc:/ccache:rw",
        "-e", "CCACHE_DIR=/ccache", "-e", "PATH=/usr/lib/ccache:/usr/bin",
        "-w", "/build", "patchkit-builder:bookworm", "make", "-C", "/src", "O=/build"]


def test_podman_interrupt_argv_stops_with_sigterm_grace_then_removes():
    assert podman.stop_argv("pk-1") == ["podman", "--runtime", "runc", "stop", "--ignore", "-t", "10", "pk-1"]
    assert podman.rm_argv("pk-1") == ["podman", "--runtime", "runc", "rm", "--ignore", "-f", "pk-1"]
    assert podman.probe_argv("img") == [
        "podman", "--runtime", "runc", "run", "--rm", "--ulimit", "nofile=1024:1024",
        "--ulimit", "nproc=4096:4096", "--network", "none", "img", "true"]


def test_docker_container_kwargs_match_the_podman_argv():
    kw = docker.container_kwargs("pk-2", "patchkit-builder:bookworm", ["make", "bzImage"],
                                 mounts=MOUNTS, env=ENV, workdir="/build")
    assert kw == {
        "image": "patchkit-builder:bookworm",
        "command": ["make", "bzImage"],
        "name": "pk-2",
        "detach": True,
        "network_mode": "none",
        "ulimits": [{"name": "nofile", "soft": 1024, "hard": 1024},
                    {"name": "nproc", "soft": 4096, "hard": 4096}],
        "volumes": {"/k/linux": {"bind": "/src", "mode": "ro"},
                    "/c/b": {"bind": "/build", "mode": "rw"},
                    "/c/cc": {"bind": "/ccache", "mode": "rw"}},
        "environment": {"CCACHE_DIR": "/ccache", "PATH": "/usr/lib/ccache:/usr/bin"},
        "working_dir": "/build",
    }
    assert docker.cli_equivalent(kw, "unix:///c/podman.sock") == (
        "DOCKER_HOST=unix:///c/podman.sock docker run --rm --name pk-2 --network none "
        "--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 -v /k/linux:/src:ro -v /c/b:/build:rw "
        "-v /c/cc:/ccache:rw -e CCACHE_DIR=/ccache -e PATH=/usr/lib/ccache:/usr/bin -w /build "
        "patchkit-builder:bookworm make bzImage")


def test_docker_service_argv():
    assert docker.service_argv(Path("/c/run/podman-1.sock")) == [
        "podman", "--runtime", "runc", "system", "service", "--time=0", "unix:///c/run/podman-1.sock"]


def test_auto_prefers_a_docker_host_the_user_chose():
    assert runtimes.auto_order({}) == ["podman"]
    assert runtimes.auto_order({"DOCKER_HOST": "unix:///run/docker.sock"}) == ["docker", "podman"]


def test_auto_falls_back_to_host_with_a_warning(monkeypatch, capsys):
    from patchkit.errors import InfraError
    from patchkit.runtimes.podman import PodmanRuntime

    def broken(self):
        raise InfraError("podman is not installed", hint="apt-get install podman")
    monkeypatch.setattr(PodmanRuntime, "prepare", broken)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    rt = runtimes.select("auto")
    assert rt.name == "host"
    err = capsys.readouterr().err
    assert "W: build: no container runtime works (podman: podman is not installed)" in err
    assert "HOST" in err


def test_unknown_runtime_is_a_user_error():
    with pytest.raises(UserError, match="unknown runtime 'lxc'"):
        runtimes.create("lxc")


def test_container_bind_returns_the_inside_path_and_host_returns_the_host_path():
    from patchkit.runtimes.host import HostRuntime
    rt = podman.PodmanRuntime()
    assert rt.bind(Path("/k/linux"), "/src", read_only=True) == "/src"
    assert rt.mounts == [Mount(Path("/k/linux"), "/src", True)]
    assert rt.path_env() == image.IMAGE_PATH
    assert HostRuntime().bind(Path("/k/linux"), "/src") == "/k/linux"
