"""patchkit bench end to end: one round of each kernel under QEMU (minutes).

Kernels: rendered and built by patchkit (needs the tree, render and build
modules and the series templates), or, when $PATCHKIT_BENCH_SOURCES is set
to "baseline=TREE,base-layer=TREE,series=TREE" (and optionally
$PATCHKIT_BENCH_KERNELS to "LABEL=BZIMAGE,..."), the --source escape hatch.
"""

import json
import os

import pytest

from patchkit import benchreport, cli

pytestmark = [pytest.mark.slow, pytest.mark.matrix]


def escape_hatch_args():
    args = []
    for item in filter(None, os.environ.get("PATCHKIT_BENCH_SOURCES", "").split(",")):
        args += ["--source", item]
    for item in filter(None, os.environ.get("PATCHKIT_BENCH_KERNELS", "").split(",")):
        args += ["--kernel", item]
    return args


def test_one_round_of_each_kernel_gives_figures_and_a_report(tmp_path):
    extra = escape_hatch_args()
    rc = cli.main(["bench", "--clock", "wall", "--rounds", "1", "-o", str(tmp_path), *extra])
    data = json.loads((tmp_path / "bench.json").read_text())
    assert [r["label"] for r in data["rounds"]] == list(benchreport.LABELS)
    failed = [f"{r['label']}: {r['detail']} ({r['console_log']})" for r in data["rounds"] if r["status"] != "PASS"]
    assert rc == 0 and not failed, failed
    rows = {row["metric"]: row["kernels"] for row in data["summary"]}
    for label in benchreport.LABELS:
        assert rows["swapout.mb_s"][label]["median"] > 0
        assert rows["zspool.p50_ns"][label]["median"] > 0
        assert rows["writeback.p50_ns"][label]["median"] > 0
    # the base layer's counters exist on both patched kernels and not on the baseline
    assert rows["swapout.write_folios_per_submit"]["baseline"]["n"] == 0
    assert rows["swapout.write_folios_per_submit"]["series"]["median"] >= 1
    assert (tmp_path / "latency-zspool.png").is_file()
    assert "N = 1" in (tmp_path / "cover-block.md").read_text()
    # every built kernel's System.map was read for hot functions across a page (a list, maybe empty)
    for label in benchreport.LABELS:
        assert isinstance(data["meta"]["kernels"][label]["page_straddles"], list), label


def test_icount_bench_repeats_to_a_tenth_of_a_percent_and_splits_per_function(tmp_path):
    """Two boots of each kernel under -icount: every workload has a figure on every kernel, the
    two boots agree within icount.REPEAT_LIMIT, and each boot's plugin counts name functions."""
    from patchkit import icount

    rc = cli.main(["bench", "--clock", "icount", "--rounds", "2", "-o", str(tmp_path), *escape_hatch_args()])
    data = json.loads((tmp_path / "bench.json").read_text())
    failed = [f"{r['label']}: {r['detail']} ({r['console_log']})" for r in data["rounds"] if r["status"] != "PASS"]
    assert rc == 0 and not failed, failed
    assert data["meta"]["clock"] == "icount" and data["meta"]["smp"] == 1
    labels = data["meta"]["labels"]
    for row in data["icount"]["table"]:
        for label in labels:
            cell = row["kernels"][label]
            assert cell["n"] == 2 and cell["mean"] > 0, (row["workload"], label, cell)
            assert cell["spread_pct"] <= icount.REPEAT_LIMIT, (row["workload"], label, cell["values"])
    for r in data["rounds"]:
        assert (tmp_path / "rounds" / f"{r['index']:02d}-{r['label']}" / icount.COUNTS_FILE).is_file()
        zspool = r["breakdown"]["zspool"]
        assert zspool["markers"] == 2048  # one phase per sampled fault
        # the swap-in path by name: the fault handler is among the counted functions
        assert any(fn.startswith("do_swap_page") for fn in zspool["functions"]), sorted(zspool["functions"])[:20]
    assert "Instruction counts under emulation" in (tmp_path / "cover-block.md").read_text()
