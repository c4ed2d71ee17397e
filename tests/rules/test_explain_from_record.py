"""`rules explain` from a decision record alone: a drawdown's or an account event's record keeps the features of the
history its rules read and which hashed values were on their lists; copied into the input as they are, the rules see
what they saw, so a velocity review or a mule decline is explained without the history (docs/rules.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.cli import main
from tests.rules.test_explain import RULES, explain

TRUSTED = ("(the listed entries are taken from the decision record as the rules that decided it found them, not checked"
           " against this folder's lists: a check under another bundle version must not rely on them)")


def explain_under(rules: Path, case: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    case_file = rules.parent / "case.json"
    case_file.write_text(json.dumps(case))
    code = main(["rules", "explain", str(rules), "--input", str(case_file)])
    return code, capsys.readouterr().out


def bundle_with_a_rule(tmp_path: Path, rule_file: str, rule: str, code: str) -> Path:
    """The bundled rules and one more rule, first in `rule_file`, which gives `code`."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    edited = rules / rule_file
    edited.write_text(edited.read_text().replace("rules:\n", f"rules:\n{rule}\n", 1))
    bundle = rules / "bundle.yaml"
    bundle.write_text(bundle.read_text().replace("reasons:\n", f"reasons:\n  {code}: Given by a test\n", 1))
    return rules


OFFICE_IP_RULE = """  - id: FRD-901
    description: A payment from the office network
    when: channel.ip == '10.9.9.9' and transaction.type == 'PAYMENT'
    then: {outcome: REVIEW, flag: OFFICE_IP, severity: LOW}
"""


def test_a_velocity_review_is_explained_from_the_features_its_record_keeps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {
        "call": "AuthorizeDrawdown",
        "credit_line": {"credit_limit": "20000 CNY", "outstanding": "3000 CNY"},
        "drawdown": {"amount": "1000 CNY", "channel": {"device_id": "phone"}},
        "features.drawdowns_last_hour": 3,
        "features.device_seen_before": True,
    }, capsys)
    assert code == 0
    assert "outcome REVIEW; reasons VELOCITY_HOURLY" in out
    assert "  FRD-001    MATCHED" in out
    assert TRUSTED not in out  # no listed entry taken


def test_a_mule_decline_is_explained_from_the_list_its_record_says_the_hashed_counterparty_was_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {
        "call": "FlagTransaction",
        "credit_line": {},
        "transaction": {"type": "TRANSFER_OUT", "amount": "3000 CNY", "counterparty_id": "71f7c13098cd7ee629dc8b89"},
        "listed": ["transaction.counterparty_id in lists.mule_counterparties"],
    }, capsys)
    assert code == 0
    assert "outcome DECLINE; risk level HIGH" in out
    assert "  FRD-006    MATCHED" in out
    assert TRUSTED in out.splitlines()


def test_a_record_entry_says_which_text_a_rule_compares_an_ip_with_the_ip_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The record keeps the IP as a keyed hash, which no IP address form takes: its `ip` entry stands for it, and its
    listed entry says it was the office's address the rule names."""
    rules = bundle_with_a_rule(tmp_path, "fraud.yaml", OFFICE_IP_RULE, "OFFICE_IP")
    payment = {"call": "FlagTransaction", "credit_line": {}, "transaction": {"type": "PAYMENT", "amount": "30 CNY"},
               "device": "05a6c13098cd7ee629dc8b8902584287", "ip": "6ee7a1c0b9d24e5f8a3c2b1d0e9f8a7b"}
    code, out = explain_under(rules, {**payment, "listed": ["channel.ip == '10.9.9.9'"]}, capsys)
    assert code == 0
    assert out.splitlines()[1:3] == ["  outcome REVIEW; risk level LOW",
                                     "  flags OFFICE_IP (rule FRD-901, severity LOW)"]
    assert "  FRD-901    MATCHED" in out
    assert TRUSTED in out.splitlines()

    code, out = explain_under(rules, payment, capsys)  # from another address: the record lists nothing
    assert code == 0
    assert out.splitlines()[1:3] == ["  outcome APPROVE; risk level NONE", "  flags (none)"]
    assert "  FRD-901    no: channel.ip == '10.9.9.9' (channel.ip = '6ee7a1c0b9d24e5f8a3c2b1d0e9f8a7b')" in out
    assert TRUSTED not in out


def test_a_listed_entry_for_a_text_no_rule_compares_the_value_with_is_refused_naming_those_it_could_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = bundle_with_a_rule(tmp_path, "fraud.yaml", OFFICE_IP_RULE, "OFFICE_IP")
    code, out = explain_under(rules, {
        "call": "FlagTransaction", "credit_line": {}, "transaction": {"type": "PAYMENT", "amount": "30 CNY"},
        "listed": ["channel.ip == '10.9.9.8'"],
    }, capsys)
    assert code == 1
    assert ("listed item 1: \"channel.ip == '10.9.9.8'\" is no list test or text comparison the rules of this call "
            "make (fix: copy the record's listed entries as they are: transaction.counterparty_id in "
            "lists.mule_counterparties, channel.ip == '10.9.9.9')") in out


