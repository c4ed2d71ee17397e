"""No overdraw: many concurrent drawdowns on one line, through every replica at once, never exceed its limit,
and the line's outstanding principal is exactly what was approved."""

from __future__ import annotations

import random

from service._gen.decision.v1 import decision_pb2 as pb
from tests.guarantees.calls import (
    RPC_TIMEOUT,
    answers,
    credit_line,
    drawdown_of,
    errors_of,
    log_in_from_own_device,
    new_user,
    open_line,
)
from tests.guarantees.conftest import Deployment

CALLS_PER_LINE = 64
LINES = 4


def amounts_where_only_the_limit_binds(limit: int, count: int, seed: int) -> list[int]:
    """Amounts above a third of the limit and below two thirds: at most two fit, so the velocity rule (the
    fourth drawdown within an hour) can never be what refuses one; whole yuan, varied, so that which
    ones fit depends on the order the database sees them in."""
    rng = random.Random(seed)
    return [rng.randrange(limit // 3 + 100, 2 * limit // 3, 100) for _ in range(count)]


def test_concurrent_drawdowns_on_one_line_from_every_replica_never_overdraw_it(deployment: Deployment) -> None:
    users = [new_user("overdraw") for _ in range(LINES)]
    limits = {}
    for user in users:
        limits[user] = open_line(deployment.clients[0], user)
        log_in_from_own_device(deployment.clients[0], user)
    requests = {
        user: [drawdown_of(user, fen) for fen in amounts_where_only_the_limit_binds(limits[user], CALLS_PER_LINE, n)]
        for n, user in enumerate(users)
    }

    # Every call is in flight before any is answered: the lines' calls interleaved, spread over all clients.
    futures = {
        user: [
            deployment.clients[(i * LINES + n) % len(deployment.clients)].decisions.AuthorizeDrawdown.future(
                request, timeout=RPC_TIMEOUT
            )
            for i, request in enumerate(requests[user])
        ]
        for n, user in enumerate(users)
    }
    results = {user: answers(futures[user]) for user in users}

    ledger = deployment.ledger()
    ledger.assert_balances()
    for user in users:
        assert errors_of(results[user]) == [], "every call must be decided"
        limit = limits[user]
        approved = [
            (r, a) for r, a in zip(requests[user], results[user], strict=True) if a.outcome == pb.OUTCOME_APPROVE
        ]
        refused = [
            (r, a) for r, a in zip(requests[user], results[user], strict=True) if a.outcome != pb.OUTCOME_APPROVE
        ]
        approved_total = sum(r.amount.minor_units for r, _ in approved)
        line = credit_line(deployment.clients[1], user)

        assert 1 <= len(approved) <= 2
        assert approved_total <= limit
        assert line.credit_limit.minor_units == limit
        assert line.outstanding_principal.minor_units == approved_total
        assert line.available_limit.minor_units == limit - approved_total
        assert ledger.line_of(user).outstanding_principal == approved_total
        assert sorted(d.drawdown_id for d in ledger.drawdowns_of(user)) == sorted(a.drawdown_id for _, a in approved)
        # Each refusal is the ledger's, and only for want of room: nothing else refused these calls.
        for request, answer in refused:
            assert answer.outcome == pb.OUTCOME_DECLINE
            assert [reason.code for reason in answer.reasons] == ["INSUFFICIENT_LIMIT"]
            assert list(answer.fraud_flags) == []
            assert request.amount.minor_units > line.available_limit.minor_units
        # Each approval reports the room left right after it, in the order the database applied them.
        in_order = sorted(approved, key=lambda pair: -pair[1].available_limit.minor_units)
        room = limit
        for request, answer in in_order:
            room -= request.amount.minor_units
            assert answer.available_limit.minor_units == room
            assert sum(i.principal.minor_units for i in answer.schedule) == request.amount.minor_units


def test_a_replayed_burst_of_the_same_drawdowns_moves_nothing(deployment: Deployment) -> None:
    """Retrying every call of a burst, through the other replica, replays the stored answers."""
    user = new_user("overdraw-retry")
    limit = open_line(deployment.clients[0], user)
    log_in_from_own_device(deployment.clients[0], user)
    requests = [drawdown_of(user, fen) for fen in amounts_where_only_the_limit_binds(limit, 16, 99)]
    first = answers(
        [deployment.clients[0].decisions.AuthorizeDrawdown.future(r, timeout=RPC_TIMEOUT) for r in requests]
    )
    again = answers(
        [deployment.clients[1].decisions.AuthorizeDrawdown.future(r, timeout=RPC_TIMEOUT) for r in requests]
    )

    assert errors_of(first) == errors_of(again) == []
    for original, replayed in zip(first, again, strict=True):
        assert replayed.meta.replayed
        replayed.meta.replayed = False
        assert replayed == original
    approved_total = sum(
        r.amount.minor_units for r, a in zip(requests, first, strict=True) if a.outcome == pb.OUTCOME_APPROVE
    )
    assert credit_line(deployment.clients[1], user).outstanding_principal.minor_units == approved_total
    deployment.ledger().assert_balances()
