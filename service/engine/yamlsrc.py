"""Reading YAML rule files with positions: every value keeps its line and column for error messages.

Files are composed into PyYAML nodes (never constructed into Python objects), so a value is read from its
source text exactly as written: `version: 1.10` stays "1.10", `daily_rate: 0.0002` becomes an exact Decimal.
Anchors and aliases are refused: they make files hard to review and can blow up in size.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from service.engine import problems as P
from service.engine.amount_commas import amount_cut_at_comma, cut_again, without_commas_fix
from service.engine.problems import ExprIssue, RuleProblem, line_col, problem
from service.engine.typecheck import suggest
from service.engine.yaml_slips import colon_slip, quote_left_open, slip_behind

# Characters that change the direction text is shown in (embeddings, overrides, isolates).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

@dataclass(frozen=True)
class SourceFile:
    rel: str  # path inside the bundle, e.g. "lists/mule_counterparties.txt"
    display: str  # path as the user typed the bundle directory, e.g. "rules/lists/mule_counterparties.txt"
    data: bytes
    text: str


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not supported in rule files", event.start_mark)
        return super().compose_node(parent, index)  # type: ignore[arg-type]


_NO_MAPPING_HERE = "mapping values are not allowed here"  # a second ': ' on a line, or a key that lacks its ':'
_YAML_HINTS = (
    ("found character '\\t'", "indent with spaces, not tabs"),
    (_NO_MAPPING_HERE, "put text that contains ': ' in quotes"),
    ("could not find expected ':'", "every line of a mapping needs 'key: value'; check the indentation"),
    ("found unexpected end of stream", "a quote or bracket is not closed"),
    ("expected a single document", "remove the '---' separator: one document per file"),
    ("aliases", "write the values out in full"),
    ("did not find expected key", "check the indentation of this line against the lines above"),
    ("expected <block end>", "check the indentation of this line against the lines above"),
    ("found undefined alias", "write the values out in full"),
)


_OPENED = {"while parsing a flow sequence": ("[", "]"), "while parsing a flow mapping": ("{", "}")}
_QUOTED = "while scanning a quoted scalar"
_UNCLOSED = (_QUOTED, *_OPENED)  # errors named where a quote or bracket opens

# PyYAML names what it found by its token names; say them in words.
YAML_WORDS = (
    ("expected the node content", "expected a value"),
    ("'<stream end>'", "the end of the file"),
    ("'<document start>'", "'---'"),
    ("'<document end>'", "'...'"),
    ("'<block end>'", "the end of an indented block"),
    ("<block end>", "the end of an indented block"),
    ("'<block mapping start>'", "the start of an indented mapping"),
    ("'<block sequence start>'", "the start of an indented list"),
    ("'<alias>'", "an alias (*name)"),
    ("'<anchor>'", "an anchor (&name)"),
    ("'<tag>'", "a tag (!name)"),
    ("'<scalar>'", "a value"),
    ("'<directive>'", "a directive (%...)"),
    ("chomping or indentation indicators", "'|' or '>' to be followed by '-', '+' or a digit"),
    ("found duplicate YAML directive", "found a second '%YAML' line"),
)
# A \U escape may name a number beyond the last character (PyYAML then fails without saying where).
_LONG_ESCAPE = re.compile(r"\\U([0-9A-Fa-f]{8})")


def in_words(text: str) -> str:
    """PyYAML's wording of a problem, with its token names said in words."""
    for token, words in YAML_WORDS:
        text = text.replace(token, words)
    return text


