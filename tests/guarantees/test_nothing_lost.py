"""Nothing lost: SIGKILL the whole server (supervisor and workers) while drawdowns and repayments stream in,
restart it on the same database, and find every acknowledged answer in the ledger, nothing half-written,
the totals balanced, and every unanswered call safely retryable."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import grpc
import pytest
from google.protobuf.message import Message

from service._gen.decision.v1 import decision_pb2 as pb
from tests.guarantees.calls import RPC_TIMEOUT, credit_line, drawdown_of, new_user, open_line, repayment_of
from tests.guarantees.ledger import read_ledger
from tests.guarantees.servers import Client, clients, running_servers

USERS = 24
THREADS = 8
KILL_AFTER_APPROVALS = 30  # of the 3 per user the velocity rule lets through within an hour


@dataclass
class Sent:
    request: Message
    answer: Message | None = None
    error: grpc.RpcError | None = None


@dataclass
class Load:
    """Client threads that each own a few users and send drawdowns, and repayments of what they drew, until
    their server stops answering."""

    clients: list[Client]
    users: list[str]
    sent: list[Sent] = field(default_factory=list)
    approvals: int = 0
    enough: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)
    errors_before_kill: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, thread: int) -> None:
        rng = random.Random(thread)
        client = self.clients[thread % len(self.clients)]
        mine = self.users[thread::THREADS]
        owed: dict[str, tuple[str, int]] = {}  # drawdown id -> (user, principal not yet repaid)
        while True:
            if owed and rng.random() < 0.3:
                drawdown_id = rng.choice(sorted(owed))
                user, left = owed[drawdown_id]
                amount = min(left, rng.randrange(100, 1_000) * 100)
                sent = Sent(repayment_of(user, drawdown_id, amount))
                call = client.ledger.RecordRepayment
            else:
                user, amount = rng.choice(mine), rng.randrange(100, 3_000) * 100
                sent = Sent(drawdown_of(user, amount))
                call = client.decisions.AuthorizeDrawdown
            try:
                sent.answer = call(sent.request, timeout=RPC_TIMEOUT)
            except grpc.RpcError as error:
                sent.error = error
            with self._lock:
                self.sent.append(sent)
                if sent.error is not None:
                    if not self.killed.is_set():
                        self.errors_before_kill.append(f"{sent.error.code().name}: {sent.error.details()}")
                    return
                if isinstance(sent.answer, pb.RecordRepaymentResponse):
                    left -= amount
                    owed[drawdown_id] = (user, left)
                    if left == 0:
                        del owed[drawdown_id]
                elif isinstance(sent.answer, pb.AuthorizeDrawdownResponse) and sent.answer.drawdown_id:
                    owed[sent.answer.drawdown_id] = (user, amount)
                    self.approvals += 1
                    if self.approvals >= KILL_AFTER_APPROVALS:
                        self.enough.set()


def stored_answer(rpc_answer: Message, response: bytes) -> Message:
    return type(rpc_answer).FromString(response)


@pytest.mark.slow
def test_an_acknowledged_drawdown_survives_sigkill_and_nothing_is_half_written(database_url: str) -> None:
    users = [new_user("crash") for _ in range(USERS)]
    with running_servers(database_url, 1) as (server,), clients([server], per_server=4) as spread:
        for user in users:
            open_line(spread[0], user)
        load = Load(spread, users)
        threads = [threading.Thread(target=load.run, args=(n,), daemon=True) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        assert load.enough.wait(timeout=60), f"only {load.approvals} approvals within 60 s"
        load.killed.set()
        server.kill()
        for thread in threads:
            thread.join(timeout=RPC_TIMEOUT + 5)
            assert not thread.is_alive()

    assert load.errors_before_kill == []
    acknowledged = [s for s in load.sent if s.answer is not None]
    unanswered = [s for s in load.sent if s.error is not None]
    assert {s.error.code() for s in unanswered if s.error} <= {grpc.StatusCode.UNAVAILABLE}
    assert len(unanswered) >= 1, "the kill must catch calls in flight"

    with running_servers(database_url, 1) as (restarted,), clients([restarted], per_server=1) as (client,):
        ledger = read_ledger(database_url)
        ledger.assert_balances()
        for sent in acknowledged:
            assert sent.answer is not None
            record = ledger.decisions.get(sent.answer.meta.decision_id)  # type: ignore[attr-defined]
            assert record is not None, f"an acknowledged {type(sent.answer).__name__} is not on record"
            assert stored_answer(sent.answer, record.response) == sent.answer
            if isinstance(sent.answer, pb.AuthorizeDrawdownResponse) and sent.answer.drawdown_id:
                drawdown = ledger.drawdowns.get(sent.answer.drawdown_id)
                assert drawdown is not None, "an acknowledged APPROVE is not in the ledger"
                assert drawdown.amount == sent.request.amount.minor_units  # type: ignore[attr-defined]

        # A client retries what went unanswered: what was committed is replayed, the rest is decided now.
        committed_unanswered = 0
        for sent in unanswered:
            record = ledger.decision_for_request(sent.request.request_id)  # type: ignore[attr-defined]
            stub = (
                client.decisions.AuthorizeDrawdown
                if isinstance(sent.request, pb.AuthorizeDrawdownRequest)
                else client.ledger.RecordRepayment
            )
            retried = stub(sent.request, timeout=RPC_TIMEOUT)
            assert retried.meta.replayed == (record is not None)
            if record is not None:
                committed_unanswered += 1
                retried.meta.replayed = False
                assert stored_answer(retried, record.response) == retried

        after = read_ledger(database_url)
        after.assert_balances()
        for user in users:
            line = credit_line(client, user)
            assert line.outstanding_principal.minor_units == after.line_of(user).outstanding_principal
            assert (
                line.available_limit.minor_units
                == line.credit_limit.minor_units - line.outstanding_principal.minor_units
            )
    print(
        f"{len(acknowledged)} answered, {len(unanswered)} cut off by the kill, {committed_unanswered} of them"
        f" committed; {len(ledger.drawdowns)} drawdowns, {len(ledger.repayments)} repayments on record"
    )
