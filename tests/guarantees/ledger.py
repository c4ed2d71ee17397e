"""The whole ledger read straight from the database, bypassing the service, and checked for balance.

The check is what an auditor would run after any incident: every line's outstanding principal is the sum of
its drawdowns' unpaid principal and within its limit; every drawdown was approved by exactly one recorded
decision and has its history event; every repayment was recorded by exactly one decision and has its event.
A unit of work that was half-written (a drawdown without its decision, a decision without its drawdown, a
moved balance without a drawdown) shows up as a problem.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import psycopg

from service._gen.decision.v1 import decision_pb2 as pb
from service.app.pseudonyms import Pseudonyms


@dataclass(frozen=True)
class LineRow:
    user_key: str
    credit_limit: int
    outstanding_principal: int
    status: str


@dataclass(frozen=True)
class DrawdownRow:
    drawdown_id: str
    user_key: str
    amount: int
    repaid_principal: int


@dataclass(frozen=True)
class RepaymentRow:
    drawdown_id: str
    user_key: str
    amount: int


@dataclass(frozen=True)
class EventRow:
    event_id: str
    user_key: str
    event_type: str
    amount: int


@dataclass(frozen=True)
class DecisionRow:
    decision_id: str
    rpc: str
    request_id: str | None
    user_key: str | None
    request_json: str
    response: bytes
    outcome: str
    ruleset_version: str
    ruleset_digest: str


@dataclass(frozen=True)
class Ledger:
    secret: bytes
    lines: dict[str, LineRow]
    drawdowns: dict[str, DrawdownRow]
    repayments: list[RepaymentRow]
    events: list[EventRow]
    decisions: dict[str, DecisionRow]

    def user_key(self, user_id: str) -> str:
        return Pseudonyms(self.secret).user_key(user_id)

    def line_of(self, user_id: str) -> LineRow:
        return self.lines[self.user_key(user_id)]

    def drawdowns_of(self, user_id: str) -> list[DrawdownRow]:
        key = self.user_key(user_id)
        return [d for d in self.drawdowns.values() if d.user_key == key]

    def decisions_of(self, user_id: str) -> list[DecisionRow]:
        key = self.user_key(user_id)
        return [d for d in self.decisions.values() if d.user_key == key]

    def decision_for_request(self, request_id: str) -> DecisionRow | None:
        found = [d for d in self.decisions.values() if d.request_id == request_id]
        assert len(found) <= 1, f"request_id {request_id} has {len(found)} decisions"
        return found[0] if found else None

    def assert_balances(self) -> None:
        problems = self.problems()
        assert not problems, "the ledger does not balance:\n  " + "\n  ".join(problems)

    def problems(self) -> list[str]:
        return [
            *self._line_problems(),
            *self._drawdown_decision_problems(),
            *self._repayment_problems(),
            *self._event_problems(),
        ]

    def _line_problems(self) -> list[str]:
        found = []
        unpaid: dict[str, int] = defaultdict(int)
        for drawdown in self.drawdowns.values():
            unpaid[drawdown.user_key] += drawdown.amount - drawdown.repaid_principal
            if drawdown.user_key not in self.lines:
                found.append(f"drawdown {drawdown.drawdown_id} belongs to no credit line")
            if not 0 <= drawdown.repaid_principal <= drawdown.amount:
                found.append(f"drawdown {drawdown.drawdown_id} repaid {drawdown.repaid_principal} of {drawdown.amount}")
        for line in self.lines.values():
            if line.outstanding_principal != unpaid[line.user_key]:
                found.append(
                    f"line {line.user_key}: outstanding {line.outstanding_principal} but its drawdowns' unpaid"
                    f" principal sums to {unpaid[line.user_key]}"
                )
            if not 0 <= line.outstanding_principal <= line.credit_limit:
                found.append(
                    f"line {line.user_key}: outstanding {line.outstanding_principal} > limit {line.credit_limit}"
                )
        return found

    def _drawdown_decision_problems(self) -> list[str]:
        found = []
        approvals: dict[str, list[DecisionRow]] = defaultdict(list)
        for decision in self.decisions.values():
            if decision.rpc != "AuthorizeDrawdown":
                continue
            response = pb.AuthorizeDrawdownResponse.FromString(decision.response)
            if response.outcome == pb.OUTCOME_APPROVE:
                approvals[response.drawdown_id].append(decision)
                if decision.outcome != "APPROVE":
                    found.append(f"decision {decision.decision_id} approves but is recorded as {decision.outcome}")
            elif response.drawdown_id:
                found.append(f"decision {decision.decision_id} does not approve yet names {response.drawdown_id}")
        for drawdown_id, deciding in approvals.items():
            drawdown = self.drawdowns.get(drawdown_id)
            if drawdown is None:
                found.append(f"decision {deciding[0].decision_id} approved {drawdown_id}, which is not in the ledger")
                continue
            if len(deciding) != 1:
                found.append(f"drawdown {drawdown_id} was approved by {len(deciding)} decisions")
            request = json.loads(deciding[0].request_json)
            if request.get("amount") != drawdown.amount or deciding[0].user_key != drawdown.user_key:
                found.append(f"drawdown {drawdown_id} differs from the request its decision recorded")
            schedule = pb.AuthorizeDrawdownResponse.FromString(deciding[0].response).schedule
            if sum(i.principal.minor_units for i in schedule) != drawdown.amount:
                found.append(f"the schedule approved for {drawdown_id} does not sum to its amount")
        for drawdown_id in self.drawdowns.keys() - approvals.keys():
            found.append(f"drawdown {drawdown_id} has no approving decision on record")
        return found

    def _repayment_problems(self) -> list[str]:
        found = []
        repaid: dict[str, int] = defaultdict(int)
        for repayment in self.repayments:
            repaid[repayment.drawdown_id] += repayment.amount
            owner = self.drawdowns.get(repayment.drawdown_id)
            if owner is None or owner.user_key != repayment.user_key:
                found.append(
                    f"a repayment of {repayment.amount} names drawdown {repayment.drawdown_id} of another user"
                )
        for drawdown in self.drawdowns.values():
            if repaid[drawdown.drawdown_id] != drawdown.repaid_principal:
                found.append(
                    f"drawdown {drawdown.drawdown_id}: repaid_principal {drawdown.repaid_principal} but its"
                    f" repayments sum to {repaid[drawdown.drawdown_id]}"
                )
        recorded = Counter(
            (d.user_key, json.loads(d.request_json)["drawdown_id"], json.loads(d.request_json)["amount"])
            for d in self.decisions.values()
            if d.rpc == "RecordRepayment"
        )
        booked = Counter((r.user_key, r.drawdown_id, r.amount) for r in self.repayments)
        if recorded != booked:
            found.append(
                f"repayments without a decision: {dict(booked - recorded)}; decisions without a repayment:"
                f" {dict(recorded - booked)}"
            )
        return found

    def _event_problems(self) -> list[str]:
        found = []
        drawdown_events = [e for e in self.events if e.event_type == "DRAWDOWN"]
        by_id = Counter(e.event_id for e in drawdown_events)
        for drawdown in self.drawdowns.values():
            if by_id[drawdown.drawdown_id] != 1:
                found.append(f"drawdown {drawdown.drawdown_id} has {by_id[drawdown.drawdown_id]} history events")
        for event in drawdown_events:
            drawdown = self.drawdowns.get(event.event_id)
            if drawdown is None:
                found.append(f"a DRAWDOWN event {event.event_id!r} names no drawdown")
            elif (drawdown.user_key, drawdown.amount) != (event.user_key, event.amount):
                found.append(f"the DRAWDOWN event of {event.event_id} differs from the drawdown")
        repayment_events = Counter((e.user_key, e.amount) for e in self.events if e.event_type == "REPAYMENT")
        repayments = Counter((r.user_key, r.amount) for r in self.repayments)
        if repayment_events != repayments:
            found.append(
                f"REPAYMENT events without a repayment: {dict(repayment_events - repayments)}; repayments"
                f" without an event: {dict(repayments - repayment_events)}"
            )
        return found


def read_ledger(database_url: str) -> Ledger:
    """Every row of the ledger tables, read in one transaction."""
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            connection.execute("BEGIN")
            ledger = _read(lambda sql: connection.execute(sql).fetchall())
            connection.execute("COMMIT")
            return ledger
        finally:
            connection.close()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        ledger = _read(lambda sql: connection.execute(sql).fetchall())  # type: ignore[arg-type]
        connection.execute("COMMIT")
        return ledger


def _read(query: Any) -> Ledger:
    (secret,) = query("SELECT secret FROM pseudonym_secret")[0]
    return Ledger(
        secret=bytes(secret),
        lines={
            row[0]: LineRow(*row)
            for row in query("SELECT user_key, credit_limit, outstanding_principal, status FROM credit_lines")
        },
        drawdowns={
            row[0]: DrawdownRow(*row)
            for row in query("SELECT drawdown_id, user_key, amount, repaid_principal FROM drawdowns")
        },
        repayments=[RepaymentRow(*row) for row in query("SELECT drawdown_id, user_key, amount FROM repayments")],
        events=[EventRow(*row) for row in query("SELECT event_id, user_key, event_type, amount FROM account_events")],
        decisions={
            row[0]: DecisionRow(row[0], row[1], row[2], row[3], row[4], bytes(row[5]), row[6], row[7], row[8])
            for row in query(
                "SELECT decision_id, rpc, request_id, user_key, request_json, response, outcome,"
                " ruleset_version, ruleset_digest FROM decisions"
            )
        },
    )
