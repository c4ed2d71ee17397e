"""The ledger's SQL, shared by both adapters.

Statements are written once, with ``%(name)s`` parameters; an adapter supplies the three driver calls,
its value codec and its row-lock clause. The invariants live in the statements themselves: a drawdown
is recorded only by the conditional UPDATE that raises the line's outstanding principal within its
limit, and a repayment only by the conditional UPDATE that keeps the drawdown's repaid principal within
its amount, so concurrent transactions can never overdraw or over-repay whatever the caller checked.
"""

from __future__ import annotations

import json
import secrets
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any

from service.app.ports import DecisionRecord, KeptFilesDamaged, RuleVersion
from service.domain.errors import DuplicateRequest, LineChangedMeanwhile, OverRepayment, UnknownDrawdown
from service.domain.fraud_features import CREDENTIAL_CHANGES, DAY, HOUR, HistorySummary
from service.domain.model import CreditLine, Drawdown, EventType, HistoryEvent, LineStatus, RepaymentMethod
from service.storage.codec import Codec
from service.storage.migrations import MigrationError

Row = tuple[Any, ...]
Params = Mapping[str, object]

# The time of a user's latest recorded account event (the index on user_key, occurred_at answers it).
_LATEST_EVENT = "SELECT max(occurred_at) FROM account_events WHERE user_key = %(user_key)s"
LINE_COLUMNS = (
    "user_key, credit_limit, outstanding_principal, daily_interest_rate, status, residence_country,"
    " opened_at, updated_at"
)
DRAWDOWN_COLUMNS = (
    "drawdown_id, user_key, amount, term_months, repayment_method, daily_interest_rate, purpose,"
    " created_at, schedule, repaid_principal"
)
EVENT_COLUMNS = "event_id, user_key, event_type, occurred_at, amount, device_id, country, counterparty_id"
DECISION_COLUMNS = (
    "decision_id, rpc, request_id, request_digest, user_key, request_json, response, outcome,"
    " ruleset_version, ruleset_digest, decided_at, latency_us"
)

# The decisions the ledger links to a drawdown: the AuthorizeDrawdown that created it and the RecordRepayment of each
# repayment against it. Neither table names the decision, but each records its user and the decision's own time
# (created_at, repaid_at: the decision's decided_at), and a user's calls are timed one after another: so each is
# found by its user and time in the index on decisions (user_key, decided_at, decision_id), after the drawdown's
# primary key and the index on repayments (drawdown_id). No index is added for it.
_LINKED_COLUMNS = ", ".join(f"d.{column.strip()}" for column in DECISION_COLUMNS.split(","))
_DRAWDOWN_DECISIONS = (
    f"SELECT {_LINKED_COLUMNS} FROM drawdowns w JOIN decisions d"
    " ON d.user_key = w.user_key AND d.decided_at = w.created_at AND d.rpc = 'AuthorizeDrawdown'"
    " WHERE w.drawdown_id = %(drawdown_id)s"
    f" UNION ALL SELECT {_LINKED_COLUMNS} FROM repayments r JOIN decisions d"
    " ON d.user_key = r.user_key AND d.decided_at = r.repaid_at AND d.rpc = 'RecordRepayment'"
    " WHERE r.drawdown_id = %(drawdown_id)s"
)

