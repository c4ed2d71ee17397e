"""Every decision runs once: idempotent on request_id, stored with its response, logged without personal data."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, NamedTuple, TypeVar

import structlog

from service.app.ports import Clock, DecisionRecord, Store, UnitOfWork
from service.app.pseudonyms import canonical_json
from service.domain.errors import (
    DecisionServiceError,
    DuplicateRequest,
    LineChangedMeanwhile,
    RequestIdReused,
    StoreUnavailable,
)
from service.domain.model import CreditLine

R = TypeVar("R")

log = structlog.get_logger("decisiond.decisions")


# The values a decision passes along are named tuples, not frozen dataclasses: as immutable, and several times
# cheaper to build (a frozen dataclass sets each field through object.__setattr__), on every call.


class Reply(NamedTuple):
    """The serialized response to send, and whether it is the stored answer to an earlier call."""

    response: bytes
    replayed: bool


class DecisionContext(NamedTuple):
    decision_id: str
    now: datetime
    # The caller's credit line as locked for this decision, for calls that serialize on the user (None: no
    # line, or a call that does not lock one).
    line: CreditLine | None = None


class Decided(NamedTuple, Generic[R]):
    result: R
    outcome: str
    rules_fired: tuple[str, ...]
    minimised_request: dict[str, object]


class Call(NamedTuple):
    """What identifies one call for the record."""

    rpc: str
    request_id: str | None
    request_digest: str
    user_key: str | None
    ruleset_version: str
    ruleset_digest: str
    # Lock the user's credit line before the decision time is read: calls for one user are then decided one
    # after another, each seeing the history the previous one committed (velocity rules depend on it).
    serialize_on_user: bool = False
    # The decision reads the user's history: it is timed after the user's latest recorded event (decision_time).
    reads_history: bool = False


class _DecidedBefore(Exception):
    """The call's request_id is recorded already; raised to roll back the unit of work before the replay."""

    def __init__(self, prior: DecisionRecord) -> None:
        super().__init__(prior.decision_id)
        self.prior = prior


class DecisionRecorder:
    """Runs a decision inside one transaction with its record, or replays the stored answer."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def run(
        self,
        call: Call,
        decide: Callable[[UnitOfWork, DecisionContext], Decided[R]],
        encode: Callable[[R], bytes],
    ) -> Reply:
        """Decide and record atomically; a retry with the same request_id gets the stored response.

        A call that locked the user's line and found it changed when it wrote (LineChangedMeanwhile: created by
        another call or replica for a user who had none, which there was no row to lock against, or frozen by the
        back office) has written nothing: it is decided once more, on the line as it now is, and so replayed if that
        other call was its own twin sent to another replica. A second such change fails it UNAVAILABLE."""
        started = time.perf_counter()
        try:
            return self._run_once(call, decide, encode, started)
        except LineChangedMeanwhile:
            return self._run_once(call, decide, encode, started)

    def _run_once(
        self,
        call: Call,
        decide: Callable[[UnitOfWork, DecisionContext], Decided[R]],
        encode: Callable[[R], bytes],
        started: float,
    ) -> Reply:
        try:
            with self._store.unit_of_work() as uow:
                # No look-up of the request_id first: a retry is rare, and its insert below meets the stored
                # decision, which rolls back everything this one did (DuplicateRequest) and replays it.
                line, latest_event = None, None
                if call.serialize_on_user and call.user_key:
                    line, latest_event = uow.lock_line(call.user_key, latest_event=call.reads_history)
                now = decision_time(self._clock.now(), latest_event)
                context = DecisionContext(decision_id=new_decision_id(), now=now, line=line)
                try:
                    decided = decide(uow, context)
                except StoreUnavailable:
                    raise
                except DecisionServiceError as error:
                    # A retry can fail where the original succeeded (a repayment made twice): answer it
                    # with the stored decision if there is one, after rolling back whatever this one did.
                    prior = uow.find_decision(call.request_id) if call.request_id else None
                    if prior is None:
                        raise
                    raise _DecidedBefore(prior) from error
                response = encode(decided.result)
                latency_us = int((time.perf_counter() - started) * 1_000_000)
                uow.save_decision(
                    DecisionRecord(
                        decision_id=context.decision_id,
                        rpc=call.rpc,
                        request_id=call.request_id or None,
                        request_digest=call.request_digest,
                        user_key=call.user_key,
                        request_json=canonical_json(decided.minimised_request),
                        response=response,
                        outcome=decided.outcome,
                        ruleset_version=call.ruleset_version,
                        ruleset_digest=call.ruleset_digest,
                        decided_at=context.now,
                        latency_us=latency_us,
                    )
                )
        except _DecidedBefore as before:
            return self._replay(call, before.prior)
        except DuplicateRequest:
            # This request_id is recorded already (a retry, or the same call through another replica or
            # thread at the same moment); our transaction rolled back.
            with self._store.unit_of_work() as uow:
                prior = uow.find_decision(call.request_id or "")
            if prior is None:  # pragma: no cover - the unique index said it exists
                raise
            return self._replay(call, prior)
        # log.bind().info, not log.info: what log.info does (the proxy's __getattr__ binds it), without the
        # AttributeError the proxy's lookup of `info` raises and catches first, a few microseconds a line.
        log.bind().info(
            "decision",
            decision_id=context.decision_id,
            rpc=call.rpc,
            outcome=decided.outcome,
            rules_fired=list(decided.rules_fired),
            ruleset_version=call.ruleset_version,
            user=call.user_key,
            latency_ms=latency_us / 1000,  # whole microseconds: already the nearest float to 3 decimals
        )
        return Reply(response=response, replayed=False)

    def replay_recorded(self, call: Call) -> Reply | None:
        """The stored answer to the call's request_id, if one is recorded, without deciding anything; None if not.
        For a call that cannot be decided now (no valid rule bundle): a retry of one decided before is still
        answered as it was."""
        if not call.request_id:
            return None
        with self._store.unit_of_work() as uow:
            prior = uow.find_decision(call.request_id)
        return None if prior is None else self._replay(call, prior)

    @staticmethod
    def _replay(call: Call, prior: DecisionRecord) -> Reply:
        if prior.request_digest != call.request_digest:
            raise RequestIdReused(call.request_id or "", prior.rpc)
        log.info("decision.replayed", decision_id=prior.decision_id, rpc=call.rpc, user=call.user_key)
        return Reply(response=prior.response, replayed=True)


def decision_time(clock_now: datetime, latest_event: datetime | None) -> datetime:
    """A call's time: its clock's, unless the user's latest recorded event is as late or later, and then just after
    it. A replica whose clock runs behind another's, or a clock stepped back, would otherwise decide before events
    already recorded, and the fraud windows, which end at the decision's time, would not see them (three drawdowns
    through a replica 0.1 s ahead, a fourth through the other: no velocity review). Calls for one user are locked in
    turn, so a call that records an event is timed after every event recorded before it."""
    if latest_event is None or latest_event < clock_now:
        return clock_now
    return latest_event + timedelta(microseconds=1)


def new_decision_id() -> str:
    """Unique, sortable by time: a millisecond timestamp then randomness."""
    return f"dec_{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