def compose(src: SourceFile, problems: list[RuleProblem]) -> Node | None:
    """The file's root node, or None (with an R001 problem) when it is not valid YAML."""
    try:
        loader = _NoAliasLoader(src.text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = err.problem or err.context or "invalid YAML"
        hint = next((h for needle, h in _YAML_HINTS if needle in str(err)), "fix the YAML syntax at this point")
        # a quote left open is read on to the next quote, however far, and fails there, in a bracket or not
        slip = quote_left_open(src.text, mark.line) if mark and err.context != _QUOTED else None
        if slip is None and mark and err.context not in _UNCLOSED:
            slip = slip_behind(src.text, mark.line)
        if slip is None and mark and err.problem == _NO_MAPPING_HERE:
            slip = colon_slip(src.text, mark.line, mark.column)
        if slip is not None:  # PyYAML names where it gave up, often the line after the slip, with another cause
            problems.append(problem(P.YAML_SYNTAX, src.display, slip.message, line=slip.line + 1, col=slip.col + 1,
                                    rule_id=_rule_around(src.text, slip.line), hint=slip.hint))
            return None
        if err.context == _QUOTED and err.context_mark is not None:
            mark, what = err.context_mark, "the quoted text that starts here is never closed"
            hint = "end it with the same quote character it starts with"
        elif err.context in _OPENED and err.context_mark is not None:
            opening, closing = _OPENED[err.context]
            hint = f"close the '{opening}' opened at line {err.context_mark.line + 1} with '{closing}'"
        problems.append(problem(P.YAML_SYNTAX, src.display, f"not valid YAML: {in_words(what)}",
                                line=mark.line + 1 if mark else None, col=mark.column + 1 if mark else None,
                                rule_id=_rule_around(src.text, mark.line) if mark else None, hint=hint))
        return None
    except (OverflowError, ValueError):  # a \U escape beyond the last character
        found = next((m for m in _LONG_ESCAPE.finditer(src.text) if int(m.group(1), 16) > 0x10FFFF), None)
        line, col = line_col(src.text, found.start()) if found else (None, None)
        problems.append(problem(P.YAML_SYNTAX, src.display, "not valid YAML: an escape \\U names a character "
                                "that does not exist", line=line, col=col,
                                hint="write the character itself, or an escape of at most \\U0010FFFF"))
        return None
    except yaml.reader.ReaderError as err:  # a character YAML forbids anywhere, e.g. NUL
        line, col = line_col(src.text, err.position)
        char = f"U+{err.character:04X}" if isinstance(err.character, int) else f"U+{ord(err.character):04X}"
        problems.append(problem(P.YAML_SYNTAX, src.display, f"not valid YAML: the file contains the invisible "
                                f"character {char}, which is not allowed", line=line, col=col,
                                hint=f"remove the invisible character {char} at line {line}, column {col} (if your "
                                "editor does not show it, delete and retype the text around it)"))
        return None
    except RecursionError:
        problems.append(problem(P.TOO_LARGE, src.display, "the file is nested too deeply to read",
                                hint="rule files need only a few levels of indentation; check the brackets"))
        return None
    except yaml.YAMLError as err:  # pragma: no cover - every PyYAML parse error is marked
        problems.append(problem(P.YAML_SYNTAX, src.display, f"not valid YAML: {err}",
                                hint="fix the YAML syntax (see docs/rules.md for the format)"))
        return None
    if node is None:
        problems.append(problem(P.WRONG_SHAPE, src.display, "the file is empty", line=1, col=1,
                                hint="see docs/rules.md for what this file holds"))
        return None
    half = _first_half_character(node)
    if half is not None:  # from an escape such as \ud800: not text, and no output can encode it
        problems.append(problem(P.YAML_SYNTAX, src.display, "not valid YAML: this text holds an escape (\\ud800 to "
                                "\\udfff) that is only half of a character", line=half.start_mark.line + 1,
                                col=half.start_mark.column + 1,
                                hint="write the character itself, or its whole escape, e.g. \\U0001F600"))
        return None
    return node


# `- id: X`, or `- id X` where the ':' is missing (the slip that may have made the file unreadable)
_RULE_START = re.compile(r"\s*-\s+id(?::\s*|\s+)['\"]?([A-Za-z0-9][A-Za-z0-9_/.-]*)")


def _rule_around(text: str, line: int) -> str | None:
    """The id of the rule whose lines hold 0-based `line` of a file YAML cannot read: the nearest `- id: X` at or
    above it, read from the text itself (nothing else can be); None above the first rule."""
    lines = text.split("\n")
    for number in range(min(line, len(lines) - 1), -1, -1):
        found = _RULE_START.match(lines[number])
        if found:
            return found.group(1)
        if lines[number][:1].isalpha():  # a top-level key (`rules:`, `version:`): above every rule
            return None
    return None


def _is_blank(node: Node | None) -> bool:
    """A key with nothing after it (`then:` alone on its line), not even `null` or ''."""
    return isinstance(node, ScalarNode) and node.style is None and node.value == ""


def _first_half_character(root: Node) -> ScalarNode | None:
    """The first value holding a lone surrogate, if any (iteratively: a file may nest deeply)."""
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ScalarNode):
            if any("\ud800" <= char <= "\udfff" for char in node.value):
                return node
        elif isinstance(node, MappingNode):
            stack.extend(item for pair in reversed(node.value) for item in reversed(pair))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
    return None


