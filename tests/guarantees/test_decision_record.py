"""The decision record: every decision of the six RPCs is stored append-only with what an auditor needs, read
back by `decisiond decisions list|show`, free of raw identifiers, and replayed verbatim for a repeated
request_id."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from service._gen.decision.v1 import decision_pb2 as pb
from service.app.pseudonyms import Pseudonyms
from tests.guarantees.calls import RPC_TIMEOUT, credit_line, drawdown_of, open_line, repayment_of
from tests.guarantees.conftest import Deployment
from tests.support.builders import cny, request_id, strong_applicant

DECISIOND = Path(sys.executable).parent / "decisiond"


def decisiond(*args: str) -> str:
    """The console command as an auditor runs it."""
    done = subprocess.run([str(DECISIOND), *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_transfer_to_a_listed_counterparty_is_recorded_as_listed_though_the_record_keeps_only_its_hash(
        deployment: Deployment) -> None:
    """The record keeps a counterparty as its keyed hash, which no list holds: what FRD-006 saw, that the
    counterparty was on the mule list, is recorded as such, so that the decline can be shown to follow."""
    client, tag = deployment.clients[0], uuid.uuid4().hex[:8]
    user = f"listed-{tag}"
    open_line(client, user)
    answers = []
    for counterparty in ("CP-MULE-0002", f"CP-FINE-{tag}"):
        answers.append(client.decisions.FlagTransaction(pb.FlagTransactionRequest(
            request_id=request_id(),
            transaction=pb.Transaction(transaction_id=f"txn-{counterparty}", user_id=user,
                                       type=pb.TRANSACTION_TYPE_TRANSFER_OUT, amount=cny(500),
                                       channel=pb.Channel(device_id=f"dev-{user}", country="CN"),
                                       counterparty_id=counterparty),
        ), timeout=RPC_TIMEOUT))
    assert [a.outcome for a in answers] == [pb.OUTCOME_DECLINE, pb.OUTCOME_APPROVE]
    records = {r.decision_id: json.loads(r.request_json) for r in deployment.ledger().decisions_of(user)}
    mule, fine = (records[a.meta.decision_id] for a in answers)
    assert mule["listed"] == ["transaction.counterparty_id in lists.mule_counterparties"]
    assert "CP-MULE-0002" not in json.dumps(mule)
    assert "listed" not in fine


def test_the_record_of_a_velocity_review_holds_the_history_feature_that_referred_it(deployment: Deployment) -> None:
    """"Why was I referred?" from the record alone: the features of the history the rules read, as they read them,
    not only the events an auditor would have to work through again."""
    client = deployment.clients[0]
    user = f"velocity-{uuid.uuid4().hex[:8]}"
    open_line(client, user)
    answers = [client.decisions.AuthorizeDrawdown(drawdown_of(user, 100_000), timeout=RPC_TIMEOUT) for _ in range(4)]
    assert [a.outcome for a in answers] == [pb.OUTCOME_APPROVE] * 3 + [pb.OUTCOME_REVIEW]
    assert [f.code for f in answers[-1].fraud_flags] == ["VELOCITY_HOURLY"]
    records = {r.decision_id: json.loads(r.request_json) for r in deployment.ledger().decisions_of(user)}
    first, fourth = records[answers[0].meta.decision_id], records[answers[-1].meta.decision_id]
    assert (first["features.drawdowns_last_hour"], fourth["features.drawdowns_last_hour"]) == (0, 3)
    assert fourth["features.device_seen_before"] is True
    assert "features.drawdown_amount_last_hour" not in fourth  # no rule of the bundle reads it


def without_replay_mark(answer: Message) -> Message:
    copy = type(answer)()
    copy.CopyFrom(answer)
    copy.meta.replayed = False  # type: ignore[attr-defined]
    return copy


def test_every_decision_is_on_record_and_an_auditor_can_read_it_back(deployment: Deployment) -> None:
    tag = uuid.uuid4().hex[:8]
    user = f"alice.wang-13800138000-{tag}"  # a name and a phone number: raw identifiers that must not be stored
    device, ip, transaction, counterparty = f"imei-86{tag}", "203.0.113.77", f"txn-{tag}", f"acct-6222{tag}"
    channel = pb.Channel(device_id=device, ip=ip, country="CN", city="Hangzhou")
    since = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    client, other_replica = deployment.clients[0], deployment.clients[1]

    sent: list[tuple[Message, Message]] = []

    def call(stub: object, request: Message) -> Message:
        answer: Message = stub(request, timeout=RPC_TIMEOUT)  # type: ignore[operator]
        sent.append((request, answer))
        return answer

    attributes = {"employment_months": 36, "full_name": "Alice Wang"}  # the name: an attribute no rule declares
    scored = call(
        client.decisions.ScoreUser,
        pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant(user, attributes=attributes)),
    )
    call(client.decisions.GrantLimit, pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user)))
    call(
        client.decisions.FlagTransaction,
        pb.FlagTransactionRequest(
            request_id=request_id(),
            transaction=pb.Transaction(
                transaction_id=transaction,
                user_id=user,
                type=pb.TRANSACTION_TYPE_TRANSFER_OUT,
                amount=cny(500),
                channel=channel,
                counterparty_id=counterparty,
                merchant_category="PHARMACY-CLINIC",
            ),
        ),
    )
    drawn_request = drawdown_of(user, 300_000)
    drawn_request.channel.CopyFrom(channel)
    drawn = call(client.decisions.AuthorizeDrawdown, drawn_request)
    assert drawn.outcome == pb.OUTCOME_APPROVE, drawn
    prohibited = drawdown_of(user, 300_000)
    prohibited.purpose = "SECURITIES"
    declined = call(client.decisions.AuthorizeDrawdown, prohibited)
    assert declined.outcome == pb.OUTCOME_DECLINE
    call(client.ledger.RecordRepayment, repayment_of(user, drawn.drawdown_id, 100_000))
    line = credit_line(client, user)
    replayed = other_replica.decisions.AuthorizeDrawdown(drawn_request, timeout=RPC_TIMEOUT)

    ledger = deployment.ledger()
    records = {r.decision_id: r for r in ledger.decisions_of(user)}
    assert Counter(r.rpc for r in records.values()) == Counter(
        ScoreUser=1, GrantLimit=1, FlagTransaction=1, AuthorizeDrawdown=2, RecordRepayment=1, GetCreditLine=1
    ), "one record per decision; the replay adds none"
    for request, answer in sent:
        record = records[answer.meta.decision_id]  # type: ignore[attr-defined]
        assert record.request_id == request.request_id  # type: ignore[attr-defined]
        assert type(answer).FromString(record.response) == answer, "the record holds the response as sent"
        assert (record.ruleset_version, record.ruleset_digest) == (
            answer.meta.ruleset_version,  # type: ignore[attr-defined]
            answer.meta.ruleset_digest,  # type: ignore[attr-defined]
        )
    (line_record,) = [r for r in records.values() if r.rpc == "GetCreditLine"]
    assert pb.GetCreditLineResponse.FromString(line_record.response).outstanding_principal == line.outstanding_principal

    # A request_id replay returns the stored response, marked as a replay, from either replica.
    assert replayed.meta.replayed
    assert without_replay_mark(replayed) == pb.AuthorizeDrawdownResponse.FromString(
        records[drawn.meta.decision_id].response
    )

    # Minimised: the user is only ever its keyed hash; no device, address, transaction or account number.
    assert {r.user_key for r in records.values()} == {ledger.user_key(user)}
    for record in records.values():
        for raw in (user, "13800138000", "alice", "Alice Wang", device, ip, transaction, counterparty):
            assert raw not in record.request_json, f"{raw!r} stored in the {record.rpc} request"
    recorded_attributes = json.loads(records[scored.meta.decision_id].request_json)["attributes"]
    assert recorded_attributes == {"employment_months": 36}
    # A Struct sends 36 as the float 36.0: the record keeps the whole number the rules saw, never a float.
    assert type(recorded_attributes["employment_months"]) is int
    assert json.loads(records[drawn.meta.decision_id].request_json)["amount"] == 300_000

    # What the fraud rules were given besides the request, as the history keeps it (keyed hashes), with the line as
    # it stood: with the history before decided_at, an auditor can work out every fact a decision saw.
    keyed = Pseudonyms(ledger.secret)
    (flagged,) = [json.loads(r.request_json) for r in records.values() if r.rpc == "FlagTransaction"]
    assert (flagged["device"], flagged["counterparty"]) == (
        keyed.identifier("device", device), keyed.identifier("counterparty", counterparty)
    )
    assert flagged["event_id"] in {event.event_id for event in ledger.events}
    approved, refused = (json.loads(records[a.meta.decision_id].request_json) for a in (drawn, declined))
    assert approved["device"] == keyed.identifier("device", device)
    assert refused["device"] == keyed.identifier("device", prohibited.channel.device_id)
    for seen in (flagged, approved, refused):
        assert seen["line_status"] == "ACTIVE" and seen["line_credit_limit"] == line.credit_limit.minor_units
    assert (approved["line_outstanding"], refused["line_outstanding"]) == (0, 300_000)
    # What a rule read is kept only when one does: the days past due (DRW-006), not the city or the IP (none does).
    assert (approved["line_days_past_due"], refused["line_days_past_due"]) == (0, 0)
    assert "line_days_past_due" not in flagged  # the fraud rules alone do not read it
    for seen in (flagged, approved, refused):
        assert not {"channel_city", "ip", "listed", "merchant_category"} & set(seen)
    for kept in ("Hangzhou", "PHARMACY"):  # free text no rule reads, which can tell of a person's health, say
        assert all(kept not in record.request_json for record in records.values())

    # What an auditor runs.
    listing = decisiond("decisions", "list", "--user", user, "--since", since, "--database", deployment.database_url)
    listed = [row.split() for row in listing.splitlines()]
    assert sorted(row[1] for row in listed) == sorted(records)
    times = [datetime.fromisoformat(row[0]) for row in listed]
    assert times == sorted(times, reverse=True), "newest first"
    assert {row[2] for row in listed} == set(Counter(r.rpc for r in records.values()))
    shown = json.loads(decisiond("decisions", "show", drawn.meta.decision_id, "--database", deployment.database_url))
    assert shown["rpc"] == "AuthorizeDrawdown"
    assert shown["request_id"] == drawn_request.request_id
    assert shown["user_key"] == ledger.user_key(user)
    assert shown["response"] == json_format.MessageToDict(drawn, always_print_fields_with_no_presence=True)
    assert (shown["ruleset_version"], shown["ruleset_digest"]) == (
        drawn.meta.ruleset_version,
        drawn.meta.ruleset_digest,
    )
    assert shown["request"]["purpose"] == "CONSUMPTION" and shown["latency_ms"] > 0
    assert datetime.fromisoformat(shown["decided_at"]) == drawn.meta.decided_at.ToDatetime(tzinfo=UTC)
    assert len(shown["request_digest"]) == 64
    assert not any(raw in json.dumps(shown) for raw in (user, device, ip))


def test_the_decision_record_is_append_only(deployment: Deployment) -> None:
    (any_decision, *_) = deployment.ledger().decisions
    for statement in (
        f"UPDATE decisions SET outcome = 'APPROVE' WHERE decision_id = '{any_decision}'",
        f"DELETE FROM decisions WHERE decision_id = '{any_decision}'",
    ):
        if deployment.dialect == "sqlite":
            path = deployment.database_url.removeprefix("sqlite:///")
            with (
                closing(sqlite3.connect(path)) as connection,
                pytest.raises(sqlite3.DatabaseError, match="append-only"),
            ):
                connection.execute(statement)
        else:
            with (
                psycopg.connect(deployment.database_url, autocommit=True) as connection,
                pytest.raises(psycopg.Error, match="append-only"),
            ):
                connection.execute(statement)
    assert any_decision in deployment.ledger().decisions


def test_no_raw_user_id_reaches_the_database(deployment: Deployment) -> None:
    """The README's promise: the database sees a keyed hash, never the user id, in any table."""
    user = f"bob.li-13911112222-{uuid.uuid4().hex[:8]}"
    client = deployment.clients[0]
    client.decisions.GrantLimit(
        pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user)), timeout=RPC_TIMEOUT
    )
    drawn = client.decisions.AuthorizeDrawdown(drawdown_of(user, 100_000), timeout=RPC_TIMEOUT)
    client.ledger.RecordRepayment(repayment_of(user, drawn.drawdown_id, 100_000), timeout=RPC_TIMEOUT)
    credit_line(client, user)

    ledger = deployment.ledger()
    stored = [
        *(r.request_json for r in ledger.decisions_of(user)),
        *(r.response.decode("utf-8", "replace") for r in ledger.decisions_of(user)),
        *(repr(row) for row in ledger.lines.values()),
        *(repr(row) for row in ledger.events),
    ]
    assert [text for text in stored if user in text or "13911112222" in text] == []


