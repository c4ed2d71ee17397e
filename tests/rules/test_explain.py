"""`decisiond rules explain`: for one input, which rules matched and which part of the others failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main

RULES = str(Path(__file__).resolve().parents[2] / "rules")


def explain(tmp_path: Path, case: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(case))
    code = main(["rules", "explain", RULES, "--input", str(case_file)])
    return code, capsys.readouterr().out


def test_explains_which_fraud_rules_matched_and_why_the_others_did_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(
        tmp_path,
        {
            "call": "AuthorizeDrawdown",
            "credit_line": {"credit_limit": "20000 CNY"},
            "history": [{"type": "PASSWORD_CHANGE", "minutes_ago": 120}],
            "drawdown": {"amount": "12000 CNY", "channel": {"device_id": "new-phone"}},
        },
        capsys,
    )
    assert code == 0
    assert "outcome REVIEW; reasons ATO_RECENT_CREDENTIAL_CHANGE, NEW_DEVICE" in out
    assert "  FRD-002    MATCHED" in out
    assert "  FRD-003    MATCHED" in out
    assert "  FRD-001    no: features.drawdowns_last_hour >= 3 (features.drawdowns_last_hour = 0)" in out
    assert "  DRW-001    no: drawdown.amount < 100 CNY (drawdown.amount = 12000.00 CNY)" in out
    assert "transfer_out_ratio_last_hour = 0)" in out


def test_explains_the_scorecard_bins_and_eligibility_of_a_grant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": {"age": 17, "verified_contacts": 5}}, capsys)
    assert code == 0
    assert "outcome DECLINE" in out and "AGE_OUT_OF_RANGE" in out
    assert "SC-SOCIAL/2: 15 of 40 points" in out
    assert "  ELG-001    MATCHED" in out
    assert "  ELG-004    no: score.value < 600" in out


def test_a_bad_input_gets_a_message_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = explain(tmp_path, {"call": "Borrow"}, capsys)
    assert code == 1
    assert "cannot explain this input" in out
    assert "one of ScoreUser, GrantLimit, AuthorizeDrawdown, FlagTransaction" in out
    assert "Traceback" not in out
