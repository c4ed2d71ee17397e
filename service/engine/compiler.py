"""Compile type-checked conditions into durable_rules rulesets that only use forms known to be safe.

What the engine receives (issue 2, section 5, is the list of hazards this avoids):
- one single-fact condition per rule, `{"all": [{"m": <cond>}]}`, where <cond> is `$and`/`$or` of
  `{key: int}`, `{"$neq": {key: int}}`, `{"$lt"|"$lte"|"$gt"|"$gte": {key: int}}`;
- fact keys are short (`f0`, `f1`...), every value an integer (sources.py): no strings, floats, exponents;
- never `$nex`/`$ex`, `$mt`, arithmetic or references to other facts: anything that is not "one field
  compared with one constant" is a derived yes/no key computed in Python before the fact is asserted;
- a rule set is split into chunks so that no engine ruleset can ever have more than MAX_MATCHES matches for
  one fact (each true branch of an `or` counts; rules requiring different values of one field count once),
  MAX_TESTS test nodes, MAX_KEYS keys or MAX_RULES rules (measured: the engine fails at 65 matches, hangs at
  512 conditions under one node, crashes at 257 rules with one identical condition, fails at 253 keys); a
  single rule too large for that, or with more than MAX_CONNECTORS `$and`/`$or` nodes (the engine refuses a
  rule with 16, nested or side by side: error 113, its MAX_SEQUENCE_EXPRESSIONS), is decided in Python as one
  derived key;
- conditions that are always true or always false never reach the engine.

Which chunks a fact meets: most rules require some key to have one of a few values (`transaction.type ==
'DRAWDOWN'`, a derived `counterparty in list` being 1), and a fact has one value of it. Each rule's guard is
the key of that kind that guards the most rules of its set. Rules without a guard are packed first, into
chunks every fact meets; then the guarded rules, grouped by key and values, so that a chunk of guarded rules
is met only by facts with one of their values: a fact with other values cannot match any of its rules, and
skips it. Each chunk met costs an engine call, so a large rule set costs a fact only the chunks that can
concern it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from service.engine.catalogue import FieldType
from service.engine.condition import (
    FALSE,
    TRUE,
    All,
    Any,
    Cond,
    Const,
    Size,
    Test,
    all_of,
    any_of,
    size,
)
from service.engine.nodes import (
    MIRRORED_OP,
    NEGATED_OP,
    Arith,
    BoolOp,
    Compare,
    Expr,
    FieldRef,
    Literal,
    Member,
    Neg,
    Not,
    children,
    field_refs,
    render,
)
from service.engine.oracle import compare as compare_values
from service.engine.sources import DECIMAL_SCALE, Source, SourceTable
from service.engine.typecheck import FieldSpec, Scope

MAX_MATCHES = 48  # engine fails with error 303 beyond 64 simultaneous matches
MAX_TESTS = 400  # engine fails or hangs from 512 conditions under one node
MAX_KEYS = 200  # engine fails with error 302 from 253 keys in a fact
MAX_RULES = 200  # engine crashes with 257 rules sharing one identical condition
MAX_CONNECTORS = 12  # engine refuses one rule with 16 $and/$or nodes (error 113)
MAX_INLINE_ITEMS = 16  # longer `in [...]` lists become a derived key (a set lookup in Python)

_ENGINE_OP = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


@dataclass(frozen=True)
class CompiledRule:
    index: int  # position in the rule set (bundle order)
    rule_id: str
    expr: Expr  # the checked condition, for the oracle and explain
    cond: Cond  # the engine form; a Const for rules decided without the engine


@dataclass(frozen=True)
class Guard:
    """A rule can only hold when the key `source` has one of `values`."""

    source: int
    values: frozenset[int]


@dataclass(frozen=True)
class Chunk:
    """One engine ruleset: a few rules whose worst case stays well inside the engine's limits."""

    rule_indices: tuple[int, ...]
    source_indices: tuple[int, ...]
    definition: dict[str, object]  # durable_rules JSON
    # Which facts can match a rule here: those where one of these keys has one of its values (None: any fact).
    guard: tuple[Guard, ...] | None = None

    def definition_json(self) -> str:
        return json.dumps(self.definition, separators=(",", ":"))


@dataclass(frozen=True)
class CompiledRuleSet:
    label: str
    rules: tuple[CompiledRule, ...]
    sources: tuple[Source, ...]
    chunks: tuple[Chunk, ...]
    always: tuple[int, ...]  # rules whose condition is always true: they fire without the engine
    fields: tuple[FieldSpec, ...]  # every catalogue field the rules read (directly or in derived keys)


