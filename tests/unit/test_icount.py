"""patchkit/icount.py: per-unit figures, the plugin's count file, repeatability flags,
ratios and the function split; and bench's icount report around them."""

import copy
from types import SimpleNamespace

import pytest

from patchkit import bench, benchreport, icount, options
from patchkit.errors import UserError

COUNTS = """pk-insn 1
phase 3 total 1500 user 100 markers 2
k 3 ffffffff81000010 1000
k 3 ffffffff81000100 300
k 3 ffffffff81002000 100
phase 7 total 50 user 40 markers 1
k 7 ffffffff81000010 10
"""

SYMBOLS = icount.Symbols([(0xffffffff81000000, "zram_read"), (0xffffffff81000100, "lzo_decompress"),
                          (0xffffffff81002000, "do_swap_page")])


# ---------------------------------------------------------------- figures per unit


def test_reclaim_takes_the_fill_cost_out_per_page_swapped():
    figs = {"swapout.fill_cycles": 1_000_000, "swapout.fill_pages": 100, "swapout.pswpout": 40,
            "swapout.fill_cal_cycles": 20_000, "swapout.fill_cal_pages": 10}
    # 100 pages at 2,000 each without reclaim: 200,000 of the fill is the fill itself
    assert icount.per_unit("reclaim", figs) == pytest.approx((1_000_000 - 200_000) / 40)


def test_reclaim_without_calibration_or_swap_gives_no_figure():
    assert icount.per_unit("reclaim", {"swapout.fill_cycles": 10, "swapout.fill_pages": 1,
                                       "swapout.pswpout": 0, "swapout.fill_cal_cycles": 1,
                                       "swapout.fill_cal_pages": 1}) is None
    assert icount.per_unit("reclaim", {"swapout.fill_cycles": 10}) is None


def test_pageout_swapoff_and_exit_divide_by_their_pages():
    assert icount.per_unit("pageout", {"swapout.pageout_cycles": 9000, "swapout.pswpout": 3}) == 3000
    assert icount.per_unit("swapoff", {"swapoff.cycles": 500, "swapoff.pswpin": 5}) == 100
    assert icount.per_unit("exit", {"exit.cycles": 800, "exit.swapped_pages": 8}) == 100
    assert icount.per_unit("exit", {"exit.cycles": 800, "exit.swapped_pages": "n/a"}) is None


def test_swapin_figure_is_the_mean_cold_fault_and_only_when_every_sample_was_cold():
    assert icount.per_unit("zspool", {"lat.cold_share": 1.0, "lat.cold.avg_cycles": 20_811}) == 20_811
    assert icount.per_unit("writeback", {"lat.cold_share": 0.98, "lat.cold.avg_cycles": 20_811}) is None


def test_a_test_that_did_not_pass_gives_no_figure():
    figs = {"bench-swapoff": {"swapoff.cycles": 500, "swapoff.pswpin": 5}}
    assert icount.round_values(figs, {"bench-swapoff": "FAIL"})["swapoff"] is None
    assert icount.round_values(figs, {"bench-swapoff": "PASS"})["swapoff"] == 100


def test_unknown_workload_is_a_programming_error():
    with pytest.raises(ValueError):
        icount.per_unit("nap", {})


# ---------------------------------------------------------------- plugin file


def test_count_file_parses_into_phases_with_kernel_blocks():
    got = icount.parse_counts(COUNTS)
    assert sorted(got) == [3, 7]
    assert got[3].total == 1500 and got[3].user == 100 and got[3].kernel == 1400 and got[3].markers == 2
    assert got[3].blocks[0xffffffff81000100] == 300


@pytest.mark.parametrize("text, words", [
    ("", "not a pk-insn count file"),
    ("pk-insn 2\n", "not a pk-insn count file"),
    ("pk-insn 1\nk 3 ffff 10\n", "before its phase line"),
    ("pk-insn 1\nphase 3 total x user 1 markers 1\n", ":2: bad pk-insn line"),
    ("pk-insn 1\nphase 3 total 10 user 1 markers 1\nk 3 ff 5\n", "add up to 5, not total - user = 9"),
])
def test_a_bad_count_file_is_refused_with_the_line(text, words):
    with pytest.raises(UserError, match=words):
        icount.parse_counts(text, "c.txt")


