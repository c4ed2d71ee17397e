"""`decisiond decisions list|export --device-id/--counterparty-id/--transaction-id/--ip`: a fraud investigator holds
a raw device id, counterparty, transaction id or IP address, which the records keep only as keyed hashes, and finds
every decision whose record names it, across users, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.bootstrap import start_service
from service.cli import main
from service.config import Settings
from tests.support.builders import cny, drawdown, request_id, strong_applicant
from tests.support.server_process import ROOT

IP_RULE = """rules:
  - id: FRD-IP
    description: An address the lender watches
    when: channel.ip == '198.51.100.9'
    then: {outcome: REVIEW, flag: MULE_COUNTERPARTY, severity: MEDIUM}

"""


def transaction(user_id: str, transaction_id: str, **fields: object) -> pb.FlagTransactionRequest:
    return pb.FlagTransactionRequest(request_id=request_id(), transaction=pb.Transaction(
        transaction_id=transaction_id, user_id=user_id, **fields))  # type: ignore[arg-type]


@pytest.fixture
def decided(database_url: str, tmp_path: Path) -> dict[str, str]:
    """Decisions of two users sharing a phone and paying one counterparty; the decision_id of each, by name."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    fraud = rules / "fraud.yaml"
    fraud.write_text(fraud.read_text().replace("rules:\n", IP_RULE, 1))
    service = start_service(Settings(host="127.0.0.1", port=0, rules_dir=rules, database_url=database_url))
    ids: dict[str, str] = {}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            decide = pb_grpc.DecisionServiceStub(channel)
            for user in ("u-alice", "u-bob"):
                decide.GrantLimit(pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user)))
            shared = pb.Channel(device_id="phone-shared", ip="::ffff:198.51.100.9", country="CN")
            ids["alice draws"] = decide.AuthorizeDrawdown(drawdown("u-alice", 1_000, channel=shared)).meta.decision_id
            ids["bob pays"] = decide.FlagTransaction(transaction(
                "u-bob", "txn-777", type=pb.TRANSACTION_TYPE_TRANSFER_OUT, amount=cny(500), channel=shared,
                counterparty_id="acct-mule-1")).meta.decision_id
            ids["alice pays"] = decide.FlagTransaction(transaction(
                "u-alice", "txn-778", type=pb.TRANSACTION_TYPE_TRANSFER_OUT, amount=cny(300),
                channel=pb.Channel(device_id="phone-alice", ip="203.0.113.7", country="CN"),
                counterparty_id="acct-mule-1")).meta.decision_id
            ids["bob draws"] = decide.AuthorizeDrawdown(drawdown("u-bob", 700)).meta.decision_id
    finally:
        service.stop()
    return ids


def listed(capsys: pytest.CaptureFixture[str], database_url: str, *options: str) -> list[str]:
    assert main(["decisions", "list", "--database", database_url, *options]) == 0
    return [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("20")]


def test_decisions_are_found_by_the_device_counterparty_transaction_and_ip_their_records_keep_hashed(
    decided: dict[str, str], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    newest_first = [decided[name] for name in ("bob pays", "alice draws")]
    assert listed(capsys, database_url, "--device-id", "phone-shared") == newest_first
    assert listed(capsys, database_url, "--counterparty-id", "acct-mule-1") == \
        [decided["alice pays"], decided["bob pays"]]
    assert listed(capsys, database_url, "--transaction-id", "txn-778") == [decided["alice pays"]]
    # the IP as another client library writes it: the service keeps one form, and so does the lookup
    assert listed(capsys, database_url, "--ip", "::FFFF:C633:6409") == newest_first
    # every filter given must hold: the user's, the device's
    assert listed(capsys, database_url, "--device-id", "phone-shared", "--user", "u-bob") == [decided["bob pays"]]
    assert listed(capsys, database_url, "--device-id", "phone-shared", "--limit", "1") == newest_first[:1]
    assert listed(capsys, database_url, "--device-id", "phone-unknown") == []
    # nothing raw reached the ledger: a record's text never holds the values looked up by
    assert main(["decisions", "export", "--database", database_url, "--counterparty-id", "acct-mule-1"]) == 0
    exported = capsys.readouterr().out
    assert [json.loads(line)["decision_id"] for line in exported.splitlines()] == \
        [decided["bob pays"], decided["alice pays"]]
    assert "acct-mule-1" not in exported and "phone-shared" not in exported and "txn-77" not in exported


def test_an_empty_value_to_look_up_by_is_refused_naming_the_option(
    decided: dict[str, str], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["decisions", "list", "--database", database_url, "--device-id", " "]) == 2
    assert "--device-id is empty: give the id" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value", "why"), [
    ("--user", "u-alice ", "must be printable, without leading or trailing spaces"),  # pasted with a space
    ("--device-id", " phone-shared", "must be printable, without leading or trailing spaces"),
    ("--request-id", "r" * 65, "must be at most 64 characters"),
    ("--ip", "198.51.100", "must be an IPv4 or IPv6 address"),
])
def test_a_value_no_call_can_carry_is_refused_rather_than_found_in_no_record(
    decided: dict[str, str], database_url: str, capsys: pytest.CaptureFixture[str], option: str, value: str, why: str
) -> None:
    for command in ("list", "export"):
        assert main(["decisions", command, "--database", database_url, option, value]) == 2
        assert f"decisiond: {option} {value!r} {why}, as every call's is: no decision can name it" in \
            capsys.readouterr().err


def test_a_decision_id_pasted_with_a_space_is_refused_rather_than_said_to_be_no_decision(
    decided: dict[str, str], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pasted = " " + decided["alice draws"]
    assert main(["decisions", "show", pasted, "--database", database_url]) == 2
    assert capsys.readouterr().err == (f"decisiond: the decision id {pasted!r} must be printable, without leading or "
                                       "trailing spaces: no decision has it\n")
    assert main(["decisions", "show", decided["alice draws"], "--database", database_url]) == 0