class Lowering:
    """Turns a checked boolean expression into the engine form, allocating keys in a SourceTable."""

    def __init__(self, scope: Scope, table: SourceTable) -> None:
        self.scope = scope
        self.table = table

    def lower(self, expr: Expr, negated: bool = False) -> Cond:
        if isinstance(expr, Literal):
            return Const(bool(expr.value) != negated)
        if isinstance(expr, FieldRef):
            src = self.table.for_field(self.scope.fields[expr.name])
            return Test(src.index, "==", 0 if negated else 1)
        if isinstance(expr, Not):
            return self.lower(expr.operand, not negated)
        if isinstance(expr, BoolOp):
            parts = [self.lower(op, negated) for op in expr.operands]
            conjunction = (expr.op == "and") != negated
            return all_of(parts) if conjunction else any_of(parts)
        if isinstance(expr, Compare):
            return self.comparison(expr, negated)
        if isinstance(expr, Member):
            return self.membership(expr, negated)
        raise TypeError(f"not a condition: {type(expr).__name__}")  # excluded by the type checker

    def derived(self, expr: Expr, negated: bool) -> Cond:
        src = self.table.for_derived(expr)
        return Test(src.index, "==", 0 if negated else 1)

    def comparison(self, expr: Compare, negated: bool) -> Cond:
        left, right, op = expr.left, expr.right, expr.op
        if isinstance(left, Literal) and isinstance(right, Literal):
            return Const(compare_values(op, left.value, right.value) != negated)
        if _same_value(left, right):  # `x == x` always holds, `x != x` never
            return Const((op in ("==", "<=", ">=")) != negated)
        if isinstance(left, Literal) and isinstance(right, FieldRef):
            left, right, op = right, left, MIRRORED_OP[op]
        if isinstance(left, FieldRef) and isinstance(right, Literal):
            return self.field_test(left, NEGATED_OP[op] if negated else op, right)
        return self.derived(expr, negated)

    def membership(self, expr: Member, negated: bool) -> Cond:
        inside = expr.negated == negated  # True: "is one of"; False: "is none of"
        items = expr.items
        if items is None or len(items) > MAX_INLINE_ITEMS or not isinstance(expr.subject, FieldRef | Literal):
            return self.derived(expr, negated)
        if isinstance(expr.subject, Literal):
            found = any(compare_values("==", expr.subject.value, i.value) for i in items)
            return Const(found == inside)
        tests = [self.field_test(expr.subject, "==" if inside else "!=", item) for item in items]
        return any_of(tests) if inside else all_of(tests)

    def field_test(self, ref: FieldRef, op: str, literal: Literal) -> Cond:
        spec = self.scope.fields[ref.name]
        src = self.table.for_field(spec)
        value = literal.value
        if spec.type is FieldType.STR:
            assert isinstance(value, str)
            return Test(src.index, op, src.code(value))
        if spec.type is FieldType.BOOL:
            return Test(src.index, op, 1 if value else 0)
        assert isinstance(value, int | Decimal) and not isinstance(value, bool)
        exact = Fraction(value) * (DECIMAL_SCALE if spec.type is FieldType.DECIMAL else 1)
        return integer_test(src, op, exact)


def _same_value(left: Expr, right: Expr) -> bool:
    """Whether two sides always have the same value: the same field, or the same calculation without a division
    (which may have no value, and then every comparison with it is false)."""
    if isinstance(left, FieldRef) and isinstance(right, FieldRef):
        return left.name == right.name
    if not isinstance(left, Arith | Neg) or render(left) != render(right):
        return False
    stack: list[Expr] = [left]
    while stack:
        node = stack.pop()
        if isinstance(node, Arith) and node.op == "/":
            return False
        stack.extend(children(node))
    return True


def integer_test(src: Source, op: str, exact: Fraction) -> Cond:
    """`key op exact` over integer keys, with a fractional constant rounded the way that keeps the meaning
    and constants outside the key's range folded to true or false."""
    if exact.denominator != 1:
        if op == "==":
            return FALSE
        if op == "!=":
            return TRUE
        floor = exact.numerator // exact.denominator
        op, value = (">=", floor + 1) if op in (">", ">=") else ("<=", floor)
    else:
        value = exact.numerator
    lo, hi = src.bounds
    if op == "==":
        return Test(src.index, op, value) if lo <= value <= hi else FALSE
    if op == "!=":
        return Test(src.index, op, value) if lo <= value <= hi else TRUE
    always, never = {
        "<": (value > hi, value <= lo),
        "<=": (value >= hi, value < lo),
        ">": (value < lo, value >= hi),
        ">=": (value <= lo, value > hi),
    }[op]
    if always:
        return TRUE
    if never:
        return FALSE
    return Test(src.index, op, value)


