"""The fault matrix: rows from a parsed guest console, regressions against the
baseline, the results.json section, and the hooks that ship the fault tests."""

import pytest

from patchkit import boot, console, faults, initramfs, paths, validate, worktrees

HEAD = "[    0.0] Linux version 6.12.57\n@@patchkit suite-start 0.61\n"


def boot_of(text, tests):
    con = console.parse((HEAD + text).splitlines())
    res, status, detail = boot.results_from_console(con, tests, guest_status=0, timed_out=False, timeout=900)
    return boot.BootResult("tcg", "7.2", "bzImage", status, res, con.events, "console.log", 1.0)


def guest_test(name, status="PASS", *, injected=5, pages=100, verified=100, sigbus=0, corrupted=0, lost=0,
               oom=0, kernel_lines=""):
    figs = dict(injected=injected, pages=pages, verified=verified, sigbus=sigbus, corrupted=corrupted,
                lost=lost, oom_killed=oom)
    lines = [f"@@patchkit test-start {name}"]
    lines += [line for line in kernel_lines.splitlines() if line]
    lines += [f"@@patchkit figure {name} fault.{k} {v}" for k, v in figs.items()]
    lines.append(f"@@patchkit test-end {name} {status} 3.5")
    return "\n".join(lines) + "\n"


def rows(kernel, text, tests, config="minimal"):
    return faults.rows_from_boot(boot_of(text + "@@patchkit suite-end PASS\n", tests), kernel=kernel,
                                 config=config, tests=tests)


def test_row_carries_the_fault_figures_and_status():
    (r,) = rows("series", guest_test("fault-wb-read", injected=32, pages=500, verified=470, sigbus=30),
                ["fault-wb-read"])
    assert (r.fault, r.kernel, r.config, r.status) == ("fault-wb-read", "series", "minimal", "PASS")
    assert (r.injected, r.pages, r.verified, r.sigbus, r.corrupted, r.lost) == (32, 500, 470, 30, 0, 0)
    assert r.seconds == 3.5 and not r.unsafe


def test_kernel_splat_during_a_fault_test_fails_the_row_and_is_listed():
    (r,) = rows("series", guest_test("fault-zram-full", kernel_lines=(
        "[    9.1] WARNING: CPU: 1 PID: 77 at mm/page_io.c:400 swap_write_end+0x1/0x2")), ["fault-zram-full"])
    assert r.status == "FAIL"
    assert r.events == ["warning: WARNING: CPU: 1 PID: 77 at mm/page_io.c:400 swap_write_end+0x1/0x2"]


def test_allowed_oom_kill_is_counted_not_failed():
    text = ("@@patchkit test-start fault-zram-full\n@@patchkit allow-oom pk-faulthog\n"
            "[   12.0] Out of memory: Killed process 90 (pk-faulthog) total-vm:1kB\n"
            "@@patchkit test-end fault-zram-full PASS 9.0\n")
    (r,) = rows("baseline", text, ["fault-zram-full"])
    assert r.status == "PASS" and r.oom_killed == 1
    assert r.events[0].endswith("(allowed)")
    assert faults.regressions([r]) == []


def test_a_test_the_boot_never_reached_is_a_skip_row():
    got = rows("series", guest_test("fault-alloc"), ["fault-alloc", "fault-race"])
    assert [(r.fault, r.status) for r in got] == [("fault-alloc", "PASS"), ("fault-race", "SKIP")]


def test_series_failing_where_baseline_passes_is_a_regression():
    base = rows("baseline", guest_test("fault-alloc"), ["fault-alloc"])
    series = rows("series", guest_test("fault-alloc", "FAIL", corrupted=3), ["fault-alloc"])
    found = faults.regressions(base + series)
    assert len(found) == 2
    assert found[0].startswith("fault-alloc (minimal) on series: FAIL where the baseline passes")
    assert "3 corrupted and 0 lost pages, baseline 0 and 0" in found[1]
    assert faults.status(base + series) == "FAIL"