# The statements a call runs, built once here: an f-string in a method is built, and its hash taken for the
# statement caches, on every call.
_FIND_DECISION = f"SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = %(request_id)s"
_SAVE_DECISION = (
    f"INSERT INTO decisions ({DECISION_COLUMNS}) VALUES (%(decision_id)s, %(rpc)s, %(request_id)s,"
    " %(request_digest)s, %(user_key)s, %(request_json)s, %(response)s, %(outcome)s,"
    " %(ruleset_version)s, %(ruleset_digest)s, %(decided_at)s, %(latency_us)s)"
    " ON CONFLICT (request_id) DO NOTHING"
)
_GET_DECISION = f"SELECT {DECISION_COLUMNS} FROM decisions WHERE decision_id = %(decision_id)s"
_GET_LINE = f"SELECT {LINE_COLUMNS} FROM credit_lines WHERE user_key = %(user_key)s"
_LINE_AND_LATEST_EVENT = f"SELECT {LINE_COLUMNS}, ({_LATEST_EVENT}) FROM credit_lines WHERE user_key = %(user_key)s"
_SAVE_LINE = (
    f"INSERT INTO credit_lines ({LINE_COLUMNS}) VALUES (%(user_key)s, %(credit_limit)s, 0,"
    " %(rate)s, %(status)s, %(country)s, %(opened_at)s, %(updated_at)s)"
    " ON CONFLICT (user_key) DO UPDATE SET credit_limit = excluded.credit_limit,"
    " daily_interest_rate = excluded.daily_interest_rate, status = excluded.status,"
    " residence_country = excluded.residence_country, updated_at = excluded.updated_at"
)
_INSERT_NEW_LINE = (
    f"INSERT INTO credit_lines ({LINE_COLUMNS}) VALUES (%(user_key)s, %(credit_limit)s, 0,"
    " %(rate)s, %(status)s, %(country)s, %(opened_at)s, %(updated_at)s) ON CONFLICT (user_key) DO NOTHING"
)
_INSERT_DRAWDOWN = (
    f"INSERT INTO drawdowns ({DRAWDOWN_COLUMNS}) VALUES (%(drawdown_id)s, %(user_key)s, %(amount)s,"
    " %(term_months)s, %(method)s, %(rate)s, %(purpose)s, %(created_at)s, %(schedule)s,"
    " %(repaid_principal)s)"
)
_RAISE_OUTSTANDING = (
    "UPDATE credit_lines SET outstanding_principal = outstanding_principal + %(amount)s,"
    " updated_at = %(at)s"
    " WHERE user_key = %(user_key)s AND status = 'ACTIVE'"
    " AND outstanding_principal + %(amount)s <= credit_limit"
    f" RETURNING {LINE_COLUMNS}"
)
_GET_DRAWDOWN = (
    f"SELECT {DRAWDOWN_COLUMNS} FROM drawdowns WHERE drawdown_id = %(drawdown_id)s AND user_key = %(user_key)s"
)
# open_drawdowns, oldest first; with created_before for a drawdown decision's days past due (built once, not per call)
_OPEN_DRAWDOWNS_WHERE = (
    f"SELECT {DRAWDOWN_COLUMNS} FROM drawdowns WHERE user_key = %(user_key)s AND repaid_principal < amount"
)
_OPEN_DRAWDOWNS = f"{_OPEN_DRAWDOWNS_WHERE} ORDER BY created_at, drawdown_id"
_OPEN_DRAWDOWNS_CREATED_BEFORE = (
    f"{_OPEN_DRAWDOWNS_WHERE} AND created_at < %(created_before)s ORDER BY created_at, drawdown_id"
)
_LOWER_OUTSTANDING = (
    "UPDATE credit_lines SET outstanding_principal = outstanding_principal - %(amount)s,"
    " updated_at = %(at)s WHERE user_key = %(user_key)s"
    f" RETURNING {LINE_COLUMNS}"
)
_APPEND_EVENT = (
    f"INSERT INTO account_events ({EVENT_COLUMNS}) VALUES (%(event_id)s, %(user_key)s, %(event_type)s,"
    " %(occurred_at)s, %(amount)s, %(device_id)s, %(country)s, %(counterparty_id)s)"
)
# How many decisions an export reads at a time, each page in a transaction of its own.
DECISIONS_PAGE = 500


# Stored text -> enum member by dict: calling the enum costs more than the rest of a row's decoding.
_LINE_STATUS = {member.value: member for member in LineStatus}
_REPAYMENT_METHOD = {member.value: member for member in RepaymentMethod}

