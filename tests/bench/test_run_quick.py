"""The benchmark runs end to end (`python -m bench.run --quick`): every step measured, no call failed, every
target of issue 5 given a verdict. Its figures are not checked here: this machine is shared with the tests."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bench.servers import ROOT
from tests.support.databases import POSTGRES_ADMIN_URL

TARGETS = 13
SERVERS = {"echo", "sqlite", "postgresql"}


def _table(markdown: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the table in the section under a heading."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


@pytest.mark.slow
def test_the_quick_benchmark_measures_every_step_and_judges_every_target() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--postgres", POSTGRES_ADMIN_URL],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = done.stdout
    assert re.search(r"Python speed probe .*: [\d.]+ ms at the start, [\d.]+ ms at the end; thread wake-up probe "
                     r"[\d.]+ us per round trip at the start, [\d.]+ us at the end", report), report[:800]

    targets = _table(report, "## Targets (issue 5)")
    assert len(targets) == TARGETS, targets
    results = {row[0]: row[4] for row in targets}
    assert all(re.fullmatch(r"\*\*(pass|FAIL)\*\*.*", result) for result in results.values()), results

    runs = _table(report, "## Every run")
    assert {row[0] for row in runs} == SERVERS, runs
    for server, rpc, in_flight, _rate, *_, errors, answers in runs:
        assert errors == "0", (server, rpc, in_flight, errors)
        if server != "echo":
            assert answers and answers != "(canned)", (server, rpc, answers)  # real decisions, tallied
