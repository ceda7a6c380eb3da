from pathlib import Path

from patchkit import image

PODMAN = ["podman", "--runtime", "runc"]


def test_build_deps_come_from_the_containerfile_arg_line():
    deps = image.build_deps(image.CONTAINERFILE.read_text())
    for pkg in ("gcc", "make", "flex", "bison", "bc", "libelf-dev", "libssl-dev", "cpio", "dwarves", "ccache"):
        assert pkg in deps
    assert image.build_deps('FROM x\nARG BUILD_DEPS="gcc make"\n') == ["gcc", "make"]


def test_recipe_hash_changes_with_the_recipe():
    assert image.recipe_hash("a") != image.recipe_hash("b")
    assert len(image.recipe_hash("a")) == 16


def test_debian_mirror_from_deb822_skips_security():
    sources = {
        "/etc/apt/sources.list.d/debian.sources": (
            "Types: deb\n# http://snapshot.debian.org/...\nURIs: http://deb.debian.org/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main\n\n"
            "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"),
    }
    assert image.debian_mirror(sources) == "http://deb.debian.org/debian"
    only_security = {"x.sources": "Types: deb\nURIs: http://sec\nSuites: bookworm-security\n"}
    assert image.debian_mirror(only_security) is None


def test_debian_mirror_from_one_line_style_with_options():
    sources = {
        "/etc/apt/sources.list": "# deb http://old bookworm main\n"
                                 "deb http://security.debian.org bookworm-security main\n",
        "/etc/apt/sources.list.d/m.list": "deb [arch=amd64 signed-by=/k.gpg] http://mirror/debian bookworm main\n",
    }
    assert image.debian_mirror(sources) == "http://mirror/debian"


def test_offline_build_argv():
    assert image.debootstrap_argv(Path("/t/root"), "http://m/debian", ["gcc", "make"]) == [
        "debootstrap", "--variant=minbase", "--include=gcc,make", "bookworm", "/t/root", "http://m/debian"]
    assert image.import_argv(PODMAN, Path("/t/root"), "abc") == [
        "bash", "-o", "pipefail", "-c",
        "tar -C /t/root --numeric-owner -c . | podman --runtime runc import "
        "--change 'LABEL patchkit.recipe=abc' "
        f"--change 'ENV PATH={image.IMAGE_PATH}' --change 'WORKDIR /build' - patchkit-builder:bookworm"]


def test_containerfile_build_and_inspect_argv():
    assert image.containerfile_build_argv(PODMAN, "abc", containerfile=Path("/p/runtimes/Containerfile")) == [
        "podman", "--runtime", "runc", "build", "--label", "patchkit.recipe=abc", "-t",
        "patchkit-builder:bookworm", "-f", "/p/runtimes/Containerfile", "/p/runtimes"]
    assert image.inspect_argv(PODMAN) == [
        "podman", "--runtime", "runc", "image", "inspect", "--format",
        '{{.Id}} {{index .Config.Labels "patchkit.recipe"}}', "patchkit-builder:bookworm"]


def test_current_accepts_only_the_same_recipe(monkeypatch):
    from patchkit import proc
    monkeypatch.setattr(proc, "run", lambda argv, check=True: proc.Result(argv, 0, "sha256:1 abc\n", "", 0))
    assert image.current(PODMAN, "abc") == "sha256:1"
    assert image.current(PODMAN, "other") is None
    monkeypatch.setattr(proc, "run", lambda argv, check=True: proc.Result(argv, 125, "", "no such image", 0))
    assert image.current(PODMAN, "abc") is None