# history_summary (recent_activity when migration 0002 was written): one pass over the user's last 24 hours in the
# index (user_key, occurred_at, event_type, amount), so the sums never read the table and a busy user costs
# microseconds, not a Python object per event. Amounts are summed as millions of fen and the rest apart, so that no
# sum of valid amounts overflows SQLite's 64 bits. The device and the counterparty are looked up in the same
# statement, each in its own index (a round trip and a statement fewer per decision than three queries). The
# statement and its fixed parameters are built once, here, not on every decision.
#
# "Before" the event at `at` includes the events recorded at `at` itself (occurred_at <= at): two events a reporter
# sends with the same time (a password change and a drawdown in the same second) came one after the other, and the
# one recorded first is history for the second. The event being decided is appended after its summary is read, so it
# never counts for itself, and an event recorded with a later time than a backdated one still never counts for it.
# A call timed by the server comes after the user's latest event (decision_time): it sees the same events either way.
# The windows' lower bounds are unchanged (an event exactly an hour or 24 hours before is in, a microsecond more is
# out). `<=` is a range on the same index columns as `<`, and the same indexes serve it.
_SPLIT = 1_000_000
_CREDENTIAL_CHANGE_VALUES = {f"credential_change_{i}": kind.value for i, kind in enumerate(sorted(CREDENTIAL_CHANGES))}
_SUMMARISED_EVENT_TYPES = {
    "drawdown": EventType.DRAWDOWN.value,
    "transfer_out": EventType.TRANSFER_OUT.value,
    **_CREDENTIAL_CHANGE_VALUES,
}
_IN_HOUR_DRAWDOWN = "event_type = %(drawdown)s AND occurred_at >= %(hour_ago)s"
_IN_HOUR_TRANSFER = "event_type = %(transfer_out)s AND occurred_at >= %(hour_ago)s"
_MILLIONS, _REST = f"amount / {_SPLIT}", f"amount - amount / {_SPLIT} * {_SPLIT}"
_HISTORY_SUMMARY = (
    f"SELECT COUNT(CASE WHEN {_IN_HOUR_DRAWDOWN} THEN 1 END),"
    f" SUM(CASE WHEN {_IN_HOUR_DRAWDOWN} THEN {_MILLIONS} END), SUM(CASE WHEN {_IN_HOUR_DRAWDOWN} THEN {_REST} END),"
    f" SUM(CASE WHEN {_IN_HOUR_TRANSFER} THEN {_MILLIONS} END), SUM(CASE WHEN {_IN_HOUR_TRANSFER} THEN {_REST} END),"
    f" COUNT(CASE WHEN event_type IN ({', '.join(f'%({name})s' for name in _CREDENTIAL_CHANGE_VALUES)}) THEN 1 END)"
    ", EXISTS (SELECT 1 FROM account_events WHERE user_key = %(user_key)s AND device_id = %(device_id)s"
    " AND device_id <> '' AND occurred_at <= %(at)s)"
    ", (SELECT occurred_at FROM account_events WHERE user_key = %(user_key)s AND counterparty_id = %(counterparty_id)s"
    " AND counterparty_id <> '' ORDER BY occurred_at LIMIT 1)"
    " FROM account_events"
    " WHERE user_key = %(user_key)s AND occurred_at >= %(day_ago)s AND occurred_at <= %(at)s"
)


def _joined(millions: int | Decimal | None, rest: int | Decimal | None) -> int:
    """A sum taken in two parts (None: no rows; PostgreSQL sums bigints as numeric) as one exact integer."""
    return int(millions or 0) * _SPLIT + int(rest or 0)