def test_blocks_are_summed_per_function_by_system_map():
    counts = icount.parse_counts(COUNTS)
    assert icount.by_function(counts[3].blocks, SYMBOLS) == {"zram_read": 1000, "lzo_decompress": 300,
                                                             "do_swap_page": 100}
    # before the first symbol, and without a map: the address itself
    assert icount.by_function({0x10: 5}, SYMBOLS) == {"0x10": 5}
    assert icount.by_function({0xffffffff81000010: 5}, None) == {"0xffffffff81000010": 5}


def test_breakdown_keeps_the_top_functions_and_sums_the_rest():
    bd = icount.breakdown(icount.parse_counts(COUNTS), SYMBOLS, top=2)
    assert bd["zspool"]["functions"] == {"zram_read": 1000, "lzo_decompress": 300}
    assert bd["zspool"]["other_functions"] == 100
    assert bd["zspool"]["kernel"] == 1400 and bd["fill"]["user"] == 40


def test_plugin_spec_refuses_commas_qemu_would_split_on():
    assert icount.plugin_spec("/p/x.so", "/o/c.txt") == "/p/x.so,out=/o/c.txt"
    with pytest.raises(UserError, match="comma"):
        icount.plugin_spec("/p/x.so", "/o,1/c.txt")


# ---------------------------------------------------------------- analysis


def boot(index, label, zspool, *, functions=None, statuses=None):
    """One icount round: a swap-in figure and (optionally) its per-function counts for 1,000 faults."""
    figs = {"bench-swapin": {"lat.cold_share": 1.0, "lat.cold.avg_cycles": zspool, "lat.all.samples": 1000}}
    r = {"index": index, "label": label, "status": "PASS", "accel": "tcg", "qemu_version": "7.2.22",
         "clock": "icount", "seconds": 60.0, "figures": figs, "detail": "", "console_log": "",
         "statuses": statuses or {"bench-swapin": "PASS"}, "breakdown_note": ""}
    if functions is not None:
        r["breakdown"] = {"zspool": {"total": 0, "user": 2_000_000, "kernel": 0, "markers": 2000,
                                     "functions": functions, "other_functions": 0}}
    return r


def zspool_row(result):
    return next(r for r in result["table"] if r["workload"] == "zspool")


def test_repeats_within_the_limit_are_not_flagged_and_the_spread_is_shown():
    rounds = [boot(1, "baseline", 20_000), boot(2, "baseline", 20_010),
              boot(1, "series", 18_000), boot(2, "series", 18_000)]
    res = icount.analyse(rounds, ["baseline", "series"])
    cell = zspool_row(res)["kernels"]["baseline"]
    assert cell["values"] == [20_000, 20_010]
    assert cell["spread_pct"] == pytest.approx(0.05)
    assert cell["repeatable"] is True
    assert not [f for f in res["flags"] if "zspool" in f and "differ" in f]
    assert zspool_row(res)["kernels"]["series"]["ratio"] == pytest.approx(18_000 / 20_005)


def test_repeats_that_differ_by_more_than_a_tenth_of_a_percent_are_flagged():
    rounds = [boot(1, "baseline", 20_000), boot(2, "baseline", 20_040)]
    res = icount.analyse(rounds, ["baseline"])
    assert zspool_row(res)["kernels"]["baseline"]["repeatable"] is False
    assert any("baseline: zspool: repeats differ by 0.200%" in f for f in res["flags"])


def test_a_single_boot_is_flagged_as_unmeasured_repeatability():
    res = icount.analyse([boot(1, "baseline", 20_000)], ["baseline"])
    assert any("one figure only" in f for f in res["flags"])