def test_new_kernel_event_on_the_series_is_a_regression_even_if_baseline_also_fails():
    splat = "[    5.0] BUG: sleeping function called from invalid context at mm/x.c:1\n"
    base = rows("baseline", guest_test("fault-race", "FAIL"), ["fault-race"])
    series = rows("series", guest_test("fault-race", "FAIL", kernel_lines=splat), ["fault-race"])
    assert faults.regressions(base + series) == [
        "fault-race (minimal) on series: kernel events the baseline did not print: sleep-in-atomic"]


def test_same_behaviour_on_both_kernels_is_no_regression():
    base = rows("baseline", guest_test("fault-wb-read", sigbus=4), ["fault-wb-read"])
    series = rows("series", guest_test("fault-wb-read", sigbus=4), ["fault-wb-read"])
    assert faults.regressions(base + series) == []
    assert faults.status(base + series) == "PASS"


def test_rows_compare_only_within_the_same_config():
    base = rows("baseline", guest_test("fault-alloc"), ["fault-alloc"], config="minimal")
    series = rows("series", guest_test("fault-alloc", "FAIL"), ["fault-alloc"], config="debug")
    assert faults.regressions(base + series) == []


def test_json_section_has_the_table_and_regressions():
    base = rows("baseline", guest_test("fault-module"), ["fault-module"])
    data = faults.to_json(base)
    assert data["status"] == "PASS" and data["regressions"] == []
    (row,) = data["table"]
    assert {k: row[k] for k in ("fault", "kernel", "injected", "corrupted", "lost")} == \
        {"fault": "fault-module", "kernel": "baseline", "injected": 5, "corrupted": 0, "lost": 0}


def test_table_lines_show_missing_figures_as_dash():
    r = faults.failed_row("fault-race", "series", "minimal", "build failed")
    head, line = faults.table_lines([r])
    assert head.split()[:5] == ["fault", "kernel", "config", "status", "injected"]
    assert line.split()[:5] == ["fault-race", "series", "minimal", "ERROR", "-"]


def test_every_fault_test_has_a_guest_script_and_boot_knows_it():
    assert set(faults.FAULT_TESTS) == {p.stem for p in (paths.GUEST / "faults").glob("fault-*.sh")}
    assert set(faults.FAULT_TESTS) <= set(boot.available_tests())
    assert boot.select_tests(faults.FAULT_TESTS) == faults.FAULT_TESTS
    # not in the ordinary suite: they need faults.config
    assert not set(faults.FAULT_TESTS) & set(boot.DEFAULT_TESTS)


def test_fault_tests_with_a_disk_get_one(tmp_path):
    disks = boot.make_disks(["fault-wb-write", "fault-alloc", "fault-module"], tmp_path)
    assert [d.serial for d in disks] == ["pk-fwbw", "pk-fmod"]


def test_guest_image_ships_fault_scripts_and_their_library():
    by_path = {e.path: e for e in initramfs.guest_script_entries()}
    assert "/patchkit/faults-lib.sh" in by_path
    for t in faults.FAULT_TESTS:
        assert by_path[f"/patchkit/tests/{t}.sh"].mode == 0o755
    assert initramfs.GUEST_PROGRAMS["faults/pk-faulthog.c"] == "/patchkit/bin/pk-faulthog"


def test_fragment_asks_for_zram_module_and_fault_injection():
    text = faults.FRAGMENT.read_text()
    for line in ("CONFIG_ZRAM=m", "CONFIG_FAULT_INJECTION=y", "CONFIG_FAILSLAB=y", "CONFIG_FAIL_PAGE_ALLOC=y",
                 "CONFIG_FAIL_MAKE_REQUEST=y", "CONFIG_FAULT_INJECTION_DEBUG_FS=y", "CONFIG_DEBUG_KERNEL=y"):
        assert line in text.splitlines()


