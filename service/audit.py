"""`decisiond decisions list|show`: the decision record, read back for an auditor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TextIO

from google.protobuf import json_format
from google.protobuf.message import Message

from service._gen.decision.v1 import decision_pb2 as pb
from service.app.ports import DecisionRecord, Store
from service.app.pseudonyms import Pseudonyms

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


def list_decisions(store: Store, out: TextIO, *, user_id: str | None, since: datetime | None, limit: int) -> int:
    """One line per decision, newest first; at most `limit`, and then a line that says older ones match too (an
    auditor must not take the newest `limit` for all of them)."""
    user_key = Pseudonyms(store.pseudonym_key()).user_key(user_id) if user_id else None
    records = store.list_decisions(user_key=user_key, since=since, limit=limit + 1)
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


def show_decision(store: Store, out: TextIO, decision_id: str) -> int:
    """Everything recorded about one decision, as JSON."""
    record = store.get_decision(decision_id)
    if record is None:
        print(f"no decision {decision_id}", file=out)
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
