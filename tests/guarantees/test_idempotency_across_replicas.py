"""Idempotency across replicas: one request_id sent to two replicas at the same moment is decided once.

On PostgreSQL the two calls go to two `decisiond serve` supervisors; on SQLite (one server) to its two worker
processes over two connections. Each pair is repeated for many users at once, so that the two transactions
really race (on PostgreSQL the loser finds the request_id taken only when it inserts its record)."""

from __future__ import annotations

from google.protobuf.message import Message

from service._gen.decision.v1 import decision_pb2 as pb
from tests.guarantees.calls import (
    RPC_TIMEOUT,
    answers,
    credit_line,
    drawdown_of,
    errors_of,
    new_user,
    open_line,
    repayment_of,
)
from tests.guarantees.conftest import Deployment
from tests.support.builders import request_id, strong_applicant

USERS = 16
ROUNDS_PER_USER = 3  # a fourth drawdown within the hour would be reviewed for velocity


def without_replay_mark(answer: Message) -> Message:
    copy = type(answer)()
    copy.CopyFrom(answer)
    copy.meta.replayed = False  # type: ignore[attr-defined]
    return copy


def assert_decided_once(first: Message, second: Message) -> None:
    """Two identical answers, exactly one of them the stored answer replayed."""
    assert sorted([first.meta.replayed, second.meta.replayed]) == [False, True]  # type: ignore[attr-defined]
    assert without_replay_mark(first) == without_replay_mark(second)


def test_the_same_drawdown_sent_to_two_replicas_at_once_is_drawn_once(deployment: Deployment) -> None:
    first_entry, second_entry = deployment.clients[0], deployment.clients[1]
    users = [new_user("twice") for _ in range(USERS)]
    for user in users:
        open_line(first_entry, user)
    sent: dict[str, list[pb.AuthorizeDrawdownRequest]] = {user: [] for user in users}

    for round_number in range(ROUNDS_PER_USER):
        # All users' pairs go out together; the two calls of a pair leave back to back for two replicas.
        pairs = []
        for n, user in enumerate(users):
            request = drawdown_of(user, (1_000 + 100 * n + 10 * round_number) * 100)
            sent[user].append(request)
            pairs.append(
                (
                    first_entry.decisions.AuthorizeDrawdown.future(request, timeout=RPC_TIMEOUT),
                    second_entry.decisions.AuthorizeDrawdown.future(request, timeout=RPC_TIMEOUT),
                )
            )
        for pair in pairs:
            results = answers(pair)
            assert errors_of(results) == []
            first, second = results
            assert first.outcome == pb.OUTCOME_APPROVE, first
            assert_decided_once(first, second)

    ledger = deployment.ledger()
    ledger.assert_balances()
    for user in users:
        amounts = sorted(r.amount.minor_units for r in sent[user])
        assert sorted(d.amount for d in ledger.drawdowns_of(user)) == amounts
        assert credit_line(second_entry, user).outstanding_principal.minor_units == sum(amounts)
        for request in sent[user]:
            decision = ledger.decision_for_request(request.request_id)
            assert decision is not None and decision.rpc == "AuthorizeDrawdown"


def test_the_same_repayment_sent_to_two_replicas_at_once_is_booked_once(deployment: Deployment) -> None:
    first_entry, second_entry = deployment.clients[0], deployment.clients[1]
    users = [new_user("repay-twice") for _ in range(USERS)]
    drawn = {}
    for user in users:
        open_line(first_entry, user)
        answer = first_entry.decisions.AuthorizeDrawdown(drawdown_of(user, 900_000), timeout=RPC_TIMEOUT)
        assert answer.outcome == pb.OUTCOME_APPROVE, answer
        drawn[user] = answer.drawdown_id

    for _ in range(ROUNDS_PER_USER):
        requests = [repayment_of(user, drawn[user], 100_000) for user in users]
        pairs = [
            (
                first_entry.ledger.RecordRepayment.future(request, timeout=RPC_TIMEOUT),
                second_entry.ledger.RecordRepayment.future(request, timeout=RPC_TIMEOUT),
            )
            for request in requests
        ]
        for pair in pairs:
            results = answers(pair)
            assert errors_of(results) == []
            assert_decided_once(*results)

    ledger = deployment.ledger()
    ledger.assert_balances()
    for user in users:
        assert credit_line(second_entry, user).outstanding_principal.minor_units == 900_000 - 3 * 100_000
        assert [d.repaid_principal for d in ledger.drawdowns_of(user)] == [3 * 100_000]


def test_the_same_first_grant_sent_to_two_replicas_at_once_is_decided_once(deployment: Deployment) -> None:
    """A user with no line yet has no row to lock: both calls decide, and the one whose line is written second
    finds the line there. It is decided again and so meets its twin's record: replayed, not UNAVAILABLE."""
    first_entry, second_entry = deployment.clients[0], deployment.clients[1]
    requests = [
        pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(new_user("grant-twice")))
        for _ in range(USERS * ROUNDS_PER_USER)
    ]
    pairs = [
        (
            first_entry.decisions.GrantLimit.future(request, timeout=RPC_TIMEOUT),
            second_entry.decisions.GrantLimit.future(request, timeout=RPC_TIMEOUT),
        )
        for request in requests
    ]
    granted = []
    for pair in pairs:
        results = answers(pair)
        assert errors_of(results) == []
        assert results[0].outcome == pb.OUTCOME_APPROVE, results[0]
        assert_decided_once(*results)
        granted.append(results[0].credit_limit.minor_units)

    ledger = deployment.ledger()
    for request, limit in zip(requests, granted, strict=True):
        assert [d.request_id for d in ledger.decisions_of(request.applicant.user_id)] == [request.request_id]
        line = credit_line(second_entry, request.applicant.user_id)
        assert (line.status, line.credit_limit.minor_units) == ("ACTIVE", limit)


def test_two_first_grants_of_one_user_sent_to_two_replicas_at_once_are_both_decided(deployment: Deployment) -> None:
    """A sign-up submitted twice (two request ids) for a user with no line: both are decided, the later on the line
    the first opened, and neither fails UNAVAILABLE."""
    first_entry, second_entry = deployment.clients[0], deployment.clients[1]
    users = [new_user("grant-both") for _ in range(USERS * ROUNDS_PER_USER)]
    pairs = [
        tuple(
            entry.decisions.GrantLimit.future(
                pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user)), timeout=RPC_TIMEOUT
            )
            for entry in (first_entry, second_entry)
        )
        for user in users
    ]
    for pair in pairs:
        results = answers(pair)
        assert errors_of(results) == []
        assert [r.outcome for r in results] == [pb.OUTCOME_APPROVE] * 2, results
        assert not any(r.meta.replayed for r in results)
    ledger = deployment.ledger()
    for user in users:
        assert sorted(d.rpc for d in ledger.decisions_of(user)) == ["GrantLimit", "GrantLimit"]
