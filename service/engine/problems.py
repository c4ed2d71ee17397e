"""Problems found in a rule bundle: a stable code, a location, a message and a suggested fix.

Every problem is written for the compliance officer who edits the rules, never for a programmer:
it names the file, line and column, the rule, what is wrong in plain words, and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProblemSeverity(StrEnum):
    ERROR = "error"  # the bundle cannot be loaded
    WARNING = "warning"  # the bundle loads; something deserves a look


@dataclass(frozen=True)
class ProblemCode:
    code: str
    severity: ProblemSeverity
    title: str  # one line for the documentation table


def _e(code: str, title: str) -> ProblemCode:
    return ProblemCode(code, ProblemSeverity.ERROR, title)


def _w(code: str, title: str) -> ProblemCode:
    return ProblemCode(code, ProblemSeverity.WARNING, title)


# The stable codes. Never renumber: compliance tooling and the documentation refer to them.
YAML_SYNTAX = _e("R001", "the file is not valid YAML, or not UTF-8 text (saved as UTF-16, say)")
MISSING_FILE = _e("R002", "a required file of the bundle is missing or unreadable")
WRONG_SHAPE = _e("R003", "a value has the wrong shape (a list where a mapping is expected, text where a number is)")
MISSING_KEY = _e("R004", "a required key is missing")
UNKNOWN_KEY = _e("R005", "a key is not part of the file format (often a typo)")
INVALID_VALUE = _e("R006", "a value is not allowed (empty version, unsupported currency, badly formed id...)")
DUPLICATE_ID = _e("R010", "the same id is used twice in the bundle")
UNKNOWN_OUTCOME = _e("R011", "an outcome other than APPROVE, DECLINE or REVIEW")
UNKNOWN_SEVERITY = _e("R012", "a fraud severity other than NONE, LOW, MEDIUM or HIGH")
UNKNOWN_REASON = _e("R013", "a reason or flag code that bundle.yaml does not declare under `reasons`")
VERSION_UNCHANGED = _e("R014", "the rules changed but bundle.yaml's version did not (reported by the server: the "
                               "ledger records that version for other rules)")
CHANGED_WHILE_LOADING = _e("R015", "the rule files changed while the server was loading them (it keeps the rules it "
                                   "serves)")
EXPR_SYNTAX = _e("R101", "the condition or amount cannot be read (syntax error)")
UNKNOWN_FIELD = _e("R102", "a field name that is not in the field catalogue")
FIELD_NOT_AVAILABLE = _e("R103", "a field that exists but is not known when this rule set runs")
TYPE_MISMATCH = _e("R104", "values of different kinds are compared or combined (money with a number, text...)")
UNKNOWN_VALUE = _e("R105", "a text value that the field can never take (e.g. a misspelt transaction type)")
UNKNOWN_LIST = _e("R106", "a list that does not exist in lists/")
NOT_A_CONDITION = _e("R107", "a condition that is not a yes/no question")
NEVER_MATCHES = _e("R108", "a rule that can never match (contradictory bounds such as x > 5 and x < 3)")
BAD_LITERAL = _e("R109", "a number or amount that is out of range, too precise, or in another currency")
BIN_OVERLAP = _e("R201", "two bins of a scorecard characteristic overlap")
BIN_GAP = _e("R202", "the bins of a scorecard characteristic leave values without points")
BAND_ORDER = _e("R203", "score bands are not ordered best first, or leave scores without a band")
APR_ABOVE_CAP = _e("R301", "a band's daily rate gives an APR above the bundle's APR cap")
UNKNOWN_BAND = _e("R302", "a limit offer for a band the scorecard does not define")
EVERY_GRANT_DECLINED = _e("R303", "a fixed cap, or minimum_limit, that declines every GrantLimit: every limit is "
                                  "below minimum_limit")
BAD_LIST = _e("R401", "a list file has an entry that is too long or a line holding a tab")
TOO_LARGE = _e("R501", "the bundle, a file, a list, all lists together or a condition is larger than the service "
                       "accepts")
ENGINE_REFUSED = _e("R502", "the rule engine refused the compiled rules (report this to the service team)")
BAD_ATTRIBUTE = _e("R601", "an applicant attribute declaration in bundle.yaml is invalid")
CASE_FAILS = _e("R701", "a test case in tests/ does not get what it expects (the service refuses such a bundle)")
UNKNOWN_EXPECTATION = _e("R702", "a test case expects a rule, reason or flag code, or band the bundle does not have,"
                                 " or a rule its call never runs")
ALWAYS_MATCHES = _w("W001", "a rule matches every request (its condition is always true)")
UNEXPECTED_FILE = _w("W002", "a file in the bundle is not read by the service (ignored)")
UNTESTED_RULE = _w("W003", "no test case in tests/ fires this rule (reported by the rule test runner)")
VALUE_MAY_BE_MISSING = _w("W004", "a scorecard value divides by a field: where that is 0 it has no value, "
                                  "falls into no bin and scores 0 points")
TRAILING_COMMENT = _w("W005", "a condition is followed by a comment on its line: what follows ' #' is not part of it")
UNUSED_LIST = _w("W006", "a list in lists/ that no rule uses (it is read and checked, then set aside)")
CONSTANT_PART = _w("W007", "a part of a condition is true for every request, or false for every request")
LIST_ENTRY_SLIP = _w("W008", "a list entry that looks pasted wrongly (in quotes, two ids on one line, a note after '#' "
                            "with no space before it, a full-width dash): it matches only a value written the same way")
INTERNAL = _e("R999", "the checker itself failed; the bundle is refused (report this to the service team)")

ALL_CODES: tuple[ProblemCode, ...] = (
    YAML_SYNTAX, MISSING_FILE, WRONG_SHAPE, MISSING_KEY, UNKNOWN_KEY, INVALID_VALUE, DUPLICATE_ID,
    UNKNOWN_OUTCOME, UNKNOWN_SEVERITY, UNKNOWN_REASON, VERSION_UNCHANGED, CHANGED_WHILE_LOADING, EXPR_SYNTAX,
    UNKNOWN_FIELD, FIELD_NOT_AVAILABLE,
    TYPE_MISMATCH, UNKNOWN_VALUE, UNKNOWN_LIST, NOT_A_CONDITION, NEVER_MATCHES, BAD_LITERAL, BIN_OVERLAP,
    BIN_GAP, BAND_ORDER, APR_ABOVE_CAP, UNKNOWN_BAND, EVERY_GRANT_DECLINED, BAD_LIST, TOO_LARGE, ENGINE_REFUSED,
    BAD_ATTRIBUTE, CASE_FAILS,
    UNKNOWN_EXPECTATION, ALWAYS_MATCHES, UNEXPECTED_FILE, UNTESTED_RULE, VALUE_MAY_BE_MISSING, TRAILING_COMMENT,
    UNUSED_LIST, CONSTANT_PART, LIST_ENTRY_SLIP, INTERNAL,
)


@dataclass(frozen=True)
class RuleProblem:
    """One problem in a bundle. `file` is the path as the user typed the bundle directory, e.g. `rules/fraud.yaml`."""

    code: str
    severity: ProblemSeverity
    file: str
    line: int | None  # 1-based; None when the problem concerns a whole file
    col: int | None  # 1-based
    rule_id: str | None
    message: str
    hint: str = ""
    expression: str | None = None  # the condition's text, for a caret display
    expression_line: int | None = None  # 1-based line within `expression`
    expression_col: int | None = None  # 1-based column within that line

    @property
    def is_error(self) -> bool:
        return self.severity is ProblemSeverity.ERROR

    def headline(self) -> str:
        """`rules/fraud.yaml:14:9: rule FRD-003: unknown field ...` (warnings say `warning:` before the message).

        Always one line: a character that cannot be shown in it (a line break or tab in a value it quotes) is
        written as its escape (see `escaped`)."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        parts = [where]
        if self.rule_id:
            parts.append(f"rule {self.rule_id}")
        parts.append(self.message if self.is_error else f"warning: {self.message}")
        return escaped(": ".join(parts))

    def format(self) -> str:
        """The headline, then the expression with a caret under the column, then the suggested fix and code."""
        lines = [self.headline()]
        if self.expression is not None and self.expression_line is not None:
            source_lines = self.expression.split("\n")
            if 1 <= self.expression_line <= len(source_lines):
                text = source_lines[self.expression_line - 1]
                col = max(1, self.expression_col or 1)
                shown, padding = _window(text, col - 1)
                lines.append("    " + shown)
                lines.append("    " + padding + "^")
        fix = f"fix: {escaped(self.hint)} " if self.hint else ""
        lines.append(f"    {fix}[{self.code}]")
        return "\n".join(lines)


