"""patchkit boot on the command line: bad input gets one clear error and exit 2."""

from patchkit import boot, cli


def test_missing_kernel_is_a_user_error(tmp_path, capsys):
    assert cli.main(["boot", "--kernel", str(tmp_path / "bzImage"), "--source", str(tmp_path)]) == 2
    assert f"kernel image {tmp_path / 'bzImage'} does not exist" in capsys.readouterr().err


def test_unknown_test_name_lists_the_known_ones(tmp_path, capsys):
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(b"x")
    assert cli.main(["boot", "--kernel", str(kernel), "--source", str(tmp_path), "--tests", "hog,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown guest test(s): nope" in err and "zram-setup" in err


def test_kernel_and_source_are_required(capsys):
    assert cli.main(["boot"]) == 2
    assert "--kernel BZIMAGE and --source TREE" in capsys.readouterr().err


def test_list_tests(capsys):
    assert cli.main(["boot", "--list-tests"]) == 0
    assert capsys.readouterr().out.split() == boot.DEFAULT_TESTS


def test_append_passes_extra_kernel_parameters_through(tmp_path, monkeypatch):
    seen = {}

    def fake_boot(kernel, **kw):
        seen.update(kw)
        return boot.BootResult("tcg", "QEMU 7.2", kernel, boot.PASS, [], [], tmp_path / "console.log", 1.0)

    monkeypatch.setattr(boot, "boot", fake_boot)
    monkeypatch.setattr(boot, "print_table", lambda result: None)
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(b"x")
    argv = ["boot", "--kernel", str(kernel), "--source", str(tmp_path), "--tests", "hog",
            "--append", "slab_debug=U,kmalloc-1k", "--append", "quiet"]
    assert cli.main(argv) == 0
    assert seen["cmdline"] == ["slab_debug=U,kmalloc-1k", "quiet"]


def test_extra_parameters_come_after_the_harness_parameters():
    from patchkit import qemu
    line = qemu.kernel_cmdline(["hog"], test_timeout=60, extra=["slab_debug=U"])
    assert line.split()[-1] == "slab_debug=U" and "patchkit.tests=hog" in line.split()


def test_icount_clock_boots_one_vcpu_and_refuses_two(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_boot(kernel, **kw):
        seen.update(kw)
        return boot.BootResult("tcg", "QEMU 7.2", kernel, boot.PASS, [], [], tmp_path / "console.log", 1.0)

    monkeypatch.setattr(boot, "print_table", lambda result: None)
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(b"x")
    argv = ["boot", "--kernel", str(kernel), "--source", str(tmp_path), "--tests", "hog", "--clock", "icount"]
    with monkeypatch.context() as m:
        m.setattr(boot, "boot", fake_boot)
        assert cli.main(argv) == 0
    assert seen["clock"] == "icount" and seen["smp"] == 1
    # the real boot() refuses what icount cannot do, before QEMU starts
    assert cli.main(argv + ["--smp", "2"]) == 2
    assert "the icount clock runs one vCPU, not --smp 2" in capsys.readouterr().err
    assert cli.main(argv + ["--accel", "kvm"]) == 2
    assert "the icount clock needs TCG" in capsys.readouterr().err
