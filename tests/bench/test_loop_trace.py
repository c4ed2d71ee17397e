"""bench.loop_trace: the workers' steps are timed through the hook, and the report reads them right."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.loop_trace import Step, expected_share, main, overlap_share, read_traces, report


def test_a_call_overlaps_a_step_that_runs_during_it_and_not_one_that_ends_before_it() -> None:
    steps = [Step("gc0", 0.0, 1.0, 0), Step("gc0", 5.0, 6.0, 0), Step("gc0", 20.0, 30.0, 0)]
    assert overlap_share([(1.5, 4.9)], steps) == 0.0  # between two steps
    assert overlap_share([(5.5, 5.6)], steps) == 1.0  # inside one
    assert overlap_share([(25.0, 26.0), (4.0, 5.0), (31.0, 32.0)], steps) == pytest.approx(1 / 3)  # a long one


def test_a_longer_call_is_expected_to_overlap_more_steps_placed_at_random() -> None:
    steps = [Step("checkpoint-PASSIVE", n, n + 0.01, 0) for n in range(10)]
    short, long = expected_share(0.01, steps, 10.0), expected_share(0.03, steps, 10.0)
    assert 0 < short < long < 1
    assert expected_share(0.01, [], 10.0) == 0.0


def test_the_report_gives_each_worker_s_steps_and_batch_sizes_and_leaves_out_processes_that_served_nothing() -> None:
    calls = [(n / 100, n / 100 + 0.005) for n in range(100)] + [(0.5, 0.6)]  # one slow call
    traces = {
        "7": [Step("batch", n / 50, n / 50 + 0.004, 1 + n % 2) for n in range(50)]
        + [Step("checkpoint-PASSIVE", 0.52, 0.55, 0)],
        "1": [Step("gc0", 0.1, 0.2, 0)],  # the supervisor
    }
    text = "\n".join(report(calls, traces))
    assert "101 calls" in text
    assert "worker 7:" in text and "worker 1:" not in text
    assert "batch sizes: 1: 50.0%, 2: 50.0%" in text
    # the slow call overlapped the pass; 3 of the 100 typical ones did (those from 0.52 s to 0.54 s)
    assert re.search(r"checkpoint-PASSIVE +100% \(expected +\d+%\) against +3% ", text), text


@pytest.mark.slow
def test_the_tool_times_both_workers_batches_and_group_commits_under_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["FlagTransaction", "--seconds", "1", "--users", "200", "--keep", str(tmp_path)]) == 0
    workers = {pid: steps for pid, steps in read_traces(tmp_path).items() if any(s.kind == "batch" for s in steps)}
    assert len(workers) == 2  # the hook runs in every worker of the server
    for steps in workers.values():
        kinds = {step.kind for step in steps}
        assert {"batch", "group", "wlock"} <= kinds
        assert all(step.end >= step.start for step in steps)
    assert json.loads((tmp_path / "calls.json").read_text())
    printed = capsys.readouterr().out
    assert printed.count("worker ") == 2 and "batch sizes:" in printed


def test_a_directory_holding_an_earlier_run_s_traces_is_refused(tmp_path: Path) -> None:
    (tmp_path / "trace-1.txt").write_text("batch 1.0 2.0 1\n")
    with pytest.raises(SystemExit):
        main(["FlagTransaction", "--keep", str(tmp_path)])