def test_unknown_kernel_label_is_a_user_error(tmp_path):
    from patchkit.errors import UserError
    with pytest.raises(UserError, match="unknown kernel"):
        validate.validate_faults(series="zram-swap-ops", tree_spec=None, config="minimal", runtime="host",
                                 timeout=10, output=tmp_path, kernels=["mainline"])


def test_rows_survive_a_json_round_trip_so_separate_runs_can_be_joined():
    base = rows("baseline", guest_test("fault-alloc"), ["fault-alloc"])
    series = rows("series", guest_test("fault-alloc", "FAIL", lost=2), ["fault-alloc"])
    joined = faults.rows_from_json(faults.to_json(base)) + faults.rows_from_json(faults.to_json(series))
    assert joined == base + series
    assert len(faults.regressions(joined)) == 2


def test_registration_probe_module_is_built_only_on_trees_with_the_registry(tmp_path):
    header = tmp_path / "include/linux/blkdev.h"
    header.parent.mkdir(parents=True)
    header.write_text("struct block_device_operations {\n};\n")
    assert not faults.has_block_ops_registry(tmp_path)
    header.write_text(header.read_text() + "int swap_register_block_ops(const struct block_device_operations *fops,\n"
                      "\t\t\t    const struct swap_ops *ops);\n")
    assert faults.has_block_ops_registry(tmp_path)
    assert not faults.has_block_ops_registry(tmp_path / "missing")


def test_registration_probe_module_source_is_a_kbuild_module():
    mod = faults.SWAPREG_MODULE
    assert "obj-m := pk_swapreg.o" in (mod / "Kbuild").read_text().splitlines()
    src = (mod / "pk_swapreg.c").read_text()
    assert "swap_register_block_ops(&pk_swapreg_fops, &pk_swapreg_ops)" in src
    assert "swap_unregister_block_ops(&pk_swapreg_fops)" in src
    script = (paths.GUEST / "faults" / "fault-module.sh").read_text()
    assert "pk_swapreg.ko" in script and "module.second_register_ebusy" in script


def test_a_fault_test_that_stalls_on_the_series_is_a_regression():
    base = rows("baseline", guest_test("fault-zram-full"), ["fault-zram-full"])
    series = rows("series", guest_test("fault-zram-full"), ["fault-zram-full"])
    base[0].seconds, series[0].seconds = 82.0, 313.0
    found = faults.regressions(base + series)
    assert found == ["fault-zram-full (minimal) on series: took 313 s where the baseline took 82 s "
                     "under the same fault (a stall)"]


def test_ordinary_timing_noise_is_not_a_stall():
    base = rows("baseline", guest_test("fault-race"), ["fault-race"])
    series = rows("series", guest_test("fault-race"), ["fault-race"])
    base[0].seconds, series[0].seconds = 36.0, 95.0  # 2.6x but under a minute more
    assert faults.regressions(base + series) == []
    base[0].seconds, series[0].seconds = 200.0, 330.0  # over a minute more but not 2x
    assert faults.regressions(base + series) == []


