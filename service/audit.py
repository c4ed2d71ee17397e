"""`decisiond decisions list|show|export`: the decision record, read back for an auditor."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TextIO

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from service._gen.decision.v1 import decision_pb2 as pb
from service.app.ports import DecisionRecord, Store
from service.app.pseudonyms import Pseudonyms
from service.domain.request_limits import canonical_ip

RESPONSE_TYPES: dict[str, type[Message]] = {
    "ScoreUser": pb.ScoreUserResponse,
    "GrantLimit": pb.GrantLimitResponse,
    "AuthorizeDrawdown": pb.AuthorizeDrawdownResponse,
    "FlagTransaction": pb.FlagTransactionResponse,
    "GetCreditLine": pb.GetCreditLineResponse,
    "RecordRepayment": pb.RecordRepaymentResponse,
}


def parse_since(text: str) -> datetime:
    """An ISO date or date-time; naive values are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_until(text: str) -> datetime:
    """The end of a period, exclusive, written as --since is: a date-time is that moment; a date alone ends with its
    day (UTC), so that `--since 2026-11-01 --until 2026-11-30` is the whole of November."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return parse_since(text)
    try:
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    except OverflowError:  # 9999-12-31: the end of time
        return datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Filters:
    """Which decisions an auditor asks for; every filter given must hold. `user_id` is the raw id, hashed as the
    service hashes it before the ledger sees it; `until` is exclusive."""

    user_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None
    drawdown_id: str | None = None
    # Values a record keeps only as keyed hashes, given raw: the decisions whose record names them.
    device_id: str | None = None
    counterparty_id: str | None = None
    transaction_id: str | None = None
    ip: str | None = None

    @property
    def looks_up(self) -> bool:
        """Whether an id names the decisions (a handful), rather than a user or a period."""
        return self.request_id is not None or self.drawdown_id is not None

    @property
    def names_hashed_values(self) -> bool:
        """Whether a device, counterparty, transaction or IP is asked for (see kept_as)."""
        return any(value is not None for value in (self.device_id, self.counterparty_id, self.transaction_id, self.ip))

    def kept_as(self, pseudonyms: Pseudonyms) -> dict[str, str]:
        """The record keys and keyed hashes the device, counterparty, transaction and IP asked for are kept under,
        hashed as the service hashes them (an IP in the one form it keeps)."""
        wanted = {
            "device": ("device", self.device_id),
            "counterparty": ("counterparty", self.counterparty_id),
            "event_id": ("txn", self.transaction_id),
            "ip": ("ip", None if self.ip is None else canonical_ip(self.ip) or self.ip),
        }
        return {key: pseudonyms.identifier(kind, value) for key, (kind, value) in wanted.items() if value is not None}


def list_decisions(store: Store, out: TextIO, filters: Filters, *, limit: int) -> int:
    """One line per decision, newest first; at most `limit`, and then a line that says older ones match too (an
    auditor must not take the newest `limit` for all of them)."""
    user_key = _user_key(store, filters)
    if filters.looks_up:
        records = list(_naming(store, filters, _looked_up(store, filters, user_key)))[::-1][: limit + 1]
    elif filters.names_hashed_values:  # read through, oldest first, keeping the newest that name them
        records = list(deque(_exported(store, filters), maxlen=limit + 1))[::-1]
    else:
        records = store.list_decisions(user_key=user_key, since=filters.since, until=filters.until, limit=limit + 1)
    more = len(records) > limit
    for record in records[:limit]:
        print(
            f"{record.decided_at.isoformat()}  {record.decision_id}  {record.rpc:<17}  {record.outcome:<7}"
            f"  rules {record.ruleset_version or '-'}  {record.latency_us / 1000:.1f} ms",
            file=out,
        )
    if more:
        print(f"older decisions match too: only the newest {limit} are listed; raise --limit or give a later --since",
              file=out)
    if not records:
        print("no decisions match", file=out)
    return 0


def export_decisions(store: Store, out: TextIO, filters: Filters) -> int:
    """Every matching decision in full (what `show` prints), one JSON object a line, oldest first; returns how many.
    Read a page at a time: a person's whole file or a year of the ledger takes no more memory than a page."""
    # Not ASCII-only where the stream takes any character: a name in a rule's reason stays readable.
    ascii_only = (getattr(out, "encoding", None) or "").lower().replace("-", "") != "utf8"
    exported = 0
    for record in _exported(store, filters):
        out.write(json.dumps(describe(record), ensure_ascii=ascii_only) + "\n")
        exported += 1
    return exported


