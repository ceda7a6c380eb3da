"""PNG plots for patchkit bench (matplotlib, Agg backend: no display needed).

  latency-zspool.png, latency-writeback.png
      distribution of cold swap-in fault latency per kernel: the empirical
      CDF of the quantiles each round reported (pk-bench prints 256 evenly
      spaced quantiles of its sorted samples, in cycles; benchreport.normalise()
      turns them into ns), pooled over the rounds, on a
      log time axis; one line per kernel.
  rounds.png
      every round's value of the headline metrics per kernel, with the
      median, so a reader sees the spread behind each interval.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"baseline": "#4c72b0", "base-layer": "#dd8452", "series": "#55a868"}
LATENCY_PLOTS = {"latency-zspool.png": ("bench-swapin", "zspool only"),
                 "latency-writeback.png": ("bench-writeback", "zram writeback on")}
ROUND_METRICS = ["swapout.mb_s", "swapout.sys_s_per_gib", "zspool.p50_ns", "zspool.p99_ns",
                 "writeback.p50_ns", "writeback.p99_ns"]


def parse_quantiles(value) -> list[float]:
    """lat.cold_quantiles_ns (a list, or '1,2,3') -> [1.0, 2.0, 3.0]; [] if absent or bad."""
    if isinstance(value, list):
        return [float(x) for x in value if isinstance(x, (int, float))]
    if isinstance(value, (int, float)):
        return [float(value)]
    if not isinstance(value, str):
        return []
    try:
        return [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        return []


def pooled_quantiles(rounds: list[dict], label: str, test: str) -> list[float]:
    out: list[float] = []
    for r in rounds:
        if r["label"] == label and r["statuses"].get(test) == "PASS":
            out += parse_quantiles(r["figures"].get(test, {}).get("lat.cold_quantiles_ns"))
    return sorted(out)


def latency_cdf(rounds: list[dict], labels, test: str, title: str, path: Path, subtitle: str = "") -> bool:
    """One CDF line per kernel; False (and no file) when no kernel has samples."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    drawn = False
    for label in labels:
        q = pooled_quantiles(rounds, label, test)
        if not q:
            continue
        n = len(q)
        ax.step([x / 1000.0 for x in q], [(i + 1) / n for i in range(n)], where="post",
                label=label, color=COLOURS.get(label))
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xscale("log")
    ax.set_xlabel("cold swap-in fault latency (µs, log scale)")
    ax.set_ylabel("fraction of faults")
    ax.set_title(f"{title}{': ' + subtitle if subtitle else ''}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def rounds_plot(result: dict, path: Path) -> bool:
    rows = {row["metric"]: row for row in result["summary"]}
    metrics = [m for m in ROUND_METRICS if m in rows and any(
        c.get("n") for c in rows[m]["kernels"].values())]
    if not metrics:
        return False
    labels = result["meta"]["labels"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 3.6), dpi=110, squeeze=False)
    for ax, key in zip(axes[0], metrics):
        row = rows[key]
        for i, label in enumerate(labels):
            cell = row["kernels"][label]
            vals = cell.get("values") or []
            ax.scatter([i] * len(vals), vals, s=14, color=COLOURS.get(label), alpha=0.8)
            if cell.get("n"):
                ax.errorbar([i], [cell["median"]], yerr=[[cell["median"] - cell["low"]],
                                                         [cell["high"] - cell["median"]]],
                            fmt="_", color="black", markersize=14, capsize=3)
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ax.set_title(f"{row['title']}\n({row['unit']})" if row["unit"] else row["title"], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_all(result: dict, out: Path) -> list[Path]:
    """Every plot the data allows, in out/; returns the files written."""
    meta = result["meta"]
    subtitle = f"{meta.get('accel', '?').upper()}, N={meta.get('rounds')}"
    written = []
    for name, (test, title) in LATENCY_PLOTS.items():
        if latency_cdf(result["rounds"], meta["labels"], test, title, out / name, subtitle):
            written.append(out / name)
    if rounds_plot(result, out / "rounds.png"):
        written.append(out / "rounds.png")
    return written
