"""The expression language: tokens, precedence, literals, and the type checker's verdicts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.engine.catalogue import FieldType
from service.engine.nodes import BoolOp, Compare, Expr, Literal, Member, Not, render
from service.engine.parser import parse_expression
from service.engine.problems import ExprIssue
from service.engine.typecheck import FieldSpec, Scope, check_expression

SCOPE = Scope(
    "test rules",
    {
        "a.n": FieldSpec("a.n", FieldType.INT),
        "a.d": FieldSpec("a.d", FieldType.DECIMAL),
        "a.m": FieldSpec("a.m", FieldType.MONEY),
        "a.b": FieldSpec("a.b", FieldType.BOOL),
        "a.s": FieldSpec("a.s", FieldType.STR),
        "a.t": FieldSpec("a.t", FieldType.STR, ("X", "Y")),
    },
    {"names": frozenset({"x"})},
    {"z.other": "test rules can read a.*"},
)


def parse(text: str) -> Expr:
    parsed = parse_expression(text)
    assert not isinstance(parsed, ExprIssue), parsed
    return parsed


def issue(text: str) -> ExprIssue:
    parsed = parse_expression(text)
    assert isinstance(parsed, ExprIssue), f"{text!r} parsed"
    return parsed


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    assert render(parse("a.b or not a.b and a.n > 1")) == "(a.b or ((not a.b) and (a.n > 1)))"


def test_parentheses_group() -> None:
    assert render(parse("(a.b or a.b) and a.n > 1")) == "((a.b or a.b) and (a.n > 1))"


def test_arithmetic_precedence_and_left_associativity() -> None:
    assert render(parse("a.n - 1 - 2 * 3 / 4 > 0")) == "(((a.n - 1) - ((2 * 3) / 4)) > 0)"


@pytest.mark.parametrize(("text", "value", "kind"), [
    ("10000 CNY", 1_000_000, FieldType.MONEY),
    ("1_000.50 CNY", 100_050, FieldType.MONEY),
    ("-5 CNY", -500, FieldType.MONEY),
    ("1_000", 1000, FieldType.INT),
    ("0.5", Decimal("0.5"), FieldType.DECIMAL),
    ("'it''s'", None, None),
    ("'a\\'b'", "a'b", FieldType.STR),
    ('"x"', "x", FieldType.STR),
    ("true", True, FieldType.BOOL),
])
def test_literals(text: str, value: object, kind: FieldType | None) -> None:
    parsed = parse_expression(text)
    if kind is None:
        assert isinstance(parsed, ExprIssue)
        return
    assert isinstance(parsed, Literal)
    assert (parsed.value, parsed.type) == (value, kind)


def test_in_and_not_in() -> None:
    member = parse("a.t not in ['X', 'Y']")
    assert isinstance(member, Member) and member.negated and member.items is not None and len(member.items) == 2
    assert isinstance(parse("not a.t in ['X']"), Not)
    listed = parse("a.s in lists.names")
    assert isinstance(listed, Member) and listed.list_ref is not None and listed.list_ref.name == "names"


def test_spans_cover_the_source_text() -> None:
    text = "a.n > 1 and a.s == 'x'"
    expr = parse(text)
    assert isinstance(expr, BoolOp)
    second = expr.operands[1]
    assert isinstance(second, Compare)
    assert text[second.span.start:second.span.end] == "a.s == 'x'"


@pytest.mark.parametrize(("text", "offset", "message", "hint"), [
    ("a.n = 1", 4, "'=' is not an operator here", "use == to compare two values"),
    ("a.b && a.b", 4, "'&&' is not an operator here", "write 'and'"),
    ("a.n >", 5, "the condition ends too early: expected a field, a value or '('",
     "complete the condition or remove the dangling operator"),
    ("a.n > 1 AND a.b", 8, "unexpected name 'AND': expected 'and', 'or' or the end of the condition",
     "write 'and' in lower case"),
    ("1 < a.n < 3", 8, "comparisons cannot be chained",
     "write two comparisons joined with 'and', e.g. x >= 18 and x <= 65"),
    ("a.s == 'x", 7, "this text is not closed", "end it with ' on the same line"),
    ("a.n > 1e5", 6, "'1e5' is not a number",
     "write numbers in full with an optional decimal point, e.g. 100000 or 0.5"),
    ("a.m > 100CNY", 6, "'100CNY' is not a number", "put a space between the amount and the currency, e.g. 10000 CNY"),
    ("(a.n > 1", 8, "the condition ends too early: expected ')' to close the '(' at column 1",
     "complete the condition or remove the dangling operator"),
    ("a.n in [a.n]", 8, "a list may only hold fixed values such as 'A', 3 or 100 CNY",
     "compare fields one by one with == and join them with 'or'"),
    ("lists.names", 0, "the list 'lists.names' can only be used after 'in'",
     "write e.g. transaction.counterparty_id in lists.names"),
    ("a.n # 1", 4, "unexpected character '#': a comment cannot go inside a condition",
     "move the comment to a line of its own, above 'when:'"),
    ("a.n ~ 1", 4, "unexpected character '~'",
     "conditions use field names, numbers, 'text', and, or, not, in, and == != < <= > >="),
    ("", 0, "the condition is empty", "write a condition, e.g. applicant.age < 18"),
])
def test_syntax_errors_say_where_and_how_to_fix(text: str, offset: int, message: str, hint: str) -> None:
    found = issue(text)
    assert (found.code.code, found.offset, found.message, found.hint) == ("R101", offset, message, hint)


@pytest.mark.parametrize(("text", "message"), [
    ("a.d > 0.0000000001", "0.0000000001 has more than 9 decimal places"),
    ("a.n > 1_000_000_000_000_000", "this number is too large"),
    ("a.m > 0.001 CNY", "0.001 CNY has more than 2 decimal places"),
])
def test_literals_out_of_range(text: str, message: str) -> None:
    found = issue(text)
    assert (found.code.code, found.message) == ("R109", message)


def types(text: str) -> tuple[FieldType | None, list[str]]:
    kind, issues = check_expression(parse(text), SCOPE)
    return kind, [f"{i.code.code}@{i.offset}: {i.message}" for i in issues]


@pytest.mark.parametrize(("text", "kind"), [
    ("a.n + a.d", FieldType.DECIMAL),
    ("a.n * 2", FieldType.INT),
    ("a.n / 2", FieldType.DECIMAL),
    ("a.m * 0.5", FieldType.MONEY),
    ("3 * a.m", FieldType.MONEY),
    ("a.m / 3", FieldType.MONEY),
    ("a.m / a.m", FieldType.DECIMAL),
    ("a.m - 1 CNY", FieldType.MONEY),
    ("-a.m", FieldType.MONEY),
    ("a.n > 0.5 and a.d < 3", FieldType.BOOL),
    ("a.s == a.t", FieldType.BOOL),
    ("a.b == false", FieldType.BOOL),
    ("a.s in lists.names", FieldType.BOOL),
])
def test_well_typed_expressions(text: str, kind: FieldType) -> None:
    assert types(text) == (kind, [])


@pytest.mark.parametrize(("text", "problems"), [
    ("a.m > 5", ["R104@6: cannot compare an amount of money with a whole number"]),
    ("a.m > a.d", ["R104@6: cannot compare an amount of money with a decimal number (a rate or ratio)"]),
    ("a.s > 'x'", ["R104@0: text cannot be compared with '>'"]),
    ("a.b < true", ["R104@0: a yes/no value cannot be compared with '<'"]),
    ("a.n == 'x'", ["R104@7: cannot compare a whole number with text"]),
    ("a.m + 1", ["R104@6: cannot use '+' between an amount of money and a whole number"]),
    ("a.m * a.m", ["R104@6: cannot use '*' between an amount of money and an amount of money"]),
    ("a.s + 'x'", ["R104@6: cannot use '+' between text and text"]),
    ("-a.s", ["R104@0: cannot put a minus sign before text"]),
    ("a.n in lists.names", ["R104@0: lists hold text, but this is a whole number"]),
    ("a.s in lists.nmes", ["R106@7: unknown list 'lists.nmes' (did you mean 'lists.names'?)"]),
    ("a.t == 'Z' or a.t in ['X', 'W']", ["R105@7: 'a.t' is never 'Z'", "R105@27: 'a.t' is never 'W'"]),
    ("a.nn > 1", ["R102@0: unknown field 'a.nn' (did you mean 'a.n'?)"]),
    ("z.other > 1", ["R103@0: field 'z.other' is not known when test rules run"]),
    ("applicant.attributes.foo > 1", ["R102@0: unknown applicant attribute 'foo'"]),
    ("not a.n", ["R107@4: 'not' must be followed by a yes/no condition, but this is a whole number"]),
    ("a.n and a.b", ["R107@0: each side of 'and' must be a yes/no condition, but this is a whole number"]),
    ("a.n > 1 and a.m > 1 and a.s > 1", ["R104@18: cannot compare an amount of money with a whole number",
                                         "R104@30: cannot compare text with a whole number"]),
])
def test_type_errors_are_all_reported_with_offsets(text: str, problems: list[str]) -> None:
    assert types(text) == (None, problems)


@pytest.mark.parametrize(("text", "said"), [
    ("a.t == X", ("R102@7: X is one of the values of a.t: text is written in quotes", "write 'X'")),
    ("Y != a.t", ("R102@0: Y is one of the values of a.t: text is written in quotes", "write 'Y'")),
    ("a.s == CN", ("R102@7: CN is not a field; text compared with a.s: text is written in quotes", "write 'CN'")),
    ("X and a.b", ("R102@0: X is not a field but one of the values of a.t: text is written in quotes",
                   "compare the field with it in quotes: a.t == 'X'")),
    ("a.b == no", ("R102@7: 'no' is not a value: a yes/no field is compared with true or false",
                   "write not a.b (or a.b == false)")),
    ("a.b == yes", ("R102@7: 'yes' is not a value: a yes/no field is compared with true or false",
                    "write a.b (or a.b == true)")),
    ("a.b != no", ("R102@7: 'no' is not a value: a yes/no field is compared with true or false",
                   "write a.b (or a.b != false)")),
])
def test_a_text_value_without_quotes_or_a_spoken_yes_no_is_told_how_to_write_it(
    text: str, said: tuple[str, str]
) -> None:
    _, issues = check_expression(parse(text), SCOPE)
    assert [(f"{i.code.code}@{i.offset}: {i.message}", i.hint) for i in issues] == [said]


@pytest.mark.parametrize(("text", "word", "hint"), [
    ("a.t in [X, Y]", "X", "write the values in quotes: ['X', 'Y']"),
    ("a.t in ['X', Y, 3]", "Y", "write the values in quotes: ['X', 'Y', 3]"),
    ("a.t in [X, a.s]", "X", "write each text value in quotes, e.g. 'X'"),
])
def test_a_list_of_words_without_quotes_is_told_to_quote_them(text: str, word: str, hint: str) -> None:
    found = issue(text)
    assert (found.code.code, found.message, found.hint) == ("R101", f"{word} is not a value: text is written in "
                                                            "quotes", hint)


WORD_QUOTES = ("(Word makes quotes curly as you type: retype them in a plain-text editor, or turn off Word's smart "
               "quotes)")


@pytest.mark.parametrize(("text", "offset", "hint"), [
    ("a.t == \u2018X\u2019", 7, f"use the straight quote ' instead: 'X' {WORD_QUOTES}"),
    ("a.t == \u201cX\u201d", 7, f"use the straight quote ' instead: 'X' {WORD_QUOTES}"),
    ("a.n \u2265 3", 4, "write >= instead of '\u2265'"),
    ("a.n \u2264 3", 4, "write <= instead of '\u2264'"),
    ("a.n \u2260 3", 4, "write != instead of '\u2260'"),
    ("a.m >= \u00a5500", 7, "write the amount as 500 CNY: amounts are written with their currency after the number"),
    ("a.m >= 500 \u5143", 11, "write the amount as 500 CNY: amounts are written with their currency code, CNY"),
    ("a.m >= 500\u5143", 10, "write the amount as 500 CNY: amounts are written with their currency code, CNY"),
    ("a.n > \uff16\uff15", 6, "write the plain character 6 instead of the full-width '\uff16' (switch the input "
     "method to half-width, or to English, to type it)"),
    ("a.n > 6\uff15", 7, "write the plain character 5 instead of the full-width '\uff15' (switch the input "
     "method to half-width, or to English, to type it)"),
])
def test_a_character_word_or_an_input_method_typed_gets_the_plain_one_to_type(
    text: str, offset: int, hint: str
) -> None:
    found = issue(text)
    assert (found.code.code, found.offset, found.hint) == ("R101", offset, hint)
    assert found.message.endswith("is not a plain (ASCII) character")


AND_OR = "expected 'and', 'or' or the end of the condition"
AFTER_IN = "expected a list such as ['A', 'B'] or lists.NAME after 'in'"


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("a.m >= 100000 cny", f"unexpected name 'cny': {AND_OR}", "write the currency in capitals: 100000 CNY"),
    ("a.m >= 100000 yuan", f"unexpected name 'yuan': {AND_OR}",
     "write the amount with the currency code: 100000 CNY"),
    ("a.m >= CNY 100000", f"unexpected '100000': {AND_OR}", "write the currency after the amount: 100000 CNY"),
    ("a.s in names", f"unexpected name 'names': {AFTER_IN}",
     "write lists.names for the file lists/names.txt, or a list of values such as ['A', 'B']"),
    ("a.s in lists/names.txt", f"unexpected name 'lists': {AFTER_IN}",
     "write lists.names for the file lists/names.txt, or a list of values such as ['A', 'B']"),
    ("a.b is false", f"unexpected name 'is': {AND_OR}", "write not a.b (or a.b == false)"),
    ("a.b is true", f"unexpected name 'is': {AND_OR}", "write a.b on its own (or a.b == true)"),
    ("a.m < 1,000 CNY", f"unexpected ',': {AND_OR}", "write numbers without thousands separators: 1000 or 1_000"),
    ("a.m >= 10 000 CNY", f"unexpected '000': {AND_OR}",
     "write numbers without spaces inside them: 10000 CNY or 10_000 CNY"),
    ("a.m >= 1 000 000.50 CNY and a.i > 0", f"unexpected '000': {AND_OR}",
     "write numbers without spaces inside them: 1000000.50 CNY or 1_000_000.50 CNY"),
    ("a.i > 12 345", f"unexpected '345': {AND_OR}", "write numbers without spaces inside them: 12345 or 12_345"),
])
def test_common_slips_get_the_form_to_write_not_the_advice_to_join_conditions(
    text: str, message: str, hint: str
) -> None:
    found = issue(text)
    assert (found.code.code, found.message, found.hint) == ("R101", message, hint)


@pytest.mark.parametrize(("text", "message"), [
    (f"a.d > 0.{'0' * 3900}1", "0.00000000000000...0001 (3901 decimal places) has more than 9 decimal places"),
    (f"a.m > 0.{'0' * 3900}1 CNY", "0.00000000000000...0001 (3901 decimal places) CNY has more than 2 decimal places"),
    (f"a.n > {'1' * 3000}x", "'1111111111111111...111x (3001 characters)' is not a number"),
])
def test_a_very_long_number_is_quoted_by_its_start_and_end_so_the_message_stays_one_short_line(
    text: str, message: str
) -> None:
    assert issue(text).message == message
