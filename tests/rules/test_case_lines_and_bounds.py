"""Rule-test cases on frozen and closed lines that owe money, and the bound on the history events of all the cases of
a bundle: run by `decisiond rules test` and `rules check` as the service decides, or refused in plain words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.case_input import MAX_BUNDLE_HISTORY_EVENTS, MAX_HISTORY_EVENTS
from service.cli import main
from service.rule_tests import read_cases
from tests.rules.test_case_problems import RULES, assert_plain_words, bundle_with_cases, rules_test

STATUSES = ("ACTIVE", "FROZEN", "CLOSED")
OUTSTANDING = ("0 CNY", "1000 CNY", "20000 CNY")  # nothing, some, the whole 20,000 CNY limit
DAYS_PAST_DUE = (0, 3)


def _expected(call: str, status: str, outstanding: str, days_past_due: int) -> str:
    """What the starter bundle decides for a 1000 CNY drawdown or a login of a user with this line."""
    if call == "FlagTransaction":
        return "{outcome: APPROVE, flags: []}"
    reasons = [code for code, applies in (("LINE_NOT_ACTIVE", status != "ACTIVE"),
                                          ("LINE_DELINQUENT", days_past_due > 0)) if applies]
    fires = [rule for rule, code in (("DRW-005", "LINE_NOT_ACTIVE"), ("DRW-006", "LINE_DELINQUENT"))
             if code in reasons]
    if not reasons and outstanding == "20000 CNY":
        reasons = ["INSUFFICIENT_LIMIT"]  # the ledger's refusal: nothing is left to draw
    outcome = "DECLINE" if reasons else "APPROVE"
    return f"{{outcome: {outcome}, reasons: [{', '.join(reasons)}], flags: [], fires: [{', '.join(fires)}]}}"


def _grid() -> str:
    cases = ""
    for call in ("AuthorizeDrawdown", "FlagTransaction"):
        for status in STATUSES:
            for outstanding in OUTSTANDING:
                for days in DAYS_PAST_DUE:
                    cases += (
                        f"  - name: {call} on a {status} line owing {outstanding}, {days} days past due\n"
                        f"    call: {call}\n"
                        f"    credit_line: {{status: {status}, outstanding: {outstanding}, days_past_due: {days}}}\n"
                        "    history: [{type: LOGIN, minutes_ago: 600, device_id: phone-1}]\n"
                        + ("    drawdown: {amount: 1000 CNY, channel: {device_id: phone-1}}\n"
                           if call == "AuthorizeDrawdown" else
                           "    transaction: {type: LOGIN, channel: {device_id: phone-1}}\n")
                        + f"    expect: {_expected(call, status, outstanding, days)}\n"
                    )
    return cases


def test_every_line_status_with_any_balance_and_arrears_is_decided_as_the_service_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = bundle_with_cases(tmp_path, _grid())
    code, report = rules_test(rules)
    assert "R999" not in report and "could not be run" not in report
    assert "is more than the credit limit" not in report
    assert [line for line in report.splitlines() if line.startswith("FAIL")] == []
    assert code == 0
    assert "76 passed, 0 failed, 76 cases" in report  # the starter's 40 and the grid's 36
    assert main(["rules", "check", str(rules)]) == 0
    assert f"{rules}: OK, no problems" in capsys.readouterr().out


@pytest.mark.parametrize(("status", "outstanding", "days", "said"), [
    ("FROZEN", "1000 CNY", 0, "outcome DECLINE; reasons LINE_NOT_ACTIVE"),
    ("CLOSED", "20000 CNY", 3, "outcome DECLINE; reasons LINE_NOT_ACTIVE, LINE_DELINQUENT"),
    ("FROZEN", "0 CNY", 3, "outcome DECLINE; reasons LINE_NOT_ACTIVE, LINE_DELINQUENT"),
])
def test_explain_shows_a_frozen_or_closed_line_with_its_balance_and_arrears(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str, outstanding: str, days: int, said: str
) -> None:
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({
        "call": "AuthorizeDrawdown",
        "credit_line": {"status": status, "outstanding": outstanding, "days_past_due": days},
        "drawdown": {"amount": "1000 CNY"},
    }))
    code = main(["rules", "explain", str(bundle_with_cases(tmp_path, "")), "--input", str(case_file)])
    out = capsys.readouterr().out
    assert "is more than the credit limit" not in out and "cannot explain" not in out
    assert code == 0
    assert said in out
    assert "  DRW-005    MATCHED" in out
    assert f"(line.days_past_due = {days})" in out or (days and "  DRW-006    MATCHED" in out)
    if outstanding == "1000 CNY":  # 1000 CNY of the 19,000 still available
        assert "(transaction.share_of_available_limit = 0.052631578)" in out


def _events(count: int) -> str:
    return "".join(f"      - {{type: LOGIN, minutes_ago: {minute}}}\n" for minute in range(count))


def _long_history_cases(prefix: str, count: int) -> str:
    events = _events(MAX_HISTORY_EVENTS)
    return "".join(f"  - name: {prefix} {number}\n    call: FlagTransaction\n    history:\n{events}"
                   "    expect: {outcome: APPROVE}\n" for number in range(count))


def test_the_history_events_of_all_the_cases_are_bounded_at_the_case_that_goes_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert MAX_BUNDLE_HISTORY_EVENTS == 10_000
    rules = bundle_with_cases(tmp_path, "  - name: short\n    call: FlagTransaction\n"
                                        "    history: [{type: LOGIN, minutes_ago: 5}]\n"
                                        "    expect: {outcome: APPROVE}\n")
    starter = sum(len(case.spec.get("history") or ()) for case in read_cases(RULES)[0])
    # in file order: the starter's cases and extra.yaml's one event, then one event short of the bound
    short_of_it = MAX_BUNDLE_HISTORY_EVENTS - starter - 1 - 1
    full, rest = divmod(short_of_it, MAX_HISTORY_EVENTS)
    (rules / "tests" / "z1_long.yaml").write_text(
        "cases:\n" + _long_history_cases("long", full) + "  - name: almost\n    call: FlagTransaction\n"
        f"    history:\n{_events(rest)}    expect: {{outcome: APPROVE}}\n")
    (rules / "tests" / "z2_over.yaml").write_text(
        "cases:\n  - name: no history\n    call: ScoreUser\n    expect: {band: A}\n"
        "  - name: at the bound\n    call: FlagTransaction\n    history: [{type: LOGIN, minutes_ago: 1}]\n"
        "    expect: {outcome: APPROVE}\n"
        "  - name: one too many\n    call: FlagTransaction\n    history: [{type: LOGIN, minutes_ago: 2}]\n"
        "    expect: {outcome: APPROVE}\n"
        "  - name: after the bound\n    call: ScoreUser\n    expect: {band: A}\n")
    (rules / "tests" / "z3_never.yaml").write_text("cases:\n" + _long_history_cases("never read", 1))
    said = (f"{rules}/tests/z2_over.yaml:9: case 'one too many': history (line 11): with its 1 event the test "
            "cases hold 10001 history events, more than the 10000 all the cases of a bundle may hold together; this "
            "case and the cases after it were not run\n"
            "    fix: shorten the histories: give each case only the events its rules look at [R501]")
    code, tested = rules_test(rules)
    assert code == 1
    assert f"FAIL {said}" in tested
    # the starter's 39, extra.yaml's 1, z1_long.yaml's, 'no history' and 'at the bound', which all ran
    assert f"{40 + 1 + full + 1 + 2} passed, 1 failed, {40 + 1 + full + 1 + 3} cases" in tested
    assert f"ok   {rules}/tests/z2_over.yaml:5: at the bound" in tested
    assert "after the bound" not in tested and "never read" not in tested
    assert main(["rules", "check", str(rules)]) == 1
    checked = capsys.readouterr().out
    assert said in checked
    assert f"{rules}: 1 error, 0 warnings" in checked
    assert_plain_words(tested + checked)


def test_what_the_ledger_refuses_is_declined_even_when_the_rules_only_refer_it(tmp_path: Path) -> None:
    """Frozen lines and amounts beyond the available limit: a reviewer could never approve either, whatever rule
    set referred the drawdown, so the service declines them with its own reason (here the rules do not decline
    frozen lines themselves)."""
    referred = ("    drawdown: {amount: 15000 CNY, channel: {device_id: never-seen}}\n"  # NEW_DEVICE refers it
                "    expect: {outcome: DECLINE, flags: [NEW_DEVICE], ")
    rules = bundle_with_cases(tmp_path, (
        "  - name: frozen\n    call: AuthorizeDrawdown\n    credit_line: {status: FROZEN}\n"
        + referred + "reasons: [NEW_DEVICE, LINE_NOT_ACTIVE]}\n"
        "  - name: beyond the limit\n    call: AuthorizeDrawdown\n    credit_line: {outstanding: 10000 CNY}\n"
        + referred + "reasons: [NEW_DEVICE, INSUFFICIENT_LIMIT]}\n"
        "  - name: within the limit\n    call: AuthorizeDrawdown\n    credit_line: {}\n"
        "    drawdown: {amount: 15000 CNY, channel: {device_id: never-seen}}\n"
        "    expect: {outcome: REVIEW, flags: [NEW_DEVICE], reasons: [NEW_DEVICE]}\n"
    ))
    drawdown_rules = rules / "drawdown.yaml"
    drawdown_rules.write_text(drawdown_rules.read_text().replace("line.status in ['FROZEN', 'CLOSED']",
                                                                 "line.status == 'CLOSED'"))
    (rules / "tests" / "drawdown.yaml").unlink()  # its frozen-line case expects the rule this copy narrows
    code, report = rules_test(rules)
    assert [line for line in report.splitlines() if line.startswith("FAIL")] == []
    assert code == 0
