"""Store unavailable: with PostgreSQL cut off (a proxy in the test between the server and the database, so
the machine's PostgreSQL keeps serving everyone else), calls fail fast with UNAVAILABLE, nothing is approved
that was not recorded, and when the database returns the same server approves again without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from google.protobuf.message import Message

from service._gen.decision.v1 import decision_pb2 as pb
from tests.guarantees.calls import (
    RPC_TIMEOUT,
    drawdown_of,
    new_user,
    open_line,
    repayment_of,
)
from tests.guarantees.ledger import read_ledger
from tests.guarantees.servers import Client, clients, running_servers
from tests.storage.tcp_proxy import TcpProxy
from tests.support.builders import request_id, strong_applicant

FAIL_FAST_SECONDS = 5.0
RECOVERY_SECONDS = 20.0


@dataclass
class Outcome:
    request: Message
    seconds: float
    answer: Message | None = None
    error: grpc.RpcError | None = None


@dataclass
class Traffic:
    """Drawdowns sent without pause from a few threads, through the outage and after it."""

    clients: list[Client]
    users: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    answered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, thread: int) -> None:
        client, n = self.clients[thread % len(self.clients)], thread
        while not self.stop.is_set():
            n += 1
            request = drawdown_of(self.users[n % len(self.users)], 100_000)
            started = time.monotonic()
            outcome = Outcome(request, 0.0)
            try:
                outcome.answer = client.decisions.AuthorizeDrawdown(request, timeout=RPC_TIMEOUT)
                self.answered.release()
            except grpc.RpcError as error:
                outcome.error = error
            outcome.seconds = time.monotonic() - started
            with self._lock:
                self.outcomes.append(outcome)


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{proxy.port}"))


def every_kind_of_call(client: Client, user: str, drawdown_id: str) -> dict[str, Callable[[], grpc.Future]]:
    """One call of each of the six RPCs, all of which need the database."""
    return {
        "ScoreUser": lambda: client.decisions.ScoreUser.future(
            pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant(user)), timeout=RPC_TIMEOUT
        ),
        "GrantLimit": lambda: client.decisions.GrantLimit.future(
            pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user)), timeout=RPC_TIMEOUT
        ),
        "AuthorizeDrawdown": lambda: client.decisions.AuthorizeDrawdown.future(
            drawdown_of(user, 100_000), timeout=RPC_TIMEOUT
        ),
        "FlagTransaction": lambda: client.decisions.FlagTransaction.future(
            pb.FlagTransactionRequest(
                request_id=request_id(),
                transaction=pb.Transaction(transaction_id=request_id(), user_id=user, type=pb.TRANSACTION_TYPE_LOGIN),
            ),
            timeout=RPC_TIMEOUT,
        ),
        "GetCreditLine": lambda: client.ledger.GetCreditLine.future(
            pb.GetCreditLineRequest(user_id=user), timeout=RPC_TIMEOUT
        ),
        "RecordRepayment": lambda: client.ledger.RecordRepayment.future(
            repayment_of(user, drawdown_id, 100), timeout=RPC_TIMEOUT
        ),
    }


def timed(calls: dict[str, Callable[[], grpc.Future]]) -> dict[str, tuple[grpc.StatusCode, float]]:
    """Start every call at once; each one's status and how long it took."""
    started = time.monotonic()
    finished: dict[str, float] = {}
    futures = {}
    for name, call in calls.items():
        futures[name] = call()
        futures[name].add_done_callback(lambda _, name=name: finished.__setitem__(name, time.monotonic()))
    results = {}
    for name, future in futures.items():
        error = future.exception()
        code = grpc.StatusCode.OK if error is None else error.code()
        results[name] = (code, finished.get(name, time.monotonic()) - started)
    return results


@pytest.mark.slow
def test_with_the_database_cut_off_calls_fail_fast_and_the_service_recovers_by_itself(postgres_url: str) -> None:
    target = urlsplit(postgres_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxy.start()
    try:
        with running_servers(through(proxy, postgres_url), 1) as (server,), clients([server], per_server=8) as spread:
            busy, spare = [new_user("outage") for _ in range(6)], [new_user("outage-spare") for _ in range(10)]
            for user in busy + spare:
                open_line(spread[0], user)
            owing = spread[0].decisions.AuthorizeDrawdown(drawdown_of(spare[0], 100_000), timeout=RPC_TIMEOUT)
            traffic = Traffic(spread, busy)
            threads = [threading.Thread(target=traffic.run, args=(n,), daemon=True) for n in range(4)]
            for thread in threads:
                thread.start()
            for _ in range(10):
                assert traffic.answered.acquire(timeout=RPC_TIMEOUT)

            proxy.stop()  # PostgreSQL is gone for this server: connections cut, new ones refused
            during = timed(every_kind_of_call(spread[1], spare[0], owing.drawdown_id))

            proxy.start()
            back_at = time.monotonic()
            recovered = None
            while recovered is None and time.monotonic() - back_at < RECOVERY_SECONDS:
                with_answer = timed({"probe": every_kind_of_call(spread[2], spare[1], "")["AuthorizeDrawdown"]})
                if with_answer["probe"][0] is grpc.StatusCode.OK:
                    recovered = time.monotonic() - back_at
            after = [
                client.decisions.AuthorizeDrawdown(drawdown_of(user, 100_000), timeout=RPC_TIMEOUT)
                for client, user in zip(spread, spare[2:], strict=True)
            ]
            traffic.stop.set()
            for thread in threads:
                thread.join(timeout=RPC_TIMEOUT + 5)
                assert not thread.is_alive()
            ledger = read_ledger(postgres_url)  # as the outage left it, before any retry
            retried = [
                (o, spread[0].decisions.AuthorizeDrawdown(o.request, timeout=RPC_TIMEOUT))
                for o in traffic.outcomes
                if o.error is not None
            ]
    finally:
        proxy.stop()

    assert {name: code for name, (code, _) in during.items()} == {name: grpc.StatusCode.UNAVAILABLE for name in during}
    assert max(seconds for _, seconds in during.values()) < FAIL_FAST_SECONDS, during
    failed = [o for o in traffic.outcomes if o.error is not None]
    assert failed, "the outage must have caught calls of the traffic"
    assert {o.error.code() for o in failed if o.error} == {grpc.StatusCode.UNAVAILABLE}
    assert max(o.seconds for o in failed) < FAIL_FAST_SECONDS
    assert recovered is not None, f"no drawdown was decided within {RECOVERY_SECONDS} s of the database's return"
    assert [a.outcome for a in after] == [pb.OUTCOME_APPROVE] * len(after), (
        "every connection (both workers) approves again"
    )

    ledger.assert_balances()
    for outcome in traffic.outcomes:
        if outcome.answer is not None and outcome.answer.drawdown_id:  # type: ignore[attr-defined]
            assert outcome.answer.drawdown_id in ledger.drawdowns  # type: ignore[attr-defined]
    for outcome, retry in retried:
        recorded = ledger.decision_for_request(outcome.request.request_id)  # type: ignore[attr-defined]
        assert retry.meta.replayed == (recorded is not None)
    read_ledger(postgres_url).assert_balances()
    print(f"failed within {max(s for _, s in during.values()):.2f} s; approving again {recovered:.2f} s after")
