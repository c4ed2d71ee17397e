"""The velocity rule (the fourth drawdown within an hour is reviewed) must hold when drawdowns race.

Not a ledger guarantee (the limit holds regardless), but a fraud control that concurrent callers could get
around on PostgreSQL while the decision time was read before the user's line was locked.
"""

from __future__ import annotations

from service._gen.decision.v1 import decision_pb2 as pb
from tests.guarantees.calls import RPC_TIMEOUT, answers, drawdown_of, errors_of, new_user
from tests.guarantees.conftest import Deployment
from tests.support.builders import request_id, strong_applicant

LINES = 16
CALLS_PER_LINE = 32


def test_the_fourth_concurrent_drawdown_within_an_hour_is_reviewed(deployment: Deployment) -> None:
    users = [new_user("velocity") for _ in range(LINES)]
    opened = [
        deployment.clients[n % len(deployment.clients)].decisions.GrantLimit.future(
            pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user)), timeout=RPC_TIMEOUT
        )
        for n, user in enumerate(users)
    ]
    assert [a.outcome for a in answers(opened)] == [pb.OUTCOME_APPROVE] * LINES
    # Warm every worker up to full concurrency first (connection pools grow on demand).
    warm_up = [
        client.ledger.GetCreditLine.future(pb.GetCreditLineRequest(user_id=user), timeout=RPC_TIMEOUT)
        for client in deployment.clients
        for user in users
        for _ in range(4)
    ]
    assert errors_of(answers(warm_up)) == []
    futures = [
        deployment.clients[(n * LINES + i) % len(deployment.clients)].decisions.AuthorizeDrawdown.future(
            drawdown_of(user, 100_000), timeout=RPC_TIMEOUT
        )
        for n in range(CALLS_PER_LINE)
        for i, user in enumerate(users)
    ]
    results = answers(futures)

    assert errors_of(results) == []
    ledger = deployment.ledger()
    ledger.assert_balances()
    approved_per_line = {user: len(ledger.drawdowns_of(user)) for user in users}
    assert approved_per_line == {user: 3 for user in users}
    reviewed = [a for a in results if a.outcome != pb.OUTCOME_APPROVE]
    assert {(a.outcome, tuple(f.code for f in a.fraud_flags)) for a in reviewed} == {
        (pb.OUTCOME_REVIEW, ("VELOCITY_HOURLY",))
    }
