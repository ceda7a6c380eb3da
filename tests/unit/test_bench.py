"""patchkit bench: argument parsing, interleaving, comparability, summary and report."""

import json
from types import SimpleNamespace

import pytest

from patchkit import benchreport, benchrun, boot, icount, initramfs, paths, plots, stats, worktrees
from patchkit.errors import UserError


def rnd(index, label, *, accel="tcg", qemu="7.2.19", swapout=None, p50=None, status="PASS",
        test_status="PASS", extra=None):
    figs = {
        "bench-swapout": {"swapout.tsc_mb_s": swapout if swapout is not None else 100.0,
                          "swapout.io.write_folios_per_submit": "n/a" if label == "baseline" else 20.5,
                          "bench.algorithm": "lzo-rle"},
        "bench-swapin": {"lat.cold.p50_ns": p50 if p50 is not None else 5000,
                         "lat.cold_quantiles_ns": [1000.0, 2000.0, 3000.0, 9000.0]},
        "bench-writeback": {},
    }
    for test, more in (extra or {}).items():
        figs[test].update(more)
    return {"index": index, "label": label, "status": status, "accel": accel, "qemu_version": qemu,
            "seconds": 30.0, "figures": figs,
            "statuses": {"bench-swapout": test_status, "bench-swapin": "PASS", "bench-writeback": "PASS"},
            "detail": "", "console_log": f"/x/{index}-{label}/console.log"}


def row(summary, key):
    return next(r for r in summary if r["metric"] == key)


# ---------------------------------------------------------------- arguments and schedule


def test_parse_assignments_maps_labels_to_paths():
    got = benchrun.parse_assignments(["baseline=/a", "series=/c"], "--source")
    assert {k: str(v) for k, v in got.items()} == {"baseline": "/a", "series": "/c"}


@pytest.mark.parametrize("item, words", [("baseline", "LABEL=PATH"), ("foo=/x", "unknown label"),
                                         ("series=", "LABEL=PATH")])
def test_parse_assignments_rejects_bad_items_by_name(item, words):
    with pytest.raises(UserError, match=words):
        benchrun.parse_assignments([item], "--source")


def test_parse_assignments_rejects_a_label_twice():
    with pytest.raises(UserError, match="twice"):
        benchrun.parse_assignments(["series=/a", "series=/b"], "--kernel")


def test_schedule_interleaves_kernels_round_by_round():
    assert benchrun.schedule(["A", "B", "C"], 2) == [(1, "A"), (1, "B"), (1, "C"), (2, "A"), (2, "B"), (2, "C")]
    with pytest.raises(UserError, match="at least 1"):
        benchrun.schedule(["A"], 0)


def test_partial_source_list_is_refused(tmp_path):
    args = SimpleNamespace(source=[f"baseline={tmp_path}"], kernel=None, base_layer="swap-batching")
    with pytest.raises(UserError, match="not for base-layer, series"):
        benchrun.resolve_kernels(args, tmp_path)


def test_sources_without_a_base_layer_kernel_bench_two_kernels(tmp_path):
    # --base-layer auto (the default) with --source: the kernels given decide
    args = SimpleNamespace(source=[f"baseline={tmp_path}"], kernel=None)
    with pytest.raises(UserError, match="but not for series\n"):
        benchrun.resolve_kernels(args, tmp_path)
    (tmp_path / "Makefile").write_text("")
    args = SimpleNamespace(source=[f"baseline={tmp_path}", f"series={tmp_path}"], kernel=None)
    kernels, _ = benchrun.resolve_kernels(args, tmp_path)
    assert list(kernels) == ["baseline", "series"]


def test_kernel_without_its_source_is_refused(tmp_path):
    args = SimpleNamespace(source=None, kernel=[f"series={tmp_path}/bzImage"])
    with pytest.raises(UserError, match="needs --source series"):
        benchrun.resolve_kernels(args, tmp_path)


def test_different_configs_are_refused():
    ks = {lb: benchrun.Kernel(lb, "/s", "x", config_hash=h)
          for lb, h in zip(benchreport.LABELS, ["fragments:aa", "fragments:aa", "fragments:bb"])}
    with pytest.raises(UserError, match="different configs"):
        benchrun.check_same_config(ks)


def test_same_config_passes():
    ks = {lb: benchrun.Kernel(lb, "/s", "x", config_hash="fragments:aa") for lb in benchreport.LABELS}
    benchrun.check_same_config(ks)


