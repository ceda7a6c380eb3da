import json
from pathlib import Path

import pytest

from patchkit import build, kconfig, paths, runtimes
from patchkit.errors import UserError


def test_flavours_stack_on_minimal():
    assert build.flavour_fragments("minimal") == [paths.CONFIGS / "minimal.config"]
    assert build.flavour_fragments("debug") == [paths.CONFIGS / "minimal.config",
                                                paths.CONFIGS / "debug.config"]
    with pytest.raises(UserError, match="unknown config flavour 'fast'") as exc:
        build.flavour_fragments("fast")
    assert "debug, minimal" in exc.value.hint


def test_build_key_separates_tree_commit_dirt_and_config():
    key = build.build_key("linux.abc123", "73736ae50087" + "0" * 28, None, "minimal", "b9be4f9049ff")
    assert key == "linux.abc123-73736ae50087-minimal-b9be4f9049"
    dirty = build.build_key("linux.abc123", "73736ae50087" + "0" * 28, "d1d2d3d4d5", "minimal", "b9be4f9049ff")
    assert dirty == "linux.abc123-73736ae50087-dirtyd1d2d3d4-minimal-b9be4f9049"
    assert build.build_key("my tree/x", "a" * 40, None, "debug", "c" * 64) == \
        "my_tree_x-aaaaaaaaaaaa-debug-cccccccccc"


def test_tree_name_differs_for_two_checkouts_with_the_same_basename(tmp_path):
    (tmp_path / "a" / "linux").mkdir(parents=True)
    (tmp_path / "b" / "linux").mkdir(parents=True)
    a, b = build.tree_name(tmp_path / "a" / "linux"), build.tree_name(tmp_path / "b" / "linux")
    assert a.startswith("linux.") and b.startswith("linux.") and a != b


def test_make_and_merge_argv():
    assert build.make_argv("/src", "/build", ["bzImage", "modules"], jobs=2) == [
        "nice", "-n", "10", "make", "-C", "/src", "O=/build", "-j2", "bzImage", "modules"]
    assert build.make_argv("/src", "/build", ["modules_install"], jobs=4,
                           extra=["INSTALL_MOD_PATH=/build/m"]) == [
        "nice", "-n", "10", "make", "-C", "/src", "O=/build", "-j4", "INSTALL_MOD_PATH=/build/m",
        "modules_install"]
    assert build.merge_argv("/src", "/build", ["/build/fragments/00-minimal.config"]) == [
        "/src/scripts/kconfig/merge_config.sh", "-m", "-O", "/build", "/build/.config",
        "/build/fragments/00-minimal.config"]


def test_build_env_pins_identity_and_points_ccache_at_the_mount_in_depend_mode():
    env = build.build_env("/usr/lib/ccache:/usr/bin", "/ccache", "/src", "Thu Nov 26 06:00:47 UTC 2026")
    assert env == {
        "PATH": "/usr/lib/ccache:/usr/bin", "CCACHE_DIR": "/ccache", "CCACHE_BASEDIR": "/src",
        "CCACHE_DEPEND": "1",
        "KBUILD_BUILD_USER": "patchkit", "KBUILD_BUILD_HOST": "patchkit",
        "KBUILD_BUILD_TIMESTAMP": "Thu Nov 26 06:00:47 UTC 2026", "LOCALVERSION": ""}


def test_reproducer_is_one_patchkit_command_line(tmp_path):
    line = build.reproducer(Path("/k/linux"), config="debug", fragments=[tmp_path / "zram m.config"],
                            runtime="podman", modules=True, jobs=2, build_root=None)
    assert line == (f"patchkit build --config debug --fragment '{tmp_path}/zram m.config' "
                    "--runtime podman --jobs 2 --modules /k/linux")


def test_first_error_names_file_line_in_host_terms():
    log = """# reproduce: make
  CC      mm/filemap.o
/src/drivers/block/zram/zram_drv.c: In function 'zram_read_page':
/src/drivers/block/zram/zram_drv.c:1234:9: error: implicit declaration of function 'foo'
 1234 |         foo();
      |         ^~~
make[4]: *** [/src/scripts/Makefile.build:229: drivers/block/zram/zram_drv.o] Error 1
"""
    where, lines = build.first_error(log, src="/src", host_src="/home/me/linux")
    assert where == "/home/me/linux/drivers/block/zram/zram_drv.c:1234"
    assert lines[0] == ("/home/me/linux/drivers/block/zram/zram_drv.c:1234:9: error: "
                        "implicit declaration of function 'foo'")
    assert "foo();" in lines[1]


