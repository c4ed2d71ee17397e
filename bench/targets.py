"""The targets of issue 5, checked against one run's results."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

CONCURRENCY = 16
SHORT_MEMORY_RUN = 200_000  # decisions; below this a run cannot tell a leak from the warm-up


@dataclass(frozen=True)
class Verdict:
    measure: str
    target: str
    measured: str
    ratio_to_echo: str
    passed: bool | None  # None: not measured in this run
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_run(results: dict[str, Any], server: str, rpc: str, concurrency: int = CONCURRENCY) -> dict[str, Any] | None:
    for run in results.get("runs", []):
        if run["server"] == server and run["rpc"] == rpc and run["concurrency"] == concurrency:
            found: dict[str, Any] = run
            return found
    return None


def _fmt(value: float, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text}{unit}"


def _missing(measure: str, target: str, why: str) -> Verdict:
    return Verdict(measure, target, "not measured", "", None, why)


def throughput_share(results: dict[str, Any], rpc: str, server: str, share: float) -> Verdict:
    measure = f"{rpc} throughput at {CONCURRENCY} in flight ({server})"
    target = f">= {share:.0%} of echo"
    run = find_run(results, server, rpc)
    if run is None or not run.get("ratio_to_echo"):
        return _missing(measure, target, "run missing or failed")
    ratio = run["ratio_to_echo"]["throughput"]
    return Verdict(measure, target, _fmt(run["throughput_per_s"], " calls/s"), f"{ratio:.0%}", ratio >= share,
                   _errors_note(run))


def p99_limit(results: dict[str, Any], rpc: str, limit_ms: float) -> Verdict:
    measure = f"{rpc} p99 at {CONCURRENCY} in flight (sqlite)"
    target = f"<= {limit_ms:g} ms"
    run = find_run(results, "sqlite", rpc)
    if run is None or not run.get("ratio_to_echo"):
        return _missing(measure, target, "run missing or failed")
    p99 = run["latency_ms"]["p99"]
    return Verdict(measure, target, _fmt(p99, " ms"), f"{run['ratio_to_echo']['p99']:.1f}x echo p99",
                   p99 <= limit_ms, _errors_note(run))


def _errors_note(run: dict[str, Any]) -> str:
    errors = sum(run.get("errors", {}).values())
    return f"{errors} calls failed: {run['errors']}" if errors else ""


def postgres_vs_bare_loop(results: dict[str, Any]) -> Verdict:
    measure = "AuthorizeDrawdown on PostgreSQL vs bare ledger loop"
    target = ">= 60% of the bare loop"
    run, loop = find_run(results, "postgresql", "AuthorizeDrawdown"), results.get("ledger_loop")
    if run is None or not loop:
        return _missing(measure, target, "PostgreSQL not measured in this run")
    share = run["throughput_per_s"] / loop["throughput_per_s"]
    echo_ratio = run.get("ratio_to_echo", {}).get("throughput", math.nan)
    return Verdict(
        measure, target,
        f"{run['throughput_per_s']:,.0f} vs {loop['throughput_per_s']:,.0f} tx/s = {share:.0%}",
        f"{echo_ratio:.0%} (loop: {loop['throughput_per_s'] / run['echo_throughput_per_s']:.0%})",
        share >= 0.60, _errors_note(run),
    )


def rule_median(results: dict[str, Any]) -> Verdict:
    measure = "rule evaluation, 200-rule fraud set, median per decision"
    target = "<= 50 us"
    sizes = (results.get("rule_eval") or {}).get("sizes", {})
    if "200" not in sizes:
        return _missing(measure, target, (results.get("rule_eval") or {}).get("error", "not run"))
    median = sizes["200"]["median_us"]
    return Verdict(measure, target, _fmt(median, " us"), _echo_call_share(results, median), median <= 50)


def rule_scaling(results: dict[str, Any]) -> Verdict:
    measure = "rule evaluation, 500 rules vs 50 rules"
    target = "<= 3x slower"
    sizes = (results.get("rule_eval") or {}).get("sizes", {})
    if "500" not in sizes or "50" not in sizes:
        return _missing(measure, target, (results.get("rule_eval") or {}).get("error", "not run"))
    factor = sizes["500"]["median_us"] / sizes["50"]["median_us"]
    return Verdict(measure, target, f"{factor:.2f}x ({_fmt(sizes['50']['median_us'])} -> "
                   f"{_fmt(sizes['500']['median_us'])} us)", _echo_call_share(results, sizes["500"]["median_us"]),
                   factor <= 3)


def _echo_call_share(results: dict[str, Any], micros: float) -> str:
    """A per-decision cost as a share of one echo call's worth of server capacity (1 / echo throughput)."""
    echo = find_run(results, "echo", "AuthorizeDrawdown")
    if echo is None or not echo["throughput_per_s"]:
        return ""
    budget_us = 1e6 / echo["throughput_per_s"]
    return f"{micros / budget_us:.0%} of an echo call"