# ---------------------------------------------------------------- comparability


def test_mixed_accelerators_are_refused_with_both_named():
    rounds = [rnd(1, "baseline", accel="kvm"), rnd(1, "series", accel="tcg")]
    with pytest.raises(UserError, match="different accelerators.*kvm.*tcg"):
        benchreport.check_comparable(rounds)


def test_mixed_qemu_versions_are_refused():
    rounds = [rnd(1, "baseline"), rnd(1, "series", qemu="8.2.0")]
    with pytest.raises(UserError, match="different QEMU versions"):
        benchreport.check_comparable(rounds)


def test_comparable_rounds_give_their_accelerator_and_qemu():
    assert benchreport.check_comparable([rnd(1, "baseline"), rnd(1, "series")]) == ("tcg", "7.2.19")


def test_merging_reports_with_different_accelerators_is_refused(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    meta = {"labels": list(benchreport.LABELS), "rounds": 1}
    a.write_text(json.dumps({"meta": meta, "rounds": [rnd(1, lb, accel="kvm") for lb in benchreport.LABELS]}))
    b.write_text(json.dumps({"meta": meta, "rounds": [rnd(1, lb, accel="tcg") for lb in benchreport.LABELS]}))
    with pytest.raises(UserError, match="different accelerators"):
        benchreport.merge_reports([a, b])


def test_merge_refuses_a_file_that_is_not_bench_json(tmp_path):
    f = tmp_path / "x.json"
    f.write_text("{}")
    with pytest.raises(UserError, match="not a patchkit bench.json"):
        benchreport.merge_reports([f])


# ---------------------------------------------------------------- summary


def synthetic(n=5):
    rounds = []
    for i in range(1, n + 1):
        jitter = (i - 3) * 0.5  # same small spread for every kernel
        rounds.append(rnd(i, "baseline", swapout=100 + jitter, p50=5000 + 10 * jitter))
        rounds.append(rnd(i, "base-layer", swapout=100.2 + jitter, p50=5000 + 10 * jitter))
        rounds.append(rnd(i, "series", swapout=150 + jitter, p50=9000 + 10 * jitter))
    return rounds


def test_summary_marks_a_clear_change_and_no_difference():
    s = benchreport.summarise(synthetic(), resamples=500)
    mb = row(s, "swapout.mb_s")["kernels"]
    assert mb["baseline"]["median"] == 100
    assert mb["series"]["ratio"] == pytest.approx(1.5)
    assert mb["series"]["verdict"] == "better" and mb["series"]["significance"] == ""
    assert mb["base-layer"]["significance"] == stats.NO_DIFFERENCE
    p50 = row(s, "zspool.p50_ns")["kernels"]
    assert p50["series"]["verdict"] == "worse"  # a latency that went up


def test_summary_uses_only_rounds_where_the_test_passed_and_counts_na():
    rounds = synthetic(3)
    rounds.append(rnd(4, "series", swapout=1.0, test_status="FAIL"))
    s = benchreport.summarise(rounds, resamples=200)
    cell = row(s, "swapout.mb_s")["kernels"]["series"]
    assert cell["n"] == 3 and 1.0 not in cell["values"]
    batching = row(s, "swapout.write_folios_per_submit")["kernels"]
    assert batching["baseline"]["n"] == 0 and batching["baseline"]["na_rounds"] == 3
    assert benchreport.cell_text(batching["baseline"]) == "n/a"
    assert batching["series"]["median"] == 20.5


def test_findings_name_the_worse_metric():
    s = benchreport.summarise(synthetic(), resamples=500)
    found = benchreport.findings(s)
    assert any("series" in f and "zspool swap-in latency p50" in f for f in found)
    assert not any("throughput" in f for f in found)


def test_a_slowdown_seen_in_two_units_of_one_metric_is_one_finding():
    row = {"title": "swap-out throughput", "kernels": {
        "baseline": {}, "base-layer": {"verdict": "worse", "ratio": 0.73, "ratio_low": 0.69, "ratio_high": 0.79},
        "series": {"verdict": "better", "ratio": 1.05, "ratio_low": 1.02, "ratio_high": 1.13}}}
    pages = {**row, "kernels": {**row["kernels"], "base-layer": {**row["kernels"]["base-layer"], "ratio_low": 0.68}}}
    found = benchreport.findings([dict(row, unit="MB/s"), dict(pages, unit="pages/s")])
    assert len(found) == 1 and found[0].startswith("base layer: swap-out throughput 0.73")


def test_slowdown_explanation_lists_counters_per_kernel():
    rounds = synthetic()
    s = benchreport.summarise(rounds, resamples=200)
    lines = benchreport.explain_slowdowns(rounds, s)
    assert len(lines) == 1 and lines[0].startswith("zspool counters")
    assert "lat.cold_share" in lines[0] and "baseline 6.12 n/a" in lines[0]


@pytest.mark.parametrize("x, text", [(None, "n/a"), (0, "0"), (1234.5, "1,234"), (12.345, "12.3"),
                                     (0.01234, "0.0123"), (1.5, "1.50")])
def test_fmt_three_significant_digits(x, text):
    assert benchreport.fmt(x) == text


def analysed():
    meta = {"date": "2026-11-26", "rounds": 5, "labels": list(benchreport.LABELS), "memory_mb": 256, "smp": 2,
            "machine": {"cpu": "Test CPU 9000", "cores": 2}, "tree": "linux-source-6.12",
            "sources_note": ""}
    return benchreport.analyse(synthetic(), meta)


def test_cover_block_names_machine_accel_qemu_n_and_the_authors_numbers_as_theirs():
    text = benchreport.cover_block(analysed())
    assert "Test CPU 9000 (2 cores)" in text
    assert "QEMU 7.2.19" in text and "accelerator TCG" in text
    assert "N = 5" in text
    assert "theirs, with series" in text and "1,750 / 1,273 / 6,318 ns" in text
    assert "no significant difference" in text
    assert "zram lzo-rle" in text
    table = [line for line in text.splitlines() if line.startswith("| swap-out throughput (MB/s)")]
    assert table and "1.500 [" in table[0]


def test_cover_block_names_the_config_and_any_extra_fragment():
    result = analysed()
    assert "same config (minimal)" in benchreport.cover_block(result)
    result["meta"].update(config="minimal", fragments=["/x/patchkit/configs/profile.config"])
    assert "same config (minimal + profile.config)" in benchreport.cover_block(result)


def test_plots_are_written_as_png(tmp_path):
    result = analysed()
    files = plots.write_all(result, tmp_path)
    names = sorted(p.name for p in files)
    assert names == ["latency-zspool.png", "rounds.png"]  # no writeback samples in the data
    for p in files:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parse_quantiles():
    assert plots.parse_quantiles([1, 2.5]) == [1.0, 2.5]
    assert plots.parse_quantiles("1,2,30") == [1.0, 2.0, 30.0]
    assert plots.parse_quantiles(None) == []
    assert plots.parse_quantiles("a,b") == []
    assert plots.parse_quantiles(7) == [7.0]


# ---------------------------------------------------------------- registration in boot/initramfs


def test_bench_workloads_are_known_to_boot_but_not_in_the_default_suite():
    assert boot.bench_tests() == sorted(set(benchreport.TESTS) | set(icount.TESTS))
    assert boot.select_tests(benchreport.TESTS) == benchreport.TESTS
    for t in benchreport.TESTS:
        assert t not in boot.select_tests(None)
    assert boot.DISKS["bench-writeback"][0] == "pk-bench-wb"


def test_initramfs_carries_the_bench_scripts_and_program():
    paths_in = {e.path for e in initramfs.guest_script_entries()}
    assert {f"/patchkit/tests/{t}.sh" for t in benchreport.TESTS} <= paths_in
    assert initramfs.GUEST_PROGRAMS["bench/pk-bench.c"] == "/patchkit/bin/pk-bench"
    assert (paths.GUEST / "bench" / "pk-bench.c").is_file()


# ---------------------------------------------------------------- cycles -> host time


def test_normalise_turns_guest_cycles_into_host_time():
    raw = {
        "bench-swapout": {"swapout.cycles": 2_000_000_000, "swapout.pswpout": 25600, "swapout.mb_s": 1.0},
        "bench-swapin": {"lat.cold.p50_cycles": 2000, "lat.cold.p999_cycles": 30000,
                         "lat.cold_quantiles_cycles": "1000,2000,4000"},
        "bench-writeback": {"lat.cold.avg_cycles": "n/a"},
    }
    got = benchreport.normalise(raw, tsc_mhz=1000.0)  # 1 cycle per ns
    so = got["bench-swapout"]
    assert so["swapout.tsc_seconds"] == 2.0
    assert so["swapout.tsc_mb_s"] == 50.0  # 100 MiB in 2 s
    assert so["swapout.tsc_pages_s"] == 12800.0
    assert so["swapout.mb_s"] == 1.0  # the guest's own figure is kept as it was
    si = got["bench-swapin"]
    assert si["lat.cold.p50_ns"] == 2000.0 and si["lat.cold.p999_ns"] == 30000.0
    assert si["lat.cold_quantiles_ns"] == [1000.0, 2000.0, 4000.0]
    assert "lat.cold_quantiles_cycles" not in si
    assert "lat.cold.avg_ns" not in got["bench-writeback"]  # n/a stays absent, not 0
    assert raw["bench-swapin"]["lat.cold_quantiles_cycles"] == "1000,2000,4000"  # input untouched


def test_normalise_scales_by_the_tsc_rate():
    got = benchreport.normalise({"bench-swapin": {"lat.cold.p50_cycles": 2600}}, tsc_mhz=2600.0)
    assert got["bench-swapin"]["lat.cold.p50_ns"] == 1000.0


def test_fewer_than_three_rounds_claim_no_significance():
    s = benchreport.summarise(synthetic(2), resamples=200)
    cell = row(s, "swapout.mb_s")["kernels"]["series"]
    assert cell["ratio"] == pytest.approx(1.5, rel=0.01)
    assert cell["significance"] == benchreport.TOO_FEW and cell["verdict"] == ""
    assert benchreport.findings(s) == []


def test_sources_come_from_render_baseline_base_layer_and_series(tmp_path, monkeypatch):
    rendered = {
        "zram-swap-ops": SimpleNamespace(repo=tmp_path / "repo", base_commit="b" * 40, tip="s" * 40),
        "swap-batching": SimpleNamespace(repo=tmp_path / "repo", base_commit="b" * 40, tip="l" * 40),
    }
    versions = []
    from patchkit import render, tree
    monkeypatch.setattr(tree, "open_tree", lambda spec: SimpleNamespace(name="linux-source-6.12"))
    monkeypatch.setattr(render, "render", lambda name, tree, version: versions.append((name, version))
                        or rendered[name])
    ran = []
    monkeypatch.setattr(worktrees, "worktree", lambda repo, commit, name: ran.append((repo, commit, name))
                        or tmp_path / "src" / name)
    args = SimpleNamespace(source=None, kernel=None, tree=None, series="zram-swap-ops",
                           base_layer="swap-batching")
    kplan = benchrun.Plan("linux-source-6.12", ("zram-swap-ops", 3), ("swap-batching", 2), ("swap-batching", 2))
    kernels, note = benchrun.resolve_kernels(args, tmp_path, kplan)
    assert versions == [("zram-swap-ops", 3), ("swap-batching", 2)]
    assert note == ""
    assert ran == [(tmp_path / "repo", "b" * 40, "linux-source-6.12-bench-baseline"),
                   (tmp_path / "repo", "l" * 40, "linux-source-6.12-bench-base-layer"),
                   (tmp_path / "repo", "s" * 40, "linux-source-6.12-bench-series")]
    assert kernels["series"].origin == f"render zram-swap-ops v3 @ {'s' * 12}"
    assert kernels["base-layer"].origin == f"render swap-batching v2 @ {'l' * 12}"
    assert all(k.kernel is None for k in kernels.values())  # to be built


def fake_boot_results(accels):
    """boot.boot() stand-in: records each call, answers with the next accelerator in accels."""
    calls = []

    def fake(kernel, **kw):
        accel = accels[len(calls)]
        calls.append((str(kernel), kw["accel"], kw["tests"]))
        tests = [SimpleNamespace(name="bench-swapin", status="PASS",
                                 figures={"lat.cold.p50_cycles": 1000 * len(calls)})]
        return SimpleNamespace(status="PASS", accel=accel, qemu_version="7.2.22", tests=tests, detail="",
                               console_log=kw["log_dir"] / "console.log")
    return fake, calls


def test_rounds_run_interleaved_with_the_first_accelerator_kept(tmp_path, monkeypatch):
    fake, calls = fake_boot_results(["tcg"] * 6)
    monkeypatch.setattr(boot, "boot", fake)
    kernels = {lb: benchrun.Kernel(lb, tmp_path, "x", kernel=tmp_path / f"{lb}.bz") for lb in benchreport.LABELS}
    rounds = benchrun.run_rounds(kernels, rounds=2, accel="auto", out=tmp_path, initrd_source=tmp_path,
                                 tsc_mhz=1000.0, meta={"labels": list(benchreport.LABELS)})
    assert [c[0].rsplit("/", 1)[1] for c in calls] == ["baseline.bz", "base-layer.bz", "series.bz"] * 2
    assert [c[1] for c in calls] == ["auto"] + ["tcg"] * 5  # probed once, then kept
    assert all(c[2] == benchreport.TESTS for c in calls)
    assert [r.index for r in rounds] == [1, 1, 1, 2, 2, 2]
    assert rounds[0].figures["bench-swapin"]["lat.cold.p50_ns"] == 1000.0  # normalised on the way
    partial = json.loads((tmp_path / "bench-partial.json").read_text())
    assert len(partial["rounds"]) == 6 and partial["meta"]["accel"] == "tcg"


def test_a_boot_under_another_accelerator_stops_the_run(tmp_path, monkeypatch):
    fake, calls = fake_boot_results(["kvm", "tcg", "tcg"])
    monkeypatch.setattr(boot, "boot", fake)
    kernels = {lb: benchrun.Kernel(lb, tmp_path, "x", kernel=tmp_path / f"{lb}.bz") for lb in benchreport.LABELS}
    with pytest.raises(UserError, match="different accelerators"):
        benchrun.run_rounds(kernels, rounds=1, accel="auto", out=tmp_path, initrd_source=tmp_path, tsc_mhz=1000.0)
    assert len(calls) == 2


def test_failed_workloads_are_reported_per_kernel():
    rounds = synthetic(3)
    bad = rnd(4, "series", test_status="FAIL")
    bad["detail"] = "guest stopped: Kernel panic"
    rounds.append(bad)
    lines = benchreport.failures(rounds)
    assert lines == ["series: bench-swapout did not pass in 1 of 4 rounds (round 4: FAIL; guest stopped: Kernel panic)"]


def test_icount_boots_side_by_side_keep_the_interleaved_order_and_one_image(tmp_path, monkeypatch):
    import threading

    seen, running, peak = [], [0], [0]
    lock = threading.Lock()
    release = threading.Barrier(2, timeout=5)

    def fake(kernel, **kw):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait()  # two boots must be in flight at once, or this times out
        with lock:
            running[0] -= 1
            seen.append((kernel.name, kw["initrd"], kw["smp"]))
        tests = [SimpleNamespace(name="bench-swapin", status="PASS", figures={})]
        return SimpleNamespace(status="PASS", accel="tcg", qemu_version="7.2.22", tests=tests, detail="",
                               console_log=kw["log_dir"] / "console.log", initrd_sha256="f" * 64)

    monkeypatch.setattr(boot, "boot", fake)
    labels = ("baseline", "series")
    kernels = {lb: benchrun.Kernel(lb, tmp_path, "x", kernel=tmp_path / f"{lb}.bz") for lb in labels}
    image = tmp_path / "image.cpio"
    rounds = benchrun.run_rounds(kernels, rounds=2, accel="tcg", out=tmp_path, initrd_source=tmp_path,
                                 tsc_mhz=None, clock="icount", initrd=image, jobs=2, meta={"labels": list(labels)})
    assert peak[0] == 2
    assert [(r.index, r.label) for r in rounds] == [(1, "baseline"), (1, "series"), (2, "baseline"), (2, "series")]
    assert {s[1] for s in seen} == {image} and {s[2] for s in seen} == {1}
    assert all(r.initramfs_sha256 == "f" * 64 for r in rounds)


def test_boots_side_by_side_are_refused_for_the_wall_clock(tmp_path):
    kernels = {"baseline": benchrun.Kernel("baseline", tmp_path, "x", kernel=tmp_path / "b.bz")}
    with pytest.raises(UserError, match="--jobs 2 needs --clock icount"):
        benchrun.run_rounds(kernels, rounds=1, accel="tcg", out=tmp_path, initrd_source=tmp_path, tsc_mhz=1.0,
                            clock="wall", jobs=2)
