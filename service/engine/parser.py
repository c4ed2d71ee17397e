"""Tokenizer and parser of the rule expression language.

    expression := or
    or         := and ('or' and)*
    and        := not ('and' not)*
    not        := 'not' not | comparison
    comparison := sum [('==' | '!=' | '<' | '<=' | '>' | '>=') sum | ['not'] 'in' (list | lists.NAME)]
    sum        := term (('+' | '-') term)*
    term       := unary (('*' | '/') unary)*
    unary      := '-' unary | primary
    primary    := NUMBER [CURRENCY] | STRING | 'true' | 'false' | FIELD | '(' expression ')'
    list       := '[' [literal (',' literal)* [',']] ']'

Numbers: `12`, `1_000`, `0.5`; money: `10000 CNY`, `1_000.50 CNY` (integer fen); text: 'x' or "x".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from service.domain.money import MAX_FEN
from service.engine import problems as P
from service.engine.catalogue import FieldType
from service.engine.nodes import (
    COMPARE_OPS,
    Arith,
    BoolOp,
    Compare,
    Expr,
    FieldRef,
    ListRef,
    Literal,
    Member,
    Neg,
    Not,
    Span,
    children,
)
from service.engine.problems import ExprIssue
from service.engine.syntax_hints import hint_for_unexpected
from service.engine.typed_characters import plain_fix

MAX_EXPRESSION_CHARS = 4000
MAX_NESTING = 32
# Operations (+ - * /) one inside another: `a + b + c` is two, each the left side of the next. Every pass over a
# condition (type check, compiler, oracle, explain) recurses once or more per operation; with Python's default
# recursion limit the type check failed at about 495 in a row and comparing two trees at about 329. With this
# limit and MAX_NESTING the deepest tree the parser returns is under 170 levels.
MAX_CALCULATION_STEPS = 32
MAX_TEXT_CHARS = 256
MAX_LIST_ITEMS = 1000
INT_LIMIT = MAX_FEN + 1  # |INT| and |MONEY in fen| must stay below this, so that any amount the service handles fits
DECIMAL_LIMIT = 10**9  # |DECIMAL| must stay below this
DECIMAL_PLACES = 9


def decimal_places(value: Decimal) -> int:
    """How many decimal places a finite decimal is written with (0.00050 has 5). A bundle's decimals (rates, caps,
    defaults) have at most DECIMAL_PLACES: the service's arithmetic on them is then exact in a 28-digit context."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else DECIMAL_PLACES + 1

