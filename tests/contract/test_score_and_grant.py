"""ScoreUser and GrantLimit through the real server and stubs, with the bundled rules."""

from __future__ import annotations

import re

import grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.contract.helpers import codes, new_user, rpc_error
from tests.support.builders import cny, request_id, strong_applicant, weak_applicant


def grant(decisions: pb_grpc.DecisionServiceStub, applicant: pb.Applicant) -> pb.GrantLimitResponse:
    return decisions.GrantLimit(pb.GrantLimitRequest(request_id=request_id(), applicant=applicant))


def test_strong_applicant_scores_in_band_a_with_full_decision_meta(decisions: pb_grpc.DecisionServiceStub) -> None:
    answer = decisions.ScoreUser(pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant(new_user())))
    assert answer.score >= 700
    assert answer.band == "A"
    assert answer.meta.decision_id
    assert answer.meta.ruleset_version
    assert re.fullmatch(r"[0-9a-f]{64}", answer.meta.ruleset_digest)
    assert answer.meta.rules_fired
    assert answer.meta.decided_at.seconds > 0
    assert not answer.meta.replayed


def test_weak_applicant_scores_below_600_with_at_most_four_specific_reasons(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    answer = decisions.ScoreUser(pb.ScoreUserRequest(request_id=request_id(), applicant=weak_applicant(new_user())))
    assert 350 <= answer.score < 600
    assert answer.band in {"D", "E"}
    assert 1 <= len(answer.reasons) <= 4
    assert all(r.code and r.rule_id and r.message for r in answer.reasons)


def test_strong_applicant_is_granted_the_band_a_limit_and_rate(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    answer = grant(decisions, strong_applicant(user))
    assert answer.outcome == pb.OUTCOME_APPROVE
    assert answer.credit_limit == cny(200_000)
    assert answer.daily_interest_rate == "0.0002"
    assert answer.apr == "0.073"
    line = ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user))
    assert (line.user_id, line.status) == (user, "ACTIVE")
    assert line.credit_limit == cny(200_000)
    assert line.available_limit == cny(200_000)
    assert line.outstanding_principal == cny(0)


def test_limit_is_capped_at_a_third_of_income_rounded_down_to_100_yuan(decisions: pb_grpc.DecisionServiceStub) -> None:
    answer = grant(decisions, strong_applicant(new_user(), annual_income=cny(150_001)))
    assert answer.outcome == pb.OUTCOME_APPROVE
    assert answer.credit_limit == cny(50_000)
    assert "CAPPED_BY_INCOME" in codes(answer.reasons)


def test_a_cap_at_or_just_above_the_base_limit_is_not_named_as_lowering_the_limit(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """Band A's base limit is 200,000 CNY. A third of 600,000.01 CNY is 200,000.0033 CNY, and of 600,000.00 CNY
    200,000 CNY: neither lowered the limit, so neither answer names the income; a third of 599,999.99 CNY did."""
    for income, reasons in ((600_000_01, []), (600_000_00, []), (599_999_99, ["CAPPED_BY_INCOME"])):
        answer = grant(decisions, strong_applicant(new_user(), annual_income=pb.Money(currency="CNY",
                                                                                     minor_units=income)))
        assert (answer.credit_limit.minor_units, codes(answer.reasons)) == \
            (200_000_00 if not reasons else 199_900_00, reasons), income


def test_a_limit_below_the_minimum_is_declined_with_that_reason_first_and_the_cap_that_lowered_it_after(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    answer = grant(decisions, strong_applicant(new_user(), annual_income=cny(2_000)))  # a third: 666.66 CNY
    assert answer.outcome == pb.OUTCOME_DECLINE
    assert codes(answer.reasons) == ["LIMIT_BELOW_MINIMUM", "CAPPED_BY_INCOME"]


def test_low_score_declines_with_the_scorecards_specific_reasons(decisions: pb_grpc.DecisionServiceStub) -> None:
    answer = grant(decisions, weak_applicant(new_user()))
    assert answer.outcome == pb.OUTCOME_DECLINE
    assert answer.credit_limit.minor_units == 0
    reason_codes = codes(answer.reasons)
    assert "LOW_SCORE" in reason_codes
    assert len(reason_codes) >= 2, "a low-score decline must name the scorecard's reasons, not only the cutoff"


def test_unverified_identity_and_unsigned_agreement_each_decline(decisions: pb_grpc.DecisionServiceStub) -> None:
    answer = grant(decisions, strong_applicant(new_user(), real_name_verified=False, agreement_signed=False))
    assert answer.outcome == pb.OUTCOME_DECLINE
    assert {"IDENTITY_NOT_VERIFIED", "AGREEMENT_NOT_SIGNED"} <= set(codes(answer.reasons))


def test_applicants_outside_18_to_65_are_declined(decisions: pb_grpc.DecisionServiceStub) -> None:
    for age in (17, 66):
        answer = grant(decisions, strong_applicant(new_user(), age=age))
        assert answer.outcome == pb.OUTCOME_DECLINE, age
    for age in (18, 65):
        assert grant(decisions, strong_applicant(new_user(), age=age)).outcome == pb.OUTCOME_APPROVE, age


def test_more_than_90_days_overdue_declines_as_severe_delinquency(decisions: pb_grpc.DecisionServiceStub) -> None:
    answer = grant(decisions, strong_applicant(new_user(), max_days_overdue_24m=91))
    assert answer.outcome == pb.OUTCOME_DECLINE
    assert "SEVERE_DELINQUENCY" in codes(answer.reasons)


def test_more_than_ten_inquiries_in_six_months_is_referred_for_review(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    answer = grant(decisions, strong_applicant(user, credit_inquiries_6m=11))
    assert answer.outcome == pb.OUTCOME_REVIEW
    assert answer.credit_limit.minor_units == 0
    assert answer.reasons
    missing = rpc_error(lambda: ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user)))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
