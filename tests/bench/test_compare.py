"""bench.compare: another checkout's code is what its server runs, and the summary reads the pairs right."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bench.compare import DEFAULT_RPCS, parse_args, summary
from bench.servers import ROOT, start_decisiond


def test_rpcs_given_one_flag_at_a_time_are_all_compared() -> None:
    args = parse_args([str(ROOT), "--rpc", "GrantLimit", "--rpc", "ScoreUser", "AuthorizeDrawdown"])
    assert args.rpc == ["GrantLimit", "ScoreUser", "AuthorizeDrawdown"]


def test_without_rpcs_the_default_pair_is_compared_and_a_repeated_rpc_runs_once() -> None:
    assert parse_args([str(ROOT)]).rpc == list(DEFAULT_RPCS)
    assert parse_args([str(ROOT), "--rpc", "GrantLimit", "--rpc", "GrantLimit"]).rpc == ["GrantLimit"]


def test_another_directory_than_a_checkout_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args([str(tmp_path)])
    assert "is not a checkout of this project" in capsys.readouterr().err


def _run(calls_per_s: float, p99_ms: float, cpu_ms: float) -> dict[str, Any]:
    return {"throughput_per_s": calls_per_s, "latency_ms": {"p99": p99_ms}, "server_cpu_ms_per_call": cpu_ms}


def test_the_summary_gives_each_side_s_medians_and_b_s_share_pair_by_pair() -> None:
    pairs = {"GrantLimit": [{"A": _run(2000, 15.0, 0.5), "B": _run(2200, 12.0, 0.45)},
                            {"A": _run(1000, 30.0, 0.9), "B": _run(900, 33.0, 1.0)},
                            {"A": _run(1600, 20.0, 0.6), "B": _run(2000, 14.0, 0.5)}]}
    figures = summary(pairs)["GrantLimit"]
    assert figures["A"] == {"calls_per_s": 1600, "p99_ms": 20.0, "server_cpu_ms_per_call": 0.6}
    assert figures["B"] == {"calls_per_s": 2000, "p99_ms": 14.0, "server_cpu_ms_per_call": 0.5}
    assert figures["b_vs_a_per_pair"] == [1.1, 0.9, 1.25]  # each pair read against its own A: the drift cancels
    assert figures["b_vs_a_median"] == 1.1


@pytest.mark.slow
def test_a_server_started_from_another_checkout_runs_that_checkout_s_code(tmp_path: Path) -> None:
    other = tmp_path / "other"
    for part in ("service", "rules"):
        shutil.copytree(ROOT / part, other / part, ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "imported-from-the-other-checkout"
    with (other / "service" / "__init__.py").open("a") as package:
        package.write(f"\nimport pathlib\npathlib.Path({str(marker)!r}).touch()\n")

    with tempfile.TemporaryDirectory() as directory:
        server = start_decisiond(other / "rules", f"sqlite:///{directory}/ledger.db", tmp_path / "server.log",
                                 workers=1, checkout=other)
        try:
            assert marker.exists()
        finally:
            assert server.stop() == 0