def memory_growth(results: dict[str, Any]) -> Verdict:
    measure = "server memory after 1M decisions vs after 10k"
    target = "< +10%"
    memory = results.get("memory") or {}
    if "growth_to_1m" not in memory:
        return _missing(measure, target, memory.get("error", "not run"))
    growth, reached = memory["growth_to_1m"], memory["decisions_last"]
    measured = f"{growth:+.1%} ({memory['basis']}; {memory['growth_to_last']:+.1%} measured at {reached:,})"
    echo = f"{memory['rss_at_10k_mb'] / memory['echo_rss_mb']:.1f}x echo RSS" if memory.get("echo_rss_mb") else ""
    note = memory.get("note", "")
    passed: bool | None = growth < 0.10
    if reached < SHORT_MEMORY_RUN:
        passed = None  # a linear extrapolation over a few ten thousand decisions mostly measures the warm-up
        note = "; ".join(filter(None, [f"too few decisions to decide (run `python -m bench.memory`); "
                                       f"{memory['growth_to_1m_if_logarithmic']:+.1%} if the growth is warm-up",
                                       note]))
    return Verdict(measure, target, measured, echo, passed, note)


def big_ledger(results: dict[str, Any]) -> Verdict:
    measure = "AuthorizeDrawdown p99, 1M-drawdown ledger vs empty"
    target = "< 2x"
    big = results.get("big_ledger") or {}
    if "p99_factor" not in big:
        return _missing(measure, target, big.get("error", "run `python -m bench.big_ledger` (separate command)"))
    cpu = (f"; server CPU {big['empty']['server_cpu_ms_per_call']:.2f} -> "
           f"{big['loaded']['server_cpu_ms_per_call']:.2f} ms/call" if "server_cpu_ms_per_call" in big["empty"] else "")
    return Verdict(measure, target,
                   f"{big['p99_factor']:.2f}x ({big['empty']['latency_ms']['p99']:.1f} -> "
                   f"{big['loaded']['latency_ms']['p99']:.1f} ms{cpu})",
                   f"{big['loaded']['latency_ms']['p99'] / big['echo']['latency_ms']['p99']:.1f}x echo p99",
                   big["p99_factor"] < 2, big.get("note", ""))


def evaluate(results: dict[str, Any]) -> list[Verdict]:
    """Every target of issue 5, in the issue's order."""
    return [
        throughput_share(results, "ScoreUser", "sqlite", 0.50),
        throughput_share(results, "GrantLimit", "sqlite", 0.50),
        throughput_share(results, "FlagTransaction", "sqlite", 0.50),
        throughput_share(results, "AuthorizeDrawdown", "sqlite", 0.35),
        postgres_vs_bare_loop(results),
        *(p99_limit(results, rpc, 15.0) for rpc in ("ScoreUser", "GrantLimit", "FlagTransaction", "AuthorizeDrawdown")),
        rule_median(results),
        rule_scaling(results),
        memory_growth(results),
        big_ledger(results),
    ]
