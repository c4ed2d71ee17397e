"""What the readers of the individual rule files share: declared reasons, lists, attributes, ids, scopes."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from yaml.nodes import Node, ScalarNode

from service.engine import problems as P
from service.engine.catalogue import (
    ATTRIBUTES_PREFIX,
    FIELDS,
    NAMESPACES_BY_RULESET,
    SCORE_RANGE,
    Carried,
    FieldType,
    RuleSetKind,
    fields_for,
)
from service.engine.nodes import Expr
from service.engine.oracle import FactValue
from service.engine.parser import parse_expression
from service.engine.problems import ExprIssue, RuleProblem, problem
from service.engine.typecheck import FieldSpec, Scope, check_expression, describe, is_dash, suggest
from service.engine.yamlsrc import FileReader

ID_RE = re.compile(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)*")
CODE_RE = re.compile(r"[A-Z][A-Z0-9_]*")
MAX_ID = 40


def _invalid_id(value: str) -> tuple[str, str]:
    """What is wrong with an id that is not valid, and the fix: a character that is not plain ASCII is named (Word
    types an en dash for '-', an input method a full-width letter), with the id written plainly when that is valid."""
    odd = next((c for c in value if not c.isascii()), None)
    if odd is None:
        return f"'{value}' is not a valid id", "use capitals, digits and dashes, e.g. FRD-007"
    code = f"U+{ord(odd):04X}" + (f" {unicodedata.name(odd)}" if unicodedata.name(odd, "") else "")
    if is_dash(odd):
        said = f"'{odd}' ({code}) is not a plain dash"
    elif unicodedata.category(odd)[0] in "CZ":
        said = f"it holds the invisible character {code}"
    else:
        said = f"'{odd}' ({code}) is not a plain (ASCII) character"
    plain = "".join("-" if is_dash(c) else "" if unicodedata.category(c)[0] in "CZ"
                    else unicodedata.normalize("NFKC", c) for c in value)
    fix = f"write {plain}" if ID_RE.fullmatch(plain) else "use capitals, digits and dashes, e.g. FRD-007"
    return f"'{value}' is not a valid id: {said}", fix


_KIND_LABEL = {
    RuleSetKind.SCORECARD: "scorecard",
    RuleSetKind.ELIGIBILITY: "eligibility",
    RuleSetKind.LIMITS: "limits",
    RuleSetKind.DRAWDOWN: "drawdown",
    RuleSetKind.FRAUD: "fraud",
}


@dataclass(frozen=True)
class AttributeSpec:
    """An applicant attribute declared in bundle.yaml: `applicant.attributes.<name>`."""

    name: str  # full dotted name
    type: FieldType
    default: FactValue
    allowed_values: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class _Place:
    file: str
    line: int | None
    col: int | None


@dataclass
class LoadContext:
    problems: list[RuleProblem]
    currency: str = "CNY"
    reasons: dict[str, str] = field(default_factory=dict)
    lists: dict[str, frozenset[str]] = field(default_factory=dict)
    lists_unlisted: bool = False  # lists/ could not be looked into (reported): which lists exist is not known
    list_texts: dict[str, str] = field(default_factory=dict)  # each list file's text, by list name: for its lines
    score_range: tuple[int, int] = SCORE_RANGE  # bundle.yaml's: score.value is always within it
    attributes: dict[str, AttributeSpec] = field(default_factory=dict)
    band_names: tuple[str, ...] = ()
    ids: dict[str, _Place] = field(default_factory=dict)  # id -> where it was first defined

    # -- ids and codes ---------------------------------------------------------------------------------
    def claim_id(self, reader: FileReader, node: Node | None, what: str) -> str | None:
        """A well-formed id, unique across the bundle; None (with a problem) otherwise."""
        value = reader.text(node, what, max_len=MAX_ID)
        if value is None:
            return None
        if not ID_RE.fullmatch(value):
            reader.report(P.INVALID_VALUE, node, *_invalid_id(value))
            return None
        here = _Place(reader.src.display, *reader.where(node))
        if value in self.ids:
            self._report_duplicate(reader, value, here)
            return None
        self.ids[value] = here
        return value

    def _report_duplicate(self, reader: FileReader, value: str, here: _Place) -> None:
        """R010 at the copy, naming the original: the later of the two, except that an id pasted into another file
        read before its own (FRD-001 among DRW-*) is the copy there, where no other id starts as it does."""
        copy, original = here, self.ids[value]
        prefix = value.split("-", 1)[0] + "-"
        if original.file != here.file and "-" in value and not any(
                other != value and other.startswith(prefix) and place.file == original.file
                for other, place in self.ids.items()):
            copy, original = original, here
        reader.problems.append(problem(
            P.DUPLICATE_ID, copy.file, f"the id '{value}' is already used at {original.file}:{original.line}",
            line=copy.line, col=copy.col, rule_id=value, hint="give every rule, characteristic and cap its own id"))

    def reason(self, reader: FileReader, node: Node | None, rule_id: str | None, what: str = "reason") -> str | None:
        """A reason or flag code declared under `reasons` in bundle.yaml."""
        code = reader.text(node, what, rule_id, max_len=64)
        if code is None:
            return None
        if code not in self.reasons:
            close = suggest(code, list(self.reasons))
            extra = f" (did you mean '{close}'?)" if close else ""
            reader.report(P.UNKNOWN_REASON, node, f"unknown {what} code '{code}'{extra}",
                          f"declare {code} under 'reasons' in bundle.yaml with the message to show", rule_id)
            return None
        return code

    # -- expressions -----------------------------------------------------------------------------------
    def scope(self, kind: RuleSetKind) -> Scope:
        """The fields, lists and attributes rules of this kind may reference."""
        spaces = NAMESPACES_BY_RULESET[kind]
        score = Carried(low=self.score_range[0], high=self.score_range[1], worked_out=True)
        fields = {
            name: FieldSpec(name, f.type, self.band_names if name == "score.band" else f.allowed_values,
                            score if name == "score.value" else None)
            for name, f in fields_for(kind).items()
        }
        unavailable: dict[str, str] = {}
        readable = ", ".join(f"{ns}.*" for ns in spaces)
        for name in FIELDS:
            if name not in fields:
                users = [_KIND_LABEL[k] for k, ns in NAMESPACES_BY_RULESET.items()
                         if name.split(".", 1)[0] in ns]
                unavailable[name] = f"{_KIND_LABEL[kind]} rules can read {readable}; " \
                    f"this field is only known to {' and '.join(users)} rules"
        for attr in self.attributes.values():
            if "applicant" in spaces:
                fields[attr.name] = FieldSpec(attr.name, attr.type, attr.allowed_values)
            else:
                unavailable[attr.name] = f"{_KIND_LABEL[kind]} rules can read {readable}, not applicant attributes"
        names = tuple(a.name[len(ATTRIBUTES_PREFIX):] for a in self.attributes.values())
        return Scope(f"{_KIND_LABEL[kind]} rules", fields, self.lists, unavailable, names, self.lists_unlisted,
                     self.list_texts)

    def expression(self, reader: FileReader, node: Node | None, scope: Scope, rule_id: str | None,
                   what: str, expected: tuple[FieldType, ...]) -> tuple[Expr, FieldType] | None:
        """Parse and type-check the expression in `node`; it must produce one of the `expected` kinds."""
        scalar = reader.scalar(node, what, rule_id)
        if scalar is None:
            return None
        if not scalar.value.strip():
            reader.report(P.EXPR_SYNTAX, scalar, f"{what} is empty", "write it, e.g. applicant.age < 18", rule_id)
            return None
        _warn_of_a_comment_after(reader, scalar, rule_id)
        parsed = parse_expression(scalar.value, self.currency)
        if isinstance(parsed, ExprIssue):
            reader.report_expression(scalar, parsed, rule_id)
            return None
        kind, issues = check_expression(parsed, scope)
        for issue in issues:
            reader.report_expression(scalar, issue, rule_id)
        if kind is None:
            return None
        if kind not in expected:
            code = P.NOT_A_CONDITION if expected == (FieldType.BOOL,) else P.TYPE_MISMATCH
            wanted = " or ".join(describe(t) for t in expected)
            hint = "compare it with a value, e.g. applicant.age >= 18" if code is P.NOT_A_CONDITION else \
                "see docs/rules.md for what this value must be"
            message = f"{what} must be {wanted}, but this is {describe(kind)}"
            reader.report_expression(scalar, ExprIssue(code, 0, message, hint), rule_id)
            return None
        return parsed, kind


def _warn_of_a_comment_after(reader: FileReader, scalar: ScalarNode, rule_id: str | None) -> None:
    """W005 where an unquoted condition is followed on its line by ` #`: YAML reads the rest of the line as a
    comment, so `a > 5 #and b < 3`, or a list of codes with a # in it, silently means less than it seems to."""
    if scalar.style is not None:  # quoted or a block: a # inside is part of the text
        return
    end = scalar.end_mark
    line_end = reader.src.text.find("\n", end.index)
    rest = reader.src.text[end.index : None if line_end < 0 else line_end]
    if not rest.lstrip().startswith("#"):
        return
    comment = rest.lstrip()
    shown = comment if len(comment) <= 40 else comment[:40] + "..."
    reader.problems.append(problem(
        P.TRAILING_COMMENT, reader.src.display, f"'{shown}' after the condition is a comment, not part of it",
        line=end.line + 1, col=end.column + 1 + len(rest) - len(rest.lstrip()), rule_id=rule_id,
        hint="if it belongs to the condition, put the whole condition in quotes; if it is a note, move it to a "
        "line of its own"))


def scalar_node(node: Node | None) -> ScalarNode | None:
    return node if isinstance(node, ScalarNode) else None
