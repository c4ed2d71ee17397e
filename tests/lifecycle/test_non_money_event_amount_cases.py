"""A rule-test case and `rules explain` see a transaction as the service does: an amount given with an event that
moves no money (a login, a password or phone change) is checked, then taken as 0. Were it kept, a case would prove a
rule on it that never fires in the service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service.api.requests import transaction_command
from service.case_input import read_case_input
from service.case_yaml import CaseRefused
from service.cli import main
from service.domain.model import EventType

# The checker cannot prove this rule dead (it does not work out a calculation's range), so the bundle loads, and its
# case runs as the service would decide the same call.
DOUBLED = "transaction.type == 'PASSWORD_CHANGE' and transaction.amount * 2 > 40000 CNY"
CASE = {"name": "a password change carrying 30,000 CNY is referred", "call": "FlagTransaction",
        "transaction": {"type": "PASSWORD_CHANGE", "amount": "30000 CNY"}, "expect": {"outcome": "REVIEW"}}
NOTE = ("transaction.amount: a PASSWORD_CHANGE moves no money, so the 30000.00 CNY given is taken as 0 CNY, as the "
        "service takes it: the rules see transaction.amount and transaction.share_of_available_limit as 0; to test an "
        "amount, use an event that moves money (DRAWDOWN, PAYMENT, REPAYMENT, TRANSFER_OUT)")


def no_attributes(path: object, name: str, value: object) -> tuple[object, None]:
    return value, None


def add_doubled_rule(rules: Path) -> None:
    fraud = rules / "fraud.yaml"
    fraud.write_text(fraud.read_text() + f"\n  - id: FRD-009\n    description: money moved with a password change\n"
                     f"    when: {DOUBLED}\n    then: {{outcome: REVIEW, flag: ATO_RECENT_CREDENTIAL_CHANGE, "
                     "severity: HIGH}\n")


def test_a_case_reads_the_amount_of_an_event_that_moves_no_money_as_0_and_says_so() -> None:
    data = read_case_input(CASE, no_attributes)
    assert (data.transaction.event_type, data.transaction.amount) == (EventType.PASSWORD_CHANGE, 0)
    assert data.notes == (NOTE,)


@pytest.mark.parametrize("event_type", list(EventType))
def test_a_case_reads_each_event_type_s_amount_as_the_service_reads_the_request(event_type: EventType) -> None:
    case = {"call": "FlagTransaction", "transaction": {"type": event_type.value, "amount": "300 CNY"}}
    request = pb.FlagTransactionRequest(request_id="r-1", transaction=pb.Transaction(
        transaction_id="t-1", user_id="u-1", type=pb.TransactionType.Value(f"TRANSACTION_TYPE_{event_type.value}"),
        amount=pb.Money(currency="CNY", minor_units=300_00)))
    assert read_case_input(case, no_attributes).transaction.amount == transaction_command(request,
                                                                                          datetime.now(UTC)).amount


def test_a_negative_amount_with_an_event_that_moves_no_money_is_still_refused() -> None:
    """Checked before it is taken as 0, as the service checks it."""
    case = {"call": "FlagTransaction", "transaction": {"type": "LOGIN", "amount": "-5 CNY"}}
    with pytest.raises(CaseRefused) as refused:
        read_case_input(case, no_attributes)
    assert [(i.path, i.message) for i in refused.value.issues] == [
        (("transaction", "amount"), "must be at least 0 CNY, not -5.00 CNY")]


def test_a_case_expecting_a_rule_on_a_password_change_s_amount_to_fire_fails_as_the_service_decides(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_doubled_rule(rules)
    (rules / "tests" / "credential_change.yaml").write_text(
        "cases:\n  - name: a password change carrying 30,000 CNY is referred\n    call: FlagTransaction\n"
        "    transaction: {type: PASSWORD_CHANGE, amount: 30000 CNY}\n"
        "    expect: {outcome: REVIEW, fires: [FRD-009]}\n")
    assert main(["rules", "test", str(rules)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {rules / 'tests' / 'credential_change.yaml'}:2: a password change carrying 30,000 CNY is referred" \
        in out
    assert "       outcome: expected REVIEW, got APPROVE\n       fires: expected rule FRD-009 to fire\n" in out
    assert ("       note: transaction.amount: a PASSWORD_CHANGE moves no money, so the 30000.00 CNY given is taken"
            " as 0") in out


def test_explain_shows_the_amount_of_a_password_change_as_0(rules: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    add_doubled_rule(rules)
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({key: value for key, value in CASE.items() if key != "name"}))
    assert main(["rules", "explain", str(rules), "--input", str(case_file)]) == 0
    out = capsys.readouterr().out
    assert "  outcome APPROVE; risk level NONE\n" in out
    assert "  FRD-009    no: transaction.amount * 2 > 40000 CNY (transaction.amount = 0.00 CNY)\n" in out
