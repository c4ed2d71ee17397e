"""A rule that compares a value the record keeps only as a keyed hash (the IP, the device, the counterparty) with a
text (`channel.ip == '10.9.9.9'`) is explained from the record alone: the record's `listed` entry says which of those
texts the value was, and `rules explain` of the rules the ledger kept, given the record's entries as they are, gives
the outcome and flags the client got. The raw value is never stored."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.bootstrap import start_service
from service.config import Settings
from tests.contract.conftest import ROOT
from tests.lifecycle.test_rules_export import run
from tests.support.builders import cny, drawdown, request_id, strong_applicant

RULES_NAMING_HASHED_VALUES = """rules:
  - id: FRD-901
    description: A payment from the office network
    when: channel.ip == '10.9.9.9' and transaction.type == 'PAYMENT'
    then: {outcome: REVIEW, flag: OFFICE_IP, severity: LOW}

  - id: FRD-902
    description: A transfer to a casino
    when: transaction.counterparty_id in ['casino-1', 'casino-2']
    then: {outcome: REVIEW, flag: CASINO, severity: LOW}

  - id: FRD-903
    description: A drawdown from a device known to be stolen
    when: transaction.type == 'DRAWDOWN' and channel.device_id == 'dev-stolen-2'
    then: {outcome: REVIEW, flag: STOLEN_DEVICE, severity: HIGH}

  - id: FRD-904
    description: A login from outside the office network
    when: transaction.type == 'LOGIN' and channel.ip != '10.9.9.9'
    then: {outcome: REVIEW, flag: OUTSIDE_OFFICE, severity: LOW}

"""
FLAG_MESSAGES = """reasons:
  OFFICE_IP: A payment from the office network
  CASINO: A transfer to a casino
  STOLEN_DEVICE: A drawdown from a device known to be stolen
  OUTSIDE_OFFICE: A login from outside the office network
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[grpc.Channel, str, Path]]:
    """A server on rules that compare the IP, the counterparty and the device with texts; its ledger; a folder."""
    folder = tmp_path_factory.mktemp("explained")
    rules = folder / "rules"
    shutil.copytree(ROOT / "rules", rules)
    fraud, bundle = rules / "fraud.yaml", rules / "bundle.yaml"
    fraud.write_text(fraud.read_text().replace("rules:\n", RULES_NAMING_HASHED_VALUES, 1))
    bundle.write_text(bundle.read_text().replace("reasons:\n", FLAG_MESSAGES, 1))
    database_url = f"sqlite:///{folder / 'ledger.db'}"
    service = start_service(Settings(host="127.0.0.1", port=0, rules_dir=rules, database_url=database_url))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            decisions = pb_grpc.DecisionServiceStub(channel)
            decisions.GrantLimit(pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant("u-audited")),
                                 timeout=10)
            yield channel, database_url, folder
    finally:
        service.stop()


def flag(channel: grpc.Channel, kind: int, *, ip: str = "", counterparty: str = "") -> pb.FlagTransactionResponse:
    answer: pb.FlagTransactionResponse = pb_grpc.DecisionServiceStub(channel).FlagTransaction(
        pb.FlagTransactionRequest(request_id=request_id(), transaction=pb.Transaction(
            transaction_id=f"txn-{request_id()}", user_id="u-audited", type=kind,  # type: ignore[arg-type]
            amount=cny(0 if kind == pb.TRANSACTION_TYPE_LOGIN else 30), counterparty_id=counterparty,
            channel=pb.Channel(device_id="phone-of-u-audited", ip=ip, country="CN"))), timeout=10)
    return answer


