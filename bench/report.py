"""The readable report of a run: the targets table and every figure, absolute and against the echo."""

from __future__ import annotations

from typing import Any

from bench.targets import Verdict

RESULT_WORDS = {True: "**pass**", False: "**FAIL**", None: "not measured"}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def targets_table(verdicts: list[Verdict]) -> list[str]:
    rows = [[v.measure, v.target, v.measured, v.ratio_to_echo, RESULT_WORDS[v.passed] + (f" ({v.note})" if v.note
                                                                                         else "")]
            for v in verdicts]
    return _table(["measure", "target", "measured", "vs echo (same run)", "result"], rows)


def _mix(run: dict[str, Any]) -> str:
    total = sum(run["outcomes"].values()) or 1
    return ", ".join(f"{name} {count / total:.0%}" for name, count in run["outcomes"].items())


def runs_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for run in results["runs"]:
        ratio = run.get("ratio_to_echo") or {}
        rows.append([
            run["server"], run["rpc"], str(run["concurrency"]), f"{run['throughput_per_s']:,.0f}",
            f"{ratio['throughput']:.0%}" if ratio else "",
            f"{run['latency_ms']['p50']:.2f}", f"{run['latency_ms']['p99']:.2f}",
            f"{ratio['p99']:.1f}x" if ratio else "",
            f"{run['server_cpu_ms_per_call']:.2f}" + (f" ({ratio['server_cpu_per_call']:.1f}x)" if ratio else ""),
            f"{run.get('other_cpu_cores', 0.0):.2f}",
            _errors(run["errors"]), _mix(run) if run["server"] != "echo" else "(canned)",
        ])
    return _table(["server", "RPC", "in flight", "calls/s", "vs echo", "p50 ms", "p99 ms", "p99 vs echo",
                   "server CPU ms/call", "other CPUs", "errors", "answers"], rows)


def _errors(by_code: dict[str, int]) -> str:
    """Failed calls, with their status codes when there are any: `0`, or `2 (UNAVAILABLE 1, CANCELLED 1)`."""
    total = sum(by_code.values())
    codes = ", ".join(f"{code} {count}" for code, count in sorted(by_code.items()))
    return f"{total} ({codes})" if total else "0"


def rule_table(results: dict[str, Any]) -> list[str]:
    rule_eval = results.get("rule_eval") or {}
    if "sizes" not in rule_eval:
        return [f"Rule evaluation not measured: {rule_eval.get('error', 'skipped')}"]
    rows = [[size, f"{r['median_us']:.1f}", f"{r['p99_us']:.1f}", f"{r['evaluations_per_s']:,}",
             f"{r['rules_fired_per_evaluation']:.2f}", _engine_calls(r), f"{r['load_s']:.2f}"]
            for size, r in rule_eval["sizes"].items()]
    return _table(["fraud rules", "median us", "p99 us", "evaluations/s", "rules fired per evaluation",
                   "engine calls per evaluation", "load s"], rows)


def _engine_calls(row: dict[str, Any]) -> str:
    calls = row.get("engine_calls_per_evaluation")  # not counted before 2026-12-02's fifth session
    return "" if calls is None else f"{calls:.2f}"


def memory_lines(results: dict[str, Any]) -> list[str]:
    memory = results.get("memory") or {}
    if "rss_at_10k_mb" not in memory:
        return [f"Memory not measured: {memory.get('error', 'skipped')}"]
    lines = [
        f"Serving processes' RSS (summed over {results['settings']['workers']} workers): "
        f"{memory['rss_at_10k_mb']:.1f} MB after 10k decisions, {memory['rss_last_mb']:.1f} MB after "
        f"{memory['decisions_last']:,}; at 1M: {memory['rss_at_1m_mb']:.1f} MB ({memory['basis']}).",
    ]
    if memory.get("echo_rss_mb"):
        lines.append(f"The echo's workers hold {memory['echo_rss_mb']:.1f} MB after their runs.")
    if memory.get("note"):
        lines.append(memory["note"])
    return lines


def big_ledger_lines(results: dict[str, Any]) -> list[str]:
    big = results.get("big_ledger") or {}
    if "p99_factor" not in big:
        return [f"Not measured in this run: {big.get('error', 'run `python -m bench.big_ledger`')}"]
    rows = [[label, f"{big[key]['throughput_per_s']:,.0f}", f"{big[key]['latency_ms']['p50']:.2f}",
             f"{big[key]['latency_ms']['p99']:.2f}"] for key, label in
            (("echo", "echo"), ("empty", "empty ledger"), ("loaded", big["loaded_label"]))]
    return [f"From `{big['source']}` ({big['date']}):", "",
            *_table(["ledger", "calls/s", "p50 ms", "p99 ms"], rows)]


