"""Two slips a fraud analyst found in the rule tooling. `rules explain` takes a money feature as the decision record
keeps it, in whole fen, so a decision a rule on an hourly amount made is explained from its record unchanged. And in
a case's history, an event at `minutes_ago: 0` no longer moves the call later: an event exactly an hour (a day) before
the call stays in the hour (the day) before it, as the service counts it, whatever else the history holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.app.clock import SystemClock
from service.app.usecases import DecisionApp
from service.cli import main
from service.engine.bundle import load_bundle
from service.rule_tests import OneBundle
from service.storage import open_store
from tests.rules.test_explain import RULES, explain
from tests.rules.test_explain_from_record import bundle_with_a_rule, explain_under
from tests.rules.test_explain_printed_record import Ledger, outcome_of

HOURLY_AMOUNT_RULE = """  - id: FRD-900
    description: A drawdown whose hour adds up to 1,000 CNY or more
    when: transaction.type == 'DRAWDOWN' and features.drawdown_amount_last_hour >= 1000 CNY
    then: {outcome: REVIEW, flag: HOURLY_AMOUNT, severity: MEDIUM}
"""


@pytest.fixture
def hourly_amount_rules(tmp_path: Path) -> Path:
    return bundle_with_a_rule(tmp_path, "fraud.yaml", HOURLY_AMOUNT_RULE, "HOURLY_AMOUNT")


def test_a_drawdown_referred_for_its_hourly_amount_is_explained_from_its_printed_record(
    hourly_amount_rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store, bundle = open_store(url), load_bundle(hourly_amount_rules)
    try:
        ledger = Ledger(DecisionApp(store, OneBundle(bundle), SystemClock()), store, url, tmp_path)
        ledger.grant()
        ledger.draw(60_000)
        ledger.draw(50_000)
        referred = ledger.draw(30_000)
        assert outcome_of(referred) == "REVIEW"
        shown = ledger.shown(referred.meta.decision_id, capsys)
    finally:
        store.close()
        bundle.close()
    assert json.loads(shown)["request"]["features.drawdown_amount_last_hour"] == 110_000  # kept in fen
    record_file = tmp_path / "dec.json"
    record_file.write_text(shown)

    code = main(["rules", "explain", str(hourly_amount_rules), "--input", str(record_file)])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "  fraud flags HOURLY_AMOUNT (rule FRD-900, severity MEDIUM)" in out.splitlines()
    assert "  FRD-900    MATCHED" in out


def _drawdown_with(features: dict[str, object]) -> dict[str, object]:
    return {"call": "AuthorizeDrawdown", "credit_line": {"credit_limit": "20000 CNY"},
            "drawdown": {"amount": "300 CNY", "channel": {"device_id": "05a6"}},
            "features.device_seen_before": True, **features}


@pytest.mark.parametrize(("hourly_amount", "matched"), [
    (110_000, True),  # the record's 110000 fen: 1100.00 CNY
    (99_999, False),  # 999.99 CNY
    ("1100 CNY", True),
    ("999.99 CNY", False),
])
def test_a_money_feature_copied_into_a_case_is_read_in_fen_as_the_record_keeps_it_or_with_its_currency(
    hourly_amount_rules: Path, capsys: pytest.CaptureFixture[str], hourly_amount: object, matched: bool
) -> None:
    code, out = explain_under(hourly_amount_rules,
                              _drawdown_with({"features.drawdown_amount_last_hour": hourly_amount}), capsys)

    assert code == 0, out
    assert ("  FRD-900    MATCHED" in out) is matched, out


def test_a_money_feature_below_zero_is_refused_naming_it(
    hourly_amount_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain_under(hourly_amount_rules, _drawdown_with({"features.transfer_out_last_hour": -1}), capsys)

    assert code == 1
    assert ("features.transfer_out_last_hour: must be an amount from 0 to 999999999999999 fen, as the record keeps "
            "it, not -1 (fix: copy the record's entry as it is, or write the amount with its currency, e.g. 1100.00 "
            "CNY)") in out


def test_a_money_feature_given_as_a_fraction_of_a_fen_is_refused_without_being_read_as_yuan(
    hourly_amount_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain_under(hourly_amount_rules, _drawdown_with({"features.transfer_out_last_hour": 110000.5}),
                              capsys)

    assert code == 1
    assert ("features.transfer_out_last_hour: must be a whole number of fen, as the record keeps it, not 110000.5 "
            "(fix: copy the record's entry as it is, or write the amount with its currency, e.g. 1100.00 CNY)") in out


BOUNDARY_CASES = """cases:
  - name: three drawdowns exactly an hour ago refer the fourth, with a login just now
    call: AuthorizeDrawdown
    credit_line: {credit_limit: 20000 CNY}
    history:
      - {type: DRAWDOWN, minutes_ago: 60, amount: 500 CNY, device_id: phone-1}
      - {type: DRAWDOWN, minutes_ago: 60, amount: 500 CNY, device_id: phone-1}
      - {type: DRAWDOWN, minutes_ago: 60, amount: 500 CNY, device_id: phone-1}
      - {type: LOGIN, minutes_ago: 0, device_id: phone-1}
    drawdown: {amount: 1000 CNY, channel: {device_id: phone-1}}
    expect: {outcome: REVIEW, flags: [VELOCITY_HOURLY], fires: [FRD-001]}
  - name: a password change exactly a day ago refers half the limit, with a login just now
    call: AuthorizeDrawdown
    credit_line: {credit_limit: 20000 CNY}
    history:
      - {type: PASSWORD_CHANGE, minutes_ago: 1440}
      - {type: LOGIN, minutes_ago: 0, device_id: phone-1}
    drawdown: {amount: 10000 CNY, channel: {device_id: phone-1}}
    expect: {outcome: REVIEW, flags: [ATO_RECENT_CREDENTIAL_CHANGE], fires: [FRD-002]}
"""


def test_events_exactly_an_hour_and_a_day_before_the_call_count_though_an_event_is_at_minutes_ago_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    for case_file in (rules / "tests").iterdir():
        case_file.unlink()
    (rules / "tests" / "boundaries.yaml").write_text(BOUNDARY_CASES)

    code = main(["rules", "test", str(rules)])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 passed, 0 failed, 2 cases" in out


@pytest.mark.parametrize("login_now", [[], [{"type": "LOGIN", "minutes_ago": 0, "device_id": "phone-1"}]])
def test_explain_counts_a_drawdown_exactly_an_hour_before_the_call_whatever_else_the_history_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], login_now: list[dict[str, object]]
) -> None:
    history = [{"type": "DRAWDOWN", "minutes_ago": 60, "amount": "500 CNY"}, *login_now]
    case = {"call": "AuthorizeDrawdown", "credit_line": {"credit_limit": "20000 CNY"}, "history": history,
            "drawdown": {"amount": "1000 CNY", "channel": {"device_id": "phone-1"}}}

    code, out = explain(tmp_path, case, capsys)

    assert code == 0, out
    assert "(features.drawdowns_last_hour = 1)" in out
