"""`rules explain` takes a decision record as `decisiond decisions show` prints it, as it is: the record a real use
case wrote to a real ledger gives, explained, the outcome and reasons the caller got. A grant's record keeps the
status of the line it found, so a grant to a user whose line is frozen is explained with LINE_NOT_ACTIVE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service.api import responses
from service.app.clock import SystemClock
from service.app.commands import ApplicantInput, ChannelInput, DrawdownCommand, GrantCommand, TransactionCommand
from service.app.ports import Store
from service.app.usecases import DecisionApp
from service.cli import main
from service.domain.model import EventType, LineStatus, RepaymentMethod
from service.engine.bundle import load_bundle
from service.rule_tests import OneBundle
from service.storage import open_store
from tests.rules.test_explain import RULES

APPLICANT = ApplicantInput(
    user_id="u-audited", age=35, real_name_verified=True, agreement_signed=True, annual_income=90_000_000,
    monthly_spend_avg=1_200_000, active_spend_months=12, on_time_repayments_24m=24, overdue_count_24m=0,
    max_days_overdue_24m=0, credit_inquiries_6m=0, financial_assets=30_000_000, account_age_months=96,
    verified_contacts=40, country="CN",
)


@dataclass(frozen=True)
class Ledger:
    app: DecisionApp
    store: Store
    url: str
    folder: Path

    def grant(self, user_id: str = "u-audited") -> Any:
        answers: list[Any] = []
        self.app.grant_limit(GrantCommand(f"grant-{len(self.records())}", replace(APPLICANT, user_id=user_id)),
                             lambda r: kept(answers, responses.grant_response(r)))
        return answers[0]

    def draw(self, fen: int) -> Any:
        answers: list[Any] = []
        command = DrawdownCommand(f"draw-{len(self.records())}", "u-audited", fen, 6,
                                  RepaymentMethod.EQUAL_INSTALLMENT, "CONSUMPTION", ChannelInput("phone-1", "", "CN"))
        self.app.authorize_drawdown(command, lambda r: kept(answers, responses.drawdown_response(r)))
        return answers[0]

    def transfer(self, fen: int, counterparty: str) -> Any:
        answers: list[Any] = []
        command = TransactionCommand(f"flag-{len(self.records())}", f"txn-{len(self.records())}", "u-audited",
                                     EventType.TRANSFER_OUT, fen, None, ChannelInput("phone-1", "", "CN"),
                                     counterparty, "")
        self.app.flag_transaction(command, lambda r: kept(answers, responses.flag_response(r)))
        return answers[0]

    def freeze(self, user_id: str = "u-audited") -> None:
        with self.store.unit_of_work() as uow:
            line = uow.get_credit_line(self.app.user_key(user_id), for_update=True)
            assert line is not None
            uow.save_credit_line(replace(line, status=LineStatus.FROZEN))

    def records(self) -> list[Any]:
        return self.store.list_decisions(user_key=None, since=None, until=None, limit=1000)

    def shown(self, decision_id: str, capsys: pytest.CaptureFixture[str]) -> str:
        """What `decisiond decisions show` prints of the decision, as an auditor would save it."""
        capsys.readouterr()
        assert main(["decisions", "show", decision_id, "--database", self.url]) == 0
        return capsys.readouterr().out


def kept(answers: list[Any], answer: Any) -> bytes:
    """Keep the answer a use case gives its encoder, and encode it as the servicer would."""
    answers.append(answer)
    return bytes(answer.SerializeToString())


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store, bundle = open_store(url), load_bundle(Path(RULES))
    try:
        yield Ledger(DecisionApp(store, OneBundle(bundle), SystemClock()), store, url, tmp_path)
    finally:
        store.close()
        bundle.close()


def explain_text(ledger: Ledger, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    record_file = ledger.folder / "record.json"
    record_file.write_text(text)
    capsys.readouterr()
    code = main(["rules", "explain", RULES, "--input", str(record_file)])
    return code, capsys.readouterr().out.splitlines()


def outcome_of(answer: Any) -> str:
    return str(pb.Outcome.Name(answer.outcome)).removeprefix("OUTCOME_")


def codes(answer: Any) -> str:
    return ", ".join(r.code for r in answer.reasons) or "(none)"


def test_a_grant_to_a_user_whose_line_is_frozen_is_explained_from_its_record_with_line_not_active(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.grant()
    ledger.freeze()
    frozen = ledger.grant()
    assert "LINE_NOT_ACTIVE" in codes(frozen)
    shown = ledger.shown(frozen.meta.decision_id, capsys)
    assert json.loads(shown)["request"]["line_status"] == "FROZEN"

    code, lines = explain_text(ledger, shown, capsys)

    assert code == 0, lines
    assert lines[1] == f"  outcome {outcome_of(frozen)}; score {frozen.score}; reasons {codes(frozen)}"


def test_a_first_grant_is_explained_from_its_record_without_a_line(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ledger.grant()
    shown = ledger.shown(first.meta.decision_id, capsys)
    assert "line_status" not in json.loads(shown)["request"]  # the user had no line

    code, lines = explain_text(ledger, shown, capsys)

    assert code == 0, lines
    assert lines[1] == f"  outcome APPROVE; score {first.score}; reasons {codes(first)}"
    assert f"(explained from decision record {first.meta.decision_id}, which recorded outcome APPROVE under rule " \
           f"bundle {first.meta.ruleset_version} (digest {first.meta.ruleset_digest}))" in lines


def test_a_grants_record_made_before_it_kept_the_line_status_explains_as_before_as_one_without_a_line(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.grant()
    ledger.freeze()
    record = json.loads(ledger.shown(ledger.grant().meta.decision_id, capsys))
    del record["request"]["line_status"]  # as an older record keeps it

    code, lines = explain_text(ledger, json.dumps(record), capsys)

    assert code == 0, lines
    assert "LINE_NOT_ACTIVE" not in lines[1] and lines[1].startswith("  outcome APPROVE;")


def test_a_drawdown_on_a_frozen_line_is_explained_from_its_printed_record(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.grant()
    ledger.freeze()
    declined = ledger.draw(100_000)
    assert codes(declined).startswith("LINE_NOT_ACTIVE")

    code, lines = explain_text(ledger, ledger.shown(declined.meta.decision_id, capsys), capsys)

    assert code == 0, lines
    assert lines[1] == f"  outcome DECLINE; reasons {codes(declined)}"


def test_a_transfer_to_a_mule_is_explained_from_its_printed_record_which_keeps_the_counterparty_as_a_hash(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.grant()
    declined = ledger.transfer(300_000, "CP-MULE-0001")
    assert [f.code for f in declined.flags] == ["MULE_COUNTERPARTY"]
    shown = ledger.shown(declined.meta.decision_id, capsys)
    assert "CP-MULE-0001" not in shown

    code, lines = explain_text(ledger, shown, capsys)

    assert code == 0, lines
    assert lines[1:3] == [f"  outcome {outcome_of(declined)}; risk level HIGH",
                          "  flags MULE_COUNTERPARTY (rule FRD-006, severity HIGH)"]


def test_a_record_explained_under_other_rules_says_which_rules_decided_it(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    record = json.loads(ledger.shown(ledger.grant().meta.decision_id, capsys))
    record["ruleset_digest"] = "0" * 64

    code, lines = explain_text(ledger, json.dumps(record), capsys)

    assert code == 0, lines
    assert (f"(this folder holds other rules than those that decided it: explain it under those the ledger kept, "
            f"decisiond rules export --digest {'0' * 64} FOLDER)") in lines


def test_a_record_of_a_call_no_rules_decide_is_refused_naming_its_rpc(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    record = json.loads(ledger.shown(ledger.grant().meta.decision_id, capsys))

    code, lines = explain_text(ledger, json.dumps({**record, "rpc": "RecordRepayment"}, indent=2), capsys)

    assert code == 1
    assert lines == [f"{ledger.folder / 'record.json'}:3: cannot explain this input: rpc: a 'RecordRepayment' "
                     "record is no decision of the rules (fix: explain the record of a ScoreUser, GrantLimit, "
                     "AuthorizeDrawdown or FlagTransaction call)"]


@pytest.mark.parametrize(("given", "said"), [
    ({"decision_id": "dec_1", "rpc": "GrantLimit"}, "a decision record needs 'request', as `decisiond decisions "
     "show` prints them"),
    ({"applicant": {}}, "is neither a case, which needs a 'call:', nor a decision record, which needs the 'rpc' and "
     "'request' that `decisiond decisions show` prints"),
])
def test_an_input_that_is_neither_a_case_nor_a_whole_record_is_refused_naming_what_is_missing(
    ledger: Ledger, capsys: pytest.CaptureFixture[str], given: dict[str, object], said: str
) -> None:
    code, lines = explain_text(ledger, json.dumps(given), capsys)

    assert code == 1
    assert len(lines) == 1 and said in lines[0], lines
    assert "Traceback" not in "\n".join(lines)
