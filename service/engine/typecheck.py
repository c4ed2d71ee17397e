"""Type checking of expressions against the field catalogue of one rule set.

Kinds of values: whole numbers (INT) and decimals (DECIMAL) mix freely as numbers; money (MONEY, in CNY)
only mixes with money, except that it may be multiplied or divided by a number; text (STR) and yes/no
(BOOL) values are only compared for equality.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from service.engine import oracle
from service.engine import problems as P
from service.engine.catalogue import ATTRIBUTES_PREFIX, FIELDS, Carried, FieldType, TextForm
from service.engine.nodes import (
    ORDERING_OPS,
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
    field_refs,
    render,
)
from service.engine.parser import decimal_places
from service.engine.problems import ExprIssue, escape_character, escaped

NUMBERS = (FieldType.INT, FieldType.DECIMAL)

_KIND_WORDS = {
    FieldType.INT: "a whole number",
    FieldType.DECIMAL: "a decimal number (a rate or ratio)",
    FieldType.MONEY: "an amount of money",
    FieldType.BOOL: "a yes/no value",
    FieldType.STR: "text",
}


@dataclass(frozen=True)
class FieldSpec:
    """A field as the checker and compiler see it."""

    name: str
    type: FieldType
    allowed_values: tuple[str, ...] = ()  # closed vocabulary of a STR field; empty = any text
    bounds: Carried | None = None  # what the field holds under this bundle, where that is the bundle's (a score)

    @property
    def carries(self) -> Carried:
        """What a request can carry in the field, from the catalogue (anything of its type for other fields)."""
        if self.bounds is not None:
            return self.bounds
        known = FIELDS.get(self.name)
        return known.carries if known is not None and known.type is self.type else _ANYTHING

    @property
    def text_form(self) -> TextForm | None:
        return self.carries.text if self.type is FieldType.STR else None

    @property
    def carried_range(self) -> tuple[int | None, int | None]:
        """The smallest and largest whole number (fen for money) a request can carry; None where unbounded."""
        if self.type not in (FieldType.INT, FieldType.MONEY):
            return None, None
        return self.carries.low, self.carries.high


_ANYTHING = Carried()
SHOWN_TEXT = 40  # a longer text value is shortened in messages
# list entries named in one message, each with its line and fix: a handful of slips is named whole, while a list in
# the wrong form throughout (a spreadsheet export) does not make a message of thousands of entries
MAX_SHOWN_ENTRIES = 5


@dataclass(frozen=True)
class Scope:
    """What one rule set may reference."""

    label: str  # e.g. "fraud rules", for messages
    fields: Mapping[str, FieldSpec]
    lists: Mapping[str, frozenset[str]] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)  # field -> where it can be used instead
    attributes: tuple[str, ...] = ()  # declared attribute names, for suggestions
    lists_unlisted: bool = False  # lists/ could not be looked into (reported): a list not in `lists` may exist
    list_texts: Mapping[str, str] = field(default_factory=dict)  # each list file's text, by list name: for its lines


def describe(t: FieldType) -> str:
    """How a kind of value is named in messages."""
    return _KIND_WORDS[t]


def suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """The closest candidate to a misspelt word, if one is close enough."""
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


# yes and no as people say them, which YAML 1.1 also reads as true and false: what a yes/no field compared
# with one of them is most likely meant to be.
_SPOKEN_YES_NO = {"yes": True, "y": True, "on": True, "no": False, "n": False, "off": False}


class _Checker:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.issues: list[ExprIssue] = []

    def issue(self, code: P.ProblemCode, offset: int, message: str, hint: str = "") -> None:
        self.issues.append(ExprIssue(code, offset, message, hint))

    def check(self, node: Expr) -> FieldType | None:
        if isinstance(node, Literal):
            return node.type
        if isinstance(node, FieldRef):
            return self.field(node)
        if isinstance(node, ListRef):  # pragma: no cover - the parser only admits lists after 'in'
            self.issue(P.EXPR_SYNTAX, node.span.start, "a list can only be used after 'in'",
                       "write e.g. transaction.counterparty_id in lists.NAME")
            return None
        if isinstance(node, Not):
            self.condition(node.operand, "'not' must be followed by a yes/no condition")
            return FieldType.BOOL
        if isinstance(node, BoolOp):
            for operand in node.operands:
                self.condition(operand, f"each side of '{node.op}' must be a yes/no condition")
            return FieldType.BOOL
        if isinstance(node, Compare):
            self.compare(node)
            return FieldType.BOOL
        if isinstance(node, Member):
            self.member(node)
            return FieldType.BOOL
        if isinstance(node, Arith):
            return self.arith(node)
        return self.negative(node)

    def condition(self, node: Expr, message: str) -> None:
        t = self.check(node)
        if t is not None and t is not FieldType.BOOL:
            self.issue(P.NOT_A_CONDITION, node.span.start, f"{message}, but this is {describe(t)}",
                       "compare it with a value, e.g. applicant.age >= 18")

    def field(self, node: FieldRef) -> FieldType | None:
        spec = self.scope.fields.get(node.name)
        if spec is not None:
            return spec.type
        if node.name in self.scope.unavailable:
            self.issue(P.FIELD_NOT_AVAILABLE, node.span.start,
                       f"field '{node.name}' is not known when {self.scope.label} run",
                       f"{self.scope.unavailable[node.name]}")
            return None
        if node.name.startswith(ATTRIBUTES_PREFIX):
            attr = node.name[len(ATTRIBUTES_PREFIX):]
            close = suggest(attr, self.scope.attributes)
            extra = f" (did you mean '{ATTRIBUTES_PREFIX}{close}'?)" if close else ""
            self.issue(P.UNKNOWN_FIELD, node.span.start, f"unknown applicant attribute '{attr}'{extra}",
                       "declare it in bundle.yaml under 'attributes' with its type and default")
            return None
        valued = next((name for name, spec in self.scope.fields.items() if node.name in spec.allowed_values), None)
        if valued is not None and "." not in node.name:
            self.issue(P.UNKNOWN_FIELD, node.span.start, f"{node.name} is not a field but one of the values of "
                       f"{valued}: text is written in quotes",
                       f"compare the field with it in quotes: {valued} == '{node.name}'")
            return None
        names = list(self.scope.fields)
        close = suggest(node.name, names) or suggest(node.name, list(self.scope.unavailable))
        other_window = close is not None and window_differs(node.name, close)
        if close is None:
            extra = ""
        elif other_window:  # not "did you mean": taken as offered, the rule would watch another stretch of time
            typed, covered = window_words(node.name), window_words(close)
            extra = f" (no field covers the last {typed}: '{close}' covers the last {covered})"
        else:
            extra = f" (did you mean '{close}'?)"
        hint = "use a field name from the field catalogue in docs/rules.md"
        if other_window:
            hint += "; a field for another time window must first be added to the service (ask the service team)"
        self.issue(P.UNKNOWN_FIELD, node.span.start, f"unknown field '{node.name}'{extra}", hint)
        return None

    def compare(self, node: Compare) -> None:
        if self.bare_word(node.right, node.left, node.op) or self.bare_word(node.left, node.right, node.op):
            return
        lt, rt = self.check(node.left), self.check(node.right)
        if lt is None or rt is None:
            return
        if not self.compatible(lt, rt, node.right.span.start, node.left, node.right):
            return
        if lt in (FieldType.STR, FieldType.BOOL) and node.op in ORDERING_OPS:
            self.issue(P.TYPE_MISMATCH, node.span.start,
                       f"{describe(lt)} cannot be compared with '{node.op}'",
                       "use == or != (or 'in [...]') for text and yes/no values")
            return
        self.vocabulary(node.left, node.right)
        self.vocabulary(node.right, node.left)

    def bare_word(self, word: Expr, other: Expr, op: str) -> bool:
        """Whether `word` is a name that is no field, compared with a text or yes/no field: most likely a value
        written without its quotes (DRAWDOWN, CN) or a yes/no written as in speech (yes, no). Reported, with
        the form to write, instead of 'unknown field'."""
        if not isinstance(word, FieldRef) or "." in word.name or not isinstance(other, FieldRef):
            return False
        spec = self.scope.fields.get(other.name)
        if spec is None or word.name in self.scope.fields:
            return False
        if spec.type is FieldType.STR:
            said = f"is one of the values of {other.name}" if word.name in spec.allowed_values else \
                f"is not a field; text compared with {other.name}"
            self.issue(P.UNKNOWN_FIELD, word.span.start, f"{word.name} {said}: text is written in quotes",
                       f"write '{word.name}'")
            return True
        meant = _SPOKEN_YES_NO.get(word.name.lower())
        if spec.type is FieldType.BOOL and meant is not None and op in ("==", "!="):
            holds = meant == (op == "==")
            self.issue(P.UNKNOWN_FIELD, word.span.start, f"'{word.name}' is not a value: a yes/no field is compared "
                       "with true or false", f"write {'' if holds else 'not '}{other.name} (or {other.name} {op} "
                       f"{'true' if meant else 'false'})")
            return True
        return False

    def compatible(self, lt: FieldType, rt: FieldType, offset: int, left: Expr, right: Expr) -> bool:
        if lt == rt or (lt in NUMBERS and rt in NUMBERS):
            return True
        message = f"cannot compare {describe(lt)} with {describe(rt)}"
        hint = "compare values of the same kind"
        if FieldType.MONEY in (lt, rt):
            other, other_node = (rt, right) if lt is FieldType.MONEY else (lt, left)
            if other in NUMBERS and isinstance(other_node, Literal):
                number = other_node.value
                as_written = isinstance(number, int) or (isinstance(number, Decimal) and decimal_places(number) <= 2)
                hint = f"write {number} CNY: an amount is written with its currency" if as_written else \
                    "write the amount with its currency, e.g. 10000 CNY"
            elif other is FieldType.DECIMAL:
                hint = "a rate is not an amount: compare it with a rate, or multiply it by an amount first"
            elif other is FieldType.INT:
                hint = "compare money with money, e.g. 10000 CNY"
        elif FieldType.STR in (lt, rt):
            text_node = right if rt is FieldType.STR else left
            if isinstance(text_node, Literal) and isinstance(text_node.value, str) \
                    and text_node.value.replace(".", "", 1).isdigit():
                hint = "remove the quotes around the number"
            else:
                hint = "text can only be compared with text, written in quotes, e.g. 'DRAWDOWN'"
        elif FieldType.BOOL in (lt, rt):
            hint = "a yes/no field is used on its own (x) or negated (not x), or compared with true/false"
        self.issue(P.TYPE_MISMATCH, offset, message, hint)
        return False

    def vocabulary(self, field_side: Expr, value_side: Expr) -> None:
        if not isinstance(field_side, FieldRef) or not isinstance(value_side, Literal):
            return
        spec = self.scope.fields.get(field_side.name)
        if spec is None or not isinstance(value_side.value, str):
            return
        form = spec.text_form
        if form is not None and not form.takes(value_side.value):
            self.issue(P.UNKNOWN_VALUE, value_side.span.start,
                       f"{shown_text(value_side.value)} is never {form.noun}: {form.rule}",
                       form_hint(form, value_side.value))
            return
        if not spec.allowed_values or value_side.value in spec.allowed_values:
            return
        close = suggest(value_side.value, spec.allowed_values)
        extra = f" (did you mean '{close}'?)" if close else ""
        self.issue(P.UNKNOWN_VALUE, value_side.span.start,
                   f"'{field_side.name}' is never {shown_text(value_side.value)}{extra}",
                   "its values are " + ", ".join(f"'{v}'" for v in spec.allowed_values))

    def member(self, node: Member) -> None:
        st = self.check(node.subject)
        if node.list_ref is not None:
            name = node.list_ref.name
            if name not in self.scope.lists and not self.scope.lists_unlisted:
                close = suggest(name, list(self.scope.lists))
                extra = f" (did you mean 'lists.{close}'?)" if close else ""
                self.issue(P.UNKNOWN_LIST, node.list_ref.span.start, f"unknown list 'lists.{name}'{extra}",
                           f"create the file lists/{name}.txt with one value per line, or fix the name")
            if st is not None and st is not FieldType.STR:
                self.issue(P.TYPE_MISMATCH, node.subject.span.start,
                           f"lists hold text, but this is {describe(st)}", "use a text field before 'in lists.'")
            elif st is FieldType.STR and isinstance(node.subject, FieldRef) and name in self.scope.lists:
                self.list_entries(node.subject, node.list_ref)
                spec = self.scope.fields.get(node.subject.name)
                if spec is not None and spec.text_form is not None:
                    self.list_slips(node.subject, node.list_ref, spec.text_form)
            return
        for item in node.items or ():
            if st is not None and self.compatible(st, item.type, item.span.start, node.subject, item):
                self.vocabulary(node.subject, item)

    def list_entries(self, subject: FieldRef, ref: ListRef) -> None:
        """A list entry the field can never take never matches: name the first few, in the order of the file, each
        with its line and the value to write there when the field has a form of it."""
        spec = self.scope.fields.get(subject.name)
        form = spec.text_form if spec is not None else None
        if form is None:
            return
        from service.engine.loader import MAX_LIST_ENTRY, list_entry_lines  # here: the loader imports this module

        # an entry too long for any list is reported with the list (R401), not again with each rule using it
        never = [e for e in self.scope.lists[ref.name] if not form.takes(e) and len(e) <= MAX_LIST_ENTRY]
        if not never:
            return
        path = f"lists/{ref.name}.txt"
        lines = list_entry_lines(self.scope.list_texts.get(ref.name, ""), never)
        never.sort(key=lambda e: (lines.get(e, 0), e))
        shown = never[:MAX_SHOWN_ENTRIES]
        named = ", ".join(shown_text(e) for e in shown)
        more = len(never) - len(shown)
        entries = "an entry" if len(never) == 1 else f"{len(never)} entries"

        def at(entry: str, said: str) -> str:
            return f"{said} at {path}:{lines[entry]}" if entry in lines else said

        meant = {e: written_as(form, e) for e in shown}
        fixes = []
        if writes := [at(e, f"'{m}'") for e, m in meant.items() if m is not None]:
            fixes.append("write " + and_list(writes))
        if others := [at(e, shown_text(e)) for e, m in meant.items() if m is None]:
            fixes.append("correct or remove " + and_list(others))
        if more:
            fixes.append(f"and correct or remove the other {more} in {path}")
        self.issue(P.UNKNOWN_VALUE, ref.span.start,
                   f"{path} has {entries} that '{subject.name}' can never be ({named}"
                   f"{f' and {more} more' if more else ''}): {form.rule}", "; ".join(fixes))

    def list_slips(self, subject: FieldRef, ref: ListRef, form: TextForm) -> None:
        """W008 for list entries a request can carry, but most likely pasted wrongly (in quotes, two ids on one line,
        a note after '#' with no space before it, a full-width dash): each matches only a value written with the
        same slip, so the counterparty meant is not on the list. A warning, not an error: such an id is valid."""
        from service.engine.loader import list_entry_lines  # here: the loader imports this module

        slips = {e: found for e in self.scope.lists[ref.name] if form.takes(e) and (found := entry_slips(form, e))}
        if not slips:
            return
        path = f"lists/{ref.name}.txt"
        lines = list_entry_lines(self.scope.list_texts.get(ref.name, ""), slips)
        ordered = sorted(slips, key=lambda e: (lines.get(e, 0), e))
        shown = ordered[:MAX_SHOWN_ENTRIES]
        more = len(ordered) - len(shown)
        named = "; ".join(f"{shown_text(e)} ({', '.join(said for said, _ in slips[e])})" for e in shown)
        entries = "an entry that looks" if len(ordered) == 1 else f"{len(ordered)} entries that look"
        fixes = [f"{f'at {path}:{lines[e]}' if e in lines else f'for {shown_text(e)}'} "
                 + " and ".join(fix for _, fix in slips[e]) for e in shown]
        if more:
            fixes.append(f"and look at the other {more} in {path}")
        self.issue(P.LIST_ENTRY_SLIP, ref.span.start,
                   f"{path} has {entries} pasted wrongly ({named}{f'; and {more} more' if more else ''}): "
                   f"'{subject.name}' matches an entry only when it is exactly the same text", "; ".join(fixes))

    def arith(self, node: Arith) -> FieldType | None:
        lt, rt = self.check(node.left), self.check(node.right)
        if lt is None or rt is None:
            return None
        result = arith_type(node.op, lt, rt)
        if result is None:
            hint = "amounts of money add to money; money can be multiplied or divided by a number"
            if FieldType.STR in (lt, rt) or FieldType.BOOL in (lt, rt):
                hint = "only numbers and amounts of money can be calculated with"
            self.issue(P.TYPE_MISMATCH, node.right.span.start,
                       f"cannot use '{node.op}' between {describe(lt)} and {describe(rt)}", hint)
        elif node.op == "/" and always_zero(node.right):
            divisor = "0" if isinstance(node.right, Literal) else "a value that is always 0"
            self.issue(P.BAD_LITERAL, node.right.span.start,
                       f"this divides by {divisor}, so the calculation never has a value",
                       "divide by something other than 0, or remove the division")
            return None
        return result

    def negative(self, node: Neg) -> FieldType | None:
        t = self.check(node.operand)
        if t is None or t in NUMBERS or t is FieldType.MONEY:
            return t
        self.issue(P.TYPE_MISMATCH, node.span.start, f"cannot put a minus sign before {describe(t)}",
                   "a minus sign only goes before a number or an amount of money")
        return None


# The time window at the end of a feature's name: _last_24h, _last_hour, _last_10m (minutes), _last_7d...
_WINDOW = re.compile(r"_last_(?:(\d+)_?)?(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w)$")
_WINDOW_UNITS = {"m": ("minute", 1), "h": ("hour", 60), "d": ("day", 24 * 60), "w": ("week", 7 * 24 * 60)}


def _window(name: str) -> tuple[str, int, str] | None:
    """A field name without its time window, the window in minutes and in words as the name writes it ('10
    minutes', '24 hours', 'hour' for _last_hour and _last_1h); None for a name without one."""
    found = _WINDOW.search(name)
    if found is None:
        return None
    count = int(found.group(1) or 1)
    unit, minutes = _WINDOW_UNITS[found.group(2)[0]]
    return name[:found.start()], count * minutes, unit if count == 1 else f"{count} {unit}s"


def window_differs(typed: str, suggested: str) -> bool:
    """Whether `suggested` is `typed` but for its time window (features.credential_changed_last_24h for ..._10m)."""
    a, b = _window(typed), _window(suggested)
    return a is not None and b is not None and a[0] == b[0] and a[1] != b[1]


def window_words(name: str) -> str:
    """The time window of a name window_differs looked at, in words: '10 minutes', '24 hours', 'hour'."""
    found = _window(name)
    assert found is not None
    return found[2]


def shown_text(text: str) -> str:
    """A text value as messages quote it: shortened when long, and with a character that cannot be shown (a line
    break, a tab...) written as its escape, `'Shang\\thai\\n'`, so that the problem stays on one line."""
    if len(text) <= SHOWN_TEXT:
        return f"'{escaped(text)}'"
    return f"'{escaped(text[:SHOWN_TEXT])}...' ({len(text)} characters)"


def form_hint(form: TextForm, text: str) -> str:
    """How to write a value the field can take instead of `text`.

    A code (a country, a purpose: a form with a pattern) is offered in that form: trimmed, in capitals, with _
    between words. Free text (a city, a merchant category) and ids are the caller's own words, which a rewrite in
    capitals would change: the hint says what no request carries, and offers the value without it only when
    something is left. An empty value is never offered: it means "none", not what the rule was written for."""
    if not text:
        return "requests always carry one: compare with a value they can carry, or remove the comparison"
    if form.canonical is not None:  # an address written another way: the form requests carry it in
        meant = form.canonical(text.strip())
        if meant:
            return f"write '{meant}', the form requests carry it in"
        slip = form.slip(text.strip()) if form.slip is not None else None
        if slip is None:
            return form.hint
        said, meant = slip
        if meant is None:
            return f"{shown_text(text.strip())} {said}, and is no address without them either: {form.hint}"
        return f"{shown_text(text.strip())} {said}: write '{meant}' if that is the address meant"
    if form.pattern is None:
        return _free_text_hint(form, text)
    meant = written_as(form, text)
    return f"write '{meant}'" if meant is not None else form.hint


def written_as(form: TextForm, text: str) -> str | None:
    """The value a request carries that `text` most likely means, when the field has a form of it: an address in
    the form requests carry it in (or without its leading zeros), a code trimmed, in capitals, with _ between words.
    None for free text and ids (the caller's own words) and for a text with no such form."""
    if not text:
        return None
    if form.canonical is not None:
        meant = form.canonical(text.strip())
        slip = form.slip(text.strip()) if meant is None and form.slip is not None else None
        return slip[1] if slip is not None else meant
    if form.pattern is None:
        return None
    for candidate in (text.strip(), text.strip().upper(), "_".join(text.upper().split())):
        if candidate and candidate != text and form.takes(candidate):
            return candidate
    return None


# Quote marks a word processor or a spreadsheet leaves around a pasted value: straight, curly, low-9 and angle
_QUOTES = "'\"`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u300c\u300d\u300e\u300f"
_JOINERS = re.compile(r"\s*[,;\uff0c\uff1b]\s*")  # between two ids on one line: a comma or semicolon (also full-width)
# a note written after '#' with no blank before it (the list file only takes ' #' as a note): '#' then a blank, or
# nothing, or words with a blank among them
_NOTE = re.compile(r"#(\s|$|\S*\s)")
_FULL_WIDTH = range(0xFF01, 0xFF5F)  # the full-width forms of ! to ~, which an input method types for them


def is_dash(ch: str) -> bool:
    """A dash or minus sign other than '-': Word's en dash for ' - ', the em dash, the minus sign, a full-width dash."""
    return ch != "-" and (unicodedata.category(ch) == "Pd" or ch == "\u2212")


def _plain(ch: str) -> str:
    """The plain character a dash or a full-width character most likely stands for (ch itself for any other)."""
    if is_dash(ch):
        return "-"
    return chr(ord(ch) - 0xFEE0) if ord(ch) in _FULL_WIDTH else ch


def entry_slips(form: TextForm, entry: str) -> list[tuple[str, str]]:
    """The slips of pasting a list entry shows, each as (what it is, how to fix it), for a field of free text or
    ids (a field with a form of its values refuses such entries: R105). Two ids on one line, and a dash or a
    full-width character, are slips in an id only: a city may hold a comma, a merchant category Chinese punctuation.
    An id is the form that is trimmed and has no pattern (catalogue._id)."""
    if form.pattern is not None or form.canonical is not None:
        return []
    found: list[tuple[str, str]] = []
    value = entry
    if _NOTE.search(entry):
        found.append(("a note after '#' with no space before the '#', so the note is part of the entry",
                      "put a space before '#', or move the note to a line of its own"))
        value = entry[:entry.index("#")].strip()
    if value and (value[0] in _QUOTES or value[-1] in _QUOTES):
        both = len(value) > 1 and value[0] in _QUOTES and value[-1] in _QUOTES
        found.append(("in quotes", "remove the quotes") if both else
                     ("with a quote mark at one end", "remove the quote mark"))
    if not form.trimmed:
        return found
    odd = next((ch for ch in value if _plain(ch) != ch), None)
    if odd is not None:
        code = f"U+{ord(odd):04X} {unicodedata.name(odd, '')}".rstrip()
        said = "a dash" if is_dash(odd) else "a full-width character"
        plain = "".join(_plain(ch) for ch in value).strip(_QUOTES + " ")
        found.append((f"'{odd}' ({code}) is {said}, not the plain '{_plain(odd)}'", f"write '{plain}'"))
    joiner = _JOINERS.search(value)
    ids = [part.strip(_QUOTES + " ") for part in _JOINERS.split(value) if part.strip(_QUOTES + " ")]
    if joiner is not None and len(ids) > 1:
        found.append((f"{len(ids)} ids on one line, joined by '{joiner.group().strip()}'",
                      "put one id per line: " + and_list([f"'{i}'" for i in ids])))
    elif joiner is not None:
        found.append((f"a stray '{joiner.group().strip()}'", f"remove the '{joiner.group().strip()}'"))
    return found


def and_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


MAX_NAMED_CHARACTERS = 3  # characters no request carries named in one hint
_CHARACTER_NAMES = {"\n": "line break", "\t": "tab", "\r": "carriage return"}


def _free_text_hint(form: TextForm, text: str) -> str:
    fixes = []
    unshowable = list(dict.fromkeys(ch for ch in text if not ch.isprintable()))
    cleaned = "".join(ch for ch in text if ch.isprintable())
    if unshowable:
        named = [_character(ch) for ch in unshowable[:MAX_NAMED_CHARACTERS]]
        if len(unshowable) > MAX_NAMED_CHARACTERS:
            named.append(f"{len(unshowable) - MAX_NAMED_CHARACTERS} other characters that cannot be shown")
        fixes.append(f"remove {and_list(named)}, which requests never carry")
    if form.trimmed and cleaned != cleaned.strip():
        fixes.append("remove the spaces at either end")
        cleaned = cleaned.strip()
    if len(cleaned) > form.max_length:
        return "; ".join([*fixes, f"shorten it to at most {form.max_length} characters"])
    if not fixes:  # pragma: no cover - a free text within its length and printable is one requests carry
        return form.hint
    if not cleaned.strip():
        return "; ".join(fixes) + f"; that leaves nothing: write the {form.noun.split(' ', 1)[-1]} you mean"
    return "; ".join(fixes) + f": write '{cleaned}'"  # whole: a value requests carry, so shown as it is


def _character(ch: str) -> str:
    """`the tab (\\t)`, `the line separator (\\u2028)`, `the control character (\\x1b)`."""
    name = _CHARACTER_NAMES.get(ch) or unicodedata.name(ch, "control character").lower()
    return f"the {name} ({escape_character(ch)})"


def always_zero(expr: Expr) -> bool:
    """Whether a (well-typed) number or amount is 0 whatever the facts, or has no value at all: a calculation
    without fields that comes to 0, `x - x`, `0 * x`, `0 / x`, `-0`. Only what is plain to see is claimed."""
    if isinstance(expr, Neg):
        return always_zero(expr.operand)
    if isinstance(expr, Arith):
        if not field_refs(expr):
            try:
                value = oracle.evaluate(expr, {}, {})
            except oracle.Incalculable:
                return False  # itself a division by zero, reported where it is written
            return value == 0
        if expr.op == "*":
            return always_zero(expr.left) or always_zero(expr.right)
        if expr.op == "/":
            return always_zero(expr.left)
        return expr.op == "-" and render(expr.left) == render(expr.right)
    return isinstance(expr, Literal) and not isinstance(expr.value, bool | str) and expr.value == 0


def arith_type(op: str, lt: FieldType, rt: FieldType) -> FieldType | None:
    """The kind of `lt op rt`, or None when the combination makes no sense."""
    money = FieldType.MONEY
    if lt in NUMBERS and rt in NUMBERS:
        if op == "/" or FieldType.DECIMAL in (lt, rt):
            return FieldType.DECIMAL
        return FieldType.INT
    if op in ("+", "-"):
        return money if lt is money and rt is money else None
    if op == "*":
        return money if (lt is money and rt in NUMBERS) or (rt is money and lt in NUMBERS) else None
    # division
    if lt is money and rt in NUMBERS:
        return money
    if lt is money and rt is money:
        return FieldType.DECIMAL
    return None


def check_expression(expr: Expr, scope: Scope) -> tuple[FieldType | None, list[ExprIssue]]:
    """The kind of value the expression produces (None when unknown because of errors) and its problems."""
    checker = _Checker(scope)
    result = checker.check(expr)
    # a warning (W008) leaves the expression whole: only an error makes its kind unknown
    return (result if not any(issue.code.severity is P.ProblemSeverity.ERROR for issue in checker.issues)
            else None), checker.issues
