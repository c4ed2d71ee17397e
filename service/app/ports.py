"""What the use cases need from the outside world: a store (one transaction at a time) and a clock."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from service.domain.errors import DecisionServiceError
from service.domain.fraud_features import HistorySummary
from service.domain.model import CreditLine, Drawdown, HistoryEvent


class DecisionRecord(NamedTuple):
    """One decision or mutation, stored append-only for auditors and idempotent replay.

    A named tuple rather than a frozen dataclass: one is built for every decision, and in Python 3.11 a frozen
    dataclass sets each of its 12 fields through object.__setattr__, several times what building the tuple costs.
    Immutable all the same; nothing reads it as a dataclass (no vars(), asdict() or dataclasses.replace())."""

    decision_id: str
    rpc: str  # e.g. "AuthorizeDrawdown"
    request_id: str | None  # idempotency key; None for calls that carry none (GetCreditLine)
    request_digest: str  # sha256 hex of the canonical request (rpc name included)
    user_key: str | None  # keyed hash of the user id, never the raw id
    request_json: str  # the minimised request: no raw identifiers beyond user_key
    response: bytes  # the serialized protobuf response as first sent (meta.replayed = false)
    outcome: str  # APPROVE / DECLINE / REVIEW / OK (for ledger reads and repayments)
    ruleset_version: str
    ruleset_digest: str
    decided_at: datetime
    latency_us: int


@dataclass(frozen=True)
class RuleVersion:
    """The rules a bundle version names in the ledger: the digest of those first served under it, and when."""

    version: str
    digest: str
    first_served_at: datetime


class KeptFilesDamaged(DecisionServiceError):
    """The files the ledger keeps for a digest cannot be read back (the stored value was altered or cut short)."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"the files kept for digest {digest} cannot be read back: the ledger's copy is damaged")
        self.digest = digest