def test_first_error_falls_back_to_linker_then_make_lines():
    log = "  LD      vmlinux\nld: mm/swap.o: in function `x':\nswap.c:(.text+0x1): undefined reference to `y'\n"
    assert build.first_error(log) == (None, ["swap.c:(.text+0x1): undefined reference to `y'"])
    log = "a\nb\nmake[1]: *** [Makefile:1] Error 2\nmake: *** [Makefile:2] Error 2\n"
    where, lines = build.first_error(log)
    assert where is None and lines[0] == "a" and "make[1]: ***" in lines[2]


def test_count_warnings_counts_compiler_warnings_only():
    log = ("mm/a.c:1:2: warning: unused variable 'x' [-Wunused-variable]\n"
           "mm/b.c:3: warning: foo\n"
           "  CC      mm/warning.o\n"
           "WARNING: modpost: missing MODULE_LICENSE()\n")
    assert build.count_warnings(log) == 2


def test_reusable_needs_pass_same_inputs_and_existing_outputs(tmp_path):
    out = tmp_path / "bzImage"
    out.write_text("k")
    inputs = {"commit": "c", "dirty": None, "config_hash": "h", "modules": False,
              "runtime": "podman", "toolchain": "sha256:1"}
    meta = {"results": {"status": "PASS"}, "patchkit": {"inputs": dict(inputs)}}
    assert build.reusable(meta, inputs, [out])
    assert not build.reusable(None, inputs, [out])
    assert not build.reusable(dict(meta, results={"status": "FAIL"}), inputs, [out])
    assert not build.reusable({"status": "pass", "inputs": dict(inputs)}, inputs, [out])   # old shape
    assert not build.reusable(meta, dict(inputs, toolchain="sha256:2"), [out])
    assert not build.reusable(meta, dict(inputs, dirty="abc"), [out])
    assert not build.reusable(meta, inputs, [out, tmp_path / "modules-install"])


def test_check_clean_for_o_refuses_an_in_tree_build(tmp_path):
    (tmp_path / ".config").write_text("")
    with pytest.raises(UserError, match=r"in-tree build \(.config\)") as exc:
        build.check_clean_for_o(tmp_path)
    assert exc.value.hint == f"make -C {tmp_path} mrproper"


# -- build() orchestration against a fake runtime that plays kconfig and make ------

class FakeRuntime(runtimes.Runtime):
    """Simulates the tree: allnoconfig writes a base .config, merge appends the
    fragments, olddefconfig drops the symbols in `drops`, make writes bzImage."""

    name = "fake"

    def __init__(self, drops=(), fail_make=None):
        super().__init__()
        self.drops = set(drops)
        self.fail_make = fail_make
        self.calls = []
        self.image, self.image_id = "img", "sha256:feed"
        self.closed = False

    def bind(self, host, container, *, read_only=False):
        self.mounts.append(runtimes.Mount(Path(host), container, read_only))
        return str(host)

    def path_env(self):
        return "/usr/bin"

    def run(self, argv, *, cwd, env, log):
        self.calls.append(argv)
        out = Path(cwd)
        with open(log, "a") as f:
            f.write(f"# reproduce: {' '.join(argv)}\n")
            if "allnoconfig" in argv:
                (out / ".config").write_text('CONFIG_CC_VERSION_TEXT="gcc (Fake) 12"\nCONFIG_64BIT=y\n')
            elif argv[0].endswith("merge_config.sh"):
                text = (out / ".config").read_text()
                for frag in argv[5:]:
                    text += Path(frag).read_text()
                (out / ".config").write_text(text)
            elif "olddefconfig" in argv:
                values = kconfig.values((out / ".config").read_text())
                lines = [f"{s}={v}" if v != "n" else f"# {s} is not set"
                         for s, v in values.items() if s not in self.drops]
                (out / ".config").write_text("\n".join(lines) + "\n")
            elif self.fail_make:
                f.write(self.fail_make)
                return 2
            elif "bzImage" in argv:
                f.write("mm/a.c:1:2: warning: unused variable 'x'\n")
                (out / "arch/x86/boot").mkdir(parents=True, exist_ok=True)
                (out / "arch/x86/boot/bzImage").write_text("kernel")
                (out / "include/config").mkdir(parents=True, exist_ok=True)
                (out / "include/config/kernel.release").write_text("6.12.0\n")
            elif "modules_install" in argv:
                (out / "modules-install/lib/modules/6.12.0").mkdir(parents=True, exist_ok=True)
        return 0

    def close(self):
        self.closed = True


