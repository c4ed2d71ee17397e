"""`rules explain` of a decision record under other rules than those that decided it. A record keeps the IP, the
city, the merchant category, the line's days past due and the features of the history only when the rules that
decided it read them: under rules that read more, explain names each value the record does not keep, never shows it
as the empty or zero value it takes in its place, and says the outcome rests on that. A record whose listed entries
name tests the folder's rules do not make (it was decided under newer rules) is explained with them set aside, not
refused with a fix that asks for the entries the record already has. Under the record's own rules nothing is said:
its record keeps every value they read."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service.api import responses
from service.app.clock import SystemClock
from service.app.commands import ApplicantInput, ChannelInput, GrantCommand, TransactionCommand
from service.app.usecases import DecisionApp
from service.cli import main
from service.domain.model import EventType
from service.engine.bundle import load_bundle
from service.rule_tests import OneBundle
from service.storage import open_store
from tests.rules.test_explain_printed_record import Ledger as AuditedLedger
from tests.rules.test_explain_printed_record import kept
from tests.support.server_process import ROOT

APPLICANT = ApplicantInput(
    user_id="u-audited", age=35, real_name_verified=True, agreement_signed=True, annual_income=90_000_000,
    monthly_spend_avg=1_200_000, active_spend_months=12, on_time_repayments_24m=24, overdue_count_24m=0,
    max_days_overdue_24m=0, credit_inquiries_6m=0, financial_assets=30_000_000, account_age_months=96,
    verified_contacts=40, country="CN",
)

# Rules of a later version, reading what the shipped fraud rules do not: the IP, the merchant category, the city,
# the line's days past due and a feature.
NEWER_RULES = """
  - id: FRD-908
    description: A request from the blocked IP address
    when: channel.ip == '10.9.9.9'
    then: {outcome: REVIEW, flag: BAD_IP, severity: HIGH}

  - id: FRD-909
    description: A payment to a gambling merchant
    when: transaction.merchant_category == '7995'
    then: {outcome: REVIEW, flag: GAMBLING, severity: MEDIUM}

  - id: FRD-910
    description: A payment that names no city
    when: transaction.type == 'PAYMENT' and channel.city == ''
    then: {outcome: REVIEW, flag: NO_CITY, severity: LOW}

  - id: FRD-911
    description: A payment by a user more than 30 days late
    when: transaction.type == 'PAYMENT' and line.days_past_due > 30
    then: {outcome: REVIEW, flag: LATE_PAYER, severity: LOW}

  - id: FRD-912
    description: Much drawn in the last hour
    when: features.drawdown_amount_last_hour >= 50000 CNY
    then: {outcome: REVIEW, flag: DRAWN_A_LOT, severity: LOW}

  - id: FRD-913
    description: A request from a watched country
    when: channel.country in lists.watched_countries
    then: {outcome: REVIEW, flag: WATCHED_COUNTRY, severity: LOW}
"""
NEWER_CODES = ("BAD_IP", "GAMBLING", "NO_CITY", "LATE_PAYER", "DRAWN_A_LOT", "WATCHED_COUNTRY")


def newer_rules(folder: Path) -> Path:
    """The shipped rules, and NEWER_RULES, as version 2026.12-3."""
    rules = folder / "newer"
    shutil.copytree(ROOT / "rules", rules)
    with (rules / "fraud.yaml").open("a") as fraud:
        fraud.write(NEWER_RULES)
    (rules / "lists" / "watched_countries.txt").write_text("KP\n")
    bundle = rules / "bundle.yaml"
    codes = "".join(f"  {code}: Given by a test\n" for code in NEWER_CODES)
    bundle.write_text(bundle.read_text().replace("reasons:\n", f"reasons:\n{codes}", 1)
                      .replace('version: "2026.12-2"', 'version: "2026.12-3"', 1))
    return rules


@dataclass(frozen=True)
class Ledger(AuditedLedger):
    """A ledger whose decisions were made under the rules of `rules`, and a folder for the auditor's files."""

    rules: Path

    def pay(self, ip: str, city: str, merchant_category: str, counterparty: str = "") -> Any:
        """A granted user's payment: the decision record's printed form, as `decisiond decisions show` gives it."""
        self.app.grant_limit(GrantCommand("grant-1", APPLICANT), lambda r: responses.grant_response(r)
                             .SerializeToString())
        answers: list[Any] = []
        command = TransactionCommand("pay-1", "txn-1", APPLICANT.user_id, EventType.PAYMENT, 30_000, None,
                                     ChannelInput("phone-1", ip, "CN", city), counterparty, merchant_category)
        self.app.flag_transaction(command, lambda r: kept(answers, responses.flag_response(r)))
        return answers[0]