# What to write instead of a list or mapping, for the values where a hint can be precise.
_SCALAR_HINTS = {
    "the condition": "write one condition; join its parts with 'and' or 'or', e.g. "
                     "when: applicant.age < 18 or applicant.age > 65",
    "the cap amount": "write one amount or calculation, e.g. amount: applicant.annual_income / 3",
    "the value": "write one field or calculation, e.g. value: applicant.max_days_overdue_24m",
}

_KEY_BEFORE_BRACKET = re.compile(r"([a-z_][a-z0-9_]*) +[{\[]")  # a key and its value in brackets, with no ':'
_INT_RE = re.compile(r"[-+]?\d[\d_]*")
_DECIMAL_RE = re.compile(r"[-+]?\d[\d_]*(\.\d+)?")


class FileReader:
    """Typed access to the nodes of one file; every shape problem is recorded, never raised."""

    def __init__(self, src: SourceFile, problems: list[RuleProblem]) -> None:
        self.src = src
        self.problems = problems
        self._told: set[Node] = set()  # values whose problem is reported already: read as invalid, said once

    # -- reporting -------------------------------------------------------------------------------------
    def where(self, node: Node | None) -> tuple[int | None, int | None]:
        if node is None:
            return None, None
        return node.start_mark.line + 1, node.start_mark.column + 1

    def report(self, code: P.ProblemCode, node: Node | None, message: str, hint: str = "",
               rule_id: str | None = None) -> None:
        line, col = self.where(node)
        self.problems.append(problem(code, self.src.display, message, line=line, col=col, rule_id=rule_id,
                                     hint=hint))

    def report_expression(self, node: ScalarNode, issue: ExprIssue, rule_id: str | None) -> None:
        """An expression problem, located in the file and shown with a caret under its column."""
        line, col = expression_position(self.src.text, node, issue.offset)
        eline, ecol = line_col(node.value, issue.offset)
        self.problems.append(RuleProblem(
            issue.code.code, issue.code.severity, self.src.display, line, col, rule_id, issue.message,
            issue.hint, node.value, eline, ecol))

    # -- shapes ----------------------------------------------------------------------------------------
    def mapping(self, node: Node | None, what: str, required: Sequence[str], optional: Sequence[str] = (),
                rule_id: str | None = None, refused: Mapping[str, tuple[str, str]] | None = None,
                ) -> dict[str, Node] | None:
        """The entries of a mapping with the allowed keys; missing and unknown keys are reported, those `refused`
        (keys people write that cannot be used here) with their own message and fix."""
        if node in self._told:
            return None
        if not isinstance(node, MappingNode):
            hint = "write its 'key: value' lines under it, indented two spaces further right" if _is_blank(node) else \
                "see docs/rules.md for the format"
            self.report(P.WRONG_SHAPE, node, f"{what} must be a mapping of 'key: value' lines", hint, rule_id)
            return None
        allowed = list(required) + list(optional)
        out: dict[str, Node] = {}
        blank_above: str | None = None  # a key with nothing after it, whose lines may be the unknown keys below it
        rests = self._amounts_cut_at_commas(node, rule_id) if node.flow_style else set()
        for key_node, value_node in node.value:
            if key_node in rests:
                continue
            if not isinstance(key_node, ScalarNode):
                self.report(P.WRONG_SHAPE, key_node, f"a key in {what} must be a plain name",
                            "write key: value, with a plain word as the key", rule_id)
                continue
            key = key_node.value
            if key in out:
                self.report(P.INVALID_VALUE, key_node, f"'{key}' appears twice in {what}",
                            "keep one of them: only one value can count", rule_id)
                continue
            if refused and key in refused:
                self.report(P.UNKNOWN_KEY, key_node, *refused[key], rule_id)
                continue
            colonless = _KEY_BEFORE_BRACKET.match(key)
            if colonless and colonless.group(1) in allowed and colonless.group(1) not in out:
                # `then {outcome: REVIEW}`: YAML reads 'then {outcome' as the key and 'REVIEW}' as its value
                word = colonless.group(1)
                line = self.src.text.split("\n")[key_node.start_mark.line][key_node.start_mark.column:].rstrip()
                self.report(P.UNKNOWN_KEY, key_node, f"'{word}' has no ':' after it",
                            f"put ':' after '{word}': {word}:{line[len(word):]}", rule_id)
                out[word] = value_node
                self._told.add(value_node)
                continue
            if key not in allowed:
                close = suggest(key, allowed)
                extra = f" (did you mean '{close}'?)" if close else ""
                hint = "allowed keys: " + ", ".join(allowed)
                if blank_above and not close:
                    hint = f"indent '{key}:' under '{blank_above}:' (two spaces further right), or use one of " \
                        f"the {hint}"
                self.report(P.UNKNOWN_KEY, key_node, f"unknown key '{key}' in {what}{extra}", hint, rule_id)
                continue
            out[key] = value_node
            blank_above = key if _is_blank(value_node) else None
        for key in required:
            if key not in out:
                self.report(P.MISSING_KEY, node, f"{what} has no '{key}'", f"add '{key}:'", rule_id)
        return out

    def _amounts_cut_at_commas(self, node: MappingNode, rule_id: str | None) -> set[Node]:
        """Report each amount of a `{ }` mapping that a comma cut (`{base_limit: 200,000 CNY}` is read as
        base_limit: 200 and a key '000 CNY'), once, as cut; the keys that hold the rest of an amount."""
        rests: set[Node] = set()
        for at, (key_node, number) in enumerate(node.value):
            if key_node in rests or not isinstance(key_node, ScalarNode):
                continue
            amount = None
            for rest_key, rest_value in node.value[at + 1:]:
                longer = cut_again(amount, rest_key, rest_value) if amount else \
                    amount_cut_at_comma(number, rest_key, rest_value)
                if longer is None:
                    break
                amount = longer
                rests.add(rest_key)
            if amount is None:
                continue
            said, hint = "", without_commas_fix(amount.written)
            if hint is None:  # a decimal comma, as Excel and Word write amounts in many locales
                said = "; it has a comma that is not a thousands separator"
                hint = f"write the decimal point as '.': {amount.with_decimal_point}"
            self.report(P.WRONG_SHAPE, number, f"{key_node.value}: '{amount.written}' is cut at its comma: inside "
                        f"{{ }} a comma ends the entry{said}", hint, rule_id)
            self._told.add(number)
        return rests

    @staticmethod
    def peek(node: Node | None, key: str) -> str | None:
        """The raw text of a scalar entry of a mapping, without checking anything (to label problems)."""
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value == key and isinstance(value_node, ScalarNode):
                    return str(value_node.value) or None
        return None

    def sequence(self, node: Node | None, what: str, rule_id: str | None = None) -> list[Node] | None:
        if node in self._told:
            return None
        if not isinstance(node, SequenceNode):
            self.report(P.WRONG_SHAPE, node, f"{what} must be a list ('- ' items)",
                        "write each item on its own line, starting with '- ' (see docs/rules.md)", rule_id)
            return None
        return list(node.value)

    def scalar(self, node: Node | None, what: str, rule_id: str | None = None) -> ScalarNode | None:
        if node in self._told:
            return None
        if not isinstance(node, ScalarNode):
            shape = "a list" if isinstance(node, SequenceNode) else "a mapping"
            self.report(P.WRONG_SHAPE, node, f"{what} must be a single value, not {shape}",
                        _SCALAR_HINTS.get(what, "write one value after the colon (see docs/rules.md)"), rule_id)
            return None
        return node

    def text(self, node: Node | None, what: str, rule_id: str | None = None, max_len: int = 500) -> str | None:
        scalar = self.scalar(node, what, rule_id)
        if scalar is None:
            return None
        value = str(scalar.value).strip()
        if not value or scalar.tag == "tag:yaml.org,2002:null":
            self.report(P.INVALID_VALUE, scalar, f"{what} is empty", "write a value", rule_id)
            return None
        if len(value) > max_len:
            over = len(value) - max_len
            self.report(P.TOO_LARGE, scalar, f"{what} is {len(value):,} characters; at most {max_len:,} are allowed",
                        f"shorten it by {over:,} character{'s' if over > 1 else ''}", rule_id)
            return None
        hidden = next((c for c in value if c != "\n" and (c in _BIDI_CONTROLS or unicodedata.category(c) == "Cc")),
                      None)
        if hidden is not None:
            # Such texts reach customers and auditors (reasons' messages, descriptions): a control character or a
            # change of writing direction would show something else than what the file seems to say.
            self.report(P.INVALID_VALUE, scalar, f"{what} holds an invisible control character "
                        f"(U+{ord(hidden):04X}, {unicodedata.name(hidden, 'a control character')})",
                        "retype the text without it (escapes such as \\x1b or \\u202e in quotes make one)", rule_id)
            return None
        return value

    def integer(self, node: Node | None, what: str, rule_id: str | None = None,
                lo: int = -(10**9), hi: int = 10**9) -> int | None:
        scalar = self.scalar(node, what, rule_id)
        if scalar is None:
            return None
        raw = scalar.value.strip()
        if scalar.style is not None or not _INT_RE.fullmatch(raw):
            self.report(P.WRONG_SHAPE, scalar, f"{what} must be a whole number, not '{raw}'",
                        "write digits only, without quotes or a decimal point, e.g. 30", rule_id)
            return None
        exact = Decimal(raw.replace("_", ""))  # not int(): Python refuses to read one of over 4,300 digits
        if not lo <= exact <= hi:
            digits = len(raw.lstrip("+-").replace("_", ""))
            shown = raw if digits <= 30 else f"a number of {digits:,} digits"
            self.report(P.INVALID_VALUE, scalar, f"{what} must be between {lo} and {hi}, not {shown}",
                        f"write a whole number from {lo} to {hi}", rule_id)
            return None
        return int(exact)

    def decimal(self, node: Node | None, what: str, rule_id: str | None = None) -> Decimal | None:
        scalar = self.scalar(node, what, rule_id)
        if scalar is None:
            return None
        raw = scalar.value.strip()
        if not _DECIMAL_RE.fullmatch(raw):
            self.report(P.WRONG_SHAPE, scalar, f"{what} must be a decimal number such as 0.0002, not '{raw}'",
                        "write the number in full, without an exponent or percent sign", rule_id)
            return None
        try:
            return Decimal(raw.replace("_", ""))
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            self.report(P.WRONG_SHAPE, scalar, f"{what} is not a number", "write a number such as 0.0002", rule_id)
            return None

    def boolean(self, node: Node | None, what: str, rule_id: str | None = None) -> bool | None:
        scalar = self.scalar(node, what, rule_id)
        if scalar is None:
            return None
        raw = str(scalar.value).strip()
        if raw not in ("true", "false"):
            self.report(P.WRONG_SHAPE, scalar, f"{what} must be true or false, not '{raw}'",
                        "write true or false, in lower case and without quotes", rule_id)
            return None
        return bool(raw == "true")


def expression_position(text: str, node: ScalarNode, offset: int) -> tuple[int, int]:
    """1-based file (line, column) of character `offset` of a scalar's value.

    The value is aligned with its source text, which differs from it by quoting, escapes, folding and
    indentation; when alignment is impossible the scalar's own start is returned."""
    start, end = node.start_mark.index, node.end_mark.index
    raw = text[start:end]
    value = node.value
    j = 0
    if node.style in ("|", ">"):
        j = raw.find("\n") + 1
    elif node.style in ("'", '"'):
        j = 1
    try:
        for i in range(min(offset, len(value))):
            ch = value[i]
            if ch.isspace():
                if raw[j].isspace():
                    j += 1
                    if i + 1 < len(value) and not value[i + 1].isspace():
                        while j < len(raw) and raw[j].isspace():
                            j += 1
                continue
            while raw[j] != ch:
                j += 1
            j += 1
        while offset < len(value) and not value[offset].isspace() and j < len(raw) and raw[j] != value[offset]:
            j += 1
    except IndexError:
        return node.start_mark.line + 1, node.start_mark.column + 1
    line, col = line_col(text, start + j)
    return line, col