def test_the_fault_matrix_fails_when_a_kernel_is_worse_than_the_baseline(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from patchkit import render as render_mod
    from patchkit import tree as tree_mod

    repo = tmp_path / "repo"
    monkeypatch.setattr(tree_mod, "open_tree", lambda spec: SimpleNamespace(name="t", base_commit="b0",
                                                                            path=repo))
    monkeypatch.setattr(render_mod, "render", lambda series, tree, **kw: SimpleNamespace(
        repo=repo, tip="s1", dependencies=[]))
    monkeypatch.setattr(worktrees, "worktree", lambda r, commit, name: tmp_path / name)

    def run_kernel(source, *, kernel, **kw):
        got = rows(kernel, guest_test("fault-alloc"), ["fault-alloc"])
        got[0].seconds = 30.0 if kernel == "baseline" else 400.0
        return got

    monkeypatch.setattr(validate, "run_fault_kernel", run_kernel)
    result = validate.validate_faults(series="zram-swap-ops", tree_spec=None, config="minimal", runtime="host",
                                      timeout=10, output=tmp_path / "out", kernels=["baseline", "series"])
    compare = [s for s in result.stages if s.name == "faults:compare"]
    assert compare and compare[0].status == "FAIL" and "a stall" in compare[0].detail
    assert not result.ok()


def test_compare_is_skipped_not_passed_when_the_run_has_no_baseline():
    rows = [faults.FaultRow("fault-alloc", "base-layer", "debug", "PASS")]
    stage = faults.compare_stage(rows)
    assert stage.status == "SKIP" and "nothing to compare" in stage.detail and "base-layer" in stage.detail
    only_base = [faults.FaultRow("fault-alloc", "baseline", "debug", "PASS")]
    assert faults.compare_stage(only_base).status == "SKIP"
    both = rows + only_base
    assert faults.compare_stage(both).status == "PASS"


def test_second_driver_module_is_built_only_on_trees_whose_block_drivers_choose_swap_ops(tmp_path):
    header = tmp_path / "include/linux/blkdev.h"
    header.parent.mkdir(parents=True)
    header.write_text("struct block_device_operations {\n};\n")
    assert not faults.has_block_swap_activate(tmp_path)
    assert faults.probe_modules(tmp_path) == []
    header.write_text("struct block_device_operations {\n"
                      "\tint (*swap_activate)(struct swap_info_struct *sis);\n};\n")
    assert faults.has_block_swap_activate(tmp_path)
    assert faults.probe_modules(tmp_path) == [faults.SWAPDEV_MODULE]
    assert not faults.has_block_swap_activate(tmp_path / "missing")


def test_second_driver_module_installs_its_ops_at_swapon_and_the_tests_use_it():
    mod = faults.SWAPDEV_MODULE
    assert "obj-m := pk_swapdev.o" in (mod / "Kbuild").read_text().splitlines()
    src = (mod / "pk_swapdev.c").read_text()
    assert ".swap_activate = pk_swap_activate" in src
    assert "sis->ops = &pk_swap_ops" in src and ".slot_free_notify = pk_swap_slot_free_notify" in src
    for script in (paths.GUEST / "faults" / "fault-module.sh", paths.GUEST / "tests" / "swap-ops-driver.sh"):
        assert "pk_swapdev.ko" in script.read_text()


def test_a_kernel_that_fails_to_build_gets_error_rows_and_the_others_still_run(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from patchkit import render as render_mod
    from patchkit import tree as tree_mod
    from patchkit.errors import CommandFailed

    monkeypatch.setattr(tree_mod, "open_tree", lambda spec: SimpleNamespace(name="t", base_commit="b0",
                                                                            path=tmp_path))
    dep = SimpleNamespace(repo=tmp_path, tip="l1", series=SimpleNamespace(name="swap-batching"))
    monkeypatch.setattr(render_mod, "render", lambda series, tree, **kw: SimpleNamespace(
        repo=tmp_path, tip="s1", dependencies=[dep], series=SimpleNamespace(name=series)))
    monkeypatch.setattr(worktrees, "worktree", lambda r, commit, name: tmp_path / name)

    def run_kernel(source, *, kernel, **kw):
        if kernel == "base-layer":
            raise CommandFailed(["make"], 2, stderr="error")
        return rows(kernel, guest_test("fault-alloc"), ["fault-alloc"])

    monkeypatch.setattr(validate, "run_fault_kernel", run_kernel)
    result = validate.validate_faults(series="zram-swap-ops", tree_spec=None, config="minimal", runtime="host",
                                      timeout=10, output=tmp_path / "out", tests=["fault-alloc"])
    assert result.info["commits"] == {"baseline": "b0", "base-layer": "l1", "series": "s1"}
    table = {(r["kernel"], r["status"], r["detail"]) for r in result.info["faults"]["table"]}
    assert ("base-layer", "ERROR", "faults:base-layer failed") in table
    assert {k for k, s, _ in table if s == "PASS"} == {"baseline", "series"}
    assert [s.name for s in result.stages if s.status == "FAIL"] == ["faults:base-layer", "faults:compare"]