def _loop_line(loop: dict[str, Any] | None) -> str:
    if not loop:
        return "Not measured in this run."
    shape = (f"Bare loop (`bench/ledger_loop.py`, {loop['processes']} processes x {loop['threads']} threads = "
             f"{loop['in_flight']} in flight)")
    if "halves" not in loop:  # runs recorded before the loop ran on both sides of the service
        return (f"{shape}: {loop['throughput_per_s']:,.0f} tx/s, "
                f"p50 {loop['latency_ms']['p50']:.2f} ms, p99 {loop['latency_ms']['p99']:.2f} ms.")
    halves = "; ".join(f"{when} {half['throughput_per_s']:,.0f} tx/s, p50 {half['latency_ms']['p50']:.2f} ms, "
                       f"p99 {half['latency_ms']['p99']:.2f} ms"
                       for when, half in zip(("before", "after"), loop["halves"], strict=True))
    return f"{shape}, half before and half after the service's run: {loop['throughput_per_s']:,.0f} tx/s ({halves})."


def _busy_warning(results: dict[str, Any]) -> list[str]:
    """A warning when other work shared the machine during the runs (CPU used by processes not ours)."""
    busy = [run for run in results["runs"] if run.get("other_cpu_cores", 0.0) > 0.25]
    if not busy:
        return []
    worst = max(run["other_cpu_cores"] for run in busy)
    return ["", f"**Warning: other work shared the machine** during {len(busy)} of {len(results['runs'])} runs "
            f"(up to {worst:.1f} of {results['machine']['cpus']} CPUs used by processes outside the benchmark; "
            "column `other CPUs`). Ratios to the echo are same-run comparisons, but absolute figures and tails "
            "are unreliable: run again on a quiet machine."]


def _probe_note(machine: dict[str, Any]) -> str:
    """The machine's speed at the start and end of the run (bench/speed_probe.py), where it was measured (runs
    before the eighth session of 2026-12-06 had only the Python probe, the earliest none)."""
    probe = machine.get("python_probe_ms")
    if not probe:
        return ""
    wakeup = machine.get("wakeup_probe_us")
    handovers = (f"; thread wake-up probe {wakeup['start']:g} us per round trip at the start, {wakeup['end']:g} us at "
                 "the end" if wakeup else "")
    return (f" Python speed probe (`bench/speed_probe.py`, lower is faster): {probe['start']:g} ms at the start,"
            f" {probe['end']:g} ms at the end{handovers}; absolute figures compare across runs only as these do.")


def _timing(settings: dict[str, Any]) -> str:
    """How long each run was measured (runs recorded before echo and service took turns had no slices)."""
    if "slices" not in settings:
        return f"{settings['warmup_s']} s warm-up + {settings['duration_s']} s measured per run at 16 in flight."
    return (f"at 16 in flight, one load generator drove the echo and the service in turns, {settings['duration_s']} s "
            f"measured on each in {settings['slices']} slices (echo, service, service, echo, ...), each slice after "
            f"{settings['slice_warmup_s']} s of warm-up; PostgreSQL alone, {settings['warmup_s']} s warm-up + "
            f"{settings['duration_s']} s measured.")


def render(results: dict[str, Any], verdicts: list[Verdict], chart_name: str) -> str:
    machine, settings = results["machine"], results["settings"]
    loop = results.get("ledger_loop")
    lines = [
        f"# Benchmark {results['date']}",
        "",
        f"Commit {machine['git_commit']}{' (with uncommitted changes)' if machine['git_dirty'] else ''}, "
        f"{machine['cpus']} CPUs, Python {machine['python']}, grpcio {machine['grpcio']}; "
        f"{settings['workers']} worker processes, each one event loop; load generator on the same "
        f"machine; {_timing(settings)} Whole run: {results['elapsed_s']:.0f} s.{_probe_note(machine)}",
        *_busy_warning(results),
        "",
        "## Targets (issue 5)",
        "",
        *targets_table(verdicts),
        "",
        f"![throughput and latency per RPC and concurrency]({chart_name})",
        "",
        "## Every run",
        "",
        "`vs echo`: the same RPC shape at the same concurrency against the echo ceiling, in this run. "
        "`server CPU ms/call`: CPU time of the serving processes over the run (warm-up included) per call "
        "answered, and in brackets how many times the echo's. `other CPUs`: CPU used meanwhile by processes "
        "outside the benchmark (the PostgreSQL server included), in CPUs; near 0 on a quiet machine.",
        "",
        *runs_table(results),
        "",
        "## PostgreSQL: the service against the bare ledger transaction",
        "",
        _loop_line(loop),
        "",
        "## Rule evaluation alone (generated fraud sets)",
        "",
        *rule_table(results),
        "",
        "## Memory",
        "",
        *memory_lines(results),
        "",
        "## AuthorizeDrawdown on a big ledger",
        "",
        *big_ledger_lines(results),
    ]
    if results.get("skipped"):
        lines += ["", "## Skipped in this run", "", *(f"- {item}" for item in results["skipped"])]
    return "\n".join(lines) + "\n"
