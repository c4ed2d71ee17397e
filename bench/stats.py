"""Latency percentiles and the summary of one measured window."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (fraction in 0..1); NaN when there are none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean in milliseconds."""
    ordered = sorted(latencies_s)
    summary = {
        "p50": percentile(ordered, 0.50),
        "p90": percentile(ordered, 0.90),
        "p99": percentile(ordered, 0.99),
        "p999": percentile(ordered, 0.999),
        "max": ordered[-1] if ordered else math.nan,
        "mean": sum(ordered) / len(ordered) if ordered else math.nan,
    }
    return {name: round(value * 1000, 3) for name, value in summary.items()}
