"""Reading rule-test files and `rules explain` inputs (YAML or JSON) with the line of every value.

A file becomes PyYAML nodes first (as the rule files do, so a syntax error is reported the same way), then each
case is built from its nodes by `build`, which records where every value came from and refuses, with the value's
path, what no case can hold: tags, numbers with absurdly many digits, deep nesting, a key given twice.

    problems: list[RuleProblem] = []
    root = read_yaml(Path("rules/tests/fraud.yaml"), "rules/tests/fraud.yaml", problems)
    case = build(node)        # Located(data, lines), or CaseRefused naming the value
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import CollectionEndEvent, CollectionStartEvent, MappingStartEvent, NodeEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from service.engine import problems as P
from service.engine.amount_commas import amount_cut_at_comma
from service.engine.files import (
    MAX_TEST_FILE_BYTES,
    MAX_TESTS_BYTES,
    TESTS_FIX,
    UTF16_FIX,
    UTF16_SAID,
    EntryKind,
    not_a_file,
    read_entry,
    saved_as_utf16,
    tests_too_large,
)
from service.engine.problems import ProblemCode, RuleProblem, line_col, problem
from service.engine.yamlsrc import SourceFile, compose

MAX_DEPTH = 12  # a case needs four levels (case, drawdown, channel, value)
MAX_NUMBER_CHARS = 30  # far more digits than any value a case can take
# The cases of all the test files of a bundle together. The runner decides about 800 a second, and the server runs
# them before it serves an edit: this keeps them to seconds. Counted from the parser's events before a file's cases are
# built, so that a file of 262,000 empty cases (`cases: [{}, {}, ...]`, 1 MiB) is refused in a fraction of a second.
MAX_TEST_CASES = 10_000
# libyaml's parser, where PyYAML has it, counts the cases of a file some 20 times faster than the file is read
_EVENT_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FieldPath = tuple[str | int, ...]  # ("history", 0, "minutes_ago"): keys, and list positions from 0

_TAG = "tag:yaml.org,2002:"
_CONSTRUCTOR = SafeConstructor()
# Numbers are read as the rule files read them (engine/yamlsrc.py): in decimal, from the text as written. PyYAML
# follows YAML 1.1, which reads 017 as octal (15), 0x1F as hex (31) and 10:20:30 in base 60 (37230): an id or an
# IP address written so would silently become another value.
_DECIMAL_INT = re.compile(r"[-+]?\d[\d_]*")
NON_DECIMAL_NUMBER = re.compile(r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)")


class WrittenInt(int):
    """A whole number written other than plainly (a leading zero, a '_' or a '+', as in 01234567): its value in
    decimal, and its text as written, which a field that takes text (an id) keeps."""

    written: str

    def __new__(cls, value: int, written: str) -> WrittenInt:
        number = super().__new__(cls, value)
        number.written = written
        return number


@dataclass(frozen=True)
class CaseIssue:
    """One thing wrong with a case: which value (its path in the case), what is wrong, and how to fix it."""

    path: FieldPath
    message: str
    hint: str = ""
    code: ProblemCode = P.INVALID_VALUE
    line: int | None = None  # where the value is, when known without the case's line table


class CaseRefused(Exception):
    """A case cannot be run as written; `issues` names every value that is wrong."""

    def __init__(self, issues: list[CaseIssue]) -> None:
        super().__init__("; ".join(f"{field_label(i.path)}: {i.message}" for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class Located:
    """Plain data (dict, list, str, int, float, bool, None) and the 1-based line of each value by its path."""

    data: object
    lines: dict[FieldPath, int]


def line_of(lines: dict[FieldPath, int], path: FieldPath) -> int | None:
    """The line of the value at `path`, or of the nearest value that holds it (a missing key: its mapping)."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def field_label(path: FieldPath) -> str:
    """A path as a compliance officer reads it: `drawdown.channel.country`, `history event 2, minutes_ago`."""
    text, after_item = "", False
    for part in path:
        if isinstance(part, int):
            text += f"{' ' if text else ''}{'event' if text.endswith('history') else 'item'} {part + 1}"
            after_item = True
        else:
            text = f"{text}, {part}" if after_item else f"{text}.{part}" if text else part
            after_item = False
    return text