# An expression line longer than this is shown as a window of WINDOW_CHARS characters around the caret, with "..."
# where it is cut: a long condition is otherwise printed whole, with a caret line as long, for every problem in it.
LONGEST_SHOWN_LINE = 120
WINDOW_CHARS = 100
CUT = "..."


def _window(text: str, caret: int) -> tuple[str, str]:
    """The part of `text` to show, and the padding that puts a caret under its character `caret` (0-based)."""
    if len(text) <= LONGEST_SHOWN_LINE:
        return escaped(text, keep="\t"), _caret_padding(text, caret)
    start = max(0, min(caret - WINDOW_CHARS // 2, len(text) - WINDOW_CHARS))
    end = min(len(text), start + WINDOW_CHARS)
    head = CUT if start > 0 else ""
    tail = CUT if end < len(text) else ""
    return (head + escaped(text[start:end], keep="\t") + tail,
            " " * len(head) + _caret_padding(text[start:end], caret - start))


def _caret_padding(text: str, width: int) -> str:
    # keep tabs so that the caret lines up under a tab-indented expression; an escaped character is as wide as its
    # escape, and a caret past the end (a condition that ends too early) goes one place further per character
    shown = escaped(text[:width], keep="\t")
    return "".join("\t" if ch == "\t" else " " for ch in shown).ljust(len(shown) + max(0, width - len(text)))


# The escapes a condition's text itself uses for the commonest of them; any other character that cannot be shown
# is written as its code, as the report writes a character the terminal cannot show (\u2028, \x1b; docs/rules.md).
_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def escaped(text: str, keep: str = "") -> str:
    """`text` with every character that cannot be shown (a line break, a tab, any other control character, a line
    or paragraph separator such as U+2028, an invisible space: whatever str.isprintable() refuses, which is also
    what no request carries in a text field) written as its escape, `\\n`, `\\t`, or its code such as `\\u2028`;
    except the characters in `keep`. So a value quoted in a problem never breaks its line or hides what it holds."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else escape_character(ch) for ch in text)


def escape_character(ch: str) -> str:
    """How `escaped` writes one character that cannot be shown: `\\n`, `\\t`, `\\r`, else `\\x1b`, `\\u2028`..."""
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    code = ord(ch)  # as Python's "backslashreplace" writes it
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def problem(
    code: ProblemCode,
    file: str,
    message: str,
    *,
    line: int | None = None,
    col: int | None = None,
    rule_id: str | None = None,
    hint: str = "",
) -> RuleProblem:
    """A RuleProblem with the severity that belongs to its code."""
    return RuleProblem(code.code, code.severity, file, line, col, rule_id, message, hint)


@dataclass(frozen=True)
class ExprIssue:
    """A problem inside one expression, located by character offset in the expression text."""

    code: ProblemCode
    offset: int
    message: str
    hint: str = ""


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset in text."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1