def test_a_regression_above_one_percent_is_reported_with_the_functions_behind_it():
    base_fns = {"zram_read": 10_000_000, "lzo_decompress": 8_000_000}
    series_fns = {"zram_read": 10_000_000, "lzo_decompress": 8_000_000, "swap_ops_read": 500_000}
    rounds = [boot(1, "baseline", 20_000, functions=base_fns), boot(2, "baseline", 20_000, functions=base_fns),
              boot(1, "series", 20_500, functions=series_fns), boot(2, "series", 20_500, functions=series_fns)]
    res = icount.analyse(rounds, ["baseline", "series"])
    cell = zspool_row(res)["kernels"]["series"]
    assert cell["diff_functions"][0] == {"function": "swap_ops_read", "reference": 0.0, "kernel": 500.0,
                                         "delta": 500.0}
    assert cell["counted_delta"] == pytest.approx(500.0)
    assert len(res["regressions"]) == 1
    assert "series: zspool: +2.50% instructions per fault" in res["regressions"][0]
    assert "swap_ops_read +500" in res["regressions"][0]


def test_a_gain_is_not_a_regression():
    rounds = [boot(1, "baseline", 20_000), boot(2, "baseline", 20_000),
              boot(1, "series", 17_000), boot(2, "series", 17_000)]
    assert icount.analyse(rounds, ["baseline", "series"])["regressions"] == []


def test_reclaim_functions_have_the_calibration_fill_taken_out():
    r = boot(1, "baseline", 1)
    r["figures"]["bench-reclaim"] = {"swapout.pswpout": 10, "swapout.fill_pages": 20,
                                     "swapout.fill_cal_pages": 5}
    r["breakdown"] = {
        "reclaim": {"user": 400, "functions": {"clear_page": 200, "shrink_folio_list": 1000},
                    "other_functions": 0},
        "fill": {"user": 100, "functions": {"clear_page": 50}, "other_functions": 0},
    }
    fns = icount.functions_per_unit(r, "reclaim")
    # the fill of 20 pages is 4 times the 5-page calibration: 200 - 4 * 50 = 0 per 10 pages
    assert fns["clear_page"] == pytest.approx(0.0)
    assert fns["shrink_folio_list"] == pytest.approx(100.0)
    assert fns["[user]"] == pytest.approx(0.0)


def test_function_diff_ignores_noise_and_sorts_by_size():
    rows = icount.function_diff({"a": 10.0, "b": 5.0, "c": 1.0}, {"a": 10.2, "b": 9.0, "d": 2.0})
    assert [r[0] for r in rows] == ["b", "d", "c"]


# ---------------------------------------------------------------- bench around it


def icount_result(rounds, labels=("baseline", "series")):
    meta = {"clock": "icount", "labels": list(labels), "tree": "linux-source-7.3", "date": "2026-11-30",
            "rounds": 2, "memory_mb": 256, "machine": {"cpu": "x", "cores": 2}, "config": "minimal",
            "tests": icount.TESTS,
            "kernels": {lb: {"origin": f"render {lb}"} for lb in labels}}
    return benchreport.analyse(copy.deepcopy(rounds), meta)


def test_bench_icount_report_titles_the_tree_and_labels_instruction_counts():
    rounds = [boot(1, "baseline", 20_000), boot(2, "baseline", 20_000),
              boot(1, "series", 17_000), boot(2, "series", 17_000)]
    res = icount_result(rounds)
    assert res["meta"]["titles"]["baseline"] == "mainline 7.3"
    block = benchreport.cover_block_icount(res)
    assert "Instruction counts under emulation" in block and "not times on hardware" in block
    assert "| cold swap-in from the zspool, per fault | 20,000 (all 2 boots) | 17,000 (all 2 boots) |" in block
    assert "0.8500 (-15.00%)" in block
    assert "theirs: times on their hardware" in block