@pytest.fixture
def fake(monkeypatch, tmp_path):
    source = tmp_path / "linux"
    source.mkdir()
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(build, "source_identity", lambda s: ("c0ffee" * 6 + "abcd", None, "today"))
    state = {"rt": FakeRuntime()}
    monkeypatch.setattr(runtimes, "select", lambda name: state["rt"])
    return source, state


def test_build_writes_metadata_and_a_log_starting_with_the_reproducer(fake):
    source, state = fake
    res = build.build(source, jobs=2)
    assert res.kernel.read_text() == "kernel"
    assert res.build_dir.parent == paths.builds_dir()
    assert res.build_dir.name.startswith(f"{build.tree_name(source)}-c0ffeec0ffee-minimal-")
    meta = json.loads((res.build_dir / "metadata.json").read_text())
    assert meta == res.metadata
    # tuxmake's groups and keys
    assert meta["results"]["status"] == "PASS"
    assert set(meta["results"]["targets"]) == {"config", "kernel"}
    assert all(t["status"] == "PASS" and isinstance(t["duration"], float)
               for t in meta["results"]["targets"].values())
    assert meta["results"]["warnings"] == 1 and meta["results"]["errors"] == 0
    assert meta["results"]["warning_lines"] == ["mm/a.c:1:2: warning: unused variable 'x'"]
    assert meta["results"]["artifacts"] == {"config": ["config"], "kernel": ["bzImage"]}
    assert meta["build"]["reproducer_cmdline"] == ["patchkit", "build", "--config", "minimal", "--runtime",
                                                   "fake", "--jobs", "2", str(source)]
    assert (meta["build"]["kconfig"], meta["build"]["jobs"], meta["build"]["runtime"]) == ("minimal", 2, "fake")
    assert meta["build"]["environment"]["KBUILD_BUILD_USER"] == "patchkit"
    assert meta["compiler"] == {"name": "gcc", "version": "12", "version_full": "gcc (Fake) 12"}
    assert meta["git"]["git_commit"] == "c0ffee" * 6 + "abcd"
    assert (meta["runtime"]["name"], meta["runtime"]["image_id"]) == ("fake", "sha256:feed")
    pk = meta["patchkit"]
    assert pk["dirty"] is None and pk["kernelrelease"] == "6.12.0"
    assert pk["config"]["name"] == "minimal" and len(pk["config"]["hash"]) == 64
    assert pk["reproducer"] == f"patchkit build --config minimal --runtime fake --jobs 2 {source}"
    assert res.log.read_text().splitlines()[0] == f"# reproduce: {pk['reproducer']}"
    assert res.warnings == 1 and res.compiler == "gcc (Fake) 12"
    assert res.modules_dir is None and state["rt"].closed
    assert [m.container for m in state["rt"].mounts] == ["/src", "/build", "/ccache"]
    assert state["rt"].mounts[0].read_only and not state["rt"].mounts[1].read_only


def test_unchanged_rebuild_runs_nothing(fake):
    source, state = fake
    first = build.build(source, jobs=2)
    state["rt"] = FakeRuntime()
    again = build.build(source, jobs=2)
    assert state["rt"].calls == []
    assert again.kernel == first.kernel and again.reused is True
    assert again.log == first.log


def test_changed_toolchain_rebuilds_without_reconfiguring(fake):
    source, state = fake
    build.build(source, jobs=2)
    state["rt"] = FakeRuntime()
    state["rt"].image_id = "sha256:other"
    build.build(source, jobs=2)
    assert [c[-1] for c in state["rt"].calls] == ["bzImage"]


def test_value_that_did_not_land_fails_before_make(fake, tmp_path):
    source, state = fake
    state["rt"] = FakeRuntime(drops={"CONFIG_ZRAM"})
    frag = tmp_path / "zram-m.config"
    frag.write_text("CONFIG_ZRAM=m\n")
    with pytest.raises(build.BuildFailed) as exc:
        build.build(source, fragments=[frag], jobs=2)
    assert f"CONFIG_ZRAM: wanted m, got not set ({frag}:1)" in str(exc.value)
    assert not any("bzImage" in c for c in state["rt"].calls)
    build_dir = exc.value.log.parent.parent
    assert not (build_dir / ".patchkit-configured").exists()
    meta = json.loads((build_dir / "metadata.json").read_text())    # a failed build tells why, too
    assert meta["results"]["status"] == "FAIL"
    assert meta["results"]["targets"]["config"]["status"] == "FAIL"
    assert meta["results"]["targets"]["kernel"] == {"status": "SKIP", "duration": 0.0}
    assert exc.value.metadata == meta and exc.value.build_dir == build_dir