@dataclass
class CaseBudget:
    """What the test files of a bundle may still hold, charged as each file is read (MAX_TESTS_BYTES and
    MAX_TEST_CASES in all); `spent` once a file went over, which is then not read, nor are the files after it."""

    folder: str  # tests/ as the user names it
    files: int = 0  # read so far
    bytes_read: int = 0
    cases: int = 0
    spent: bool = False

    def charge(self, shown: str, data: bytes, text: str, problems: list[RuleProblem]) -> bool:
        """Whether the file (its bytes, and the cases of its text) still fits; when not, a problem says so."""
        self.files += 1
        self.bytes_read += len(data)
        if self.bytes_read > MAX_TESTS_BYTES:  # they grew since their sizes were judged, or were never judged
            problems.append(tests_too_large(self.folder, self.files, self.bytes_read))
            self.spent = True
            return False
        counted, over_at = count_cases(text, MAX_TEST_CASES - self.cases)
        self.cases += counted
        if over_at is not None:
            problems.append(problem(P.TOO_LARGE, shown, f"with this case the test files hold more than "
                                    f"{MAX_TEST_CASES:,} cases; the service accepts at most {MAX_TEST_CASES:,} in "
                                    "all: the cases of this file and of the files after it were not run",
                                    line=over_at, hint=TESTS_FIX))
            self.spent = True
            return False
        return True


def count_cases(text: str, room: int) -> tuple[int, int | None]:
    """The cases under the top-level `cases:` of a YAML text, counted from its parse events without building them:
    how many (at most `room`), and the line of the first case beyond `room` (None when they fit). A text the parser
    refuses is counted up to where it fails: reading it says what is wrong."""
    counted = 0
    # the open collections: whether each is the cases' list, and for a mapping whether its next node is a key
    open_ones: list[tuple[bool, list[bool]]] = []
    cases_next = False  # the root mapping's key just read is `cases`
    loader = _EVENT_LOADER(text)
    try:
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, CollectionEndEvent):
                open_ones.pop()
                continue
            if not isinstance(event, NodeEvent):
                continue
            is_key = False
            if open_ones:
                in_cases, key_next = open_ones[-1]
                if key_next:  # a mapping: keys and values alternate
                    is_key = key_next[0]
                    key_next[0] = not key_next[0]
                if in_cases:
                    if counted == room:
                        return counted, event.start_mark.line + 1 if event.start_mark else 1
                    counted += 1
            is_cases = cases_next and len(open_ones) == 1 and not is_key
            cases_next = len(open_ones) == 1 and is_key and isinstance(event, ScalarEvent) and event.value == "cases"
            if isinstance(event, CollectionStartEvent):
                open_ones.append((is_cases, [True] if isinstance(event, MappingStartEvent) else []))
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    return counted, None


def read_yaml(path: Path, shown: str, problems: list[RuleProblem], within: Path | None = None,
              budget: CaseBudget | None = None) -> Node | None:
    """The file's root node, or None with a problem (R001, R002, R501) saying in plain words what is wrong; a test
    file of a bundle is read only if it is in the bundle's folder (`within`), and only if it fits what is left of
    the `budget` of all the test files."""
    # never hangs on a device or a pipe, never reads without bound
    kind, data = read_entry(path, MAX_TEST_FILE_BYTES, within)
    if kind is not EntryKind.FILE:
        problems.append(problem(P.MISSING_FILE, shown, f"cannot be read: {not_a_file(kind)}",
                                hint="give an ordinary file: check its name and where it is"))
        return None
    if len(data) > MAX_TEST_FILE_BYTES:
        problems.append(problem(P.TOO_LARGE, shown, f"the file is larger than {MAX_TEST_FILE_BYTES // 1024} KiB",
                                hint="split the cases into several files"))
        return None
    if saved_as_utf16(data):
        problems.append(problem(P.YAML_SYNTAX, shown, UTF16_SAID, line=1, col=1, hint=UTF16_FIX))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        col = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        problems.append(problem(P.YAML_SYNTAX, shown, "the file is not UTF-8 text: this byte is not a character",
                                line=line, col=col, hint="save the file as UTF-8 text"))
        return None
    text = text.removeprefix("\ufeff")
    control = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if control is not None:
        line, col = line_col(text, control.start())
        problems.append(problem(P.YAML_SYNTAX, shown,
                                f"the file holds a control character (U+{ord(control.group()):04X}) that YAML does "
                                "not allow", line=line, col=col, hint="remove it: the file must be plain text"))
        return None
    if budget is not None and not budget.charge(shown, data, text, problems):
        return None
    found: list[RuleProblem] = []
    root = compose(SourceFile(shown, shown, data, text), found)
    problems += [_for_cases(p) for p in found]
    return root