def test_the_auditors_tools_refuse_what_they_cannot_read_in_words_and_never_create_a_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main

    missing, garbage = tmp_path / "mistyped" / "ledger.db", tmp_path / "garbage.db"
    garbage.write_text("not a database")
    refusals = [
        (["list", "--database", f"sqlite:///{missing}"], f"there is no SQLite ledger at {missing}"),
        (["show", "dec_1", "--database", f"sqlite:///{missing}"], f"there is no SQLite ledger at {missing}"),
        (["list", "--database", f"sqlite:///{garbage}"], f"cannot read the decisions in sqlite:///{garbage}: file is"),
        (["list", "--limit", "-1", "--database", f"sqlite:///{garbage}"], "--limit must be a whole number from 1"),
        (["list", "--since", "yesterday", "--database", f"sqlite:///{garbage}"], "--since 'yesterday' is not a date"),
    ]
    for argv, said in refusals:
        assert main(["decisions", *argv]) == 2, argv
        error = capsys.readouterr().err
        assert error.startswith(f"decisiond: {said}") and "Traceback" not in error, error
    assert not missing.parent.exists()


def test_the_auditors_tools_never_create_or_migrate_a_ledger_on_either_database(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reader changes nothing: an empty PostgreSQL schema (a mistyped database, say) is refused and stays empty,
    with no pseudonym secret made; an empty SQLite file likewise; a ledger whose schema is older than this code's is
    refused rather than migrated."""
    from service.cli import main
    from service.storage import open_store

    empty_sqlite = tmp_path / "empty.db"
    sqlite3.connect(empty_sqlite).close()
    for url in (postgres_url, f"sqlite:///{empty_sqlite}"):
        assert main(["decisions", "list", "--user", "u-1", "--database", url]) == 2
        assert "this database holds no decisiond ledger" in capsys.readouterr().err
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()").fetchone()
        assert tables == (0,)
    assert sqlite3.connect(empty_sqlite).execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)

    older = tmp_path / "older.db"
    open_store(f"sqlite:///{older}").close()
    with sqlite3.connect(older) as connection:
        newest = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        connection.execute("DELETE FROM schema_migrations WHERE version = ?", (newest,))
    assert main(["decisions", "list", "--database", f"sqlite:///{older}"]) == 2
    assert "the ledger's schema is older than this decisiond's" in capsys.readouterr().err
    with sqlite3.connect(older) as connection:
        assert connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == newest - 1
    open_store(postgres_url).close()  # a ledger the server made reads as before
    assert main(["decisions", "list", "--database", postgres_url]) == 0
    assert "no decisions match" in capsys.readouterr().out