@pytest.mark.parametrize(("rate", "said"), [
    ("0.0002", "  DRW-901    MATCHED"),
    ("0.0001", "  DRW-901    no: line.daily_interest_rate > 0.0001 (line.daily_interest_rate = 0.0001)"),
])
def test_a_rate_is_taken_as_the_record_writes_it_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: str, said: str
) -> None:
    """A drawdown's record keeps the line's rate as text ("line_daily_interest_rate": "0.0002"), as it does a decimal
    feature: copied as it is into credit_line.daily_interest_rate, it is the rate the rule read."""
    rules = bundle_with_a_rule(tmp_path, "drawdown.yaml", """  - id: DRW-901
    description: A large drawdown on a dear line
    when: drawdown.amount >= 700 CNY and line.daily_interest_rate > 0.0001
    then: {outcome: REVIEW, reason: DEAR_LINE}
""", "DEAR_LINE")
    code, out = explain_under(rules, {"call": "AuthorizeDrawdown", "credit_line": {"daily_interest_rate": rate},
                                      "drawdown": {"amount": "777 CNY"}, "device": "05a6"}, capsys)
    assert code == 0, out
    assert said in out.splitlines()


@pytest.mark.parametrize(("given", "said"), [
    ({"features.drawdowns_last_houre": 3}, "features.drawdowns_last_houre: no feature is named "
     "features.drawdowns_last_houre (fix: did you mean features.drawdowns_last_hour?)"),
    ({"features.drawdowns_last_hour": "3"}, "features.drawdowns_last_hour: must be a whole number of 0 or more, "
     "not '3'"),
    ({"features.transfer_out_last_hour": 3000.5}, "features.transfer_out_last_hour: must be a whole number of fen, "
     "as the record keeps it, not 3000.5"),
    ({"listed": ["transaction.device_id in lists.mule_counterparties"]}, "listed item 1: 'transaction.device_id in "
     "lists.mule_counterparties' is no list test the rules of this call make (fix: copy the record's listed entries "
     "as they are: transaction.counterparty_id in lists.mule_counterparties)"),
    ({"listed": ["channel.ip == '10.9.9.9'"]}, "listed item 1: \"channel.ip == '10.9.9.9'\" is no list test the "
     "rules of this call make (fix: copy the record's listed entries as they are: transaction.counterparty_id in "
     "lists.mule_counterparties)"),
    ({"ip": 10}, "ip: must be the record's ip as it is, text, not 10 (fix: copy the record's ip entry as it is)"),
])
def test_recorded_facts_that_do_not_fit_the_rules_are_refused_naming_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: dict[str, object], said: str
) -> None:
    code, out = explain(tmp_path, {
        "call": "FlagTransaction",
        "credit_line": {},
        "transaction": {"type": "TRANSFER_OUT", "amount": "3000 CNY"},
        **given,
    }, capsys)
    assert code == 1
    assert said in out


def test_a_grant_refuses_recorded_features_which_only_account_events_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": {}, "features.drawdowns_last_hour": 3}, capsys)
    assert code == 1
    assert "only a drawdown's or an account event's record keeps it, not a GrantLimit's" in out


def test_a_decimal_feature_is_taken_as_the_record_writes_it_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {
        "call": "FlagTransaction",
        "credit_line": {},
        "transaction": {"type": "TRANSFER_OUT", "amount": "3000 CNY", "channel": {"device_id": "05a6"}},
        "features.transfer_out_ratio_last_hour": 0.95,
        "features.counterparty_new_last_24h": True,
    }, capsys)
    assert code == 0
    assert "outcome REVIEW" in out and "  FRD-005    MATCHED" in out


def test_the_records_device_stands_for_the_channels_device_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The record keeps the device as a keyed hash; without it, a new device's drawdown read as one naming none."""
    drawdown = {"call": "AuthorizeDrawdown", "credit_line": {"credit_limit": "20000 CNY"},
                "drawdown": {"amount": "12000 CNY"}, "features.device_seen_before": False}
    code, out = explain(tmp_path, {**drawdown, "device": "05a6c13098cd7ee629dc8b8902584287"}, capsys)
    assert code == 0
    assert "  fraud flags NEW_DEVICE (rule FRD-003, severity MEDIUM)" in out
    code, out = explain(tmp_path, {**drawdown, "device": ""}, capsys)  # the call named no device
    assert "  fraud flags NO_DEVICE (rule FRD-007, severity MEDIUM)" in out


def test_an_explanation_from_a_history_says_a_records_entries_can_stand_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {"call": "FlagTransaction", "credit_line": {},
                                   "transaction": {"type": "LOGIN"}}, capsys)
    assert code == 0
    assert "(the features were worked out from the input's history; to explain a decision from its record" in out