def test_bench_icount_findings_carry_flags_failures_and_regressions():
    rounds = [boot(1, "baseline", 20_000), boot(2, "baseline", 20_100),
              boot(1, "series", 21_000, statuses={"bench-swapin": "PASS"}),
              boot(2, "series", 21_000, statuses={"bench-swapin": "FAIL"})]
    findings = icount_result(rounds)["findings"]
    assert any(f.startswith("repeatability: baseline: zspool: repeats differ") for f in findings)
    assert any("series: bench-swapin did not pass in 1 of 2 rounds" in f for f in findings)
    assert any(f.startswith("regression above 1%: series: zspool") for f in findings)


def test_merging_an_icount_run_with_a_wall_run_is_refused(tmp_path):
    import json

    ic = icount_result([boot(1, "baseline", 1), boot(2, "baseline", 1)], labels=("baseline",))
    wall = {"meta": {"clock": "wall", "labels": ["baseline"]}, "rounds": []}
    (tmp_path / "a.json").write_text(json.dumps(ic))
    (tmp_path / "b.json").write_text(json.dumps(wall))
    with pytest.raises(UserError, match="different clocks"):
        benchreport.merge_reports([tmp_path / "a.json", tmp_path / "b.json"])


def test_rounds_of_different_clocks_are_not_comparable():
    a, b = boot(1, "baseline", 1), boot(1, "series", 1)
    b["clock"] = "wall"
    with pytest.raises(UserError, match="different clocks"):
        benchreport.check_comparable([a, b])


def test_auto_clock_is_icount_unless_kvm_runs_the_guest():
    assert bench.resolve_clock("auto", "tcg", None) == ("icount", "tcg")
    assert bench.resolve_clock("auto", "kvm", None) == ("wall", "kvm")
    assert bench.resolve_clock("wall", "auto", None) == ("wall", "auto")
    with pytest.raises(UserError, match="needs TCG"):
        bench.resolve_clock("icount", "kvm", None)


def test_without_a_base_layer_two_kernels_are_benched():
    assert benchreport.labels_for("none") == ("baseline", "series")
    assert benchreport.labels_for("swap-batching") == benchreport.LABELS
    assert benchreport.titles_for("linux-source-6.12", benchreport.LABELS)["baseline"] == "baseline 6.12"


def test_one_round_under_icount_is_refused_before_anything_is_built(tmp_path):
    args = SimpleNamespace(clock="icount", rounds=1, output=tmp_path, report=None, source=None, kernel=None,
                           series="zram-swap-ops", base_layer="swap-batching", options=options.DEFAULT)
    with pytest.raises(UserError, match="at least twice"):
        bench.run(args)


def test_top_functions_list_each_kernels_largest_per_unit():
    rounds = [boot(1, "baseline", 1, functions={"a": 3000, "b": 1000}),
              boot(1, "series", 1, functions={"a": 2000, "c": 5000})]
    rows = icount.top_functions(rounds, ["baseline", "series"], "zspool", top=3)
    # per fault (1,000 samples); [user] is pk-bench's own 2,000,000 / 1,000
    assert rows[0] == {"function": "[user]", "baseline": 2000.0, "series": 2000.0}
    assert rows[1] == {"function": "c", "baseline": 0.0, "series": 5.0}
    assert [r["function"] for r in rows] == ["[user]", "c", "a"]
    text = icount.markdown_top_functions({"meta": {"labels": ["baseline", "series"]}, "rounds": rounds},
                                         {"baseline": "B", "series": "S"}, workloads=("zspool",), top=3)
    assert "| function | B | S |" in text and "| c | 0 | 5.0 |" in text


def test_a_subset_of_workloads_selects_its_tests_and_rows():
    ws = icount.select_workloads("exit, zspool")
    assert [w.key for w in ws] == ["zspool", "exit"]
    assert icount.tests_for(ws) == ["bench-swapin", "bench-exit"]
    assert icount.tests_for(icount.select_workloads("reclaim,pageout")) == ["bench-reclaim", "bench-swapout"]
    assert len(icount.select_workloads(None)) == len(icount.WORKLOADS)
    with pytest.raises(UserError, match="unknown workload.*nap"):
        icount.select_workloads("zspool,nap")
    res = icount.analyse([boot(1, "baseline", 5), boot(2, "baseline", 5)], ["baseline"], ["zspool"])
    assert [r["workload"] for r in res["table"]] == ["zspool"] and res["flags"] == []


