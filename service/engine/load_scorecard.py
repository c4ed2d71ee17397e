"""Reading scorecard.yaml.

    base_points: 320
    bands:                       # best first; min_score inclusive; the last band starts at the score minimum
      - {band: A, min_score: 700}
      - {band: E, min_score: 350}
    characteristics:
      - id: SC-REPAY
        description: Repayment history
        value: applicant.max_days_overdue_24m     # a number or amount (a field, or a calculation)
        reason: DELINQUENCY_HISTORY               # adverse-action reason when points fall short of the best bin
        bins:                                     # in ascending order: [from, below); no gaps, no overlaps
          - {below: 1, points: 150}               # the first bin has no `from`
          - {from: 1, below: 30, points: 90}
          - {from: 30, points: 0}                 # the last bin has no `below`

Because every bin is a range of the same value, the checker proves that each value falls into exactly one
bin (no overlap, no gap), whenever it has a value (one that divides by a field has none where that is 0: W004).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from yaml.nodes import Node

from service.engine import problems as P
from service.engine.amount_commas import without_commas_fix
from service.engine.catalogue import FieldType, RuleSetKind
from service.engine.compiler import CompiledRuleSet, compile_rules
from service.engine.context import CODE_RE, LoadContext
from service.engine.model import Band, Characteristic, ScorecardSpec
from service.engine.nodes import Arith, BoolOp, Compare, Expr, Literal, Span, children, field_refs
from service.engine.parser import parse_expression
from service.engine.typecheck import NUMBERS, describe
from service.engine.yamlsrc import FileReader, SourceFile, compose

MAX_CHARACTERISTICS = 50
MAX_BINS = 50
MAX_POINTS = 1000


@dataclass(frozen=True)
class BinSpec:
    characteristic: int  # index of the characteristic
    bin_id: str  # e.g. SC-REPAY/2
    points: int
    lower: Literal | None  # from (inclusive)
    upper: Literal | None  # below (exclusive)
    file: str  # where it is written, for messages
    line: int


@dataclass(frozen=True)
class Scorecard:
    spec: ScorecardSpec
    bins: tuple[BinSpec, ...]
    compiled: CompiledRuleSet  # one engine rule per bin, in characteristic then bin order


def read_scorecard(src: SourceFile, ctx: LoadContext, score_range: tuple[int, int]) -> Scorecard | None:
    """The scorecard, compiled; None when it has errors (all reported)."""
    errors_before = sum(1 for p in ctx.problems if p.is_error)
    reader = FileReader(src, ctx.problems)
    root = compose(src, ctx.problems)
    if root is None:
        return None
    top = reader.mapping(root, "the scorecard", ("base_points", "bands", "characteristics"), ("description",))
    if top is None:
        return None
    base = reader.integer(top.get("base_points"), "base_points", lo=-10_000, hi=10_000) \
        if "base_points" in top else None
    bands = _read_bands(reader, top.get("bands"), score_range) if "bands" in top else None
    ctx.band_names = tuple(b.name for b in bands or ())
    characteristics: list[Characteristic] = []
    bins: list[BinSpec] = []
    rules: list[tuple[str, Expr]] = []
    scope = ctx.scope(RuleSetKind.SCORECARD)
    items = reader.sequence(top.get("characteristics"), "'characteristics'") if "characteristics" in top else None
    if items is not None and len(items) > MAX_CHARACTERISTICS:
        reader.report(P.TOO_LARGE, top["characteristics"], f"at most {MAX_CHARACTERISTICS} characteristics",
                      "merge or remove characteristics")
        items = None
    for item in items or ():
        char = reader.mapping(item, "a characteristic", ("id", "description", "value", "reason", "bins"),
                              rule_id=reader.peek(item, "id"))
        if char is None:
            continue
        cid = ctx.claim_id(reader, char.get("id"), "the characteristic id") if "id" in char else None
        label = cid or reader.peek(item, "id") or "(no id)"
        description = reader.text(char.get("description"), "the description", label) \
            if "description" in char else None
        reason = ctx.reason(reader, char.get("reason"), label) if "reason" in char else None
        value = ctx.expression(reader, char.get("value"), scope, label, "the value",
                               (FieldType.INT, FieldType.DECIMAL, FieldType.MONEY)) if "value" in char else None
        if "bins" not in char or value is None or cid is None:
            continue
        if _divides_by_a_field(value[0]):
            reader.report(P.VALUE_MAY_BE_MISSING, char["value"], "where the divisor is 0 this value has none: it "
                          "then falls into no bin and the characteristic scores 0 points",
                          "divide by a fixed number, or make sure the field is never 0", cid)
        index = len(characteristics)
        found = _read_bins(reader, char["bins"], value[0], value[1], cid, index, ctx.currency)
        if found is None or description is None or reason is None:
            continue
        characteristics.append(Characteristic(cid, description, reason, ctx.reasons[reason],
                                              max(b.points for b in found)))
        bins.extend(found)
        rules.extend((b.bin_id, _bin_condition(value[0], b)) for b in found)
    if sum(1 for p in ctx.problems if p.is_error) > errors_before or base is None or bands is None:
        return None
    spec = ScorecardSpec(base, score_range[0], score_range[1], tuple(bands), tuple(characteristics))
    return Scorecard(spec, tuple(bins), compile_rules("scorecard", scope, rules))


def _read_bands(reader: FileReader, node: Node | None, score_range: tuple[int, int]) -> list[Band] | None:
    items = reader.sequence(node, "'bands'")
    if items is None:
        return None
    bands: list[Band] = []
    low, high = score_range
    ok = True
    for item in items:
        band = reader.mapping(item, "a band", ("band", "min_score"))
        if band is None or len(band) < 2:
            ok = False
            continue
        name = reader.text(band["band"], "the band name", max_len=16)
        min_score = reader.integer(band["min_score"], "min_score", lo=low, hi=high)
        if name is None or min_score is None:
            ok = False
            continue
        if not CODE_RE.fullmatch(name):
            reader.report(P.INVALID_VALUE, band["band"], f"'{name}' is not a valid band name",
                          "use capitals and digits, e.g. A or B2")
            ok = False
        elif any(b.name == name for b in bands):
            reader.report(P.DUPLICATE_ID, band["band"], f"the band '{name}' is listed twice", "remove one of them")
            ok = False
        elif bands and min_score >= bands[-1].min_score:
            reader.report(P.BAND_ORDER, band["min_score"],
                          f"band {name} starts at {min_score}, not below band {bands[-1].name} ({bands[-1].min_score})",
                          "list bands best first, each with a lower min_score than the one before")
            ok = False
        bands.append(Band(name, min_score))
    if ok and not bands:
        reader.report(P.BAND_ORDER, node, "the scorecard has no bands", "add bands, e.g. {band: A, min_score: 700}")
        return None
    if ok and bands[-1].min_score != low:
        reader.report(P.BAND_ORDER, node, f"scores from {low} to {bands[-1].min_score - 1} have no band",
                      f"give the last band min_score: {low}")
        ok = False
    return bands if ok else None


def _divides_by_a_field(expr: Expr) -> bool:
    """Whether a calculation divides by something that holds a field (and so may be 0)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Arith) and node.op == "/" and field_refs(node.right):
            return True
        stack.extend(children(node))
    return False


