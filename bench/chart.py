"""The chart of a run: throughput and p50/p99 latency per RPC and concurrency, echo beside the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.workload import RPCS

SERVER_COLOURS = {"echo": "#9e9e9e", "sqlite": "#1f77b4", "postgresql": "#2ca02c"}


def _label(run: dict[str, Any]) -> str:
    return f"{run['rpc']}\n@{run['concurrency']}"


def draw(results: dict[str, Any], path: Path) -> Path:
    """Three panels over the same x axis (RPC at concurrency): throughput, p50, p99; one bar per server."""
    runs = [run for run in results["runs"] if run.get("calls")]
    order = {rpc: index for index, rpc in enumerate(RPCS)}
    groups = sorted({(r["rpc"], r["concurrency"]) for r in runs},
                    key=lambda g: (g[1] != 16, g[1], order.get(g[0], len(order))))
    servers = [s for s in SERVER_COLOURS if any(r["server"] == s for r in runs)]
    width = 0.8 / max(1, len(servers))
    figure, axes = plt.subplots(3, 1, figsize=(max(10, 1.3 * len(groups)), 11), sharex=True)
    panels = (("throughput_per_s", "calls/s", "Throughput"), ("p50", "ms", "p50 latency"), ("p99", "ms", "p99 latency"))
    for axis, (key, unit, title) in zip(axes, panels, strict=True):
        for offset, server in enumerate(servers):
            xs, heights = [], []
            for position, (rpc, concurrency) in enumerate(groups):
                run = next((r for r in runs if (r["server"], r["rpc"], r["concurrency"]) ==
                            (server, rpc, concurrency)), None)
                if run is None:
                    continue
                xs.append(position + (offset - (len(servers) - 1) / 2) * width)
                heights.append(run[key] if key == "throughput_per_s" else run["latency_ms"][key])
            bars = axis.bar(xs, heights, width, label=server, color=SERVER_COLOURS[server])
            axis.bar_label(bars, fmt="%.0f" if key == "throughput_per_s" else "%.1f", fontsize=7, padding=1)
        axis.set_ylabel(unit)
        axis.set_title(title, loc="left", fontsize=10)
        axis.grid(axis="y", alpha=0.3)
        if key != "throughput_per_s":
            axis.set_yscale("log")
    axes[2].axhline(15, color="#d62728", linestyle="--", linewidth=0.8, label="p99 target (15 ms)")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    axes[2].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    axes[2].set_xticks(range(len(groups)), [_label({"rpc": g[0], "concurrency": g[1]}) for g in groups], fontsize=8)
    figure.suptitle(f"decisiond benchmark {results['date']} ({results['machine']['cpus']} CPUs, "
                    f"{results['settings']['workers']} worker processes); echo = same stack, no work", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
