"""The engine-ready form of a condition: and/or trees of single-field tests against integers.

Everything the engine sees is an integer (see sources.py): comparisons of one fact key with one integer
constant, joined by and/or. Negation never survives to this form: it is pushed down to the tests, which is
exact because every key has a value in every fact and all values are integers.
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINE_OPS = ("==", "!=", "<", "<=", ">", ">=")
_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


@dataclass(frozen=True)
class Test:
    source: int  # index into the rule set's source table
    op: str  # one of ENGINE_OPS
    value: int


@dataclass(frozen=True)
class All:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Any:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Const:
    value: bool


Cond = Test | All | Any | Const

TRUE = Const(True)
FALSE = Const(False)


def negate(cond: Cond) -> Cond:
    """The exact negation (every key is always present and integral, so `not x < 3` is `x >= 3`)."""
    if isinstance(cond, Test):
        return Test(cond.source, _NEGATED[cond.op], cond.value)
    if isinstance(cond, Const):
        return Const(not cond.value)
    if isinstance(cond, All):
        return Any(tuple(negate(c) for c in cond.items))
    return All(tuple(negate(c) for c in cond.items))


def all_of(items: list[Cond]) -> Cond:
    """A simplified conjunction: flattened, constants folded, duplicates dropped."""
    out: list[Cond] = []
    for item in items:
        parts = item.items if isinstance(item, All) else (item,)
        for part in parts:
            if part == FALSE:
                return FALSE
            if part != TRUE and part not in out:
                out.append(part)
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else All(tuple(out))


def any_of(items: list[Cond]) -> Cond:
    """A simplified disjunction: flattened, constants folded, duplicates dropped."""
    out: list[Cond] = []
    for item in items:
        parts = item.items if isinstance(item, Any) else (item,)
        for part in parts:
            if part == TRUE:
                return TRUE
            if part != FALSE and part not in out:
                out.append(part)
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else Any(tuple(out))


def holds(cond: Cond, values: dict[int, int]) -> bool:
    """Evaluate the engine form directly (used by tests and the satisfiability check)."""
    if isinstance(cond, Const):
        return cond.value
    if isinstance(cond, All):
        return all(holds(c, values) for c in cond.items)
    if isinstance(cond, Any):
        return any(holds(c, values) for c in cond.items)
    v = values[cond.source]
    op = cond.op
    return {
        "==": v == cond.value, "!=": v != cond.value, "<": v < cond.value,
        "<=": v <= cond.value, ">": v > cond.value, ">=": v >= cond.value,
    }[op]


@dataclass(frozen=True)
class Size:
    """What a condition costs the engine."""

    tests: int  # test nodes (with repeats)
    matches: int  # the most times the rule can fire for one fact (each true `or` branch is a match)
    sources: frozenset[int]
    connectors: int = 0  # `and`/`or` nodes


def size(cond: Cond) -> Size:
    """Tests, worst-case simultaneous matches, keys and and/or nodes of a condition."""
    if isinstance(cond, Const):
        return Size(0, 1 if cond.value else 0, frozenset())
    if isinstance(cond, Test):
        return Size(1, 1, frozenset({cond.source}))
    parts = [size(c) for c in cond.items]
    tests = sum(p.tests for p in parts)
    connectors = 1 + sum(p.connectors for p in parts)
    sources = frozenset().union(*(p.sources for p in parts))
    if isinstance(cond, All):
        matches = 1
        for p in parts:
            matches *= p.matches
    elif _exclusive_equalities(cond):
        matches = 1
    else:
        matches = sum(p.matches for p in parts)
    return Size(tests, matches, sources, connectors)


def _exclusive_equalities(cond: Any) -> bool:
    # `x in [a, b, c]`: equalities of one key with distinct values, at most one can hold
    first = cond.items[0]
    return all(isinstance(c, Test) and c.op == "==" for c in cond.items) and isinstance(first, Test) and \
        all(isinstance(c, Test) and c.source == first.source for c in cond.items)
