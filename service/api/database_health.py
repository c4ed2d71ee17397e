"""What health checking reports for each service: the rules decide whether decisions can be made, and the database
(over the network, PostgreSQL; or the embedded one's file, SQLite) whether anything but the rule status can be
answered.

Why the database: while a replica's database does not answer, every decision and ledger read there fails UNAVAILABLE
after the store's timeout. A health-checking load balancer that is told SERVING keeps sending calls to it, and a
replica that alone has lost its database (its own network path) is never failed over. So the decision and ledger
services, and the server as a whole (""), report NOT_SERVING from the moment a call finds the database unavailable,
or a check finds it silent, until a check finds it answering again.

The check is a unit of work that writes nothing (a pooled connection, BEGIN, whether the database takes writes,
COMMIT), run in a greenlet on the serving loop like a call (so it never blocks the loop), and bounded by the store's
timeout like a call. It runs a second after the last one ended, also while no call comes: an idle replica then reports
an outage before its first caller waits out the timeout and fails, at the cost of one such transaction a second per
worker, next to nothing beside the calls (no check per call: a call that succeeds costs health nothing). A call that
fails starts a check at once, so that a failure that was no outage (a call that met a lock another session held past
the timeout) shows as NOT_SERVING only for the few milliseconds of that check.

A database that answers but takes no writes (a hot standby after a failover, or default_transaction_read_only set) is
an outage too: every call writes, so every call there fails. The check asks whether it takes writes (one statement, a
second); every call's BEGIN does not: asking there costs each call, and BEGIN READ WRITE, which a standby refuses,
would override a default_transaction_read_only an operator set. A call finds it out at its first write.

On SQLite, a call that fails does not make NOT_SERVING by itself: there StoreUnavailable mostly means another process
holds the write lock for a while (a shell, a VACUUM), which every replica on that file meets alike; NOT_SERVING would
make health flap and send the calls nowhere better. The check there (EmbeddedLedgerCheck) is whether the file at the
ledger's path is still the one the store opened (one stat, storage/sqlite.py): a ledger deleted or replaced under the
server fails every call until it is back, an outage a load balancer must be told of. A failed call starts it at once.

Draining wins: once the health servicer has entered its graceful shutdown it ignores every status set here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

import structlog
from grpc_health.v1 import health_pb2

from service._gen.decision.v1 import decision_pb2 as pb
from service.api.health import DrainableHealth
from service.api.runners import CallRunner
from service.app.ports import Store
from service.domain.errors import DatabaseBusy, StoreUnavailable

log = structlog.get_logger("decisiond.api")

CHECK_EVERY_S = 1.0  # how often the database is checked, while it answers and while it does not
DECISION_SERVICE = pb.DESCRIPTOR.services_by_name["DecisionService"].full_name
CREDIT_LINE_SERVICE = pb.DESCRIPTOR.services_by_name["CreditLineService"].full_name
RULES_SERVICE = pb.DESCRIPTOR.services_by_name["RulesService"].full_name
SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING


def serving_statuses(*, can_decide: bool, database_answers: bool) -> dict[str, int]:
    """Each service's status, and the server's as a whole (""). Rule status needs neither rules nor database;
    ledger reads, and so the server, need the database; decisions need both."""

    def status(serving: bool) -> int:
        return SERVING if serving else NOT_SERVING

    return {
        DECISION_SERVICE: status(can_decide and database_answers),
        CREDIT_LINE_SERVICE: status(database_answers),
        RULES_SERVICE: SERVING,
        "": status(database_answers),
    }


class EmbeddedLedgerCheck:
    """The embedded database's check (see the module docstring): a failed call only starts it, and NOT_SERVING
    follows what it finds."""

    def __init__(self, check: Callable[[], None]) -> None:
        self._check = check

    def __call__(self) -> None:
        self._check()


def empty_transaction(store: Store) -> Callable[[], None]:
    """The database check: raises StoreUnavailable unless the store gets a connection, and the database answers
    BEGIN and COMMIT and would take the transaction's writes (a standby would not), within the store's timeout, as
    every call needs."""

    def check() -> None:
        with store.unit_of_work() as uow:
            uow.require_writable()

    return check


class DatabaseHealth:
    """Sets the health statuses the rules and the database call for (see the module docstring). Without a
    `check_database` (an in-memory database) they follow the rules alone and never change. Used on the serving loop
    only."""

    def __init__(
        self,
        health: DrainableHealth,
        *,
        can_decide: bool,
        check_database: Callable[[], None] | None,
        runner: CallRunner,
        check_every_s: float = CHECK_EVERY_S,
    ) -> None:
        self._health = health
        self._can_decide = can_decide
        self._check_database = check_database
        self._failed_calls_are_outages = not isinstance(check_database, EmbeddedLedgerCheck)
        self._runner = runner
        self._check_every = check_every_s
        self._answering = True
        self._reporting = asyncio.Lock()  # one report at a time, each of the state as it is when it runs
        self._check_now = asyncio.Event()  # a call failed, or stop() was called
        self._stopping = False
        self._checker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Report the statuses, and start checking the database (if any)."""
        await self._report()
        if self._check_database is not None:
            self._checker = asyncio.create_task(self._keep_checking(), name="database-health")

    async def store_unavailable(self, error: StoreUnavailable) -> None:
        """A call failed because the database did not answer: report NOT_SERVING now, and check it at once. A call
        the database answered but could not serve now (DatabaseBusy: a lock held elsewhere, a line changed under the
        call's lock) is no outage: another replica would meet the same."""
        if self._check_database is None or not self._answering or isinstance(error, DatabaseBusy):
            return
        self._check_now.set()
        if not self._failed_calls_are_outages:
            return
        await self._follow(answering=False, found_by="call", reason=str(error))

    async def stop(self) -> None:
        """Stop checking; waits for a check in progress, which the store's timeout bounds (as it bounds the calls
        in flight), so that none is left holding a pooled connection when the loop and the store close."""
        self._stopping = True
        self._check_now.set()
        if self._checker is not None:
            await self._checker

    async def _keep_checking(self) -> None:
        while not self._stopping:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._check_now.wait(), self._check_every)
            self._check_now.clear()
            if self._stopping:
                return
            await self._check()

    async def _check(self) -> None:
        assert self._check_database is not None
        try:
            await self._runner.run(self._check_database)
        except StoreUnavailable as error:
            await self._follow(answering=False, found_by="check", reason=str(error))
        except Exception:  # a fault of the check itself, not the database's: say so, and leave health as it is
            log.exception("health.database_check_failed")
        else:
            await self._follow(answering=True)

    async def _follow(self, *, answering: bool, **why: str) -> None:
        """Report the database answering or not, if that is news (logged: operators see when and why)."""
        if answering == self._answering:
            return
        self._answering = answering
        if answering:
            log.info("health.database_answering")
        else:
            log.warning("health.database_unavailable", **why)
        await self._report()

    async def _report(self) -> None:
        async with self._reporting:
            statuses = serving_statuses(can_decide=self._can_decide, database_answers=self._answering)
            for name, status in statuses.items():
                await self._health.set(name, status)