def _for_cases(found: RuleProblem) -> RuleProblem:
    """A problem of a rule file, worded for a test case or an explain input."""
    message, hint = found.message.replace(" in rule files", ""), found.hint
    if found.code == P.TOO_LARGE.code:
        hint = "a case needs only a few levels of nesting; check the brackets"
    return replace(found, message=message, hint=hint)


def build(node: Node, path: FieldPath = ()) -> Located:
    """The data of a node and the line of each of its values. Raises CaseRefused (naming the value) for a tag, a
    number with more than MAX_NUMBER_CHARS characters, nesting deeper than MAX_DEPTH, or a key given twice."""
    lines: dict[FieldPath, int] = {}
    return Located(_build(node, path, lines), lines)


def _build(node: Node, path: FieldPath, lines: dict[FieldPath, int]) -> object:
    lines[path] = node.start_mark.line + 1
    if len(path) > MAX_DEPTH:
        raise _refused(node, path[:2], "is nested too deeply", "a case needs only a few levels; check the brackets")
    if isinstance(node, MappingNode):
        _plain_tag(node, path, _TAG + "map")
        mapping: dict[str, object] = {}
        previous: tuple[str, Node] | None = None
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _refused(key_node, path, "a key must be a plain name, not a list or mapping",
                               "write 'name: value'")
            if node.flow_style and previous is not None:
                _refuse_an_amount_cut_at_its_comma(previous, key_node, value_node, path)
            previous = (key_node.value, value_node)
            key = key_node.value
            if key in mapping:
                raise _refused(key_node, (*path, key), "is given twice", "keep one of them: only one value can count")
            mapping[key] = _build(value_node, (*path, key), lines)
        return mapping
    if isinstance(node, SequenceNode):
        _plain_tag(node, path, _TAG + "seq")
        return [_build(item, (*path, index), lines) for index, item in enumerate(node.value)]
    assert isinstance(node, ScalarNode)
    return _scalar(node, path)


def _refuse_an_amount_cut_at_its_comma(previous: tuple[str, Node], key_node: ScalarNode, value_node: Node,
                                       path: FieldPath) -> None:
    """In `{annual_income: 300000,00 CNY}` the comma ends the entry: YAML reads annual_income: 300000 and a key
    '00 CNY' with no value, which would be refused as an unknown field, with a fix for the wrong amount."""
    name, number = previous
    cut = amount_cut_at_comma(number, key_node, value_node)
    if cut is not None:
        if cut.thousands:
            said, hint = "", f"write the amount in quotes: '{cut.written}'"
        else:  # a decimal comma, as Excel and Word write amounts in many locales
            said = "; it has a comma that is not a thousands separator"
            hint = f"write the decimal point as '.': {cut.with_decimal_point}"
        raise _refused(key_node, (*path, name), f"'{cut.written}' is cut at its comma: inside {{ }} a comma ends the "
                       f"entry{said}", hint)


def _scalar(node: ScalarNode, path: FieldPath) -> object:
    tag = node.tag
    if tag in (_TAG + "str", _TAG + "timestamp"):  # a date is kept as written: no case field is a date
        return str(node.value)
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return _CONSTRUCTOR.construct_yaml_bool(node)
    if tag in (_TAG + "int", _TAG + "float"):
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _refused(node, path, f"the number has {len(node.value)} characters, more than any value a case takes",
                           "write a number within the field's range, as docs/rules.md (Rule tests) gives it")
        if tag == _TAG + "int" and _DECIMAL_INT.fullmatch(node.value):
            value = int(node.value.replace("_", ""))
            return value if str(value) == node.value else WrittenInt(value, node.value)
        if NON_DECIMAL_NUMBER.fullmatch(node.value):
            return str(node.value)  # as written: a field that takes a number says it is not one
        try:
            if tag == _TAG + "int":
                return _CONSTRUCTOR.construct_yaml_int(node)
            return _CONSTRUCTOR.construct_yaml_float(node)
        except ValueError:  # an explicit !!int or !!float on text that is not a number
            raise _refused(node, path, f"'{node.value}' is not a number",
                           "write the number without a '!!' tag") from None
    raise _refused(node, path, f"the tag {_tag_shown(tag)} is not supported", "write the value without a '!' tag")


def _plain_tag(node: Node, path: FieldPath, expected: str) -> None:
    if node.tag != expected:
        raise _refused(node, path, f"the tag {_tag_shown(node.tag)} is not supported",
                       "write the value without a '!' tag")


def _tag_shown(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _refused(node: Node, path: FieldPath, message: str, hint: str) -> CaseRefused:
    return CaseRefused([CaseIssue(path, message, hint, P.WRONG_SHAPE, node.start_mark.line + 1)])