KEYWORDS = {"and", "or", "not", "in", "true", "false"}
_MISTAKES = {
    "=": "use == to compare two values",
    "&&": "write 'and'",
    "&": "write 'and'",
    "||": "write 'or'",
    "|": "write 'or'",
    "!": "write 'not'",
    "<>": "write != for 'different from'",
    "=<": "write <=",
    "=>": "write >=",
    "**": "there is no power operator: write the number in full, e.g. 1_000_000",
    "^": "there is no power operator: write the number in full, e.g. 1_000_000",
}
_KEYWORD_CASE = {"AND": "and", "OR": "or", "NOT": "not", "IN": "in", "True": "true", "False": "false",
                 "TRUE": "true", "FALSE": "false", "And": "and", "Or": "or", "Not": "not"}

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[0-9][0-9_]*(?:\.[0-9_]+)?(?![\w.]))
  | (?P<badnumber>[0-9][\w.]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<string>'|")
  | (?P<op>==|!=|<=|>=|<>|=<|=>|&&|\|\||\*\*|[<>=!&|^()\[\],+\-*/])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, keyword, string, op, end
    text: str  # the source text (for a string: the decoded value)
    start: int
    end: int


class ExprSyntaxError(Exception):
    """Raised inside the parser; converted to an ExprIssue at the boundary."""

    def __init__(self, issue: ExprIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def _fail(offset: int, message: str, hint: str = "", code: P.ProblemCode = P.EXPR_SYNTAX) -> ExprSyntaxError:
    return ExprSyntaxError(ExprIssue(code, offset, message, hint))


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens, raising ExprSyntaxError at the first character that cannot start one."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos] == "." and pos + 1 < len(text) and not text[pos + 1].isascii():
                pos += 1  # `applicant.?ge` with a Cyrillic a: the name stopped at the dot before it
            if not text[pos].isascii():
                invisible, described = _describe_char(text[pos])
                hint = "delete it (your editor may not show it: retype the text around it)" if invisible else \
                    plain_fix(text, pos) or \
                    "retype it with a Latin keyboard layout: field names, operators and numbers use only " \
                    "A-Z, a-z, 0-9, _ and . (other alphabets are fine inside quoted 'text')"
                raise _fail(pos, f"{described} is not a plain (ASCII) character", hint)
            if text[pos] == "#":  # in a condition written over several lines (>-), YAML keeps a '#' as text
                raise _fail(pos, "unexpected character '#': a comment cannot go inside a condition",
                            "move the comment to a line of its own, above 'when:'")
            if text[pos] == "%" and tokens and tokens[-1].kind == "number":  # `>= 50%`: shares are fractions
                share = Decimal(tokens[-1].text.replace("_", "")) / 100
                raise _fail(pos, "unexpected character '%'",
                            f"write it as a decimal, e.g. {share.normalize():f} for {tokens[-1].text} %")
            raise _fail(pos, f"unexpected character '{text[pos]}'",
                        "conditions use field names, numbers, 'text', and, or, not, in, and == != < <= > >=")
        kind = m.lastgroup or ""
        if kind == "ws":
            pos = m.end()
            continue
        if kind == "badnumber":
            typed = next((at for at in range(pos, m.end()) if plain_fix(text, at)), None)
            if typed is not None:  # `100000元`: a number runs into a character an input method typed
                raise _fail(typed, f"{_describe_char(text[typed])[1]} is not a plain (ASCII) character",
                            plain_fix(text, typed) or "")
            hint = "write numbers in full with an optional decimal point, e.g. 100000 or 0.5"
            if re.fullmatch(r"[\d_.]+[A-Z]{3}", m.group()):
                hint = "put a space between the amount and the currency, e.g. 10000 CNY"
            raise _fail(pos, f"'{_shown_number(m.group())}' is not a number", hint)
        if kind == "string":
            token, pos = _read_string(text, pos)
            tokens.append(token)
            continue
        word = m.group()
        if kind == "op" and word in _MISTAKES:
            raise _fail(pos, f"'{word}' is not an operator here", _MISTAKES[word])
        if kind == "name" and word in KEYWORDS:
            kind = "keyword"
        tokens.append(Token(kind, word, pos, m.end()))
        pos = m.end()
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


def _describe_char(ch: str) -> tuple[bool, str]:
    """Whether a character is invisible, and how a message names it: the character itself (unless invisible),
    its code and its Unicode name, e.g. U+0430 CYRILLIC SMALL LETTER A, a look-alike of the Latin a."""
    code = f"U+{ord(ch):04X}"
    name = unicodedata.name(ch, "")
    if unicodedata.category(ch)[0] in "CZ":
        return True, f"the invisible character {code}" + (f" ({name})" if name else "")
    label = f"{code} {name}" if name else code
    return False, f"the {'letter' if ch.isalpha() else 'character'} '{ch}' ({label})"


_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


def _read_string(text: str, start: int) -> tuple[Token, int]:
    quote = text[start]
    pos = start + 1
    out: list[str] = []
    while pos < len(text):
        ch = text[pos]
        if ch == quote:
            value = "".join(out)
            if len(value) > MAX_TEXT_CHARS:
                raise _fail(start, f"this text is longer than {MAX_TEXT_CHARS} characters",
                            "use a list file in lists/ for long values", P.TOO_LARGE)
            return Token("string", value, start, pos + 1), pos + 1
        if ch == "\\":
            nxt = text[pos + 1] if pos + 1 < len(text) else ""
            if nxt not in _ESCAPES:
                raise _fail(pos, f"unknown escape '\\{nxt}' in text", "write \\\\ for a backslash")
            out.append(_ESCAPES[nxt])
            pos += 2
            continue
        if ch == "\n":
            break
        out.append(ch)
        pos += 1
    raise _fail(start, "this text is not closed", f"end it with {quote} on the same line")


def _quoted_list(tokens: list[Token]) -> str:
    """The list that starts with `tokens` with its words in quotes (['A', 'B']), when it holds only words, text
    and numbers; else an example of one quoted word."""
    values: list[str] = []
    for tok in tokens:
        if tok.kind == "name" and "." not in tok.text:
            values.append(f"'{tok.text}'")
        elif tok.kind == "string":
            values.append(f"'{tok.text}'" if "'" not in tok.text else f'"{tok.text}"')
        elif tok.kind == "number":
            values.append(tok.text)
        elif tok.kind == "op" and tok.text == "]":
            return "the values in quotes: [" + ", ".join(values) + "]"
        elif not (tok.kind == "op" and tok.text == ","):
            break
    word = next(tok.text for tok in tokens if tok.kind == "name")
    return f"each text value in quotes, e.g. '{word}'"


class _Parser:
    def __init__(self, text: str, tokens: list[Token], currency: str) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.currency = currency

    # -- token helpers ------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.tok
        return tok.kind == kind and (text is None or tok.text == text)

    def expect_op(self, text: str, what: str) -> Token:
        if not self.at("op", text):
            raise self.unexpected(f"expected {what}")
        return self.next()

    def unexpected(self, expected: str, hint: str = "") -> ExprSyntaxError:
        tok = self.tok
        if tok.kind == "end":
            return _fail(tok.start, f"the condition ends too early: {expected}",
                         hint or "complete the condition or remove the dangling operator")
        if hint:
            return _fail(tok.start, f"unexpected {_describe(tok)}: {expected}", hint)
        hint = "a value is missing before it, or it is one operator too many"
        slip = hint_for_unexpected(self.tokens, self.i, self.text, self.currency)
        if slip is not None:
            hint = slip
        elif tok.kind == "name" and tok.text in _KEYWORD_CASE:
            hint = f"write '{_KEYWORD_CASE[tok.text]}' in lower case"
        elif tok.kind in ("name", "string", "number"):
            hint = "join two conditions with 'and' or 'or'"
        elif tok.text == ")":
            hint = "remove this ')' or add the '(' it closes"
        elif tok.text in ("]", ","):
            hint = "lists are written after 'in', e.g. transaction.type in ['LOGIN', 'PAYMENT']"
        return _fail(tok.start, f"unexpected {_describe(tok)}: {expected}", hint)

    def nest(self, offset: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _fail(offset, f"the condition is nested more than {MAX_NESTING} levels deep",
                        "split it into several simpler rules", P.TOO_LARGE)

    # -- grammar ---------------------------------------------------------------------------------------
    def parse(self) -> Expr:
        expr = self.or_()
        if not self.at("end"):
            raise self.unexpected("expected 'and', 'or' or the end of the condition")
        return expr

    def or_(self) -> Expr:
        return self._bool_chain("or", self.and_)

    def and_(self) -> Expr:
        return self._bool_chain("and", self.not_)

    def _bool_chain(self, op: str, operand: Callable[[], Expr]) -> Expr:
        first = operand()
        operands = [first]
        while self.at("keyword", op):
            self.next()
            operands.append(operand())
        if len(operands) == 1:
            return first
        return BoolOp(op, tuple(operands), Span(first.span.start, operands[-1].span.end))

    def not_(self) -> Expr:
        if self.at("keyword", "not"):
            start = self.next().start
            self.nest(start)
            operand = self.not_()
            self.depth -= 1
            return Not(operand, Span(start, operand.span.end))
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.sum_()
        tok = self.tok
        if tok.kind == "op" and tok.text in COMPARE_OPS:
            self.next()
            right = self.sum_()
            if self.tok.kind == "op" and self.tok.text in COMPARE_OPS:
                raise _fail(self.tok.start, "comparisons cannot be chained",
                            "write two comparisons joined with 'and', e.g. x >= 18 and x <= 65")
            return Compare(tok.text, left, right, Span(left.span.start, right.span.end))
        negated = False
        if self.at("keyword", "not") and self.tokens[self.i + 1].kind == "keyword" \
                and self.tokens[self.i + 1].text == "in":
            self.next()
            negated = True
        if self.at("keyword", "in"):
            self.next()
            return self.membership(left, negated)
        if negated:
            raise self.unexpected("expected 'in' after 'not'")
        return left

    def membership(self, subject: Expr, negated: bool) -> Expr:
        if self.at("name") and self.tok.text.startswith("lists."):
            tok = self.next()
            name = tok.text[len("lists."):]
            if "." in name:
                raise _fail(tok.start, f"'{tok.text}' is not a list name",
                            "write lists.NAME for the file lists/NAME.txt")
            ref = ListRef(name, Span(tok.start, tok.end))
            return Member(negated, subject, None, ref, Span(subject.span.start, tok.end))
        if not self.at("op", "["):
            raise self.unexpected("expected a list such as ['A', 'B'] or lists.NAME after 'in'")
        self.next()
        opened = self.i
        items: list[Literal] = []
        while not self.at("op", "]"):
            items.append(self.list_item(opened))
            if len(items) > MAX_LIST_ITEMS:
                raise _fail(items[-1].span.start, f"an inline list holds at most {MAX_LIST_ITEMS} values",
                            "put long lists in a file under lists/ and write 'in lists.NAME'", P.TOO_LARGE)
            if self.at("op", ","):
                self.next()
            elif not self.at("op", "]"):
                raise self.unexpected("expected ',' or ']' in the list",
                                      "separate the values with ',' and end the list with ']'")
        end = self.next().end
        return Member(negated, subject, tuple(items), None, Span(subject.span.start, end))

    def list_item(self, opened: int) -> Literal:
        """One value of the list whose first token is tokens[opened]."""
        start = self.tok.start
        item = self.unary()
        if isinstance(item, FieldRef) and "." not in item.name:  # most likely text written without its quotes
            raise _fail(start, f"{item.name} is not a value: text is written in quotes",
                        f"write {_quoted_list(self.tokens[opened:])}")
        if not isinstance(item, Literal):
            raise _fail(start, "a list may only hold fixed values such as 'A', 3 or 100 CNY",
                        "compare fields one by one with == and join them with 'or'")
        return item

    def sum_(self) -> Expr:
        left = self.term()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.next().text
            right = self.term()
            left = Arith(op, left, right, Span(left.span.start, right.span.end))
        return left

    def term(self) -> Expr:
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            op = self.next().text
            right = self.unary()
            left = Arith(op, left, right, Span(left.span.start, right.span.end))
        return left

    def unary(self) -> Expr:
        if self.at("op", "-"):
            start = self.next().start
            self.nest(start)
            operand = self.unary()
            self.depth -= 1
            span = Span(start, operand.span.end)
            if isinstance(operand, Literal) and operand.type in (FieldType.INT, FieldType.DECIMAL, FieldType.MONEY) \
                    and not isinstance(operand.value, bool | str):
                return Literal(-operand.value, operand.type, span)
            return Neg(operand, span)
        return self.primary()

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "number":
            self.next()
            return self.number(tok)
        if tok.kind == "string":
            self.next()
            return Literal(tok.text, FieldType.STR, Span(tok.start, tok.end))
        if tok.kind == "keyword" and tok.text in ("true", "false"):
            self.next()
            return Literal(tok.text == "true", FieldType.BOOL, Span(tok.start, tok.end))
        if tok.kind == "name":
            self.next()
            if tok.text.startswith("lists."):
                raise _fail(tok.start, f"the list '{tok.text}' can only be used after 'in'",
                            f"write e.g. transaction.counterparty_id in {tok.text}")
            if tok.text in _KEYWORD_CASE:
                raise _fail(tok.start, f"'{tok.text}' is not a field",
                            f"write '{_KEYWORD_CASE[tok.text]}' in lower case")
            return FieldRef(tok.text, Span(tok.start, tok.end))
        if tok.kind == "op" and tok.text == "(":
            self.next()
            self.nest(tok.start)
            inner = self.or_()
            self.depth -= 1
            if not self.at("op", ")"):
                raise self.unexpected(f"expected ')' to close the '(' at column {P.line_col(self.text, tok.start)[1]}")
            self.next()
            return inner
        raise self.unexpected("expected a field, a value or '('")

    def number(self, tok: Token) -> Literal:
        digits = tok.text
        if "__" in digits or digits.endswith("_") or "_." in digits or "._" in digits:
            raise _fail(tok.start, f"'{_shown_number(digits)}' is not a number",
                        "use single underscores between digits, e.g. 1_000")
        try:
            value = Decimal(digits.replace("_", ""))
        except InvalidOperation:  # pragma: no cover - the token pattern admits only digits
            raise _fail(tok.start, f"'{_shown_number(digits)}' is not a number",
                        "write digits, e.g. 1000 or 0.5") from None
        if self.at("name") and re.fullmatch(r"[A-Z]{3}", self.tok.text) and self.tok.text not in _KEYWORD_CASE:
            cur = self.next()
            span = Span(tok.start, cur.end)
            if cur.text != self.currency:
                raise _fail(cur.start, f"amounts in this bundle are in {self.currency}, not {cur.text}",
                            f"write the amount in {self.currency}, e.g. 10000 {self.currency}", P.BAD_LITERAL)
            fen = value * 100
            if fen != fen.to_integral_value():
                raise _fail(tok.start, f"{_shown_number(digits)} {cur.text} has more than 2 decimal places",
                            "amounts are counted in fen: at most 2 decimal places, e.g. 99.95 CNY", P.BAD_LITERAL)
            if abs(fen) >= INT_LIMIT:
                raise _fail(tok.start, "this amount is too large", "amounts must stay below 10 trillion CNY",
                            P.BAD_LITERAL)
            return Literal(int(fen), FieldType.MONEY, span)
        span = Span(tok.start, tok.end)
        if "." not in digits:
            if value >= INT_LIMIT:
                raise _fail(tok.start, "this number is too large", "numbers must stay below 10^15", P.BAD_LITERAL)
            return Literal(int(value), FieldType.INT, span)
        if decimal_places(value) > DECIMAL_PLACES:
            raise _fail(tok.start, f"{_shown_number(digits)} has more than {DECIMAL_PLACES} decimal places",
                        f"round it to at most {DECIMAL_PLACES} decimal places", P.BAD_LITERAL)
        if value >= DECIMAL_LIMIT:
            raise _fail(tok.start, "this decimal number is too large",
                        "decimal numbers (rates, ratios) must stay below 1,000,000,000", P.BAD_LITERAL)
        return Literal(value, FieldType.DECIMAL, span)


_SHOWN_DIGITS = 40  # a number longer than this is quoted by its start and end, so a problem's first line stays short


def _shown_number(digits: str) -> str:
    """A number as a message quotes it: whole, or when long, its start and end and how long it is."""
    if len(digits) <= _SHOWN_DIGITS:
        return digits
    fraction = digits.partition(".")[2]
    size = f"{len(fraction)} decimal places" if len(fraction) > _SHOWN_DIGITS // 2 else f"{len(digits)} characters"
    return f"{digits[:16]}...{digits[-4:]} ({size})"


def _describe(tok: Token) -> str:
    if tok.kind == "string":
        return f"text '{tok.text}'"
    if tok.kind == "keyword":
        return f"'{tok.text}'"
    if tok.kind == "name":
        return f"name '{tok.text}'"
    return f"'{tok.text}'"


def parse_expression(text: str, currency: str = "CNY") -> Expr | ExprIssue:
    """Parse an expression, returning its tree or the first syntax problem (with its offset)."""
    if len(text) > MAX_EXPRESSION_CHARS:
        return ExprIssue(P.TOO_LARGE, 0, f"this condition is longer than {MAX_EXPRESSION_CHARS} characters",
                         "split it into several rules, or move long value lists to a file under lists/")
    if not text.strip():
        return ExprIssue(P.EXPR_SYNTAX, 0, "the condition is empty", "write a condition, e.g. applicant.age < 18")
    try:
        expr = _Parser(text, tokenize(text), currency).parse()
    except ExprSyntaxError as err:
        return err.issue
    too_long = _first_step_too_many(expr)
    if too_long is not None:
        return ExprIssue(P.TOO_LARGE, _operator_offset(text, too_long),
                         f"this calculation has more than {MAX_CALCULATION_STEPS} operations (+ - * /) in a row",
                         "use fewer terms (add up fixed numbers yourself: 600 + 1 + 1 is 602), "
                         "or split this condition into several rules")
    return expr


def _first_step_too_many(expr: Expr) -> Arith | None:
    """The first operation, reading left to right, that has more than MAX_CALCULATION_STEPS operations
    (itself included) on some path below it; None when there is none. Iterative: the tree may be deep."""
    steps: dict[int, int] = {}  # id(node) -> most operations on a path from it down to a leaf
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, visited = stack.pop()
        kids = children(node)
        if not visited:
            stack.append((node, True))
            stack.extend((kid, False) for kid in reversed(kids))
            continue
        count = max((steps[id(kid)] for kid in kids), default=0)
        if isinstance(node, Arith):
            count += 1
            if count > MAX_CALCULATION_STEPS:
                return node
        steps[id(node)] = count
    return None


def _operator_offset(text: str, node: Arith) -> int:
    """Where the operator of `left op right` is written (between the operands, past any ')')."""
    found = text.find(node.op, node.left.span.end, node.right.span.start)
    return found if found >= 0 else node.span.start