class UnitOfWork(Protocol):
    """One database transaction. Everything done through it commits together or not at all."""

    def find_decision(self, request_id: str) -> DecisionRecord | None:
        """The stored decision for this idempotency key, if any."""

    def save_decision(self, record: DecisionRecord) -> None:
        """Append a decision. Raises DuplicateRequest when record.request_id is already stored: at once, or where
        the store holds the insert back, at the unit of work's next statement or its commit."""

    def get_credit_line(self, user_key: str, *, for_update: bool = False) -> CreditLine | None:
        """The user's line; for_update locks it against every other unit of work until the transaction ends,
        whether the line exists or not. Lock before the transaction's first write."""

    def lock_line(self, user_key: str, *, latest_event: bool) -> tuple[CreditLine | None, datetime | None]:
        """Lock the user's line as get_credit_line(for_update=True) does, and return it (None if there is none) with,
        if `latest_event`, the time of the user's latest recorded account event (None if none is recorded, or not
        asked for)."""

    def save_credit_line(self, line: CreditLine) -> None:
        """Insert or replace the line's limit, rate, status and residence country. Never touches
        outstanding_principal of an existing line: only draw_down and repay move it."""

    def save_granted_line(self, line: CreditLine, read: CreditLine | None) -> None:
        """Write the line a limit decision made from `read`, the line as this unit of work locked and read it (None:
        there was none): insert it if there was none, else set its limit, rate, status and residence country if its
        status is still the one read. StoreUnavailable, and the unit of work rolled back, when a writer that ignored
        the lock (a back office's freeze, say) created the line or changed its status meanwhile: the call's retry
        decides on the line as it now is. As save_credit_line, it never touches outstanding_principal."""

    def draw_down(self, drawdown: Drawdown) -> CreditLine | None:
        """Record an approved drawdown and raise the line's outstanding principal by its amount, atomically
        and only if the line is ACTIVE and outstanding + amount <= credit_limit. Returns the line after the
        change, or None (nothing written) when that condition does not hold."""

    def get_drawdown(self, user_key: str, drawdown_id: str) -> Drawdown | None: ...

    def open_drawdowns(self, user_key: str, *, created_before: datetime | None = None) -> list[Drawdown]:
        """The user's drawdowns with principal still outstanding, oldest first; with created_before, only those
        created before that moment."""

    def repay(self, user_key: str, drawdown_id: str, amount: int, at: datetime) -> CreditLine:
        """Reduce the drawdown's and the line's outstanding principal by amount, atomically. Raises
        UnknownDrawdown, or OverRepayment (nothing written) when amount exceeds the drawdown's outstanding."""

    def append_event(self, event: HistoryEvent) -> None: ...

    def name_rule_version(
        self, version: str, digest: str, at: datetime, files: Mapping[str, bytes] | None = None
    ) -> RuleVersion:
        """What the ledger says `version` names: these rules (`digest`), recorded now as first served `at`, unless
        the ledger named it before; then the rules it named, whatever `digest` is. With `files` (exactly the files
        `digest` covers, by path inside the bundle), the ledger also keeps them, in the same transaction, when the
        version names these rules and it does not keep the files of this digest yet."""

    def keeps_bundle_files(self, digest: str) -> bool:
        """Whether the ledger keeps the files of the rules with this digest."""

    def bundle_files(self, digest: str) -> dict[str, bytes] | None:
        """The files of the rules with this digest, as kept (by path inside the bundle); None when none are kept
        (rules named before the ledger kept them, or never named). Raises KeptFilesDamaged when what is kept cannot
        be read back."""

    def rule_versions(self) -> list[RuleVersion]:
        """Every version the ledger names, oldest first (by first served)."""

    def history_summary(
        self, user_key: str, at: datetime, *, device_id: str = "", counterparty_id: str = ""
    ) -> HistorySummary:
        """In one read of the user's history: its events up to `at` summed over the fraud features' windows
        (drawdowns and transfers out with occurred_at in [at - 1 h, at], credential changes in [at - 24 h, at];
        fraud_features.py); whether any event at or before `at` came from `device_id` (never for an empty id); and
        when the history first names `counterparty_id` (None for an empty id or one never named)."""

    def require_writable(self) -> None:
        """StoreUnavailable unless the database takes this unit of work's writes: every call writes, so a database
        that takes none (a read-only standby, say) cannot serve one. For the health check; a call finds it out at
        its first write."""


class Store(Protocol):
    """The one storage interface; SQLite and PostgreSQL adapters implement it."""

    #: True when a unit of work waits on a server over the network (run it on a thread of its own);
    #: False for an embedded database, whose units of work only wait on each other briefly.
    waits_on_network: bool
    @property
    def in_memory(self) -> bool:
        """True for an in-memory database: each process's own, no file, never shared with another worker."""

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction: commits when the block exits normally, rolls back on an exception. Raises
        StoreUnavailable when the database cannot be reached."""

    def pseudonym_key(self) -> bytes:
        """The secret that turns user ids into user keys; created once per database."""

    def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    def find_decision(self, request_id: str) -> DecisionRecord | None:
        """The decision recorded for this request_id, if any (for an auditor: a complaint quotes it)."""

    def list_decisions(
        self,
        *,
        user_key: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        until: datetime | None = None,
    ) -> list[DecisionRecord]:
        """Decisions newest first; with `since`, those at or after it; with `until`, those before it."""

    def iter_decisions(
        self, *, user_key: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[DecisionRecord]:
        """Every decision list_decisions would give for these filters, oldest first, read a page at a time (each in a
        transaction of its own): memory stays bounded however many there are."""

    def drawdown_decisions(self, drawdown_id: str) -> list[DecisionRecord]:
        """The decisions the ledger links to this drawdown, oldest first: the AuthorizeDrawdown that created it and
        the RecordRepayment of each repayment against it; none for a drawdown it does not know."""

    def close(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC now."""