def record_of(decision_id: str, database_url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()  # the server's log lines
    code, shown, _ = run(capsys, "decisions", "show", decision_id, "--database", database_url)
    assert code == 0
    record: dict[str, Any] = json.loads(shown)
    return record


def cny_of(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d} CNY"


def case_of(record: dict[str, Any]) -> dict[str, object]:
    """A drawdown's or an account event's record as a `rules explain` input, as docs/rules.md says to write it: the
    call's values (amounts in CNY), and the record's device, ip, features.* and listed entries as they are."""
    kept = record["request"]
    line = {"credit_limit": cny_of(kept["line_credit_limit"]), "outstanding": cny_of(kept["line_outstanding"]),
            "status": kept["line_status"], "residence_country": kept["line_residence_country"]}
    channel = {"country": kept["channel_country"]}
    if record["rpc"] == "AuthorizeDrawdown":
        call = {"drawdown": {"amount": cny_of(kept["amount"]), "term_months": kept["term_months"],
                             "repayment_method": kept["repayment_method"], "purpose": kept["purpose"],
                             "channel": channel}}
    else:
        call = {"transaction": {"type": kept["type"], "amount": cny_of(kept["amount"]),
                                "counterparty_id": kept["counterparty"], "channel": channel}}
    entries = {key: value for key, value in kept.items()
               if key in ("device", "ip", "listed") or key.startswith("features.")}
    return {"call": record["rpc"], "credit_line": line, **call, **entries}


def explained(record: dict[str, Any], database_url: str, folder: Path, capsys: pytest.CaptureFixture[str]
              ) -> list[str]:
    """The first lines of `rules explain` of the record, on the rules the ledger kept for its version."""
    export = folder / f"rules-{record['ruleset_digest'][:12]}"
    if not export.exists():
        capsys.readouterr()
        code, _, err = run(capsys, "rules", "export", "--database", database_url, "--digest",
                           record["ruleset_digest"], str(export))
        assert (code, err) == (0, "")
    case_file = folder / f"case-{record['decision_id']}.json"
    case_file.write_text(json.dumps(case_of(record)))
    capsys.readouterr()
    code, out, _ = run(capsys, "rules", "explain", str(export), "--input", str(case_file))
    assert code == 0, out
    return out.splitlines()


def flags_line(answer: Any, label: str = "flags") -> str:
    flags = [f"{f.code} (rule {f.rule_id}, severity {pb.RiskLevel.Name(f.severity).removeprefix('RISK_LEVEL_')})"
             for f in (answer.fraud_flags if label == "fraud flags" else answer.flags)]
    return f"  {label} {', '.join(flags) or '(none)'}"


@pytest.mark.parametrize(("kind", "ip", "counterparty", "flagged"), [
    pytest.param(pb.TRANSACTION_TYPE_PAYMENT, "10.9.9.9", "", ["OFFICE_IP"], id="payment-from-the-office"),
    pytest.param(pb.TRANSACTION_TYPE_PAYMENT, "10.9.9.8", "", [], id="payment-from-elsewhere"),
    pytest.param(pb.TRANSACTION_TYPE_TRANSFER_OUT, "", "casino-2", ["CASINO"], id="transfer-to-a-casino"),
    pytest.param(pb.TRANSACTION_TYPE_TRANSFER_OUT, "", "casino-3", [], id="transfer-elsewhere"),
    pytest.param(pb.TRANSACTION_TYPE_LOGIN, "10.9.9.9", "", [], id="login-from-the-office"),
    pytest.param(pb.TRANSACTION_TYPE_LOGIN, "203.0.113.5", "", ["OUTSIDE_OFFICE"], id="login-from-outside"),
])
def test_an_account_event_decided_by_a_rule_naming_an_ip_or_a_counterparty_is_explained_from_its_record(
    served: tuple[grpc.Channel, str, Path], capsys: pytest.CaptureFixture[str], kind: int, ip: str,
    counterparty: str, flagged: list[str],
) -> None:
    channel, database_url, folder = served
    answer = flag(channel, kind, ip=ip, counterparty=counterparty)
    assert [f.code for f in answer.flags] == flagged
    record = record_of(answer.meta.decision_id, database_url, capsys)

    lines = explained(record, database_url, folder, capsys)

    risk = pb.RiskLevel.Name(answer.risk_level).removeprefix("RISK_LEVEL_")
    assert lines[1] == f"  outcome {record['outcome']}; risk level {risk}"
    assert lines[2] == flags_line(answer)


def test_a_drawdown_from_a_device_a_rule_names_is_explained_from_its_record(
    served: tuple[grpc.Channel, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    channel, database_url, folder = served
    decisions = pb_grpc.DecisionServiceStub(channel)
    stolen = decisions.AuthorizeDrawdown(drawdown("u-audited", 500, channel=pb.Channel(device_id="dev-stolen-2")),
                                         timeout=10)
    assert (stolen.outcome, [f.code for f in stolen.fraud_flags]) == (pb.OUTCOME_REVIEW, ["STOLEN_DEVICE"])
    record = record_of(stolen.meta.decision_id, database_url, capsys)
    assert record["request"]["listed"] == ["channel.device_id == 'dev-stolen-2'"]

    lines = explained(record, database_url, folder, capsys)

    assert lines[1] == f"  outcome REVIEW; reasons {', '.join(r.code for r in stolen.reasons)}"
    assert lines[2] == flags_line(stolen, "fraud flags")


def test_the_record_keeps_which_text_the_value_was_and_never_a_value_no_rule_names(
    served: tuple[grpc.Channel, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    channel, database_url, _ = served
    office = record_of(flag(channel, pb.TRANSACTION_TYPE_PAYMENT, ip="10.9.9.9").meta.decision_id, database_url,
                       capsys)
    home = record_of(flag(channel, pb.TRANSACTION_TYPE_PAYMENT, ip="198.51.100.23").meta.decision_id, database_url,
                     capsys)
    casino = record_of(flag(channel, pb.TRANSACTION_TYPE_TRANSFER_OUT, counterparty="casino-1").meta.decision_id,
                       database_url, capsys)
    grocer = record_of(flag(channel, pb.TRANSACTION_TYPE_TRANSFER_OUT, counterparty="grocer-77").meta.decision_id,
                       database_url, capsys)

    assert office["request"]["listed"] == ["channel.ip == '10.9.9.9'"]
    assert casino["request"]["listed"] == ["transaction.counterparty_id == 'casino-1'"]
    assert "listed" not in home["request"] and "listed" not in grocer["request"]
    for record in (office, home, casino, grocer):
        stored = json.dumps(record)
        for raw in ("198.51.100.23", "grocer-77", "phone-of-u-audited", "u-audited"):
            assert raw not in stored, f"{raw!r} stored in the record"