def test_one_kernel_table_has_no_ratio_columns():
    res = icount_result([boot(1, "baseline", 20_000), boot(2, "baseline", 20_000)], labels=("baseline",))
    lines = icount.markdown(res, {"baseline": "B"}).splitlines()
    assert lines[0] == "| workload (guest instructions per unit) | B |" and lines[1] == "|---|---|"


def write_run(path, rounds, image="a" * 64, kernels=None, labels=("baseline", "series")):
    import json

    for r in rounds:
        r["initramfs_sha256"] = image
    res = icount_result(rounds, labels=labels)
    if kernels is not None:
        res["meta"]["kernels"] = kernels
    path.write_text(json.dumps(res))
    return path


def test_two_whole_runs_are_shown_side_by_side_with_their_difference(tmp_path):
    one = write_run(tmp_path / "1.json", [boot(1, "baseline", 20_000), boot(1, "series", 19_000),
                                          boot(2, "baseline", 20_000), boot(2, "series", 19_000)])
    two = write_run(tmp_path / "2.json", [boot(1, "baseline", 20_010), boot(1, "series", 19_000),
                                          boot(2, "baseline", 20_010), boot(2, "series", 19_000)])
    res = benchreport.merge_reports([one, two])
    row = next(r for r in res["icount"]["runs"] if r["workload"] == "zspool")
    assert row["kernels"]["baseline"]["runs"] == {1: 20_000, 2: 20_010}
    assert row["kernels"]["baseline"]["diff_pct"] == pytest.approx(0.05)
    assert row["kernels"]["series"]["diff_pct"] == 0
    assert not any("across runs" in f for f in res["findings"])
    text = benchreport.summary_icount(res)
    assert "| cold swap-in from the zspool, per fault | mainline 7.3 | 20,000 | 20,010 | 0.0500% |" in text


def test_runs_that_differ_by_more_than_a_tenth_of_a_percent_are_flagged(tmp_path):
    one = write_run(tmp_path / "1.json", [boot(1, "baseline", 20_000), boot(1, "series", 19_000)])
    two = write_run(tmp_path / "2.json", [boot(1, "baseline", 20_030), boot(1, "series", 19_000)])
    res = benchreport.merge_reports([one, two])
    assert any(f.startswith("repeatability across runs: baseline: zspool: runs differ by 0.150%")
               for f in res["findings"])
    assert "0.1500% **(> 0.1%)**" in benchreport.summary_icount(res)
    assert "0.1500% **(> 0.1%)**" in benchreport.cover_block_icount(res)  # disagreeing runs: the whole table


def test_runs_that_agree_are_one_sentence_in_the_cover_block(tmp_path):
    one = write_run(tmp_path / "1.json", [boot(1, "baseline", 20_000), boot(1, "series", 19_000)])
    two = write_run(tmp_path / "2.json", [boot(1, "baseline", 20_010), boot(1, "series", 19_000)])
    block = benchreport.cover_block_icount(benchreport.merge_reports([one, two]))
    assert "The whole bench, run 2 times on the same kernels and image, gave every figure again: " \
           "largest difference between runs 0.0500% (limit 0.1%)." in block
    assert "| run 1 | run 2 |" not in block


def test_runs_of_different_images_or_kernels_are_not_merged(tmp_path):
    one = write_run(tmp_path / "1.json", [boot(1, "baseline", 20_000), boot(1, "series", 19_000)])
    two = write_run(tmp_path / "2.json", [boot(1, "baseline", 20_000), boot(1, "series", 19_000)], image="b" * 64)
    with pytest.raises(UserError, match="different initramfs images: aaaaaaaaaaaa in run 1 round 1 baseline"):
        benchreport.merge_reports([one, two])
    k = lambda h: {"baseline": {"sha256": "0" * 64}, "series": {"sha256": h * 64}}  # noqa: E731
    one = write_run(tmp_path / "1.json", [boot(1, "baseline", 20_000), boot(1, "series", 19_000)], kernels=k("1"))
    two = write_run(tmp_path / "2.json", [boot(1, "baseline", 20_000), boot(1, "series", 19_000)], kernels=k("2"))
    with pytest.raises(UserError, match="different series kernels: bzImage sha256 111111111111 vs 222222222222"):
        benchreport.merge_reports([one, two])


