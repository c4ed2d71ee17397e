"""The keys of an engine fact and how each fact value becomes an integer.

The engine only ever receives integers, under short keys (f0, f1, ...):
- whole numbers as they are, money as integer fen;
- decimals scaled by 10^9 (facts are rounded to 9 places first, so this is exact);
- yes/no as 1/0;
- text as a code: each text value a rule mentions gets a number, any other text is 0 (so the engine never
  compares strings, whose escaping and encoding it handles inconsistently);
- derived predicates (arithmetic, field-to-field comparisons, list membership, conditions too large for one
  engine rule) as 1/0, computed in Python by the oracle before the fact is asserted.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from service.engine import oracle
from service.engine.catalogue import FieldType
from service.engine.nodes import Expr, render
from service.engine.parser import DECIMAL_LIMIT, DECIMAL_PLACES, INT_LIMIT
from service.engine.typecheck import FieldSpec

DECIMAL_SCALE = 10**DECIMAL_PLACES


@dataclass
class Source:
    """One key of the engine fact."""

    index: int
    spec: FieldSpec | None  # a catalogue field ...
    expr: Expr | None  # ... or a derived yes/no value
    codes: dict[str, int] = field(default_factory=dict)  # text value -> code, for STR fields

    @property
    def key(self) -> str:
        return f"f{self.index}"

    @property
    def bounds(self) -> tuple[int, int]:
        """The smallest and largest integer this key can hold."""
        if self.spec is None or self.spec.type is FieldType.BOOL:
            return 0, 1
        t = self.spec.type
        if t is FieldType.DECIMAL:
            limit = DECIMAL_LIMIT * DECIMAL_SCALE - 1
            return -limit, limit
        if t is FieldType.STR:
            return (1 if self.spec.allowed_values else 0), max(1, len(self.codes))
        return -(INT_LIMIT - 1), INT_LIMIT - 1

    def encode(self, facts: oracle.Facts, lists: oracle.Lists) -> int:
        """This key's integer for one (normalised) fact."""
        if self.spec is None:
            assert self.expr is not None
            return 1 if oracle.truth(self.expr, facts, lists) else 0
        value = facts[self.spec.name]
        t = self.spec.type
        if t is FieldType.STR:
            return self.codes.get(str(value), 0)
        if t is FieldType.BOOL:
            return 1 if value else 0
        if t is FieldType.DECIMAL:
            assert isinstance(value, Decimal | int)
            return int(Decimal(value) * DECIMAL_SCALE)
        assert isinstance(value, int)
        return value

    @property
    def taken_as_is(self) -> bool:
        """Whether the key's value is the field's normalised value itself (a whole number, fen, or a yes/no)."""
        return self.spec is not None and self.spec.type in (FieldType.INT, FieldType.MONEY, FieldType.BOOL)

    def value_encoder(self, lists: oracle.Lists) -> Callable[[oracle.Facts], int | bool]:
        """What encode() gives for one normalised fact, specialised to this key once (the per-evaluation path of
        the engine). A yes/no may come back as a bool: the engine fact writes it with %d, as 1 or 0."""
        if self.spec is None:
            assert self.expr is not None
            # the oracle's reading, compiled once; a type-checked condition, so its value is a bool
            return cast(Callable[[oracle.Facts], bool], oracle.evaluator(self.expr, lists))
        name, kind = self.spec.name, self.spec.type
        if kind is FieldType.STR:
            codes = self.codes
            return lambda facts: codes.get(facts[name], 0)  # type: ignore[arg-type]  # normalised: a str
        if kind is FieldType.DECIMAL:
            # normalised: a Decimal of at most 9 places (or an int), so the product is exact and whole
            return lambda facts: int(facts[name] * DECIMAL_SCALE)
        assert self.taken_as_is
        return operator.itemgetter(name)  # a C call, no Python frame

    def code(self, text: str) -> int:
        """The code of a text value, allocating one if new."""
        if text not in self.codes:
            self.codes[text] = len(self.codes) + 1
        return self.codes[text]


class SourceTable:
    """The keys of one rule set, shared by all its engine chunks."""

    def __init__(self) -> None:
        self.sources: list[Source] = []
        self._by_field: dict[str, Source] = {}
        self._by_expr: dict[str, Source] = {}

    def for_field(self, spec: FieldSpec) -> Source:
        src = self._by_field.get(spec.name)
        if src is None:
            src = Source(len(self.sources), spec, None)
            for value in spec.allowed_values:  # a closed vocabulary: every value has a code, none is 0
                src.code(value)
            self.sources.append(src)
            self._by_field[spec.name] = src
        return src

    def for_derived(self, expr: Expr) -> Source:
        text = render(expr)
        src = self._by_expr.get(text)
        if src is None:
            src = Source(len(self.sources), None, expr)
            self.sources.append(src)
            self._by_expr[text] = src
        return src
