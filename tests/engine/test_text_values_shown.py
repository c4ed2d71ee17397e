"""A text value a rule quotes is shown escaped (`'\\n'`, `'Shang\\thai\\n'`, `'\\u2028'`): a line break, tab or line
separator printed raw split the one-line `file:line:col: rule: message` headline, whose second half named no file,
line or rule. And the fix offered for a free-text field (a city, a merchant category, an id) is that value without
what no request carries, never a code-like rewrite ('SHANG_HAI') nor an empty value (which means "none")."""

from __future__ import annotations

from service.engine.bundle import check_bundle
from service.engine.problems import RuleProblem
from tests.engine.conftest import BundleCopy
from tests.engine.test_bundle_errors import the_error

FRD_003 = "transaction.type == 'DRAWDOWN' and transaction.amount >= 10000 CNY and channel.device_id != '' and not " \
          "features.device_seen_before"
TEXT_RULE = "requests carry at most 64 characters of printable text"
COUNTRY_RULE = "country codes are two capital letters such as CN (ISO 3166 alpha-2), or empty"


def shown_lines(problem: RuleProblem) -> list[str]:
    """The problem as `rules check` prints it, split wherever any program would start a new line."""
    lines = problem.format().splitlines()
    assert len(lines) == 4, lines  # headline, condition, caret, fix
    return lines


def test_a_line_break_and_a_tab_in_text_values_are_shown_escaped_with_the_fix_for_free_text(
        bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", FRD_003,
                        r"transaction.merchant_category == '\n' or channel.city == 'Shang\thai\n'")
    line = bundle_copy.line_of("fraud.yaml", "channel.city")
    category_col, city_col = bundle_copy.col_of("fraud.yaml", r"'\n'"), bundle_copy.col_of("fraud.yaml", "'Shang")
    category, city = check_bundle(bundle_copy.dir)
    assert category.headline() == \
        rf"rules/fraud.yaml:{line}:{category_col}: rule FRD-003: '\n' is never a merchant category: {TEXT_RULE}"
    assert category.hint == r"remove the line break (\n), which requests never carry; that leaves nothing: write the " \
        "merchant category you mean"
    assert city.headline() == \
        rf"rules/fraud.yaml:{line}:{city_col}: rule FRD-003: 'Shang\thai\n' is never a city: {TEXT_RULE}"
    assert city.hint == r"remove the tab (\t) and the line break (\n), which requests never carry: write 'Shanghai'"
    assert shown_lines(city)[3] == r"    fix: remove the tab (\t) and the line break (\n), which requests never " \
        "carry: write 'Shanghai' [R105]"
    assert shown_lines(category)[0] == category.headline()


def test_a_line_separator_from_a_yaml_escape_is_shown_by_its_code_in_the_headline_and_the_condition(
        bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", f"when: {FRD_003}", r'''when: "channel.city == 'Shanghai\u2028'"''')
    problem = the_error(bundle_copy.dir)
    line, col = bundle_copy.line_of("fraud.yaml", "channel.city"), bundle_copy.col_of("fraud.yaml", "'Shanghai")
    headline, condition, caret, fix = shown_lines(problem)
    assert headline == rf"rules/fraud.yaml:{line}:{col}: rule FRD-003: 'Shanghai\u2028' is never a city: {TEXT_RULE}"
    assert condition == r"    channel.city == 'Shanghai\u2028'"
    assert caret == "    " + " " * len("channel.city == ") + "^"
    assert fix == r"    fix: remove the line separator (\u2028), which requests never carry: write 'Shanghai' [R105]"


def test_a_line_separator_between_the_words_of_a_condition_is_shown_by_its_code_with_the_caret_in_place(
        bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: not applicant.agreement_signed\n",
                        'when: "not\\u2028applicant.agreement_signed == 1"\n')
    problem = the_error(bundle_copy.dir)
    assert problem.code == "R104"
    _, condition, caret, _ = shown_lines(problem)
    assert condition == r"    not\u2028applicant.agreement_signed == 1"
    assert caret == "    " + " " * len(r"not\u2028applicant.agreement_signed == ") + "^"


def test_a_value_of_a_closed_field_and_a_list_entry_are_shown_escaped(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "transaction.type == 'DRAWDOWN' and transaction.amount >= 10000 CNY",
                        r"transaction.type == 'DRAW\nDOWN' and transaction.amount >= 10000 CNY")
    # an escape character (a tab is reported at the list's line instead: see test_list_limits.py)
    bundle_copy.write("lists/mule_counterparties.txt", "CP-MULE-0001\nCP-MULE\x1b0002\n")
    vocabulary, entry = check_bundle(bundle_copy.dir)
    assert (vocabulary.rule_id, vocabulary.message) == \
        ("FRD-003", r"'transaction.type' is never 'DRAW\nDOWN' (did you mean 'DRAWDOWN'?)")
    assert (entry.rule_id, entry.message) == (
        "FRD-006", r"lists/mule_counterparties.txt has an entry that 'transaction.counterparty_id' can never be "
        r"('CP-MULE\x1b0002'): ids are at most 64 characters, without spaces at either end")
    assert all(len(p.headline().splitlines()) == 1 for p in (vocabulary, entry))


def test_free_text_is_never_rewritten_as_a_code_nor_emptied(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", FRD_003, r"channel.city in ['Shang hai\n', '\t'] or channel.device_id == 'ab\tc'")
    hints = [(p.message.split(" is never ")[0], p.hint) for p in check_bundle(bundle_copy.dir)]
    assert hints == [
        (r"'Shang hai\n'", r"remove the line break (\n), which requests never carry: write 'Shang hai'"),
        (r"'\t'", r"remove the tab (\t), which requests never carry; that leaves nothing: write the city you mean"),
        (r"'ab\tc'", r"remove the tab (\t), which requests never carry: write 'abc'"),
    ]


def test_a_free_text_value_too_long_even_without_its_control_characters_is_to_be_shortened(
        bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", FRD_003, "channel.city == '" + "x" * 70 + r"\n'")
    problem = the_error(bundle_copy.dir)
    assert problem.message == f"'{'x' * 40}...' (71 characters) is never a city: {TEXT_RULE}"
    assert problem.hint == r"remove the line break (\n), which requests never carry; shorten it to at most 64 " \
        "characters"


def test_a_code_is_still_offered_in_its_fixed_form_but_never_as_an_empty_value(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", FRD_003, r"channel.country == '\n' or channel.country == 'us\n'")
    empty, code = check_bundle(bundle_copy.dir)
    assert (empty.message, empty.hint) == (rf"'\n' is never a country code: {COUNTRY_RULE}",
                                           "write the two-letter code in capitals, e.g. 'US' for the United States")
    assert (code.message, code.hint) == (rf"'us\n' is never a country code: {COUNTRY_RULE}", "write 'US'")


def test_a_value_shortened_in_the_message_is_offered_whole_in_the_fix(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", FRD_003, "channel.city == '" + "x" * 50 + r"\n'")
    problem = the_error(bundle_copy.dir)
    assert problem.message == f"'{'x' * 40}...' (51 characters) is never a city: {TEXT_RULE}"
    assert problem.hint == r"remove the line break (\n), which requests never carry: write '" + "x" * 50 + "'"


def test_a_file_name_with_a_line_break_is_shown_escaped_in_the_headline(bundle_copy: BundleCopy) -> None:
    bundle_copy.write("lists/mule\nlist.txt", "CP-1\n")
    (problem,) = check_bundle(bundle_copy.dir)
    assert problem.headline() == (
        r"rules/lists/mule\nlist.txt: warning: this file is ignored: 'mule\nlist' is not a valid list name")