def test_module_fragment_builds_and_installs_modules(fake, tmp_path):
    source, state = fake
    frag = tmp_path / "zram-m.config"
    frag.write_text("CONFIG_ZRAM=m\n")
    res = build.build(source, fragments=[frag], jobs=2)
    assert state["rt"].calls[-2][-2:] == ["bzImage", "modules"]
    assert state["rt"].calls[-1][-1] == "modules_install"
    assert res.modules_dir == res.build_dir / "modules-install" and res.modules_dir.is_dir()
    assert res.metadata["patchkit"]["config"]["fragments"][-1] == str(frag)
    assert res.metadata["build"]["kconfig_add"] == [str(frag)]
    assert res.metadata["results"]["targets"]["modules"]["status"] == "PASS"


def _extmod(tmp_path, body="obj-m := probe.o\n"):
    mod = tmp_path / "probe"
    mod.mkdir(exist_ok=True)
    (mod / "Kbuild").write_text(body)
    (mod / "probe.c").write_text("/* probe */\n")
    return mod


def test_external_module_is_built_from_a_copy_in_the_build_dir_and_installed(fake, tmp_path):
    source, state = fake
    mod = _extmod(tmp_path)
    res = build.build(source, modules=True, extmods=[mod], jobs=2)
    m_arg = f"M={res.build_dir}/extmod/probe"
    ext_calls = [c for c in state["rt"].calls if m_arg in c]
    assert [c[-1] for c in ext_calls] == ["modules", "modules_install"]
    assert all(f"INSTALL_MOD_PATH={res.build_dir}/modules-install" in c for c in ext_calls)
    assert (res.build_dir / "extmod/probe/Kbuild").read_text() == "obj-m := probe.o\n"
    assert res.metadata["patchkit"]["extmods"] == ["probe"]
    assert f"--extmod {mod}" in res.metadata["patchkit"]["reproducer"]


def test_changed_external_module_source_rebuilds(fake, tmp_path):
    source, state = fake
    mod = _extmod(tmp_path)
    build.build(source, modules=True, extmods=[mod], jobs=2)
    state["rt"] = FakeRuntime()
    build.build(source, modules=True, extmods=[mod], jobs=2)
    assert state["rt"].calls == []
    (mod / "probe.c").write_text("/* probe, changed */\n")
    build.build(source, modules=True, extmods=[mod], jobs=2)
    assert any(c[-1] == "modules" and any(a.startswith("M=") for a in c) for c in state["rt"].calls)


def test_external_module_without_modules_is_refused_by_name(fake, tmp_path):
    source, state = fake
    with pytest.raises(build.UserError, match="external modules need a build with modules.*probe"):
        build.build(source, extmods=[_extmod(tmp_path)], jobs=2)
    assert state["rt"].calls == []


def test_compile_error_reports_location_and_log_and_leaves_failed_metadata(fake, tmp_path):
    source, state = fake
    state["rt"] = FakeRuntime(fail_make=f"{source}/mm/swap.c:7:1: error: expected ';'\nmake: *** Error 1\n")
    with pytest.raises(build.BuildFailed) as exc:
        build.build(source, jobs=2)
    assert exc.value.location == f"{source}/mm/swap.c:7"
    assert f"log: {exc.value.log}" in str(exc.value)
    build_dir = exc.value.log.parent.parent
    meta = json.loads((build_dir / "metadata.json").read_text())
    # what a tuxmake user reads: the run failed at the kernel target, and why
    assert meta["results"]["status"] == "FAIL"
    assert meta["results"]["targets"]["config"]["status"] == "PASS"
    assert meta["results"]["targets"]["kernel"]["status"] == "FAIL"
    assert meta["results"]["errors"] == 2
    assert meta["results"]["error_lines"] == [f"{source}/mm/swap.c:7:1: error: expected ';'", "make: *** Error 1"]
    assert meta["results"]["artifacts"] == {}
    assert meta["build"]["reproducer_cmdline"][:2] == ["patchkit", "build"]
    # the run's output folder gets the log and the metadata
    copied = build.copy_artifacts(build_dir, tmp_path / "out")
    assert sorted(p.name for p in copied) == ["build.log", "config", "metadata.json"]
    assert "error: expected ';'" in (tmp_path / "out" / "build.log").read_text()
    # the next build continues: configuration is kept, only make runs again
    state["rt"] = FakeRuntime()
    res = build.build(source, jobs=2)
    assert [c[-1] for c in state["rt"].calls] == ["bzImage"]
    assert res.metadata["results"]["status"] == "PASS"