def test_a_run_whose_boots_did_not_record_their_image_says_so():
    res = icount_result([boot(1, "baseline", 20_000), boot(2, "baseline", 20_000)], labels=("baseline",))
    assert "initramfs: 2 of 2 boots did not record their image's hash" in res["findings"]


def test_with_a_base_layer_the_series_is_also_compared_with_the_kernel_it_sits_on():
    fns = lambda n: {"lzo1x_decompress_safe": 15_000_000, "zram_bvec_read": n}  # noqa: E731 (per 1,000 faults)
    labels = ("baseline", "base-layer", "series")
    rounds = [boot(i, "baseline", 20_000, functions=fns(200_000)) for i in (1, 2)]
    rounds += [boot(i, "base-layer", 19_000, functions=fns(100_000)) for i in (1, 2)]
    rounds += [boot(i, "series", 19_400, functions=fns(500_000)) for i in (1, 2)]
    res = icount_result(rounds, labels=labels)
    cell = zspool_row(res["icount"])["kernels"]["series"]
    assert cell["ratio"] == pytest.approx(0.97)            # against the bare tree: a gain
    assert cell["vs_base"]["ratio"] == pytest.approx(19_400 / 19_000)  # against its base: +2.1%
    assert cell["vs_base"]["diff_functions"][0]["function"] == "zram_bvec_read"
    assert any(f.startswith("regression above 1%: series vs base-layer: zspool: +2.11%") and "zram_bvec_read +400"
               in f for f in res["findings"])
    block = benchreport.cover_block_icount(res)
    assert "1.0211 (+2.11%) |" in block
    assert "series vs base layer (counted +400 per fault): zram_bvec_read 100 -> 500" in block


def test_a_function_a_kernel_does_not_run_shows_as_zero_not_minus_zero():
    # reclaim takes the calibration fill out at scale: a function of the fill alone can end a hair below 0
    assert icount.fmt(-0.004) == "0" and icount.fmt(0.0) == "0" and icount.fmt(0.5) == "0.5"


def test_report_rereads_the_breakdown_from_the_raw_counts_beside_each_round(tmp_path):
    import json

    kernel = tmp_path / "k" / "bzImage"
    kernel.parent.mkdir()
    kernel.write_bytes(b"kernel")
    (kernel.parent / "System.map").write_text(
        "ffffffff81000000 T zram_read\nffffffff81000100 T lzo_decompress\nffffffff81002000 T do_swap_page\n")
    rounds = []
    for i in (1, 2):
        r = boot(i, "baseline", 20_000, functions={"zram_read": 1})  # what an older bench.json kept
        log = tmp_path / f"r{i}" / "console.log"
        log.parent.mkdir()
        (log.parent / icount.COUNTS_FILE).write_text(COUNTS)
        r["console_log"] = str(log)
        rounds.append(r)
    res = icount_result(rounds, labels=("baseline",))
    res["meta"]["kernels"] = {"baseline": {"kernel": str(kernel)}}
    (tmp_path / "b.json").write_text(json.dumps(res))
    merged = benchreport.merge_reports([tmp_path / "b.json"])
    bd = merged["rounds"][0]["breakdown"]["zspool"]
    assert bd["functions"] == {"zram_read": 1000, "lzo_decompress": 300, "do_swap_page": 100}
    # and without the raw file, the breakdown bench.json holds is kept
    (tmp_path / "r1" / icount.COUNTS_FILE).unlink()
    merged = benchreport.merge_reports([tmp_path / "b.json"])
    assert merged["rounds"][0]["breakdown"]["zspool"]["functions"] == {"zram_read": 1}