class SqlUnitOfWork(ABC):
    """A UnitOfWork over one open transaction; subclasses bind it to a driver connection."""

    #: Appended to a SELECT that must lock the row until the transaction ends ("" where the
    #: transaction already holds the database's write lock).
    lock_clause = ""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        # Lines this unit of work has locked, as they stand: nobody else changes them until it ends.
        self._locked_lines: dict[str, CreditLine] = {}

    @abstractmethod
    def fetch_one(self, sql: str, params: Params) -> Row | None:
        """Run a statement and return its first row."""

    @abstractmethod
    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        """Run a statement and return all its rows."""

    @abstractmethod
    def execute(self, sql: str, params: Params) -> int:
        """Run a statement and return how many rows it changed."""

    def write(self, sql: str, params: Params, *, unless_changed: Exception | None = None) -> None:
        """Run a statement whose outcome nobody reads but this: if it changes no row, `unless_changed` is raised.
        An adapter may hold it back until the transaction's next statement or its commit (see
        SqliteUnitOfWork); a failure then surfaces there, and rolls back the whole unit of work."""
        if self.execute(sql, params) == 0 and unless_changed is not None:
            raise unless_changed

    # -- decisions -------------------------------------------------------------------------------

    def find_decision(self, request_id: str) -> DecisionRecord | None:
        row = self.fetch_one(
            _FIND_DECISION,
            {"request_id": request_id},
        )
        return None if row is None else self._decision(row)

    def save_decision(self, record: DecisionRecord) -> None:
        # ON CONFLICT DO NOTHING rather than catching the unique violation: on PostgreSQL a violation
        # aborts the whole transaction, whereas this leaves it usable, and it waits for a concurrent
        # insert of the same request_id to commit or roll back before deciding.
        self.write(
            _SAVE_DECISION,
            {
                "decision_id": record.decision_id,
                "rpc": record.rpc,
                "request_id": record.request_id,
                "request_digest": record.request_digest,
                "user_key": record.user_key,
                "request_json": record.request_json,
                "response": record.response,
                "outcome": record.outcome,
                "ruleset_version": record.ruleset_version,
                "ruleset_digest": record.ruleset_digest,
                "decided_at": self.codec.time(record.decided_at),
                "latency_us": record.latency_us,
            },
            unless_changed=None if record.request_id is None else DuplicateRequest(record.request_id),
        )

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        row = self.fetch_one(
            _GET_DECISION,
            {"decision_id": decision_id},
        )
        return None if row is None else self._decision(row)

    def list_decisions(
        self, *, user_key: str | None, since: datetime | None, limit: int, until: datetime | None = None
    ) -> list[DecisionRecord]:
        """Decisions newest first, optionally one user's, from a time on (`since`) and before another (`until`)."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        conditions, params = self._decision_filters(user_key, since, until)
        params["limit"] = limit
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self.fetch_all(
            f"SELECT {DECISION_COLUMNS} FROM decisions{where}"
            " ORDER BY decided_at DESC, decision_id DESC LIMIT %(limit)s",
            params,
        )
        return [self._decision(row) for row in rows]

    def decisions_page(
        self,
        *,
        user_key: str | None,
        since: datetime | None,
        until: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[DecisionRecord]:
        """At most `limit` decisions oldest first, filtered as list_decisions, that come after `after` (the
        decided_at and decision_id of the previous page's last): one page of an export, read from the index in
        its order whatever the ledger's size."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        conditions, params = self._decision_filters(user_key, since, until)
        params["limit"] = limit
        if after is not None:
            conditions.append("(decided_at, decision_id) > (%(after_at)s, %(after_id)s)")
            params["after_at"], params["after_id"] = self.codec.time(after[0]), after[1]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self.fetch_all(
            f"SELECT {DECISION_COLUMNS} FROM decisions{where} ORDER BY decided_at, decision_id LIMIT %(limit)s",
            params,
        )
        return [self._decision(row) for row in rows]

    def drawdown_decisions(self, drawdown_id: str) -> list[DecisionRecord]:
        """The decisions the ledger links to this drawdown, oldest first: the AuthorizeDrawdown that created it and
        the RecordRepayment of each repayment against it (none for an id the ledger does not know)."""
        records = [self._decision(row) for row in self.fetch_all(_DRAWDOWN_DECISIONS, {"drawdown_id": drawdown_id})]
        linked = [record for record in records if record.rpc != "RecordRepayment" or _repays(record, drawdown_id)]
        return sorted(linked, key=lambda record: (record.decided_at, record.decision_id))

    def _decision_filters(
        self, user_key: str | None, since: datetime | None, until: datetime | None
    ) -> tuple[list[str], dict[str, object]]:
        conditions = []
        params: dict[str, object] = {}
        if user_key is not None:
            conditions.append("user_key = %(user_key)s")
            params["user_key"] = user_key
        if since is not None:
            conditions.append("decided_at >= %(since)s")
            params["since"] = self.codec.time(since)
        if until is not None:
            conditions.append("decided_at < %(until)s")
            params["until"] = self.codec.time(until)
        return conditions, params

    # -- credit lines and drawdowns --------------------------------------------------------------

    def get_credit_line(self, user_key: str, *, for_update: bool = False) -> CreditLine | None:
        lock = self.lock_clause if for_update else ""
        row = self.fetch_one(
            _GET_LINE + lock,
            {"user_key": user_key},
        )
        line = None if row is None else self._line(row)
        if for_update and line is not None:
            self._locked_lines[user_key] = line
        return line

    def lock_line(self, user_key: str, *, latest_event: bool) -> tuple[CreditLine | None, datetime | None]:
        if not latest_event:
            return self.get_credit_line(user_key, for_update=True), None
        # The latest event in the same statement as the line: no round trip more for a user who has a line.
        row = self.fetch_one(
            _LINE_AND_LATEST_EVENT + self.lock_clause,
            {"user_key": user_key},
        )
        if row is None:
            latest = self.fetch_one(_LATEST_EVENT, {"user_key": user_key})
            return None, None if latest is None or latest[0] is None else self.codec.read_time(latest[0])
        line = self._line(row)
        self._locked_lines[user_key] = line
        return line, None if row[-1] is None else self.codec.read_time(row[-1])

    def save_credit_line(self, line: CreditLine) -> None:
        # A new line starts with nothing outstanding; an existing one keeps its outstanding principal
        # and its opening time, since only draw_down and repay move the ledger.
        self._locked_lines.pop(line.user_key, None)
        self.write(
            _SAVE_LINE,
            self._line_params(line),
        )

    def save_granted_line(self, line: CreditLine, read: CreditLine | None) -> None:
        self._locked_lines.pop(line.user_key, None)
        params = self._line_params(line)
        changed = LineChangedMeanwhile("the credit line changed while it was locked; no limit was granted")
        if read is None:
            self.write(
                _INSERT_NEW_LINE,
                params,
                unless_changed=changed,
            )
            return
        self.write(
            "UPDATE credit_lines SET credit_limit = %(credit_limit)s, daily_interest_rate = %(rate)s,"
            " status = %(status)s, residence_country = %(country)s, updated_at = %(updated_at)s"
            " WHERE user_key = %(user_key)s AND status = %(read_status)s",
            {**params, "read_status": read.status.value},
            unless_changed=changed,
        )

    def draw_down(self, drawdown: Drawdown) -> CreditLine | None:
        if drawdown.amount <= 0:
            raise ValueError(f"drawdown amount must be positive, got {drawdown.amount}")
        locked = self._locked_lines.get(drawdown.user_key)
        after = self._raise_outstanding(drawdown) if locked is None else self._raise_locked(locked, drawdown)
        if after is None:
            return None
        self.write(
            _INSERT_DRAWDOWN,
            {
                "drawdown_id": drawdown.drawdown_id,
                "user_key": drawdown.user_key,
                "amount": drawdown.amount,
                "term_months": drawdown.term_months,
                "method": drawdown.repayment_method.value,
                "rate": self.codec.rate(drawdown.daily_interest_rate),
                "purpose": drawdown.purpose,
                "created_at": self.codec.time(drawdown.created_at),
                "schedule": self.codec.schedule(drawdown.schedule),
                "repaid_principal": 0,
            },
        )
        return after

    def _raise_outstanding(self, drawdown: Drawdown) -> CreditLine | None:
        """The line's outstanding principal raised by the drawdown's amount if it is ACTIVE and stays within its
        limit (one conditional UPDATE); the line after, or None."""
        row = self.fetch_one(
            _RAISE_OUTSTANDING,
            {"amount": drawdown.amount, "at": self.codec.time(drawdown.created_at), "user_key": drawdown.user_key},
        )
        return None if row is None else self._line(row)

    def _raise_locked(self, line: CreditLine, drawdown: Drawdown) -> CreditLine | None:
        """The same on a line this unit of work has locked and read: decided from what it read, and written by an
        UPDATE whose outcome nobody waits for (a store may hold it back to commit with others: see
        sqlite_group.py). The UPDATE still checks that the line is exactly as read and stays within its limit; were
        it not (a writer that ignored the lock), the unit of work fails and rolls back rather than answer from a
        stale line."""
        outstanding = line.outstanding_principal + drawdown.amount
        if line.status is not LineStatus.ACTIVE or outstanding > line.credit_limit:
            return None
        after = CreditLine(  # not dataclasses.replace(), which costs several times more on every approval
            user_key=line.user_key,
            credit_limit=line.credit_limit,
            outstanding_principal=outstanding,
            daily_interest_rate=line.daily_interest_rate,
            status=line.status,
            residence_country=line.residence_country,
            opened_at=line.opened_at,
            updated_at=drawdown.created_at,
        )
        self.write(
            "UPDATE credit_lines SET outstanding_principal = %(outstanding)s, updated_at = %(at)s"
            " WHERE user_key = %(user_key)s AND status = 'ACTIVE' AND credit_limit = %(credit_limit)s"
            " AND outstanding_principal = %(before)s AND %(outstanding)s <= credit_limit",
            {
                "outstanding": outstanding,
                "at": self.codec.time(drawdown.created_at),
                "user_key": drawdown.user_key,
                "credit_limit": line.credit_limit,
                "before": line.outstanding_principal,
            },
            unless_changed=LineChangedMeanwhile("the credit line changed while it was locked; nothing was drawn down"),
        )
        self._locked_lines[drawdown.user_key] = after
        return after

    def get_drawdown(self, user_key: str, drawdown_id: str) -> Drawdown | None:
        row = self.fetch_one(
            _GET_DRAWDOWN,
            {"drawdown_id": drawdown_id, "user_key": user_key},
        )
        return None if row is None else self._drawdown(row)

    def open_drawdowns(self, user_key: str, *, created_before: datetime | None = None) -> list[Drawdown]:
        if created_before is None:
            rows = self.fetch_all(_OPEN_DRAWDOWNS, {"user_key": user_key})
        else:
            params = {"user_key": user_key, "created_before": self.codec.time(created_before)}
            rows = self.fetch_all(_OPEN_DRAWDOWNS_CREATED_BEFORE, params)
        return [self._drawdown(row) for row in rows]

    def repay(self, user_key: str, drawdown_id: str, amount: int, at: datetime) -> CreditLine:
        if amount <= 0:
            raise ValueError(f"repayment amount must be positive, got {amount}")
        # Lock the line before the drawdown, the order draw_down takes them in, so that no two
        # transactions ever wait on each other's rows.
        if self.get_credit_line(user_key, for_update=True) is None:
            raise UnknownDrawdown()
        repaid = self.execute(
            "UPDATE drawdowns SET repaid_principal = repaid_principal + %(amount)s"
            " WHERE drawdown_id = %(drawdown_id)s AND user_key = %(user_key)s"
            " AND repaid_principal + %(amount)s <= amount",
            {"amount": amount, "drawdown_id": drawdown_id, "user_key": user_key},
        )
        if repaid == 0:
            drawdown = self.get_drawdown(user_key, drawdown_id)
            if drawdown is None:
                raise UnknownDrawdown()
            raise OverRepayment(outstanding=drawdown.outstanding_principal, requested=amount)
        row = self.fetch_one(
            _LOWER_OUTSTANDING,
            {"amount": amount, "at": self.codec.time(at), "user_key": user_key},
        )
        assert row is not None, "the line was locked above"
        self._locked_lines[user_key] = self._line(row)
        self.write(
            "INSERT INTO repayments (drawdown_id, user_key, amount, repaid_at)"
            " VALUES (%(drawdown_id)s, %(user_key)s, %(amount)s, %(at)s)",
            {"drawdown_id": drawdown_id, "user_key": user_key, "amount": amount, "at": self.codec.time(at)},
        )
        return self._locked_lines[user_key]

    # -- account history -------------------------------------------------------------------------

    def append_event(self, event: HistoryEvent) -> None:
        self.write(
            _APPEND_EVENT,
            {
                "event_id": event.event_id,
                "user_key": event.user_key,
                "event_type": event.event_type.value,
                "occurred_at": self.codec.time(event.occurred_at),
                "amount": event.amount,
                "device_id": event.device_id,
                "country": event.country,
                "counterparty_id": event.counterparty_id,
            },
        )

    def history_summary(
        self, user_key: str, at: datetime, *, device_id: str = "", counterparty_id: str = ""
    ) -> HistorySummary:
        row = self.fetch_one(
            _HISTORY_SUMMARY,
            {
                "user_key": user_key,
                "at": self.codec.time(at),
                "hour_ago": self.codec.time(at - HOUR),
                "day_ago": self.codec.time(at - DAY),
                "device_id": device_id,
                "counterparty_id": counterparty_id,
                **_SUMMARISED_EVENT_TYPES,
            },
        )
        assert row is not None  # an aggregate always answers one row
        (drawdowns, drawdown_millions, drawdown_rest, transfer_millions, transfer_rest, credential_changes,
         device_seen, counterparty_first_seen) = row
        return HistorySummary(
            drawdowns_last_hour=drawdowns,
            drawdown_amount_last_hour=_joined(drawdown_millions, drawdown_rest),
            transfer_out_last_hour=_joined(transfer_millions, transfer_rest),
            credential_changed_last_24h=credential_changes > 0,
            device_seen_before=bool(device_seen),
            counterparty_first_seen=None if counterparty_first_seen is None else self.codec.read_time(
                counterparty_first_seen
            ),
        )

    # -- the pseudonym secret --------------------------------------------------------------------

    def pseudonym_key(self) -> bytes:
        """The database's pseudonym secret, created with 32 random bytes by the first caller."""
        self.execute(
            "INSERT INTO pseudonym_secret (singleton, secret) VALUES (1, %(secret)s)"
            " ON CONFLICT (singleton) DO NOTHING",
            {"secret": secrets.token_bytes(32)},
        )
        return self.existing_pseudonym_key()

    def existing_pseudonym_key(self) -> bytes:
        """The database's pseudonym secret, for a reader that must not create it (MigrationError if there is none)."""
        row = self.fetch_one("SELECT secret FROM pseudonym_secret WHERE singleton = 1", {})
        if row is None:
            raise MigrationError("this database holds no decisiond ledger: give the --database of the server")
        return bytes(row[0])

    # -- rule versions ---------------------------------------------------------------------------

    def name_rule_version(
        self, version: str, digest: str, at: datetime, files: Mapping[str, bytes] | None = None
    ) -> RuleVersion:
        # Compressed before the first write: SQLite takes its writer lock there, and 32 MiB of lists take a while.
        packed = None if files is None else pack_bundle_files(files)
        self.execute(
            "INSERT INTO rule_versions (version, digest, first_served_at) VALUES (%(version)s, %(digest)s, %(at)s)"
            " ON CONFLICT (version) DO NOTHING",
            {"version": version, "digest": digest, "at": self.codec.time(at)},
        )
        row = self.fetch_one(
            "SELECT digest, first_served_at FROM rule_versions WHERE version = %(version)s", {"version": version}
        )
        assert row is not None  # inserted above, or there before; rows are never deleted
        named = RuleVersion(version, row[0], self.codec.read_time(row[1]))
        if packed is not None and named.digest == digest:
            self.write(
                "INSERT INTO rule_bundles (digest, files, kept_at) VALUES (%(digest)s, %(files)s, %(at)s)"
                " ON CONFLICT (digest) DO NOTHING",
                {"digest": digest, "files": packed, "at": self.codec.time(at)},
            )
        return named

    def keeps_bundle_files(self, digest: str) -> bool:
        row = self.fetch_one("SELECT 1 FROM rule_bundles WHERE digest = %(digest)s", {"digest": digest})
        return row is not None

    def bundle_files(self, digest: str) -> dict[str, bytes] | None:
        row = self.fetch_one("SELECT files FROM rule_bundles WHERE digest = %(digest)s", {"digest": digest})
        if row is None:
            return None
        try:
            return unpack_bundle_files(bytes(row[0]))
        except ValueError:
            raise KeptFilesDamaged(digest) from None

    def rule_versions(self) -> list[RuleVersion]:
        rows = self.fetch_all(
            "SELECT version, digest, first_served_at FROM rule_versions ORDER BY first_served_at, version", {}
        )
        return [RuleVersion(row[0], row[1], self.codec.read_time(row[2])) for row in rows]

    def _line_params(self, line: CreditLine) -> dict[str, object]:
        """A line's columns as the statements that write a line take them (all but outstanding_principal)."""
        return {
            "user_key": line.user_key,
            "credit_limit": line.credit_limit,
            "rate": self.codec.rate(line.daily_interest_rate),
            "status": line.status.value,
            "country": line.residence_country,
            "opened_at": self.codec.time(line.opened_at),
            "updated_at": self.codec.time(line.updated_at),
        }

    # -- rows to records -------------------------------------------------------------------------

    def _line(self, row: Row) -> CreditLine:
        return CreditLine(
            user_key=row[0],
            credit_limit=row[1],
            outstanding_principal=row[2],
            daily_interest_rate=self.codec.read_rate(row[3]),
            status=_LINE_STATUS[row[4]],
            residence_country=row[5],
            opened_at=self.codec.read_time(row[6]),
            updated_at=self.codec.read_time(row[7]),
        )

    def _drawdown(self, row: Row) -> Drawdown:
        return Drawdown(
            drawdown_id=row[0],
            user_key=row[1],
            amount=row[2],
            term_months=row[3],
            repayment_method=_REPAYMENT_METHOD[row[4]],
            daily_interest_rate=self.codec.read_rate(row[5]),
            purpose=row[6],
            created_at=self.codec.read_time(row[7]),
            schedule=self.codec.read_schedule(row[8]),
            repaid_principal=row[9],
        )

    def _decision(self, row: Row) -> DecisionRecord:
        return DecisionRecord(
            decision_id=row[0],
            rpc=row[1],
            request_id=row[2],
            request_digest=row[3],
            user_key=row[4],
            request_json=row[5],
            response=bytes(row[6]),
            outcome=row[7],
            ruleset_version=row[8],
            ruleset_digest=row[9],
            decided_at=self.codec.read_time(row[10]),
            latency_us=row[11],
        )


def _repays(record: DecisionRecord, drawdown_id: str) -> bool:
    """Whether a RecordRepayment's record names this drawdown (its user's calls are timed apart, so it always does:
    checked all the same, since a clock set back could time two calls alike)."""
    try:
        request = json.loads(record.request_json)
    except ValueError:
        return False
    return isinstance(request, dict) and request.get("drawdown_id") == drawdown_id


class DecisionReads(ABC):
    """The decision record read back for an auditor, the same on every store: each read in a transaction of the
    store's own (`_transaction`)."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[SqlUnitOfWork]: ...

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        with self._transaction() as uow:
            return uow.get_decision(decision_id)

    def find_decision(self, request_id: str) -> DecisionRecord | None:
        with self._transaction() as uow:
            return uow.find_decision(request_id)

    def list_decisions(
        self,
        *,
        user_key: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        until: datetime | None = None,
    ) -> list[DecisionRecord]:
        with self._transaction() as uow:
            return uow.list_decisions(user_key=user_key, since=since, limit=limit, until=until)

    def iter_decisions(
        self, *, user_key: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[DecisionRecord]:
        """Every decision the filters let through, oldest first, DECISIONS_PAGE at a time, each page in a transaction
        of its own: a long export holds no transaction, snapshot or connection while its reader writes, and never
        more than a page in memory."""
        after: tuple[datetime, str] | None = None
        while True:
            with self._transaction() as uow:
                records = uow.decisions_page(user_key=user_key, since=since, until=until, after=after,
                                             limit=DECISIONS_PAGE)
            yield from records
            if len(records) < DECISIONS_PAGE:
                return
            after = (records[-1].decided_at, records[-1].decision_id)

    def drawdown_decisions(self, drawdown_id: str) -> list[DecisionRecord]:
        with self._transaction() as uow:
            return uow.drawdown_decisions(drawdown_id)


# -- a bundle's files as the ledger keeps them ---------------------------------------------------------------------
# Each file as `path NUL size NUL bytes`, in sorted path order (the very bytes whose sha256 is the bundle digest,
# service/engine/files.py), the whole zlib-compressed: lists are mostly ids that compress several times over.


def pack_bundle_files(files: Mapping[str, bytes]) -> bytes:
    """The files (bytes by path inside the bundle) as the ledger stores them."""
    compressor = zlib.compressobj()
    chunks = []
    for path in sorted(files):
        data = files[path]
        if not path or "\0" in path:
            raise ValueError(f"not a path inside a bundle: {path!r}")
        chunks.append(compressor.compress(path.encode() + b"\0" + str(len(data)).encode() + b"\0"))
        chunks.append(compressor.compress(data))
    chunks.append(compressor.flush())
    return b"".join(chunks)


def unpack_bundle_files(packed: bytes) -> dict[str, bytes]:
    """The files pack_bundle_files stored; ValueError when `packed` is not such a value, whole."""
    try:
        raw = zlib.decompress(packed)
    except zlib.error as error:
        raise ValueError(f"not compressed bundle files: {error}") from None
    files: dict[str, bytes] = {}
    at = 0
    while at < len(raw):
        path_end = raw.find(b"\0", at)
        size_end = raw.find(b"\0", path_end + 1) if path_end > at else -1
        size_text = raw[path_end + 1:size_end]
        if size_end < 0 or not size_text.isdigit():
            raise ValueError(f"bundle files cut short or malformed at byte {at}")
        end = size_end + 1 + int(size_text)
        if end > len(raw):
            raise ValueError(f"bundle files cut short at byte {len(raw)}")
        files[raw[at:path_end].decode()] = raw[size_end + 1:end]
        at = end
    return files
