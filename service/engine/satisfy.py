"""Can a condition ever match? Is it always true? Decided on the engine form, exactly, over integer keys.

Keys are treated as independent (a derived key is a free yes/no value), so "never" and "always" are only
claimed when they hold for every possible fact; conditions too large to expand are left undecided. A possible
fact is one a request can bring: a field filled from a request only takes the whole numbers (fen, for money) the
service accepts in it (the catalogue's `carries`, e.g. an age from 0 to 130), so `applicant.age >= 200` never
matches and `applicant.age >= 0` always does.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.engine.condition import All, Any, Cond, Const, Test, negate
from service.engine.sources import Source

MAX_TERMS = 256


def _dnf(cond: Cond) -> list[list[Test]] | None:
    """The condition as an `or` of `and`s of tests; None when that takes more than MAX_TERMS terms."""
    if isinstance(cond, Const):
        return [[]] if cond.value else []
    if isinstance(cond, Test):
        return [[cond]]
    if isinstance(cond, Any):
        terms: list[list[Test]] = []
        for item in cond.items:
            sub = _dnf(item)
            if sub is None:
                return None
            terms.extend(sub)
            if len(terms) > MAX_TERMS:
                return None
        return terms
    assert isinstance(cond, All)
    product: list[list[Test]] = [[]]
    for item in cond.items:
        sub = _dnf(item)
        if sub is None or len(product) * len(sub) > MAX_TERMS:
            return None
        product = [left + right for left in product for right in sub]
    return product


def _satisfiable(term: list[Test], sources: Sequence[Source]) -> bool:
    by_key: dict[int, list[Test]] = {}
    for test in term:
        by_key.setdefault(test.source, []).append(test)
    return all(_key_satisfiable(tests, *possible(sources[key])) for key, tests in by_key.items())


def possible(source: Source) -> tuple[int, int]:
    """The smallest and largest integer the key holds for a fact a request can bring: the key's bounds, narrowed
    to the range a request can carry in its field."""
    lo, hi = source.bounds
    if source.spec is not None:
        low, high = source.spec.carried_range
        lo = lo if low is None else max(lo, low)
        hi = hi if high is None else min(hi, high)
    return lo, hi


def _key_satisfiable(tests: list[Test], lo: int, hi: int) -> bool:
    equal: set[int] = set()
    different: set[int] = set()
    for t in tests:
        if t.op == "==":
            equal.add(t.value)
        elif t.op == "!=":
            different.add(t.value)
        elif t.op == "<":
            hi = min(hi, t.value - 1)
        elif t.op == "<=":
            hi = min(hi, t.value)
        elif t.op == ">":
            lo = max(lo, t.value + 1)
        else:
            lo = max(lo, t.value)
    if len(equal) > 1:
        return False
    if equal:
        (value,) = equal
        return lo <= value <= hi and value not in different
    excluded = sum(1 for v in different if lo <= v <= hi)
    return hi - lo + 1 > excluded


def never_matches(cond: Cond, sources: Sequence[Source]) -> bool:
    """True only when no fact can satisfy the condition."""
    terms = _dnf(cond)
    return terms is not None and not any(_satisfiable(t, sources) for t in terms)


def always_matches(cond: Cond, sources: Sequence[Source]) -> bool:
    """True only when every fact satisfies the condition."""
    return never_matches(negate(cond), sources)