def _read_bins(reader: FileReader, node: Node, value: Expr, kind: FieldType, cid: str, index: int,
               currency: str) -> list[BinSpec] | None:
    items = reader.sequence(node, "'bins'", cid)
    if items is None:
        return None
    if not items or len(items) > MAX_BINS:
        reader.report(P.TOO_LARGE if items else P.MISSING_KEY, node, f"a characteristic needs 1 to {MAX_BINS} bins",
                      "e.g. bins: [{below: 1, points: 150}, {from: 1, points: 0}]", cid)
        return None
    found: list[tuple[BinSpec, Node]] = []
    ok = True
    for number, item in enumerate(items, start=1):
        entry = reader.mapping(item, "a bin", ("points",), ("from", "below"), cid)
        if entry is None or "points" not in entry:
            ok = False
            continue
        points = reader.integer(entry["points"], "points", cid, lo=-MAX_POINTS, hi=MAX_POINTS)
        lower = _bound(reader, entry.get("from"), kind, cid, currency)
        upper = _bound(reader, entry.get("below"), kind, cid, currency)
        if points is None or isinstance(lower, bool) or isinstance(upper, bool):
            ok = False
            continue
        found.append((BinSpec(index, f"{cid}/{number}", points, lower, upper, reader.src.display,
                              reader.where(item)[0] or 0), item))
    if not ok:
        return None
    return [b for b, _ in found] if _coverage(reader, found, cid) else None


