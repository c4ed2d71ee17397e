"""`decisiond rules explain`: for one input, which rules matched and which part of the others failed."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import pytest

import service.explain_case
from service.cli import main
from service.engine.bundle import RuleBundle
from tests.rules.test_case_problems import add_a_money_attribute

RULES = str(Path(__file__).resolve().parents[2] / "rules")


def explain(tmp_path: Path, case: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(case))
    return explain_file(case_file, capsys)


def explain_file(case_file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["rules", "explain", RULES, "--input", str(case_file)])
    return code, capsys.readouterr().out


def test_explains_which_fraud_rules_matched_and_why_the_others_did_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(
        tmp_path,
        {
            "call": "AuthorizeDrawdown",
            "credit_line": {"credit_limit": "20000 CNY"},
            "history": [{"type": "PASSWORD_CHANGE", "minutes_ago": 120}],
            "drawdown": {"amount": "12000 CNY", "channel": {"device_id": "new-phone"}},
        },
        capsys,
    )
    assert code == 0
    assert "outcome REVIEW; reasons ATO_RECENT_CREDENTIAL_CHANGE, NEW_DEVICE" in out
    assert "  FRD-002    MATCHED" in out
    assert "  FRD-003    MATCHED" in out
    assert "  FRD-001    no: features.drawdowns_last_hour >= 3 (features.drawdowns_last_hour = 0)" in out
    assert "  DRW-001    no: drawdown.amount < 100 CNY (drawdown.amount = 12000.00 CNY)" in out
    assert "transfer_out_ratio_last_hour = 0)" in out


def test_explains_a_flagged_transaction_with_its_risk_level_and_flags_as_the_call_answers_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(
        tmp_path,
        {
            "call": "FlagTransaction",
            "credit_line": {},
            "transaction": {"type": "PAYMENT", "amount": "10 CNY", "counterparty_id": "CP-MULE-0001"},
        },
        capsys,
    )
    assert code == 0
    assert out.splitlines()[1:3] == [
        "  outcome DECLINE; risk level HIGH",
        "  flags MULE_COUNTERPARTY (rule FRD-006, severity HIGH)",
    ]
    assert "reasons" not in out  # FlagTransaction answers flags, not reasons
    assert "  FRD-006    MATCHED" in out


def test_a_transaction_no_fraud_rule_flags_has_risk_level_none_and_no_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {"call": "FlagTransaction", "transaction": {"type": "LOGIN"}}, capsys)
    assert code == 0
    assert out.splitlines()[1:3] == ["  outcome APPROVE; risk level NONE", "  flags (none)"]


def test_explains_a_drawdown_with_its_reasons_and_its_fraud_flags_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(
        tmp_path,
        {
            "call": "AuthorizeDrawdown",
            "credit_line": {"credit_limit": "50000 CNY", "residence_country": "CN"},
            "history": [{"type": "LOGIN", "minutes_ago": 3000, "device_id": "phone-1"}],
            "drawdown": {"amount": "10000 CNY", "channel": {"device_id": "laptop-9", "country": "US"}},
        },
        capsys,
    )
    assert code == 0
    assert out.splitlines()[1:3] == [
        "  outcome REVIEW; reasons NEW_DEVICE, GEO_MISMATCH",
        "  fraud flags NEW_DEVICE (rule FRD-003, severity MEDIUM), GEO_MISMATCH (rule FRD-004, severity MEDIUM)",
    ]


def test_a_declined_drawdown_no_fraud_rule_flags_says_it_has_no_fraud_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(
        tmp_path, {"call": "AuthorizeDrawdown", "credit_line": {}, "drawdown": {"amount": "99 CNY"}}, capsys
    )
    assert code == 0
    assert out.splitlines()[1:3] == ["  outcome DECLINE; reasons BELOW_MINIMUM_DRAWDOWN", "  fraud flags (none)"]


def test_explains_the_scorecard_bins_and_eligibility_of_a_grant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": {"age": 17, "verified_contacts": 5}}, capsys)
    assert code == 0
    assert "outcome DECLINE" in out and "AGE_OUT_OF_RANGE" in out
    assert "SC-SOCIAL/2: 15 of 40 points" in out
    assert "  ELG-001    MATCHED" in out
    assert "  ELG-004    no: score.value < 600" in out


def test_the_scorecard_points_printed_add_up_to_the_score_with_the_base_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {"call": "ScoreUser", "applicant": {}}, capsys)
    assert code == 0
    assert out.splitlines()[1] == "  score 770; reasons LOW_CONSUMPTION, FEW_VERIFIED_CONTACTS"
    scorecard = out.split("scorecard (the first matching bin of each characteristic counts)\n", 1)[1].splitlines()
    assert scorecard[0] == "  base points 320"
    assert [line.split(":")[1].split(" of ")[0] for line in scorecard[1:7]] == [
        " 150", " 70", " 90", " 60", " 50", " 30"]
    assert scorecard[7] == "  score 770 = 320 + 150 + 70 + 90 + 60 + 50 + 30"


def test_a_score_below_the_score_range_is_shown_clamped_to_the_lowest_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    poor = {"max_days_overdue_24m": 100, "monthly_spend_avg": "100 CNY", "financial_assets": "0 CNY",
            "credit_inquiries_6m": 20, "account_age_months": 0, "verified_contacts": 0}
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": poor}, capsys)
    assert code == 0
    assert "  base points 320\n" in out
    assert "  score 350: 320 + 0 + 10 + 0 + 0 + 0 + 0 = 330, clamped to 350, the lowest score (350 to 950)\n" in out


def test_a_score_above_the_score_range_is_shown_clamped_to_the_highest_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    scorecard = rules / "scorecard.yaml"
    scorecard.write_text(scorecard.read_text().replace("base_points: 320", "base_points: 500"))
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({"call": "ScoreUser", "applicant": {"monthly_spend_avg": "9000 CNY"}}))
    code = main(["rules", "explain", str(rules), "--input", str(case_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[1] == "  score 950; reasons FEW_VERIFIED_CONTACTS"
    assert "  base points 500\n" in out
    assert ("  score 950: 500 + 150 + 80 + 90 + 60 + 50 + 30 = 960, clamped to 950, the highest score (350 to 950)\n"
            in out)


def test_a_limit_below_the_minimum_is_explained_from_the_base_limit_through_each_cap_to_the_minimum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": {"annual_income": "2000 CNY"}}, capsys)
    assert code == 0
    assert out.splitlines()[1] == "  outcome DECLINE; score 770; reasons LIMIT_BELOW_MINIMUM, CAPPED_BY_INCOME"
    assert out.split("\nlimits ", 1)[1].splitlines() == [
        "(band A: the lowest of the base limit and the caps, rounded down; declined below the minimum)",
        "  base limit     200000.00 CNY",
        "  LIM-INCOME     666.66 CNY, binding, reason CAPPED_BY_INCOME",
        "  LIM-REGULATION 300000.00 CNY, not binding",
        "  rounded down   666.66 CNY to a multiple of 100.00 CNY: 600.00 CNY",
        "  minimum limit  1000.00 CNY: 600.00 CNY is below it, declined LIMIT_BELOW_MINIMUM",
        "",
        "limit granted: 0.00 CNY",
    ]


def test_a_granted_limit_is_explained_with_the_caps_that_did_not_bind_and_the_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    band_c = {"max_days_overdue_24m": 5, "financial_assets": "500 CNY"}
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": band_c}, capsys)
    assert code == 0
    assert out.split("\nlimits ", 1)[1].splitlines()[1:] == [
        "  base limit     30000.00 CNY",
        "  LIM-INCOME     100000.00 CNY, not binding",
        "  LIM-REGULATION 300000.00 CNY, not binding",
        "  rounded down   30000.00 CNY to a multiple of 100.00 CNY: 30000.00 CNY",
        "  minimum limit  1000.00 CNY: reached, granted 30000.00 CNY at a daily rate of 0.0004 (APR 0.146)",
        "",
        "limit granted: 30000.00 CNY",
    ]


def test_a_cap_tied_with_the_lowest_only_to_the_fen_is_explained_as_not_binding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bundled rules with band A's base above a 200,000 CNY regulatory cap, which a third of an income can tie
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    limits = rules / "limits.yaml"
    limits.write_text(limits.read_text().replace("A: {base_limit: 200000 CNY", "A: {base_limit: 400000 CNY")
                      .replace("amount: 300000 CNY", "amount: 200000 CNY"))
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({"call": "GrantLimit", "applicant": {"annual_income": "600000.01 CNY"}}))
    code = main(["rules", "explain", str(rules), "--input", str(case_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.split("\nlimits ", 1)[1].splitlines()[2:4] == [
        "  LIM-INCOME     200000.00 CNY, not binding (it is above the lowest cap before rounding down to the fen)",
        "  LIM-REGULATION 200000.00 CNY, binding, reason CAPPED_BY_REGULATION",
    ]


def band_d_declined_by_limits_alone(tmp_path: Path) -> Path:
    """The bundled rules with ELG-004's cut-off lowered to 550: a band-D applicant passes eligibility."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    eligibility = rules / "eligibility.yaml"
    eligibility.write_text(eligibility.read_text().replace("score.value < 600", "score.value < 550"))
    return rules