def _exported(store: Store, filters: Filters) -> Iterator[DecisionRecord]:
    user_key = _user_key(store, filters)
    if filters.looks_up:
        return _naming(store, filters, _looked_up(store, filters, user_key))
    return _naming(store, filters, store.iter_decisions(user_key=user_key, since=filters.since, until=filters.until))


def _naming(store: Store, filters: Filters, records: Iterable[DecisionRecord]) -> Iterator[DecisionRecord]:
    """The records that keep every device, counterparty, transaction and IP asked for (all of them, when none is)."""
    wanted = filters.kept_as(_pseudonyms(store)) if filters.names_hashed_values else {}
    for record in records:
        if not wanted or _keeps(json.loads(record.request_json), wanted):
            yield record


def _keeps(request: object, wanted: dict[str, str]) -> bool:
    return isinstance(request, dict) and all(request.get(key) == value for key, value in wanted.items())


def _pseudonyms(store: Store) -> Pseudonyms:
    return Pseudonyms(store.pseudonym_key())


def _user_key(store: Store, filters: Filters) -> str | None:
    return _pseudonyms(store).user_key(filters.user_id) if filters.user_id else None


def _looked_up(store: Store, filters: Filters, user_key: str | None) -> list[DecisionRecord]:
    """The decisions a request_id or a drawdown_id names, oldest first, that the other filters let through too."""
    found: list[DecisionRecord] = []
    if filters.request_id is not None:
        record = store.find_decision(filters.request_id)
        found = [] if record is None else [record]
    if filters.drawdown_id is not None:
        linked = [r for r in store.drawdown_decisions(filters.drawdown_id) if _names_drawdown(r, filters.drawdown_id)]
        found = linked if filters.request_id is None else [r for r in found if r in linked]
    return [
        record
        for record in found
        if (user_key is None or record.user_key == user_key)
        and (filters.since is None or record.decided_at >= filters.since)
        and (filters.until is None or record.decided_at < filters.until)
    ]


def _names_drawdown(record: DecisionRecord, drawdown_id: str) -> bool:
    """Whether the record is of this drawdown: a repayment the store checked; an approval's answer names it."""
    if record.rpc != "AuthorizeDrawdown":
        return True
    try:
        return pb.AuthorizeDrawdownResponse.FromString(record.response).drawdown_id == drawdown_id
    except DecodeError:  # not an answer this release can read: the ledger's link stands
        return True


def show_decision(store: Store, out: TextIO, decision_id: str | None, *, request_id: str | None = None) -> int:
    """Everything recorded about one decision, named by its decision_id or its request_id, as JSON."""
    if request_id is not None:
        record = store.find_decision(request_id)
        missing = f"no decision for request_id {request_id}"
    else:
        assert decision_id is not None, "a decision_id or a request_id"
        record = store.get_decision(decision_id)
        missing = f"no decision {decision_id}"
    if record is None:
        print(missing, file=out)
        return 1
    print(json.dumps(describe(record), indent=2, ensure_ascii=False), file=out)
    return 0


def describe(record: DecisionRecord) -> dict[str, object]:
    response_type = RESPONSE_TYPES.get(record.rpc)
    response: object = record.response.hex()
    if response_type is not None:
        # Every field, zeros included: an available limit of 0 must read 0, not be left out.
        response = json_format.MessageToDict(
            response_type.FromString(record.response), always_print_fields_with_no_presence=True
        )
    return {
        "decision_id": record.decision_id,
        "rpc": record.rpc,
        "decided_at": record.decided_at.isoformat(),
        "request_id": record.request_id,
        "request_digest": record.request_digest,
        "user_key": record.user_key,
        "request": json.loads(record.request_json),
        "response": response,
        "outcome": record.outcome,
        "ruleset_version": record.ruleset_version,
        "ruleset_digest": record.ruleset_digest,
        "latency_ms": record.latency_us / 1000,
    }