def test_copy_artifacts_gives_tuxmake_names_and_a_modules_tarball(fake, tmp_path):
    import tarfile

    source, state = fake
    frag = tmp_path / "zram-m.config"
    frag.write_text("CONFIG_ZRAM=m\n")
    res = build.build(source, fragments=[frag], jobs=2)
    (res.build_dir / "System.map").write_text("ffffffff81000000 T _text\n")
    (res.modules_dir / "lib/modules/6.12.0/zram.ko").write_text("ko")
    out = tmp_path / "run"
    build.copy_artifacts(res.build_dir, out)
    assert sorted(p.name for p in out.iterdir()) == ["System.map", "build.log", "bzImage", "config",
                                                     "metadata.json", "modules.tar.xz"]
    with tarfile.open(out / "modules.tar.xz") as tar:
        assert "lib/modules/6.12.0/zram.ko" in tar.getnames()
    assert (out / "config").read_text() == (res.build_dir / ".config").read_text()


def test_kbuild_progress_counts_objects_and_names_the_last_target():
    live = type("L", (), {"update": lambda self, t=None: None})()
    p = build.KbuildProgress(live)
    for line in ["  CC      mm/swap.o", "mm/a.c:1:2: warning: x", "  CC [M]  drivers/block/zram/zram_drv.o",
                 "  AR      mm/built-in.a", "  GEN     Makefile", "make[1]: Entering directory"]:
        p.line(line)
    assert p.objects == 3 and p.status() == "3 objects, GEN Makefile"


def test_compiler_info_and_kernelversion():
    assert build.compiler_info('"gcc (Debian 12.2.0-14) 12.2.0"') == {
        "name": "gcc", "version": "12.2.0", "version_full": "gcc (Debian 12.2.0-14) 12.2.0"}
    assert build.compiler_info("Debian clang version 14.0.6")["name"] == "clang"
    mk = "# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\nEXTRAVERSION =\nNAME = Baby Opossum\n"
    assert build.kernelversion(mk) == "6.12.0"
    assert build.kernelversion(mk.replace("EXTRAVERSION =", "EXTRAVERSION = -rc3")) == "6.12.0-rc3"
    assert build.kernelversion("all:\n") is None


def test_configure_only_checks_and_stops_before_make(fake, tmp_path):
    source, state = fake
    frag = tmp_path / "noswap.config"
    frag.write_text("# CONFIG_SWAP is not set\n")
    dot_config = build.configure(source, fragments=[frag], jobs=2)
    assert kconfig.values(dot_config.read_text())["CONFIG_SWAP"] == "n"
    assert [c[-1] for c in state["rt"].calls][0] == "allnoconfig"
    assert not any("bzImage" in c for c in state["rt"].calls)
    assert not (dot_config.parent / "metadata.json").exists()


def test_full_disk_is_an_infra_error_and_the_next_build_continues(fake):
    from patchkit.errors import InfraError
    source, state = fake
    state["rt"] = FakeRuntime(fail_make="cc1: fatal error: mm/swap.o: No space left on device\n")
    with pytest.raises(InfraError, match="the disk is full") as exc:
        build.build(source, jobs=2)
    assert "continues where this one stopped" in exc.value.hint
    state["rt"] = FakeRuntime()
    assert build.build(source, jobs=2).kernel.is_file()
    assert [c[-1] for c in state["rt"].calls] == ["bzImage"]


def test_cli_build_refuses_dry_run_with_a_clear_error(capsys):
    from patchkit import cli
    assert cli.main(["--dry-run", "build", "/nonexistent"]) == 2
    assert "patchkit build has no --dry-run" in capsys.readouterr().err


def test_cli_build_names_a_tree_that_is_not_a_kernel(tmp_path, capsys):
    from patchkit import cli
    assert cli.main(["build", str(tmp_path), "--runtime", "host"]) == 2
    assert f"{tmp_path} is not a kernel source tree" in capsys.readouterr().err


def test_sigterm_unwinds_like_ctrl_c_so_the_runtime_is_closed(fake):
    import os
    import signal
    source, state = fake

    class Killed(FakeRuntime):
        def run(self, argv, *, cwd, env, log):
            if "bzImage" in argv:
                os.kill(os.getpid(), signal.SIGTERM)
            return super().run(argv, cwd=cwd, env=env, log=log)

    state["rt"] = Killed()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        build.build(source, jobs=2)
    assert state["rt"].closed
    assert signal.getsignal(signal.SIGTERM) is before
    # the interrupted build leaves a record saying where it stopped
    meta = json.loads((next(paths.builds_dir().iterdir()) / "metadata.json").read_text())
    assert meta["results"]["status"] == "FAIL" and meta["results"]["targets"]["kernel"]["status"] == "FAIL"
