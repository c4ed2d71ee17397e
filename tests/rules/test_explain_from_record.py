"""`rules explain` from a decision record alone: a drawdown's or an account event's record keeps the features of the
history its rules read and which hashed values were on their lists; copied into the input as they are, the rules see
what they saw, so a velocity review or a mule decline is explained without the history (docs/rules.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.test_explain import explain


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


@pytest.mark.parametrize(("given", "said"), [
    ({"features.drawdowns_last_houre": 3}, "features.drawdowns_last_houre: no feature is named "
     "features.drawdowns_last_houre (fix: did you mean features.drawdowns_last_hour?)"),
    ({"features.drawdowns_last_hour": "3"}, "features.drawdowns_last_hour: must be a whole number of 0 or more, "
     "not '3'"),
    ({"features.transfer_out_last_hour": 300_000}, "features.transfer_out_last_hour: an amount is written with its "
     "currency, not 300000"),
    ({"listed": ["transaction.device_id in lists.mule_counterparties"]}, "listed item 1: 'transaction.device_id in "
     "lists.mule_counterparties' is no list test the rules of this call make (fix: copy the record's listed entries "
     "as they are: transaction.counterparty_id in lists.mule_counterparties)"),
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
