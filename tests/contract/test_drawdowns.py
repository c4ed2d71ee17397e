"""AuthorizeDrawdown through the real server: policy, fraud, schedules and the ledger invariant."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.contract.helpers import codes, known_device, new_user, open_line
from tests.support.builders import cny, drawdown, request_id


def available(ledger: pb_grpc.CreditLineServiceStub, user: str) -> int:
    return int(ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user)).available_limit.minor_units)


def test_drawdown_without_a_credit_line_is_declined(decisions: pb_grpc.DecisionServiceStub) -> None:
    answer = decisions.AuthorizeDrawdown(drawdown(new_user(), 1_000))
    assert answer.outcome == pb.OUTCOME_DECLINE
    assert codes(answer.reasons) == ["NO_CREDIT_LINE"]
    assert not answer.drawdown_id


def test_approved_drawdown_returns_a_schedule_summing_to_the_amount_and_lowers_the_limit(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    open_line(decisions, user)
    answer = decisions.AuthorizeDrawdown(drawdown(user, 5_000, term_months=6))
    assert answer.outcome == pb.OUTCOME_APPROVE, answer.reasons
    assert answer.drawdown_id
    assert answer.apr == "0.073"
    assert [i.number for i in answer.schedule] == [1, 2, 3, 4, 5, 6]
    assert sum(i.principal.minor_units for i in answer.schedule) == 500_000
    assert all(i.interest.minor_units > 0 for i in answer.schedule)
    assert answer.available_limit == cny(195_000)
    assert available(ledger, user) == 19_500_000


def test_bullet_repayment_is_one_instalment_at_term_end(decisions: pb_grpc.DecisionServiceStub) -> None:
    user = new_user()
    open_line(decisions, user)
    answer = decisions.AuthorizeDrawdown(
        drawdown(user, 2_000, term_months=2, repayment_method=pb.REPAYMENT_METHOD_BULLET)
    )
    assert answer.outcome == pb.OUTCOME_APPROVE, answer.reasons
    assert len(answer.schedule) == 1
    assert answer.schedule[0].principal == cny(2_000)


def test_prohibited_purpose_is_declined_and_leaves_the_limit_untouched(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    open_line(decisions, user)
    for purpose in ("SECURITIES", "FUTURES", "HOME_PURCHASE"):
        answer = decisions.AuthorizeDrawdown(drawdown(user, 1_000, purpose=purpose))
        assert answer.outcome == pb.OUTCOME_DECLINE
        assert "PROHIBITED_PURPOSE" in codes(answer.reasons)
        assert not answer.drawdown_id and not answer.schedule
    assert available(ledger, user) == 20_000_000


def test_terms_not_offered_are_declined(decisions: pb_grpc.DecisionServiceStub) -> None:
    user = new_user()
    open_line(decisions, user)
    five_months = decisions.AuthorizeDrawdown(drawdown(user, 1_000, term_months=5))
    assert "TERM_NOT_OFFERED" in codes(five_months.reasons)
    bullet_13 = decisions.AuthorizeDrawdown(
        drawdown(user, 1_000, term_months=13, repayment_method=pb.REPAYMENT_METHOD_BULLET)
    )
    assert "TERM_NOT_OFFERED" in codes(bullet_13.reasons)


def test_amount_beyond_the_available_limit_is_declined_as_insufficient_limit(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    open_line(decisions, user, income_yuan=60_000)  # a third of income: 20,000 CNY
    known_device(decisions, user, f"dev-{user}")
    answer = decisions.AuthorizeDrawdown(drawdown(user, 20_001))
    assert answer.outcome == pb.OUTCOME_DECLINE
    assert "INSUFFICIENT_LIMIT" in codes(answer.reasons)
    assert available(ledger, user) == 2_000_000


def test_an_amount_beyond_the_available_limit_is_declined_even_when_a_fraud_rule_would_refer_it(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    """A reviewer could never approve it: the ledger refuses it whatever the rules say."""
    user = new_user()
    open_line(decisions, user, income_yuan=60_000)  # a third of income: 20,000 CNY
    answer = decisions.AuthorizeDrawdown(drawdown(user, 50_000))  # from a device never seen: NEW_DEVICE refers it
    assert answer.outcome == pb.OUTCOME_DECLINE
    assert codes(answer.reasons) == ["INSUFFICIENT_LIMIT", "NEW_DEVICE"]  # what declined it first, then the referral
    assert [f.code for f in answer.fraud_flags] == ["NEW_DEVICE"]  # the flag is still reported
    assert not answer.drawdown_id
    assert available(ledger, user) == 2_000_000


def test_a_large_drawdown_naming_no_device_is_referred_for_that_not_as_from_a_device_never_seen(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """The consumer is told what the service saw: no device, rather than a device new to their history."""
    user = new_user()
    open_line(decisions, user)
    answer = decisions.AuthorizeDrawdown(drawdown(user, 10_000, channel=pb.Channel(country="CN")))
    assert answer.outcome == pb.OUTCOME_REVIEW
    assert [f.code for f in answer.fraud_flags] == ["NO_DEVICE"]


def test_fourth_drawdown_within_an_hour_is_referred_for_velocity(decisions: pb_grpc.DecisionServiceStub) -> None:
    user = new_user()
    open_line(decisions, user)
    for _ in range(3):
        assert decisions.AuthorizeDrawdown(drawdown(user, 500)).outcome == pb.OUTCOME_APPROVE
    fourth = decisions.AuthorizeDrawdown(drawdown(user, 500))
    assert fourth.outcome == pb.OUTCOME_REVIEW
    assert [f.code for f in fourth.fraud_flags] == ["VELOCITY_HOURLY"]
    assert fourth.fraud_flags[0].severity == pb.RISK_LEVEL_MEDIUM
    assert not fourth.drawdown_id


def test_large_drawdown_from_a_new_device_is_referred(decisions: pb_grpc.DecisionServiceStub) -> None:
    user = new_user()
    open_line(decisions, user)
    answer = decisions.AuthorizeDrawdown(drawdown(user, 10_000))
    assert answer.outcome == pb.OUTCOME_REVIEW
    assert "NEW_DEVICE" in [f.code for f in answer.fraud_flags]
    known_device(decisions, user, f"dev-{user}")
    assert decisions.AuthorizeDrawdown(drawdown(user, 10_000)).outcome == pb.OUTCOME_APPROVE


def test_drawdown_from_another_country_than_residence_is_referred(decisions: pb_grpc.DecisionServiceStub) -> None:
    user = new_user()
    open_line(decisions, user)
    answer = decisions.AuthorizeDrawdown(
        drawdown(user, 1_000, channel=pb.Channel(device_id=f"dev-{user}", country="US"))
    )
    assert answer.outcome == pb.OUTCOME_REVIEW
    assert [f.code for f in answer.fraud_flags] == ["GEO_MISMATCH"]


def test_half_the_limit_soon_after_a_password_change_is_referred_as_account_takeover(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    user = new_user()
    open_line(decisions, user)
    known_device(decisions, user, f"dev-{user}")
    change = pb.Transaction(
        transaction_id="pw-1", user_id=user, type=pb.TRANSACTION_TYPE_PASSWORD_CHANGE, channel=pb.Channel(country="CN")
    )
    decisions.FlagTransaction(pb.FlagTransactionRequest(request_id=request_id(), transaction=change))
    answer = decisions.AuthorizeDrawdown(drawdown(user, 100_000))
    assert answer.outcome == pb.OUTCOME_REVIEW
    flags = {f.code: f.severity for f in answer.fraud_flags}
    assert flags.get("ATO_RECENT_CREDENTIAL_CHANGE") == pb.RISK_LEVEL_HIGH
    just_under_half = decisions.AuthorizeDrawdown(drawdown(user, 99_999))
    assert just_under_half.outcome == pb.OUTCOME_APPROVE, just_under_half.fraud_flags


def test_32_parallel_drawdowns_never_exceed_the_limit(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    open_line(decisions, user, income_yuan=60_000)  # limit 20,000 CNY
    known_device(decisions, user, f"dev-{user}")
    requests = [drawdown(user, 9_000, channel=pb.Channel(device_id=f"dev-{user}", country="CN")) for _ in range(32)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(decisions.AuthorizeDrawdown, requests))
    approved = [a for a in answers if a.outcome == pb.OUTCOME_APPROVE]
    approved_total = 900_000 * len(approved)
    assert approved_total == 1_800_000, "two 9,000 CNY drawdowns fit a 20,000 CNY line, a third never does"
    line = ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user))
    assert line.outstanding_principal.minor_units == approved_total
    assert line.available_limit.minor_units == 2_000_000 - approved_total
    refused = [a for a in answers if a.outcome != pb.OUTCOME_APPROVE]
    assert all(a.outcome == pb.OUTCOME_DECLINE and "INSUFFICIENT_LIMIT" in codes(a.reasons) for a in refused)