def _ledger(tmp_path: Path, rules: Path) -> Iterator[Ledger]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store, bundle = open_store(url), load_bundle(rules)
    try:
        yield Ledger(DecisionApp(store, OneBundle(bundle), SystemClock()), store, url, tmp_path, rules)
    finally:
        store.close()
        bundle.close()


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[Ledger]:
    """Decisions made under the shipped rules (2026.12-2)."""
    yield from _ledger(tmp_path, ROOT / "rules")


@pytest.fixture
def newer(tmp_path: Path) -> Iterator[Ledger]:
    """Decisions made under NEWER_RULES (2026.12-3)."""
    yield from _ledger(tmp_path, newer_rules(tmp_path))


def explain(rules: Path, record: str, folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    record_file = folder / "record.json"
    record_file.write_text(record)
    capsys.readouterr()
    code = main(["rules", "explain", str(rules), "--input", str(record_file)])
    return code, capsys.readouterr().out.splitlines()


UNKNOWN_NOTE = (
    "  (the record does not keep channel.city, channel.ip, features.drawdown_amount_last_hour, line.days_past_due, "
    "transaction.merchant_category, which these rules read: the rules that decided it (bundle 2026.12-2) did not read "
    "them. This outcome takes channel.city, channel.ip, transaction.merchant_category as empty; line.days_past_due as "
    "zero; features.drawdown_amount_last_hour as if the user had no history before the call: the call itself may have "
    "been decided otherwise under these rules)"
)


def test_values_an_older_record_does_not_keep_are_named_as_unknown_not_shown_as_empty(
    shipped: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = shipped.pay(ip="10.9.9.9", city="Shenzhen", merchant_category="7995")
    record = shipped.shown(paid.meta.decision_id, capsys)
    assert not {"ip", "channel_city", "merchant_category", "line_days_past_due"} & set(json.loads(record)["request"])

    code, lines = explain(newer_rules(shipped.folder), record, shipped.folder, capsys)

    assert code == 0, lines
    assert lines[1:4] == ["  outcome REVIEW; risk level LOW", "  flags NO_CITY (rule FRD-910, severity LOW)",
                          UNKNOWN_NOTE]
    assert "  FRD-908    no: channel.ip == '10.9.9.9' (channel.ip = (not in the record))" in lines
    assert "  FRD-909    no: transaction.merchant_category == '7995' (transaction.merchant_category = (not in the " \
           "record))" in lines
    assert "  FRD-910    MATCHED (not in the record: channel.city)" in lines
    assert "  FRD-911    no: line.days_past_due > 30 (line.days_past_due = (not in the record))" in lines
    assert "  FRD-912    no: features.drawdown_amount_last_hour >= 50000 CNY (features.drawdown_amount_last_hour = " \
           "(not in the record))" in lines
    text = "\n".join(lines)
    assert "channel.ip = ''" not in text and "merchant_category = ''" not in text
    assert (f"(this folder holds other rules than those that decided it: explain it under those the ledger kept, "
            f"decisiond rules export --digest {paid.meta.ruleset_digest} FOLDER)") in lines


def test_a_record_explained_under_its_own_rules_keeps_every_value_they_read_and_says_nothing_of_unknowns(
    newer: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = newer.pay(ip="10.9.9.9", city="Shenzhen", merchant_category="7995", counterparty="CP-SHOP-1")
    record = newer.shown(paid.meta.decision_id, capsys)
    kept = json.loads(record)["request"]
    assert {"ip", "channel_city", "merchant_category", "line_days_past_due",
            "features.drawdown_amount_last_hour"} <= set(kept)

    code, lines = explain(newer.rules, record, newer.folder, capsys)

    assert code == 0, lines
    assert lines[1:3] == ["  outcome REVIEW; risk level HIGH", "  flags BAD_IP (rule FRD-908, severity HIGH), "
                          "GAMBLING (rule FRD-909, severity MEDIUM)"]
    text = "\n".join(lines)
    assert "not in the record" not in text and "does not keep" not in text and "names only" not in text
    assert "this folder holds other rules" not in text


def test_an_older_record_says_nothing_of_a_list_under_newer_rules_which_explain_says_it_takes_as_not_holding(
    shipped: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = shipped.pay(ip="", city="", merchant_category="", counterparty="CP-SHOP-1")
    record = shipped.shown(paid.meta.decision_id, capsys)

    code, lines = explain(newer_rules(shipped.folder), record, shipped.folder, capsys)

    assert code == 0, lines
    assert ("  (the record names only what the rules that decided it (bundle 2026.12-2) found on their lists and "
            "texts: whether transaction.counterparty_id in lists.mule_counterparties held under these rules it does "
            "not say; this outcome takes it that they did not)") in lines
    assert "  FRD-913    no: channel.country in lists.watched_countries (channel.country = 'CN')" in lines
    assert "watched_countries held" not in "\n".join(lines)  # the record keeps the country: this folder's list tells


def test_a_newer_record_is_explained_under_older_rules_with_the_tests_they_do_not_make_set_aside(
    newer: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = newer.pay(ip="10.9.9.9", city="Shenzhen", merchant_category="", counterparty="")
    assert [f.code for f in paid.flags] == ["BAD_IP"]
    record = newer.shown(paid.meta.decision_id, capsys)
    assert json.loads(record)["request"]["listed"] == ["channel.ip == '10.9.9.9'"]

    code, lines = explain(ROOT / "rules", record, newer.folder, capsys)

    assert code == 0, lines
    assert lines[1:3] == ["  outcome APPROVE; risk level NONE", "  flags (none)"]
    assert ("(set aside: the record's listed entry \"channel.ip == '10.9.9.9'\", a test the rules that decided it "
            "(bundle 2026.12-3) make and this folder's rules do not)") in lines
    assert (f"(explained from decision record {paid.meta.decision_id}, which recorded outcome REVIEW under rule "
            f"bundle 2026.12-3 (digest {paid.meta.ruleset_digest}))") in lines
    assert (f"(this folder holds other rules than those that decided it: explain it under those the ledger kept, "
            f"decisiond rules export --digest {paid.meta.ruleset_digest} FOLDER)") in lines
    assert "copy the record's listed entries as they are" not in "\n".join(lines)


def test_a_record_whose_listed_entry_its_own_rules_never_make_is_still_refused_as_edited(
    shipped: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = shipped.pay(ip="", city="", merchant_category="")
    record = json.loads(shipped.shown(paid.meta.decision_id, capsys))
    record["request"]["listed"] = ["channel.ip == '10.9.9.9'"]  # not what its rules, the shipped ones, wrote

    code, lines = explain(ROOT / "rules", json.dumps(record), shipped.folder, capsys)

    assert code == 1
    assert lines == [f"{shipped.folder / 'record.json'}:1: cannot explain this input: listed item 1: \"channel.ip == "
                     "'10.9.9.9'\" is no list test the rules of this call make (fix: copy the record's listed entries "
                     "as they are: transaction.counterparty_id in lists.mule_counterparties)"]


def test_the_outcome_shown_is_the_one_the_record_gives_under_its_own_rules(
    shipped: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = shipped.pay(ip="10.9.9.9", city="Shenzhen", merchant_category="7995")

    code, lines = explain(ROOT / "rules", shipped.shown(paid.meta.decision_id, capsys), shipped.folder, capsys)

    assert code == 0, lines
    assert lines[1] == f"  outcome {pb.Outcome.Name(paid.outcome).removeprefix('OUTCOME_')}; risk level NONE"
    assert "not in the record" not in "\n".join(lines)


def test_a_record_of_a_user_without_a_line_whose_rules_read_the_days_past_due_explains_without_a_line(
    newer: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its rules read the line's days past due, so the record keeps them (0, for no line): they make no line."""
    answers: list[Any] = []
    command = TransactionCommand("pay-1", "txn-1", "u-no-line", EventType.PAYMENT, 30_000, None,
                                 ChannelInput("phone-1", "", "US", ""), "", "")
    newer.app.flag_transaction(command, lambda r: kept(answers, responses.flag_response(r)))
    paid = answers[0]
    record = newer.shown(paid.meta.decision_id, capsys)
    assert json.loads(record)["request"]["line_days_past_due"] == 0
    assert "line_status" not in json.loads(record)["request"]

    code, lines = explain(newer.rules, record, newer.folder, capsys)

    assert code == 0, lines
    assert [f.code for f in paid.flags] == ["NO_CITY"]
    assert lines[1:3] == ["  outcome REVIEW; risk level LOW", "  flags NO_CITY (rule FRD-910, severity LOW)"]
