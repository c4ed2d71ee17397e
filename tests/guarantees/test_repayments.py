"""Repayments: never more than is owed, never against someone else's or an unknown drawdown, and exact totals
while repayments and drawdowns race on one line."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from service._gen.decision.v1 import decision_pb2 as pb
from tests.contract.helpers import details_of
from tests.guarantees.calls import (
    RPC_TIMEOUT,
    answers,
    credit_line,
    drawdown_of,
    log_in_from_own_device,
    new_user,
    open_line,
    repayment_of,
)
from tests.guarantees.conftest import Deployment
from tests.guarantees.ledger import Ledger
from tests.guarantees.servers import Client


def refusal(call: grpc.Future) -> grpc.RpcError:
    try:
        call.result()
    except grpc.RpcError as error:
        return error
    raise AssertionError("the call succeeded but had to be refused")


def precondition_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    return [(v.type, v.subject) for failure in details_of(error, error_details_pb2.PreconditionFailure)
            for v in failure.violations]


def approved_drawdown(client: Client, user: str, fen: int) -> str:
    answer = client.decisions.AuthorizeDrawdown(drawdown_of(user, fen), timeout=RPC_TIMEOUT)
    assert answer.outcome == pb.OUTCOME_APPROVE, answer
    return str(answer.drawdown_id)


def ledger_rows(ledger: Ledger, user: str) -> tuple[object, ...]:
    """Everything the ledger holds for one user, to compare before and after a refused call."""
    key = ledger.user_key(user)
    return (
        ledger.line_of(user),
        sorted(ledger.drawdowns_of(user), key=lambda d: d.drawdown_id),
        sorted((r.drawdown_id, r.amount) for r in ledger.repayments if r.user_key == key),
        sorted(d.decision_id for d in ledger.decisions_of(user)),
        sorted((e.event_type, e.amount) for e in ledger.events if e.user_key == key),
    )


def test_an_over_repayment_is_refused_with_a_clear_error_and_changes_nothing(deployment: Deployment) -> None:
    client = deployment.clients[0]
    user = new_user("over-repay")
    limit = open_line(client, user)
    drawdown_id = approved_drawdown(client, user, 500_000)
    paid = client.ledger.RecordRepayment(repayment_of(user, drawdown_id, 300_000), timeout=RPC_TIMEOUT)
    assert paid.outstanding_principal.minor_units == 200_000
    before = ledger_rows(deployment.ledger(), user)

    error = refusal(client.ledger.RecordRepayment.future(repayment_of(user, drawdown_id, 200_001), timeout=RPC_TIMEOUT))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "exceeds" in (error.details() or "")
    assert precondition_violations(error) == [("OVER_REPAYMENT", "amount")]
    assert ledger_rows(deployment.ledger(), user) == before
    line = credit_line(deployment.clients[1], user)
    assert (line.outstanding_principal.minor_units, line.available_limit.minor_units) == (200_000, limit - 200_000)
    settled = client.ledger.RecordRepayment(repayment_of(user, drawdown_id, 200_000), timeout=RPC_TIMEOUT)
    assert (settled.outstanding_principal.minor_units, settled.available_limit.minor_units) == (0, limit)
    error = refusal(client.ledger.RecordRepayment.future(repayment_of(user, drawdown_id, 1), timeout=RPC_TIMEOUT))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    deployment.ledger().assert_balances()


def test_repaying_an_unknown_drawdown_or_anothers_drawdown_is_not_found_and_changes_nothing(
    deployment: Deployment,
) -> None:
    client = deployment.clients[0]
    user, other = new_user("repay-unknown"), new_user("repay-other")
    open_line(client, user)
    open_line(client, other)
    mine = approved_drawdown(client, user, 200_000)
    theirs = approved_drawdown(client, other, 200_000)
    before = ledger_rows(deployment.ledger(), user), ledger_rows(deployment.ledger(), other)

    for request in (
        repayment_of(user, "dd_0000000000000000000000000000dead", 100),
        repayment_of(user, theirs, 100),
        repayment_of(new_user("no-line"), mine, 100),
    ):
        error = refusal(client.ledger.RecordRepayment.future(request, timeout=RPC_TIMEOUT))
        assert error.code() == grpc.StatusCode.NOT_FOUND, request

    assert (ledger_rows(deployment.ledger(), user), ledger_rows(deployment.ledger(), other)) == before
    deployment.ledger().assert_balances()


def test_concurrent_repayments_and_drawdowns_on_one_line_keep_its_totals_exact(deployment: Deployment) -> None:
    client = deployment.clients[0]
    user = new_user("repay-race")
    limit = open_line(client, user)
    log_in_from_own_device(client, user)
    first = approved_drawdown(client, user, 10_000_000)  # 100,000 CNY of the 200,000 limit
    # 60 repayments of 2,000 CNY race for the 100,000 CNY owed (50 fit), beside 20 drawdowns of 60,000 CNY that
    # fit only as repayments make room (a fourth drawdown within the hour is reviewed for velocity).
    repayments = [repayment_of(user, first, 200_000) for _ in range(60)]
    drawdowns = [drawdown_of(user, 6_000_000) for _ in range(20)]
    calls = []
    for n in range(80):
        entry = deployment.clients[n % len(deployment.clients)]
        if n % 4 == 3:
            calls.append(entry.decisions.AuthorizeDrawdown.future(drawdowns[n // 4], timeout=RPC_TIMEOUT))
        else:
            calls.append(entry.ledger.RecordRepayment.future(repayments[n - n // 4 - 1], timeout=RPC_TIMEOUT))
    results = answers(calls)

    repaid = [r for r in results if isinstance(r, pb.RecordRepaymentResponse)]
    refused = [r for r in results if isinstance(r, grpc.RpcError)]
    decided = [r for r in results if isinstance(r, pb.AuthorizeDrawdownResponse)]
    approved = [a for a in decided if a.outcome == pb.OUTCOME_APPROVE]
    assert len(decided) == 20
    assert len(repaid) == 50
    assert {e.code() for e in refused} == {grpc.StatusCode.FAILED_PRECONDITION} and len(refused) == 10
    for answer in decided:
        if answer.outcome != pb.OUTCOME_APPROVE:
            assert {r.code for r in answer.reasons} | {f.code for f in answer.fraud_flags} <= {
                "INSUFFICIENT_LIMIT",
                "VELOCITY_HOURLY",
            }, answer
    drawn_total = 10_000_000 + 6_000_000 * len(approved)
    repaid_total = 200_000 * len(repaid)
    line = credit_line(deployment.clients[1], user)
    assert line.outstanding_principal.minor_units == drawn_total - repaid_total
    assert line.available_limit.minor_units == limit - drawn_total + repaid_total
    ledger = deployment.ledger()
    ledger.assert_balances()
    assert ledger.line_of(user).outstanding_principal == drawn_total - repaid_total
    assert {d.drawdown_id for d in ledger.drawdowns_of(user)} == {first, *(a.drawdown_id for a in approved)}