def _bound(reader: FileReader, node: Node | None, kind: FieldType, cid: str, currency: str) -> Literal | bool | None:
    """The bound's literal, None when absent, False when invalid (reported)."""
    if node is None:
        return None
    scalar = reader.scalar(node, "a bin bound", cid)
    if scalar is None:
        return False
    parsed = parse_expression(scalar.value, currency)
    if not isinstance(parsed, Literal) or parsed.type not in (*NUMBERS, FieldType.MONEY):
        reader.report(P.WRONG_SHAPE, scalar, f"a bin bound must be a number or an amount, not '{scalar.value}'",
                      without_commas_fix(scalar.value.strip()) or "write e.g. 30 or 1000 CNY", cid)
        return False
    if (parsed.type is FieldType.MONEY) != (kind is FieldType.MONEY):
        hint = "write the amount with its currency, e.g. 1000 CNY" if kind is FieldType.MONEY else \
            "write a plain number"
        reader.report(P.TYPE_MISMATCH, scalar, f"this bound is {describe(parsed.type)} but the value is "
                      f"{describe(kind)}", hint, cid)
        return False
    return parsed


def _number(lit: Literal) -> Fraction:
    value = lit.value
    assert not isinstance(value, str | bool)
    return Fraction(value)


def _coverage(reader: FileReader, bins: list[tuple[BinSpec, Node]], cid: str) -> bool:
    ok = True
    for (one, node) in bins:
        if one.lower is not None and one.upper is not None and _number(one.lower) >= _number(one.upper):
            reader.report(P.BIN_OVERLAP, node, f"bin {one.bin_id} is empty: 'from' must be below 'below'",
                          "fix the bounds of this bin", cid)
            ok = False
    first, first_node = bins[0]
    if first.lower is not None:
        reader.report(P.BIN_GAP, first_node, f"values below {_show(first.lower)} fall into no bin",
                      "remove 'from' from the first bin so that it takes every lower value", cid)
        ok = False
    last, last_node = bins[-1]
    if last.upper is not None:
        reader.report(P.BIN_GAP, last_node, f"values from {_show(last.upper)} up fall into no bin",
                      "remove 'below' from the last bin so that it takes every higher value", cid)
        ok = False
    for (prev, _), (cur, node) in itertools.pairwise(bins):
        if prev.upper is None or cur.lower is None:
            reader.report(P.BIN_OVERLAP, node, f"bin {cur.bin_id} overlaps bin {prev.bin_id}",
                          "only the first bin has no 'from' and only the last has no 'below'", cid)
            ok = False
            continue
        a, b = _number(prev.upper), _number(cur.lower)
        if a < b:
            reader.report(P.BIN_GAP, node, f"values from {_show(prev.upper)} to below {_show(cur.lower)} "
                          "fall into no bin", f"start bin {cur.bin_id} at {_show(prev.upper)}", cid)
            ok = False
        elif a > b:
            reader.report(P.BIN_OVERLAP, node, f"bin {cur.bin_id} overlaps bin {prev.bin_id}: values from "
                          f"{_show(cur.lower)} to below {_show(prev.upper)} are in both",
                          f"start bin {cur.bin_id} at {_show(prev.upper)}", cid)
            ok = False
    return ok


def _show(lit: Literal) -> str:
    if lit.type is FieldType.MONEY:
        assert isinstance(lit.value, int)
        return f"{Decimal(lit.value).scaleb(-2)} CNY" if lit.value % 100 else f"{lit.value // 100} CNY"
    return str(lit.value)


def _bin_condition(value: Expr, b: BinSpec) -> Expr:
    span = Span(0, 0)
    parts: list[Expr] = []
    if b.lower is not None:
        parts.append(Compare(">=", value, b.lower, span))
    if b.upper is not None:
        parts.append(Compare("<", value, b.upper, span))
    if not parts:
        return Literal(True, FieldType.BOOL, span)
    return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts), span)
