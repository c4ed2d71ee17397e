"""Can a condition ever match? Is it always true? Decided on the engine form, exactly, over integer keys.

Keys are treated as independent (a derived key is a free yes/no value), so "never" and "always" are only
claimed when they hold for every possible fact; conditions too large to expand are left undecided. A possible
fact is one a request can bring: a field filled from a request only takes the whole numbers (fen, for money) the
service accepts in it (the catalogue's `carries`, e.g. an age from 0 to 130), so `applicant.age >= 200` never
matches and `applicant.age >= 0` always does.

One dependency between keys is known: an event that moves no money has none, so where a term allows only such
event types (transaction.type), the amount fields the catalogue names (ZERO_WITHOUT_MONEY) can only be 0:
`transaction.type == 'PASSWORD_CHANGE' and transaction.amount > 20000 CNY` never matches.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.domain.model import MONEY_MOVING_EVENTS
from service.domain.money import format_fen_as_yuan
from service.engine.catalogue import EVENT_TYPE_FIELD, ZERO_WITHOUT_MONEY, FieldType
from service.engine.condition import All, Any, Cond, Const, Test, negate
from service.engine.nodes import Expr, render
from service.engine.sources import Source
from service.engine.typecheck import and_list

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


def _by_key(term: list[Test]) -> dict[int, list[Test]]:
    """A term's tests, grouped by the key they test."""
    by_key: dict[int, list[Test]] = {}
    for test in term:
        by_key.setdefault(test.source, []).append(test)
    return by_key


def _satisfiable(term: list[Test], sources: Sequence[Source]) -> bool:
    by_key = _by_key(term)
    no_money = _only_moving_no_money(by_key, sources)
    return all(_key_satisfiable(tests, *_possible_in_term(sources[key], no_money)) for key, tests in by_key.items())


def _only_moving_no_money(by_key: dict[int, list[Test]], sources: Sequence[Source]) -> list[str] | None:
    """The event types a term allows, when it tests transaction.type and allows some, none of them moving money;
    else None (a term allowing no event type is never true by its own tests of transaction.type)."""
    for key, tests in by_key.items():
        source = sources[key]
        if source.spec is not None and source.spec.name == EVENT_TYPE_FIELD:
            allowed = [text for text, code in source.codes.items() if _key_satisfiable(tests, code, code)]
            return None if not allowed or any(text in MONEY_MOVING_EVENTS for text in allowed) else allowed
    return None


def _possible_in_term(source: Source, no_money: list[str] | None) -> tuple[int, int]:
    """possible(source), narrowed to 0 for an amount field in a term that allows only events moving no money."""
    lo, hi = possible(source)
    if no_money is not None and source.spec is not None and source.spec.name in ZERO_WITHOUT_MONEY:
        return max(lo, 0), min(hi, 0)
    return lo, hi


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


CONTRADICTION_HINT = "check the bounds and values: no value passes them all, as in 'x > 5 and x < 3'"
RANGE_HINT = ("write bounds inside the range a request carries, or the service gives the field (docs/rules.md gives "
              "them), or remove the rule")
NO_MONEY_HINT = ("the service takes an amount sent with an event that moves no money as 0: test the amount of an event "
                 f"that moves money ({', '.join(sorted(MONEY_MOVING_EVENTS))}), or take the amount out of the rule")
_HINTS = (CONTRADICTION_HINT, RANGE_HINT, NO_MONEY_HINT)  # the order hints are given in, when several apply


def why_never(cond: Cond, sources: Sequence[Source]) -> tuple[str, str] | None:
    """For a condition that never matches: what rules each of its alternatives out, naming the field (its tests
    contradict each other, or ask for a value outside the range a request carries), and a hint; None when that
    cannot be told (the condition is too large to expand)."""
    terms = _dnf(cond)
    if terms is None:
        return None
    if not terms:  # `false`, or parts the compiler folded to it, such as `x != x`
        return "its condition is false for every request", CONTRADICTION_HINT
    reasons: list[str] = []
    hints: set[str] = set()
    for term in terms:
        found = _why_term_never(term, sources)
        if found is None:
            return None
        if found[0] not in reasons:
            reasons.append(found[0])
        hints.add(found[1])
    return "; ".join(reasons), "; ".join(hint for hint in _HINTS if hint in hints)


def _why_term_never(term: list[Test], sources: Sequence[Source]) -> tuple[str, str] | None:
    by_key = _by_key(term)
    no_money = _only_moving_no_money(by_key, sources)
    for key, tests in by_key.items():
        source = sources[key]
        name = source.spec.name if source.spec is not None else f"'{render(_derived(source))}'"
        if not _key_satisfiable(tests, *source.bounds):
            if len(tests) > 1:
                return f"its tests of {name} contradict each other", CONTRADICTION_HINT
            return f"no value of {name} passes its test", CONTRADICTION_HINT
        if not _key_satisfiable(tests, *possible(source)):
            assert source.spec is not None  # only a field's carried range narrows its bounds
            said = f"{name} is" if source.spec.carries.worked_out else f"a request carries {name}"
            return f"{said} {_carried_text(source)}", RANGE_HINT
        if not _key_satisfiable(tests, *_possible_in_term(source, no_money)):
            assert source.spec is not None and no_money is not None  # only these narrow it further
            moves = "moves" if len(no_money) == 1 else "move"
            return f"{name} is 0 for {and_list(no_money)}, which {moves} no money", NO_MONEY_HINT
    return None


def _derived(source: Source) -> Expr:
    assert source.expr is not None  # a key is a catalogue field or a derived value
    return source.expr


def _carried_text(source: Source) -> str:
    assert source.spec is not None  # only a field's carried range narrows its bounds
    low, high = source.spec.carried_range
    money = source.spec.type is FieldType.MONEY

    def shown(value: int) -> str:
        return f"{format_fen_as_yuan(value)} CNY" if money else str(value)

    if low is not None and high is not None:
        return f"only from {shown(low)} to {shown(high)}"
    return f"only {shown(low)} or more" if low is not None else f"only up to {shown(high)}" if high is not None else ""


def always_matches(cond: Cond, sources: Sequence[Source]) -> bool:
    """True only when every fact satisfies the condition."""
    return never_matches(negate(cond), sources)
