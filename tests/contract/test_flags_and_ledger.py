"""FlagTransaction, GetCreditLine and RecordRepayment through the real server."""

from __future__ import annotations

import dataclasses

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.app.pseudonyms import Pseudonyms
from service.bootstrap import Service
from service.domain.model import LineStatus
from tests.contract.helpers import error_reason, known_device, new_user, open_line, rpc_error
from tests.support.builders import cny, drawdown, request_id

MULE = "CP-MULE-0001"


def flag(decisions: pb_grpc.DecisionServiceStub, **fields: object) -> pb.FlagTransactionResponse:
    transaction = pb.Transaction(transaction_id=request_id()[:24], **fields)  # type: ignore[arg-type]
    return decisions.FlagTransaction(pb.FlagTransactionRequest(request_id=request_id(), transaction=transaction))


def test_an_ordinary_login_carries_no_risk(decisions: pb_grpc.DecisionServiceStub) -> None:
    answer = flag(decisions, user_id=new_user(), type=pb.TRANSACTION_TYPE_LOGIN, channel=pb.Channel(country="CN"))
    assert answer.risk_level == pb.RISK_LEVEL_NONE
    assert answer.outcome == pb.OUTCOME_APPROVE
    assert list(answer.flags) == []
    assert answer.meta.decision_id


def test_payment_to_a_listed_mule_account_is_declined_with_high_risk(decisions: pb_grpc.DecisionServiceStub) -> None:
    answer = flag(
        decisions, user_id=new_user(), type=pb.TRANSACTION_TYPE_TRANSFER_OUT, amount=cny(800), counterparty_id=MULE
    )
    assert answer.outcome == pb.OUTCOME_DECLINE
    assert answer.risk_level == pb.RISK_LEVEL_HIGH
    assert "MULE_COUNTERPARTY" in [f.code for f in answer.flags]