def fits_one_engine_rule(cond: Cond) -> bool:
    """Whether a single rule's condition is small enough for one engine ruleset on its own."""
    s = size(cond)
    return s.matches <= MAX_MATCHES and s.tests <= MAX_TESTS and len(s.sources) <= MAX_KEYS \
        and s.connectors <= MAX_CONNECTORS


def compile_rules(label: str, scope: Scope, rules: Sequence[tuple[str, Expr]], name: str = "r") -> CompiledRuleSet:
    """Compile checked conditions (in bundle order) into engine chunks. `rules` = (rule id, condition)."""
    table = SourceTable()
    lowering = Lowering(scope, table)
    compiled: list[CompiledRule] = []
    for index, (rule_id, expr) in enumerate(rules):
        cond = lowering.lower(expr)
        if not isinstance(cond, Const) and not fits_one_engine_rule(cond):
            cond = lowering.derived(expr, False)  # too large for the engine: decided in Python as one key
        compiled.append(CompiledRule(index, rule_id, expr, cond))
    chunks = _pack([r for r in compiled if not isinstance(r.cond, Const)], table.sources, name)
    always = tuple(r.index for r in compiled if r.cond == TRUE)
    fields = _fields_read(table.sources, [expr for _, expr in rules], scope)
    return CompiledRuleSet(label, tuple(compiled), tuple(table.sources), chunks, always, fields)


def _fields_read(sources: list[Source], exprs: list[Expr], scope: Scope) -> tuple[FieldSpec, ...]:
    """Every field the rules name: those the engine reads (its sources), and those of parts folded to a constant
    (`x not in []`, `x == x`), which the engine never sees but the plain-Python reading of the rules evaluates."""
    names: dict[str, FieldSpec] = {}
    for src in sources:
        if src.spec is not None:
            names[src.spec.name] = src.spec
        elif src.expr is not None:
            for ref in field_refs(src.expr):
                names[ref.name] = scope.fields[ref.name]
    for expr in exprs:
        for ref in field_refs(expr):
            names.setdefault(ref.name, scope.fields[ref.name])
    return tuple(names.values())


def _pack(rules: list[CompiledRule], sources: list[Source], name: str) -> tuple[Chunk, ...]:
    """Greedy packing: rules without a guard first, then the guarded ones grouped by guard (see the module
    docstring), each in bundle order."""
    guards = _guards(rules)
    order = sorted(rules, key=lambda r: _group_order(guards[r.index], r.index))
    chunks: list[Chunk] = []
    budget = _ChunkBudget()
    current: list[CompiledRule] = []
    for rule in order:
        s, guard = size(rule.cond), guards[rule.index]
        if current and not budget.fits(s, guard):
            chunks.append(_chunk(current, sources, name, guards))
            budget, current = _ChunkBudget(), []
        current.append(rule)
        budget.add(s, guard)
    if current:
        chunks.append(_chunk(current, sources, name, guards))
    return tuple(chunks)


def _guards(rules: list[CompiledRule]) -> dict[int, Guard | None]:
    """Each rule's guard: of the keys whose value it requires, the one that guards the most rules."""
    candidates = {r.index: {k: v for k in _equalities(r.cond) if (v := guard_values(r.cond, k)) is not None}
                  for r in rules}
    guarded_by: dict[int, int] = {}
    for found in candidates.values():
        for source in found:
            guarded_by[source] = guarded_by.get(source, 0) + 1
    out: dict[int, Guard | None] = {}
    for index, found in candidates.items():
        best = max(found, key=lambda k: (guarded_by[k], -k), default=None)
        out[index] = Guard(best, found[best]) if best is not None else None
    return out


def _group_order(guard: Guard | None, index: int) -> tuple[int, int, tuple[int, ...], int]:
    if guard is None:
        return (0, 0, (), index)
    return (1, guard.source, tuple(sorted(guard.values)), index)


class _ChunkBudget:
    """The engine's limits, counted for the rules of one chunk. Simultaneous matches are bounded using the
    guards: rules requiring different values of one key can never match the same fact, so of each key's
    values only the one most required counts, plus every rule without a guard."""

    def __init__(self) -> None:
        self.rules = 0
        self.tests = 0
        self.keys: set[int] = set()
        self.unguarded = 0  # worst-case matches of rules without a guard
        self.guarded: dict[int, dict[int, int]] = {}  # key -> value -> worst-case matches of rules requiring it

    def _matches(self, s: Size, guard: Guard | None) -> int:
        total = self.unguarded + (s.matches if guard is None else 0)
        for key in {*self.guarded, *((guard.source,) if guard else ())}:
            counts = self.guarded.get(key, {})
            extra = guard.values if guard is not None and guard.source == key else frozenset()
            total += max((counts.get(v, 0) + (s.matches if v in extra else 0) for v in {*counts, *extra}), default=0)
        return total

    def fits(self, s: Size, guard: Guard | None) -> bool:
        return (self.rules < MAX_RULES and self.tests + s.tests <= MAX_TESTS
                and len(self.keys | s.sources) <= MAX_KEYS and self._matches(s, guard) <= MAX_MATCHES)

    def add(self, s: Size, guard: Guard | None) -> None:
        self.rules += 1
        self.tests += s.tests
        self.keys |= s.sources
        if guard is None:
            self.unguarded += s.matches
        else:
            counts = self.guarded.setdefault(guard.source, {})
            for v in guard.values:
                counts[v] = counts.get(v, 0) + s.matches