BAND_D = {"max_days_overdue_24m": 5, "financial_assets": "500 CNY", "credit_inquiries_6m": 3,
          "account_age_months": 10, "verified_contacts": 5}  # score 555


def test_a_band_without_an_offer_is_explained_as_declined_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = band_d_declined_by_limits_alone(tmp_path)
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({"call": "GrantLimit", "applicant": BAND_D}))
    code = main(["rules", "explain", str(rules), "--input", str(case_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.split("\nlimits ", 1)[1].splitlines()[1:] == [
        "  no credit is offered in band D: declined NO_OFFER_FOR_BAND",
        "",
        "limit granted: 0.00 CNY",
    ]


def test_a_band_without_an_offer_carries_the_scorecard_reasons_when_limits_yaml_attaches_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = band_d_declined_by_limits_alone(tmp_path)
    limits = rules / "limits.yaml"
    limits.write_text(limits.read_text().replace("no_offer_reason: NO_OFFER_FOR_BAND\n",
                                                 "no_offer_reason: NO_OFFER_FOR_BAND\n"
                                                 "no_offer_attach_score_reasons: true\n"))
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({"call": "GrantLimit", "applicant": BAND_D}))
    code = main(["rules", "explain", str(rules), "--input", str(case_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[1] == ("  outcome DECLINE; score 555; reasons NO_OFFER_FOR_BAND, LOW_ASSETS, "
                                   "DELINQUENCY_HISTORY, SHORT_ACCOUNT_HISTORY, FEW_VERIFIED_CONTACTS")
    assert ("  no credit is offered in band D: declined NO_OFFER_FOR_BAND, with the scorecard's reasons\n") in out


def test_a_band_without_an_offer_gives_its_reason_alone_unless_limits_yaml_attaches_the_scorecard_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = band_d_declined_by_limits_alone(tmp_path)
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({"call": "GrantLimit", "applicant": BAND_D}))
    code = main(["rules", "explain", str(rules), "--input", str(case_file)])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[1] == "  outcome DECLINE; score 555; reasons NO_OFFER_FOR_BAND"


def test_a_limit_below_the_minimum_carries_the_scorecard_reasons_after_the_caps_when_limits_yaml_attaches_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    limits = rules / "limits.yaml"
    limits.write_text(limits.read_text().replace("below_minimum_reason: LIMIT_BELOW_MINIMUM\n",
                                                 "below_minimum_reason: LIMIT_BELOW_MINIMUM\n"
                                                 "below_minimum_attach_score_reasons: true\n"))
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({"call": "GrantLimit", "applicant": {"annual_income": "2000 CNY"}}))
    code = main(["rules", "explain", str(rules), "--input", str(case_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[1] == ("  outcome DECLINE; score 770; reasons LIMIT_BELOW_MINIMUM, CAPPED_BY_INCOME, "
                                   "LOW_CONSUMPTION, FEW_VERIFIED_CONTACTS")
    assert ("  minimum limit  1000.00 CNY: 600.00 CNY is below it, declined LIMIT_BELOW_MINIMUM, with the "
            "scorecard's reasons\n") in out


def test_a_band_whose_rate_is_above_the_apr_cap_is_explained_as_declined_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load = service.explain_case.load_bundle_or_report

    def with_a_lower_apr_cap(directory: Path, out: TextIO) -> RuleBundle | None:
        bundle = load(directory, out)
        assert bundle is not None
        bundle.limits = replace(bundle.limits, apr_cap=Decimal("0.05"))  # as if the checker had let 0.073 through
        return bundle

    monkeypatch.setattr(service.explain_case, "load_bundle_or_report", with_a_lower_apr_cap)
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": {}}, capsys)
    assert code == 0
    assert out.splitlines()[1] == "  outcome DECLINE; score 770; reasons RATE_ABOVE_APR_CAP"
    assert out.split("\nlimits ", 1)[1].splitlines()[1:] == [
        "  daily rate 0.0002 x 365 days = APR 0.073, above the APR cap 0.05: declined RATE_ABOVE_APR_CAP",
        "",
        "limit granted: 0.00 CNY",
    ]


def test_a_grant_the_eligibility_rules_decline_says_the_limits_were_not_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": {"age": 17}}, capsys)
    assert code == 0
    assert "\n(limits were not reached: the eligibility rules did not approve)\n" in out
    assert "\nlimits (" not in out


def test_a_money_attribute_is_explained_from_the_amount_written_with_its_currency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    add_a_money_attribute(rules)
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({"call": "GrantLimit", "applicant": {"attributes": {"monthly_debt": "4000 CNY"}}}))
    code = main(["rules", "explain", str(rules), "--input", str(case_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert ("  ELG-004    no: score.value < 600 (score.value = 770); applicant.attributes.monthly_debt > 5000 CNY "
            "(applicant.attributes.monthly_debt = 4000.00 CNY)\n") in out


def test_a_bad_input_gets_a_message_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = explain(tmp_path, {"call": "Borrow"}, capsys)
    assert code == 1
    assert "cannot explain this input" in out
    assert "one of ScoreUser, GrantLimit, AuthorizeDrawdown, FlagTransaction" in out
    assert "Traceback" not in out


def test_a_misspelt_attribute_is_refused_with_the_declared_name_not_explained_on_its_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case_file = tmp_path / "case.yaml"
    case_file.write_text("call: GrantLimit\napplicant:\n  age: 30\n  attributes: {employment_month: 3}\n")
    code, out = explain_file(case_file, capsys)
    assert code == 1
    assert out.splitlines() == [
        f"{case_file}:4: cannot explain this input: applicant.attributes.employment_month: is not an attribute "
        "bundle.yaml declares (did you mean 'employment_months'?) (fix: write 'employment_months', or declare "
        "'employment_month' in bundle.yaml under 'attributes:')"]


def test_an_amount_copied_from_a_decision_record_is_refused_with_its_reading_in_fen_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = {"age": 30, "annual_income": 200000}  # as `decisiond decisions show` gives a request: integer fen
    code, out = explain(tmp_path, {"call": "GrantLimit", "applicant": recorded}, capsys)
    assert code == 1
    assert out.splitlines() == [
        f"{tmp_path / 'case.json'}:1: cannot explain this input: applicant.annual_income: an amount is written with "
        "its currency, not 200000 (fix: write 2000.00 CNY if 200000 is in fen, as decision records keep amounts, or "
        "200000 CNY if it is in yuan)"]


@pytest.mark.parametrize(("amount", "fix"), [
    (99, "write 0.99 CNY if 99 is in fen, as decision records keep amounts, or 99 CNY if it is in yuan)"),
    (100_000_000_000_000, "write 1000000000000.00 CNY if 100000000000000 is in fen, as decision records keep "
     "amounts)"),  # as yuan it is more than the service handles: not suggested
    (10**20, "write the amount with its currency, at most 9999999999999.99 CNY)"),
])
def test_a_bare_whole_number_amount_is_never_suggested_as_yuan_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], amount: int, fix: str
) -> None:
    code, out = explain(tmp_path, {"call": "AuthorizeDrawdown", "credit_line": {}, "drawdown": {"amount": amount}},
                        capsys)
    assert code == 1
    assert out.endswith(f"drawdown.amount: an amount is written with its currency, not {amount} (fix: {fix}\n")


PYTHON_WORDS = ("Traceback", "Error", "int()", "Errno", "is not a valid", "set_int_max_str_digits", "codec",
                "<unicode string>", "EventType")


def test_json_nested_a_hundred_thousand_levels_deep_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case_file = tmp_path / "deep.json"
    case_file.write_text("[" * 100_000 + "]" * 100_000)
    code, out = explain_file(case_file, capsys)
    assert code == 1
    assert out.splitlines() == [f"{case_file}: cannot explain this input: the file is nested too deeply to read "
                                "(fix: a case needs only a few levels of nesting; check the brackets)"]


@pytest.mark.parametrize(("content", "said"), [
    (None, "cannot explain this input: cannot be read: this file does not exist (fix: give an ordinary file"),
    (b'{"call": "GrantLimit", "applicant": {"country": "\xe9"}}', ":1:50: cannot explain this input: the file is "
     "not UTF-8 text: this byte is not a character (fix: save the file as UTF-8 text)"),
    (b'{"call": "GrantLimit", ', ":1:24: cannot explain this input: not valid JSON or YAML: expected a value, but "
     "found the end of the file"),
    (b'{"call": "GrantLimit", "applicant": {"age": 1e400}}', ":1: cannot explain this input: applicant.age: must be "
     "a whole number from 0 to 130, not '1e400' (fix: write the number without quotes, units or an exponent)"),
    (b'{"call": "GrantLimit", "applicant": {"age": ' + b"9" * 5000 + b"}}", ":1: cannot explain this input: "
     "applicant.age: the number has 5000 characters, more than any value a case takes"),
    (b'{"call": "FlagTransaction",\n "transaction": {"type": "TELEPORT"}}', ":2: cannot explain this input: "
     "transaction.type: 'TELEPORT' is not an account event type (fix: use one of LOGIN, PASSWORD_CHANGE, "
     "PHONE_CHANGE, DRAWDOWN, TRANSFER_OUT, REPAYMENT, PAYMENT)"),
    (b'{"call": "AuthorizeDrawdown",\n "history": [\n  {"type": "DRAWDOWN", "minutes_ago": 99999999999999}]}',
     ":3: cannot explain this input: history event 1, minutes_ago: must be a number of minutes from 0 to 5256000 "
     "(ten years), not 99999999999999"),
])
def test_a_bad_input_is_one_line_naming_the_file_and_line_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, said: str
) -> None:
    case_file = tmp_path / "case.json"
    if content is not None:
        case_file.write_bytes(content)
    code, out = explain_file(case_file, capsys)
    assert code == 1
    assert len(out.splitlines()) == 1
    assert out.startswith(f"{case_file}") and said in out
    assert [word for word in PYTHON_WORDS if word in out] == []


def test_an_input_the_service_fails_on_gets_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_args: object) -> None:
        raise OverflowError("Python int too large to convert to C int")

    monkeypatch.setattr(service.explain_case, "call_case", failing)
    code, out = explain(tmp_path, {"call": "GrantLimit"}, capsys)
    assert code == 1
    assert out == (f"{tmp_path / 'case.json'}: cannot explain this input: this input could not be run: the service "
                   "failed while deciding it (fix: report this to the service team, with the input)\n")


def test_a_pipe_given_as_the_input_is_refused_at_once_not_waited_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case_file = tmp_path / "case.json"
    os.mkfifo(case_file)  # nobody writes to it: reading it would wait for ever
    code, out = explain_file(case_file, capsys)
    assert code == 1
    assert out.splitlines() == [f"{case_file}: cannot explain this input: cannot be read: this is not an ordinary "
                                "file: it is a device, a pipe or a socket (fix: give an ordinary file: check its name "
                                "and where it is)"]


@pytest.mark.parametrize("written", ["01234567", "0x1F", "1_000", "10:20:30", "+42"])
def test_an_unquoted_id_is_read_as_written_never_as_an_octal_hex_or_base_60_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], written: str
) -> None:
    case_file = tmp_path / "case.yaml"
    case_file.write_text("call: FlagTransaction\n"
                         f"transaction: {{type: PAYMENT, amount: 10 CNY, counterparty_id: {written}}}\n")
    code, out = explain_file(case_file, capsys)
    assert code == 0
    assert (f"  FRD-006    no: transaction.counterparty_id in lists.mule_counterparties (transaction.counterparty_id"
            f" = '{written}')") in out


def test_an_age_with_a_leading_zero_is_read_in_decimal_as_the_rule_files_read_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case_file = tmp_path / "case.yaml"
    case_file.write_text("call: GrantLimit\napplicant: {age: 017, verified_contacts: 010}\n")
    code, out = explain_file(case_file, capsys)
    assert code == 0
    assert "  ELG-001    MATCHED" in out  # 17, under 18; YAML 1.1 alone reads 017 as 15
    assert "  SC-SOCIAL    SC-SOCIAL/3: 30 of 40 points" in out  # 10 contacts; as octal, 8 would fall into bin 2


def test_an_age_in_hex_or_as_a_time_is_refused_saying_which_digits_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case_file = tmp_path / "case.yaml"
    case_file.write_text("call: GrantLimit\napplicant: {age: 0x1F}\n")
    code, out = explain_file(case_file, capsys)
    assert code == 1
    assert out.splitlines() == [
        f"{case_file}:2: cannot explain this input: applicant.age: must be a whole number from 0 to 130, not '0x1F' "
        "(fix: write the number with the digits 0-9 only: hex (0x1F), binary (0b101) and times (10:20) are not "
        "read)"]