def test_moving_drawn_money_out_to_a_new_counterparty_is_referred_as_rapid_movement(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    user = new_user()
    open_line(decisions, user)
    known_device(decisions, user, f"dev-{user}")
    assert decisions.AuthorizeDrawdown(drawdown(user, 9_000)).outcome == pb.OUTCOME_APPROVE
    small = flag(
        decisions, user_id=user, type=pb.TRANSACTION_TYPE_TRANSFER_OUT, amount=cny(1_000), counterparty_id="acct-a"
    )
    assert small.risk_level == pb.RISK_LEVEL_NONE
    rest = flag(
        decisions, user_id=user, type=pb.TRANSACTION_TYPE_TRANSFER_OUT, amount=cny(7_200), counterparty_id="acct-b"
    )
    assert rest.outcome == pb.OUTCOME_REVIEW
    assert rest.risk_level == pb.RISK_LEVEL_HIGH
    assert [f.code for f in rest.flags] == ["RAPID_MOVEMENT"]


def test_events_reported_with_a_past_time_count_at_that_time(decisions: pb_grpc.DecisionServiceStub) -> None:
    user = new_user()
    open_line(decisions, user)
    known_device(decisions, user, f"dev-{user}")
    three_days_ago = Timestamp()
    three_days_ago.GetCurrentTime()
    three_days_ago.seconds -= 3 * 86_400
    flag(decisions, user_id=user, type=pb.TRANSACTION_TYPE_PASSWORD_CHANGE, occurred_at=three_days_ago)
    assert decisions.AuthorizeDrawdown(drawdown(user, 100_000)).outcome == pb.OUTCOME_APPROVE
    an_hour_ago = Timestamp()
    an_hour_ago.GetCurrentTime()
    an_hour_ago.seconds -= 3_600
    flag(decisions, user_id=user, type=pb.TRANSACTION_TYPE_PHONE_CHANGE, occurred_at=an_hour_ago)
    after_change = decisions.AuthorizeDrawdown(drawdown(user, 50_000))  # half of the 100,000 CNY still available
    assert after_change.outcome == pb.OUTCOME_REVIEW
    assert [f.code for f in after_change.fraud_flags] == ["ATO_RECENT_CREDENTIAL_CHANGE"]


def test_an_event_reported_ahead_of_the_servers_clock_counts_from_now(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """A reporter whose clock runs two minutes fast: its password change has happened, and the drawdown right
    after it is referred as it would be had the change come with no time (recorded ahead, it stayed out of the
    drawdown's history windows until its time came)."""
    user = new_user()
    open_line(decisions, user)
    known_device(decisions, user, f"dev-{user}")
    ahead = Timestamp()
    ahead.GetCurrentTime()
    ahead.seconds += 120
    flag(decisions, user_id=user, type=pb.TRANSACTION_TYPE_PASSWORD_CHANGE, occurred_at=ahead)
    answer = decisions.AuthorizeDrawdown(drawdown(user, 100_000))
    assert answer.outcome == pb.OUTCOME_REVIEW
    assert [f.code for f in answer.fraud_flags] == ["ATO_RECENT_CREDENTIAL_CHANGE"]


def test_repayment_restores_the_available_limit(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    open_line(decisions, user)
    taken = decisions.AuthorizeDrawdown(drawdown(user, 3_000))
    assert taken.outcome == pb.OUTCOME_APPROVE
    repaid = ledger.RecordRepayment(
        pb.RecordRepaymentRequest(
            request_id=request_id(), user_id=user, drawdown_id=taken.drawdown_id, amount=cny(1_000)
        )
    )
    assert repaid.outstanding_principal == cny(2_000)
    assert repaid.available_limit == cny(198_000)
    line = ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user))
    assert (line.outstanding_principal, line.available_limit) == (cny(2_000), cny(198_000))


def test_over_repayment_is_refused_and_changes_nothing(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    open_line(decisions, user)
    taken = decisions.AuthorizeDrawdown(drawdown(user, 3_000))
    error = rpc_error(
        lambda: ledger.RecordRepayment(
            pb.RecordRepaymentRequest(
                request_id=request_id(), user_id=user, drawdown_id=taken.drawdown_id, amount=cny(3_001)
            )
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "exceeds" in (error.details() or "")
    assert error_reason(error) == ("decisiond", "OVER_REPAYMENT")
    assert ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user)).outstanding_principal == cny(3_000)


def test_unknown_user_and_unknown_drawdown_are_not_found(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    nobody = rpc_error(lambda: ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=new_user())))
    assert nobody.code() == grpc.StatusCode.NOT_FOUND
    user = new_user()
    open_line(decisions, user)
    no_drawdown = rpc_error(
        lambda: ledger.RecordRepayment(
            pb.RecordRepaymentRequest(request_id=request_id(), user_id=user, drawdown_id="dd_nope", amount=cny(1))
        )
    )
    assert no_drawdown.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(no_drawdown) == ("decisiond", "DRAWDOWN_NOT_FOUND")
    no_user = rpc_error(
        lambda: ledger.RecordRepayment(
            pb.RecordRepaymentRequest(request_id=request_id(), user_id=new_user(), drawdown_id="dd_x", amount=cny(1))
        )
    )
    assert no_user.code() == grpc.StatusCode.NOT_FOUND


def test_a_frozen_line_shows_nothing_available_and_a_grant_on_it_says_it_stays_frozen(
    service: Service, decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    """What a client shows its user, or checks before drawing, is what can be drawn now: nothing, on a line the
    back office froze; and a GrantLimit approval on it says why the limit it sets cannot be used."""
    user = new_user()
    open_line(decisions, user)
    drawn = decisions.AuthorizeDrawdown(drawdown(user, 1_000))
    assert drawn.outcome == pb.OUTCOME_APPROVE
    user_key = Pseudonyms(service.store.pseudonym_key()).user_key(user)
    with service.store.unit_of_work() as uow:
        line = uow.get_credit_line(user_key)
        assert line is not None
        uow.save_credit_line(dataclasses.replace(line, status=LineStatus.FROZEN))
    view = ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user))
    assert (view.status, view.available_limit.minor_units) == ("FROZEN", 0)
    assert view.outstanding_principal.minor_units == 100_000
    declined = decisions.AuthorizeDrawdown(drawdown(user, 500))
    assert declined.outcome == pb.OUTCOME_DECLINE
    assert "LINE_NOT_ACTIVE" in [r.code for r in declined.reasons]
    assert declined.available_limit.minor_units == 0
    repaid = ledger.RecordRepayment(
        pb.RecordRepaymentRequest(
            request_id=request_id(), user_id=user, drawdown_id=drawn.drawdown_id, amount=cny(100)
        )
    )
    assert repaid.available_limit.minor_units == 0
    regrant = open_line(decisions, user)
    assert regrant.outcome == pb.OUTCOME_APPROVE
    assert "LINE_NOT_ACTIVE" in [r.code for r in regrant.reasons]
    assert ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user)).status == "FROZEN"
