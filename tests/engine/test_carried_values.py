"""The checker knows what a request can carry in each field (the catalogue's `carries`, from the limits requests
are held to): a text value no request carries is refused (R105), and "never" (R108) and "always" (W001) are judged
over the ranges requests are held to, so that no rule silently never fires, or always fires."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service.api import requests
from service.api.requests import drawdown_command, transaction_command
from service.domain import request_limits
from service.domain.errors import InvalidRequest
from service.domain.money import MAX_FEN
from service.engine.bundle import check_bundle
from service.engine.catalogue import FIELDS, FieldType
from service.engine.problems import RuleProblem
from tests.engine.conftest import ROOT, BundleCopy

PURPOSES = "drawdown.purpose in ['SECURITIES', 'FUTURES', 'HOME_PURCHASE']"


def problems_of(bundle_copy: BundleCopy) -> list[tuple[str, str | None, str, str]]:
    return [(p.code, p.rule_id, p.message, p.hint) for p in check_bundle(bundle_copy.dir)]


def only(bundle_copy: BundleCopy) -> RuleProblem:
    problems = check_bundle(bundle_copy.dir)
    assert len(problems) == 1, "\n".join(p.format() for p in problems)
    return problems[0]


def add_rule(bundle_copy: BundleCopy, name: str, rule_id: str, when: str, then: str) -> None:
    bundle_copy.write(name, bundle_copy.read(name) + f"\n  - id: {rule_id}\n    description: added by the test\n"
                      f"    when: {when}\n    then: {then}\n")


ELIGIBILITY_THEN = "{outcome: REVIEW, reason: LOW_SCORE}"
FRAUD_THEN = "{outcome: REVIEW, flag: GEO_MISMATCH, severity: LOW}"
DRAWDOWN_THEN = "{outcome: DECLINE, reason: PROHIBITED_PURPOSE}"


# -- text values no request carries (R105) ------------------------------------------------------------------

def test_a_purpose_no_request_carries_is_refused_with_the_code_to_write(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", PURPOSES,
                        "drawdown.purpose in ['SECURITIES', 'FUTURES', 'HOME_PURCHASE', 'crypto', 'Real Estate']")
    found = problems_of(bundle_copy)
    assert found == [
        ("R105", "DRW-004", "'crypto' is never a purpose: purposes are upper-case codes such as CONSUMPTION",
         "write 'CRYPTO'"),
        ("R105", "DRW-004", "'Real Estate' is never a purpose: purposes are upper-case codes such as CONSUMPTION",
         "write 'REAL_ESTATE'"),
    ]
    problem = check_bundle(bundle_copy.dir)[0]
    assert (problem.line, problem.col) == (bundle_copy.line_of("drawdown.yaml", "'crypto'"),
                                           bundle_copy.col_of("drawdown.yaml", "'crypto'"))
    assert problem.format().endswith("fix: write 'CRYPTO' [R105]")


@pytest.mark.parametrize("when", ["drawdown.purpose == ''", "drawdown.purpose != 'home purchase'",
                                  f"drawdown.purpose == '{'A' * (request_limits.MAX_TEXT_LENGTH + 1)}'"])
def test_other_purposes_no_request_carries_are_refused(bundle_copy: BundleCopy, when: str) -> None:
    bundle_copy.replace("drawdown.yaml", PURPOSES, when)
    assert only(bundle_copy).code == "R105"


def test_a_purpose_requests_carry_is_accepted(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", PURPOSES, "drawdown.purpose in ['CRYPTO', 'REAL_ESTATE', 'X1_2']")
    assert check_bundle(bundle_copy.dir) == []


def test_country_codes_no_request_carries_are_refused_in_every_country_field(bundle_copy: BundleCopy) -> None:
    add_rule(bundle_copy, "fraud.yaml", "FRD-101", "channel.country == 'USA' or channel.country == 'us'", FRAUD_THEN)
    add_rule(bundle_copy, "fraud.yaml", "FRD-102", "line.residence_country in ['Cn', 'KP']", FRAUD_THEN)
    add_rule(bundle_copy, "eligibility.yaml", "ELG-007", "applicant.country != ' US'", ELIGIBILITY_THEN)
    rule = "country codes are two capital letters such as CN (ISO 3166 alpha-2), or empty"
    assert problems_of(bundle_copy) == [
        ("R105", "ELG-007", f"' US' is never a country code: {rule}", "write 'US'"),
        ("R105", "FRD-101", f"'USA' is never a country code: {rule}",
         "write the two-letter code in capitals, e.g. 'US' for the United States"),
        ("R105", "FRD-101", f"'us' is never a country code: {rule}", "write 'US'"),
        ("R105", "FRD-102", f"'Cn' is never a country code: {rule}", "write 'CN'"),
    ]


def test_an_empty_or_two_letter_country_is_accepted(bundle_copy: BundleCopy) -> None:
    add_rule(bundle_copy, "fraud.yaml", "FRD-101", "channel.country in ['US', ''] and line.residence_country == 'KP'",
             FRAUD_THEN)
    assert [p.code for p in check_bundle(bundle_copy.dir)] == []


def test_an_id_longer_than_requests_carry_is_refused(bundle_copy: BundleCopy) -> None:
    longest = "C" * request_limits.MAX_ID_LENGTH
    add_rule(bundle_copy, "fraud.yaml", "FRD-101", f"transaction.counterparty_id in ['{longest}', '{longest}X']",
             FRAUD_THEN)
    (problem,) = check_bundle(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.hint) == ("R105", "FRD-101", "shorten it to at most 64 characters")
    assert problem.message == (f"'{'C' * 40}...' (65 characters) is never a counterparty id: ids are at most 64 "
                               "characters, without spaces at either end")


def test_list_entries_the_field_can_never_take_are_refused_at_the_rule(bundle_copy: BundleCopy) -> None:
    text = bundle_copy.read("lists/mule_counterparties.txt")
    bundle_copy.write("lists/mule_counterparties.txt", text + "X" * 65 + "\n" + "Y" * 70 + "\n")
    problem = only(bundle_copy)
    assert (problem.code, problem.rule_id, problem.file) == ("R105", "FRD-006", "rules/fraud.yaml")
    assert problem.col == bundle_copy.col_of("fraud.yaml", "lists.mule_counterparties")
    assert problem.message.startswith("lists/mule_counterparties.txt has 2 entries that "
                                      "'transaction.counterparty_id' can never be ('XXXX")
    last = bundle_copy.line_of("lists/mule_counterparties.txt", "Y" * 70)
    assert problem.hint == (f"correct or remove '{'X' * 40}...' (65 characters) at lists/mule_counterparties.txt:"
                            f"{last - 1} and '{'Y' * 40}...' (70 characters) at lists/mule_counterparties.txt:{last}")


IP_RULE = "channel.ip in lists.blocked_ips"
CARRIED_IP = "requests carry one address, in its shortest standard form (203.0.113.7, 2001:db8::1), or nothing"


def test_ip_list_entries_in_another_form_are_named_with_their_lines_and_the_form_to_write(
    bundle_copy: BundleCopy,
) -> None:
    """The message named no line of the list, and its fix did not say what to write, though the same address in a
    rule is told it; past three entries, "and N more" hid the rest."""
    bundle_copy.write("lists/blocked_ips.txt", "# blocked by the fraud team\n203.0.113.7\n2001:DB8::1\n"
                      "::ffff:192.0.2.1\n192.168.001.001\nlocalhost\n2001:0db8:0000:0000:0000:0000:0000:0002\n")
    add_rule(bundle_copy, "fraud.yaml", "FRD-101", IP_RULE, FRAUD_THEN)
    problem = only(bundle_copy)
    assert (problem.code, problem.rule_id, problem.file) == ("R105", "FRD-101", "rules/fraud.yaml")
    assert problem.message == ("lists/blocked_ips.txt has 5 entries that 'channel.ip' can never be ('2001:DB8::1', "
                               "'::ffff:192.0.2.1', '192.168.001.001', 'localhost', "
                               f"'2001:0db8:0000:0000:0000:0000:0000:0002'): {CARRIED_IP}")
    assert problem.hint == ("write '2001:db8::1' at lists/blocked_ips.txt:3, '192.0.2.1' at lists/blocked_ips.txt:4, "
                            "'192.168.1.1' at lists/blocked_ips.txt:5 and '2001:db8::2' at lists/blocked_ips.txt:7; "
                            "correct or remove 'localhost' at lists/blocked_ips.txt:6")


def test_ip_list_entries_past_the_named_ones_are_counted(bundle_copy: BundleCopy) -> None:
    bundle_copy.write("lists/blocked_ips.txt", "".join(f"10.0.{n}.0/24\n" for n in range(7)))
    add_rule(bundle_copy, "fraud.yaml", "FRD-101", IP_RULE, FRAUD_THEN)
    problem = only(bundle_copy)
    assert problem.message.startswith("lists/blocked_ips.txt has 7 entries that 'channel.ip' can never be "
                                      "('10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24', '10.0.4.0/24' "
                                      "and 2 more): ")
    assert problem.hint.endswith("'10.0.4.0/24' at lists/blocked_ips.txt:5; and correct or remove the other 2 in "
                                 "lists/blocked_ips.txt")


@pytest.mark.parametrize(("written", "hint"), [
    ("010.1.1.1", "'010.1.1.1' has leading zeros, which requests never carry: write '10.1.1.1' if that is the "
                  "address meant"),
    ("192.168.001.300", "'192.168.001.300' has leading zeros, which requests never carry, and is no address without "
                        "them either: write one address, e.g. '203.0.113.7' or '2001:db8::1': a rule cannot match a "
                        "range such as 10.0.0.0/8, or a host name"),
])
def test_an_ip_with_leading_zeros_in_a_rule_is_told_so(bundle_copy: BundleCopy, written: str, hint: str) -> None:
    """'010.1.1.1', as some firewall exports print an address, was given the fix about ranges and host names."""
    add_rule(bundle_copy, "fraud.yaml", "FRD-101", f"channel.ip == '{written}'", FRAUD_THEN)
    problem = only(bundle_copy)
    assert (problem.code, problem.message, problem.hint) == (
        "R105", f"'{written}' is never an IP address as requests carry it: {CARRIED_IP}", hint)


def test_a_list_entry_of_the_longest_id_is_accepted(bundle_copy: BundleCopy) -> None:
    text = bundle_copy.read("lists/mule_counterparties.txt")
    bundle_copy.write("lists/mule_counterparties.txt", text + "X" * 64 + "\n")
    assert check_bundle(bundle_copy.dir) == []


# -- ranges: never (R108) and always (W001) -----------------------------------------------------------------

@pytest.mark.parametrize("when", [
    "applicant.age >= 200",
    "applicant.age > 130",
    "applicant.age < 0",
    "applicant.age >= 200 or applicant.active_spend_months > 12",
    "applicant.account_age_months == 1201",
    "applicant.verified_contacts > 100000",
    "applicant.annual_income < 0 CNY",
])
def test_a_rule_outside_the_range_requests_carry_never_matches(bundle_copy: BundleCopy, when: str) -> None:
    add_rule(bundle_copy, "eligibility.yaml", "ELG-007", when, ELIGIBILITY_THEN)
    problem = only(bundle_copy)
    assert (problem.code, problem.rule_id) == ("R108", "ELG-007")


@pytest.mark.parametrize(("when", "reason"), [
    ("applicant.age > 130", "a request carries applicant.age only from 0 to 130"),
    ("applicant.annual_income < 0 CNY",
     "a request carries applicant.annual_income only from 0.00 CNY to 9999999999999.99 CNY"),
    ("applicant.age >= 200 or applicant.active_spend_months > 12",
     "a request carries applicant.age only from 0 to 130; a request carries applicant.active_spend_months only "
     "from 0 to 12"),
])
def test_a_rule_outside_the_range_requests_carry_is_told_the_range(bundle_copy: BundleCopy, when: str,
                                                                   reason: str) -> None:
    add_rule(bundle_copy, "eligibility.yaml", "ELG-007", when, ELIGIBILITY_THEN)
    problem = only(bundle_copy)
    assert problem.message == f"this rule can never match: {reason}"
    assert problem.hint.startswith("write bounds inside the range a request carries")


@pytest.mark.parametrize(("name", "when", "then", "said"), [
    # a cut-off from another scoring scale: the scorecard's scores are within bundle.yaml's range, 350 to 950
    ("eligibility.yaml", "score.value >= 2000", ELIGIBILITY_THEN, "R108: score.value is only from 350 to 950"),
    ("eligibility.yaml", "score.value < 350", ELIGIBILITY_THEN, "R108: score.value is only from 350 to 950"),
    ("eligibility.yaml", "score.value >= 350", ELIGIBILITY_THEN, "W001: this rule matches every request"),
    ("fraud.yaml", "features.drawdowns_last_hour < 0", FRAUD_THEN, "R108: features.drawdowns_last_hour is only 0 "
     "or more"),
    ("drawdown.yaml", "line.credit_limit < 0 CNY or line.days_past_due < 0", DRAWDOWN_THEN,
     "R108: line.credit_limit is only 0.00 CNY or more; line.days_past_due is only 0 or more"),
    ("fraud.yaml", "features.transfer_out_last_hour >= 0 CNY", FRAUD_THEN, "W001: this rule matches every request"),
])
def test_the_range_of_a_value_the_service_works_out_is_known_too(bundle_copy: BundleCopy, name: str, when: str,
                                                                 then: str, said: str) -> None:
    """A score outside the bundle's range, a negative count or sum: accepted silently, the rule never (or always)
    matching."""
    add_rule(bundle_copy, name, "XXX-007", when, then)
    problem = only(bundle_copy)
    assert f"{problem.code}: {problem.message.removeprefix('this rule can never match: ')}" == said


def test_a_score_range_bundle_yaml_widens_is_the_range_the_checker_knows(bundle_copy: BundleCopy) -> None:
    bundle = bundle_copy.path("bundle.yaml")
    widened = bundle.read_text().replace("score:\n  min: 350\n  max: 950\n", "score:\n  min: 350\n  max: 1000\n")
    bundle.write_text(widened)
    add_rule(bundle_copy, "eligibility.yaml", "ELG-007", "score.value >= 960", ELIGIBILITY_THEN)
    assert [p for p in check_bundle(bundle_copy.dir) if p.is_error] == []
    add_rule(bundle_copy, "eligibility.yaml", "ELG-008", "score.value > 1000", ELIGIBILITY_THEN)
    problem = only(bundle_copy)
    assert (problem.code, problem.message) == ("R108",
                                               "this rule can never match: score.value is only from 350 to 1000")


def test_a_drawdown_rule_outside_the_range_requests_carry_never_matches(bundle_copy: BundleCopy) -> None:
    add_rule(bundle_copy, "drawdown.yaml", "DRW-007", "drawdown.term_months > 360 or drawdown.amount <= 0 CNY",
             DRAWDOWN_THEN)
    problem = only(bundle_copy)
    assert (problem.code, problem.rule_id) == ("R108", "DRW-007")


@pytest.mark.parametrize(("name", "when", "then"), [
    ("eligibility.yaml", "applicant.age >= 0 or applicant.age > 65", ELIGIBILITY_THEN),
    ("eligibility.yaml", "applicant.age <= 130", ELIGIBILITY_THEN),
    ("eligibility.yaml", "applicant.financial_assets >= 0 CNY", ELIGIBILITY_THEN),
    ("eligibility.yaml", "not applicant.active_spend_months > 12", ELIGIBILITY_THEN),
    ("drawdown.yaml", "drawdown.amount > 0 CNY", DRAWDOWN_THEN),
    ("drawdown.yaml", "drawdown.term_months >= 1", DRAWDOWN_THEN),
    ("fraud.yaml", "transaction.amount >= 0 CNY", FRAUD_THEN),
])
def test_a_rule_the_range_requests_carry_always_satisfies_gets_a_warning(bundle_copy: BundleCopy, name: str,
                                                                         when: str, then: str) -> None:
    add_rule(bundle_copy, name, "XXX-007", when, then)
    problem = only(bundle_copy)
    assert (problem.code, problem.rule_id) == ("W001", "XXX-007")


@pytest.mark.parametrize("when", [
    "applicant.age >= 130",
    "applicant.age <= 0",
    "applicant.active_spend_months == 12",
    "applicant.age > 129.5",
    "score.value >= 950",
])
def test_a_rule_at_the_edge_of_the_range_is_accepted(bundle_copy: BundleCopy, when: str) -> None:
    add_rule(bundle_copy, "eligibility.yaml", "ELG-007", when, ELIGIBILITY_THEN)
    assert check_bundle(bundle_copy.dir) == []


def test_an_attribute_keeps_the_full_range(bundle_copy: BundleCopy) -> None:
    add_rule(bundle_copy, "eligibility.yaml", "ELG-007", "applicant.attributes.employment_months >= 2000000",
             ELIGIBILITY_THEN)
    assert check_bundle(bundle_copy.dir) == []


# -- one place for the limits -------------------------------------------------------------------------------

def test_requests_and_the_case_reader_use_the_limits_the_catalogue_uses() -> None:
    import service.case_input as case_input

    for name in ("COUNTRY_CODE", "PURPOSE_CODE", "APPLICANT_MAXIMA", "MAX_TEXT_LENGTH", "MAX_COUNT",
                 "MAX_TERM_MONTHS", "ATTRIBUTE_NAME", "MAX_ATTRIBUTES", "MAX_ATTRIBUTE_TEXT"):
        assert getattr(requests, name) is getattr(request_limits, name), name
        assert getattr(case_input, name) is getattr(request_limits, name), name
    # ids: requests hold them to request_limits.identifier_problem, which reads MAX_ID_LENGTH
    assert requests.identifier_problem is request_limits.identifier_problem
    assert case_input.MAX_ID_LENGTH is request_limits.MAX_ID_LENGTH
    assert request_limits.identifier_problem("x" * request_limits.MAX_ID_LENGTH) is None
    assert request_limits.identifier_problem("x" * (request_limits.MAX_ID_LENGTH + 1)) is not None
    assert FIELDS["applicant.age"].carries.high == request_limits.APPLICANT_MAXIMA["age"]
    assert FIELDS["drawdown.term_months"].carries.high == request_limits.MAX_TERM_MONTHS
    assert FIELDS["applicant.verified_contacts"].carries.high == request_limits.MAX_COUNT
    text = FIELDS["drawdown.purpose"].carries.text
    assert text is not None and text.pattern is request_limits.PURPOSE_CODE


def test_every_applicant_count_has_the_range_requests_hold_it_to() -> None:
    counts = [f for f in FIELDS.values() if f.name.startswith("applicant.") and f.type is FieldType.INT]
    assert {f.name for f in counts} >= {f"applicant.{k}" for k in request_limits.APPLICANT_MAXIMA}
    for f in counts:
        key = f.name.removeprefix("applicant.")
        highest = request_limits.APPLICANT_MAXIMA.get(key, request_limits.MAX_COUNT)
        assert (f.carries.low, f.carries.high) == (0, highest)
    for name in ("applicant.annual_income", "applicant.monthly_spend_avg", "applicant.financial_assets",
                 "transaction.amount"):
        assert (FIELDS[name].carries.low, FIELDS[name].carries.high) == (0, MAX_FEN)


_TEXTS = ["", "CN", "US", "us", "USA", "C", "CRYPTO", "crypto", "REAL_ESTATE", "Real Estate", "A1", "1A", "_A",
          " CN", "CN ", "a" * 64, "a" * 65, "P" * 64, "P" * 65, "tab\there"]


def _drawdown_refuses(field: str, **values: object) -> bool:
    request = pb.AuthorizeDrawdownRequest(request_id="r", user_id="u", amount=pb.Money(currency="CNY", minor_units=1),
                                          term_months=6, repayment_method=pb.REPAYMENT_METHOD_BULLET, **values)
    try:
        drawdown_command(request)
    except InvalidRequest as refused:
        return any(v.field == field for v in refused.violations)
    return False


def _transaction_refuses(field: str, **values: str) -> bool:
    request = pb.FlagTransactionRequest(request_id="r", transaction=pb.Transaction(
        transaction_id="t", user_id="u", type=pb.TRANSACTION_TYPE_LOGIN, **values))
    try:
        transaction_command(request, datetime.now(UTC))
    except InvalidRequest as refused:
        return any(v.field == field for v in refused.violations)
    return False


@pytest.mark.parametrize("text", _TEXTS)
def test_the_catalogue_takes_exactly_the_texts_requests_carry(text: str) -> None:
    def takes(name: str) -> bool:
        form = FIELDS[name].carries.text
        assert form is not None
        return form.takes(text)

    assert takes("drawdown.purpose") == (not _drawdown_refuses("purpose", purpose=text))
    assert takes("channel.country") == (not _drawdown_refuses("channel.country", purpose="X",
                                                              channel=pb.Channel(country=text)))
    assert takes("channel.device_id") == (not _drawdown_refuses("channel.device_id", purpose="X",
                                                                channel=pb.Channel(device_id=text)))
    assert takes("channel.city") == (not _drawdown_refuses("channel.city", purpose="X", channel=pb.Channel(city=text)))
    assert takes("transaction.counterparty_id") == (
        not _transaction_refuses("transaction.counterparty_id", counterparty_id=text))
    assert takes("transaction.merchant_category") == (
        not _transaction_refuses("transaction.merchant_category", merchant_category=text))


def test_the_documented_ranges_are_the_ones_requests_are_held_to() -> None:
    text = " ".join((ROOT / "docs" / "rules.md").read_text(encoding="utf-8").split())
    maxima = request_limits.APPLICANT_MAXIMA
    for phrase in (f"`applicant.age` runs from 0 to {maxima['age']:,}",
                   f"`applicant.active_spend_months` from 0 to {maxima['active_spend_months']:,}",
                   f"`applicant.max_days_overdue_24m` from 0 to {maxima['max_days_overdue_24m']:,}",
                   f"`applicant.account_age_months` from 0 to {maxima['account_age_months']:,}",
                   f"the applicant's other counts from 0 to {request_limits.MAX_COUNT:,}",
                   f"`drawdown.term_months` from 1 to {request_limits.MAX_TERM_MONTHS:,}",
                   f"ids (`transaction.counterparty_id`, `channel.device_id`) are at most "
                   f"{request_limits.MAX_ID_LENGTH} characters"):
        assert phrase in text, phrase


# -- parts of a condition true or false for every request (W007) --------------------------------------------

NOTHING = "so it changes nothing: the condition means the same without it"


@pytest.mark.parametrize(("when", "part", "message"), [
    ("applicant.credit_inquiries_6m > 10 and applicant.age >= 0", "applicant.age >= 0",
     f"'applicant.age >= 0' is true for every request, {NOTHING}"),
    ("applicant.credit_inquiries_6m > 10 or applicant.age > 130", "applicant.age > 130",
     f"'applicant.age > 130' is false for every request, {NOTHING}"),
    ("not (applicant.credit_inquiries_6m <= 10 or applicant.age != applicant.age)", "applicant.age != applicant.age",
     f"'applicant.age != applicant.age' is false for every request, {NOTHING}"),
    ("applicant.credit_inquiries_6m > 10 or (applicant.verified_contacts > 3 and applicant.age < 0)",
     "applicant.verified_contacts > 3 and applicant.age < 0",
     "'applicant.verified_contacts > 3 and applicant.age < 0' is false for every request, " + NOTHING),
    ("applicant.credit_inquiries_6m > 10 and (applicant.verified_contacts > 3 or applicant.age <= 130)",
     "applicant.verified_contacts > 3 or applicant.age <= 130",
     "'applicant.verified_contacts > 3 or applicant.age <= 130' is true for every request, " + NOTHING),
])
def test_a_part_of_a_condition_with_the_same_truth_for_every_request_is_warned_about_where_it_is(
        bundle_copy: BundleCopy, when: str, part: str, message: str) -> None:
    add_rule(bundle_copy, "eligibility.yaml", "ELG-007", when, ELIGIBILITY_THEN)
    problem = only(bundle_copy)
    assert (problem.code, problem.rule_id, problem.message) == ("W007", "ELG-007", message)
    assert problem.col == bundle_copy.col_of("eligibility.yaml", when) + when.index(part)


@pytest.mark.parametrize("when", [
    "applicant.credit_inquiries_6m > 10 and applicant.age >= 18",
    "applicant.credit_inquiries_6m > 10 or applicant.age > 129",
    "applicant.credit_inquiries_6m > 10 and applicant.country in ['CN', 'HK']",
])
def test_a_part_some_request_can_make_true_and_another_false_is_not_warned_about(bundle_copy: BundleCopy,
                                                                                when: str) -> None:
    add_rule(bundle_copy, "eligibility.yaml", "ELG-007", when, ELIGIBILITY_THEN)
    assert check_bundle(bundle_copy.dir) == []