def guard_values(cond: Cond, key: int) -> frozenset[int] | None:
    """The values of `key` the condition requires (it can only hold when key has one of them), or None when
    it does not constrain the key to a finite set."""
    if isinstance(cond, Test):
        return frozenset({cond.value}) if cond.source == key and cond.op == "==" else None
    if isinstance(cond, All):
        found = [g for g in (guard_values(c, key) for c in cond.items) if g is not None]
        return frozenset.intersection(*found) if found else None
    if isinstance(cond, Any):
        parts = [guard_values(c, key) for c in cond.items]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*(p for p in parts if p is not None))
    return None


def _equalities(cond: Cond) -> set[int]:
    if isinstance(cond, Test):
        return {cond.source} if cond.op == "==" else set()
    if isinstance(cond, All | Any):
        return set().union(*(_equalities(c) for c in cond.items))
    return set()


def _chunk(rules: list[CompiledRule], sources: list[Source], name: str, guards: dict[int, Guard | None]) -> Chunk:
    definition: dict[str, object] = {}
    used: set[int] = set()
    for rule in rules:
        definition[f"{name}{rule.index}"] = {"all": [{"m": emit(rule.cond, sources)}]}
        used |= size(rule.cond).sources
    assert_safe(definition)
    return Chunk(tuple(r.index for r in rules), tuple(sorted(used)), definition, _chunk_guard(rules, guards))


def _chunk_guard(rules: list[CompiledRule], guards: dict[int, Guard | None]) -> tuple[Guard, ...] | None:
    """Which facts can match some rule of the chunk: the union of its rules' guards (None: any fact)."""
    values: dict[int, frozenset[int]] = {}
    for rule in rules:
        guard = guards[rule.index]
        if guard is None:
            return None
        values[guard.source] = values.get(guard.source, frozenset()) | guard.values
    return tuple(Guard(source, found) for source, found in sorted(values.items()))


def emit(cond: Cond, sources: Sequence[Source]) -> dict[str, object]:
    """The durable_rules JSON of an engine condition (never a constant: those are decided in Python)."""
    if isinstance(cond, Test):
        key = sources[cond.source].key
        if cond.op == "==":
            return {key: cond.value}
        return {_ENGINE_OP[cond.op]: {key: cond.value}}
    if isinstance(cond, All):
        return {"$and": [emit(c, sources) for c in cond.items]}
    if isinstance(cond, Any):
        return {"$or": [emit(c, sources) for c in cond.items]}
    raise ValueError("constant conditions are decided without the engine")


_ALLOWED_OPS = frozenset(_ENGINE_OP.values())


def assert_safe(definition: dict[str, object]) -> None:
    """Refuse any engine JSON outside the safe subset (a guard against compiler bugs, checked on every chunk)."""
    for rule_name, rule in definition.items():
        if not isinstance(rule, dict) or set(rule) != {"all"}:
            raise ValueError(f"{rule_name}: a rule must be exactly {{'all': [...]}}")
        clauses = rule["all"]
        if not isinstance(clauses, list) or len(clauses) != 1 or not isinstance(clauses[0], dict) \
                or set(clauses[0]) != {"m"}:
            raise ValueError(f"{rule_name}: exactly one single-fact condition named m")
        _assert_safe_cond(clauses[0]["m"], rule_name)


def _assert_safe_cond(cond: object, where: str) -> None:
    if not isinstance(cond, dict) or len(cond) != 1:
        raise ValueError(f"{where}: a condition is a one-key object")
    ((key, value),) = cond.items()
    if key in ("$and", "$or"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"{where}: {key} needs a non-empty list")
        for item in value:
            _assert_safe_cond(item, where)
        return
    if key in _ALLOWED_OPS:
        if not isinstance(value, dict) or len(value) != 1:
            raise ValueError(f"{where}: {key} compares one key")
        ((key, value),) = value.items()
    if not (key.startswith("f") and key[1:].isdigit()):
        raise ValueError(f"{where}: unexpected key or operator {key!r}")
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63:
        raise ValueError(f"{where}: {key} must be compared with a 64-bit integer")
