"""Validation and normalisation of the values handed to the rules, before anything reaches the engine.

Normalised values: INT -> int, MONEY -> int fen, DECIMAL -> Decimal rounded to 9 places, BOOL -> bool,
STR -> str. Every number is finite and bounded (|INT|, |MONEY fen| < 10^15; |DECIMAL| < 10^9), text is at
most MAX_TEXT characters, and a field with a closed vocabulary only takes one of its values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from service.engine.catalogue import ATTRIBUTES_PREFIX, FieldType
from service.engine.errors import InvalidFact
from service.engine.oracle import FactValue
from service.engine.parser import DECIMAL_LIMIT, DECIMAL_PLACES, INT_LIMIT
from service.engine.typecheck import FieldSpec

MAX_TEXT = 1024
_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
# the bounds as constants of the type they are compared with: no negation or conversion per comparison
_INT_LOW = -INT_LIMIT
_DECIMAL_HIGH = Decimal(DECIMAL_LIMIT)
_DECIMAL_LOW = -_DECIMAL_HIGH


def normalize_facts(
    raw: Mapping[str, object],
    fields: Iterable[FieldSpec],
    defaults: Mapping[str, FactValue],
) -> dict[str, FactValue]:
    """Validated values for `fields`. A missing catalogue field is an error; a missing or null applicant
    attribute takes its declared default (`defaults`, keyed by dotted name)."""
    return FactNormalizer(fields, defaults)(raw)


class FactNormalizer:
    """normalize_facts for one set of fields, planned once. The common values (a whole number in range, a
    bool, a short text of the field's vocabulary, a finite Decimal in range) are accepted inline; anything else
    goes through normalize_value / normalize_attribute, which convert it or say what is wrong."""

    def __init__(self, fields: Iterable[FieldSpec], defaults: Mapping[str, FactValue]) -> None:
        # per field, what the loop reads for every evaluation: its name, kind, vocabulary as a set (None: any
        # text), whether it is an applicant attribute and its default; and the spec, for the slow path only
        self._plan = [
            (spec.name, _KINDS[spec.type], frozenset(spec.allowed_values) if spec.allowed_values else None,
             spec.name.startswith(ATTRIBUTES_PREFIX), defaults.get(spec.name), spec)
            for spec in fields
        ]

    def __call__(self, raw: Mapping[str, object]) -> dict[str, FactValue]:
        out: dict[str, FactValue] = {}
        for name, kind, vocabulary, attribute, default, spec in self._plan:
            value = raw.get(name)
            # Inline on purpose (it runs for every field of every evaluation): the value as it already is ...
            if kind is _WHOLE:
                if type(value) is int and _INT_LOW < value < INT_LIMIT:
                    out[name] = value
                    continue
            elif kind is _TEXT:
                if type(value) is str and len(value) <= MAX_TEXT and (vocabulary is None or value in vocabulary):
                    out[name] = value
                    continue
            elif kind is _BOOL:
                if type(value) is bool:
                    out[name] = value
                    continue
            elif type(value) is Decimal and value.is_finite() and _DECIMAL_LOW < value < _DECIMAL_HIGH:  # _DECIMAL
                # ... or rounded as _decimal() rounds it (bounded first, so quantize cannot fail) ...
                rounded = value.quantize(_QUANTUM, ROUND_HALF_EVEN)  # positional: a keyword costs more than rounding
                if _DECIMAL_LOW < rounded < _DECIMAL_HIGH:
                    out[name] = rounded
                    continue
            # ... or converted, or refused with what is wrong
            if attribute:
                out[name] = default if value is None else normalize_attribute(spec, value)  # type: ignore[assignment]
            elif value is None:
                raise InvalidFact(name, "is required")
            else:
                out[name] = normalize_value(spec, value)
        return out


_WHOLE, _BOOL, _TEXT, _DECIMAL = "whole", "bool", "text", "decimal"
_KINDS = {
    FieldType.INT: _WHOLE,
    FieldType.MONEY: _WHOLE,
    FieldType.BOOL: _BOOL,
    FieldType.STR: _TEXT,
    FieldType.DECIMAL: _DECIMAL,
}


def normalize_value(spec: FieldSpec, value: object) -> FactValue:
    """A catalogue value in its strict Python type (no float for money or whole numbers)."""
    t = spec.type
    if t is FieldType.BOOL:
        if not isinstance(value, bool):
            raise InvalidFact(spec.name, "must be true or false")
        return value
    if t is FieldType.STR:
        return _text(spec, value)
    if isinstance(value, bool):
        raise InvalidFact(spec.name, "must be a number, not true/false")
    if t is FieldType.DECIMAL:
        return _decimal(spec.name, value)
    if not isinstance(value, int):
        what = "an amount in fen (a whole number)" if t is FieldType.MONEY else "a whole number"
        raise InvalidFact(spec.name, f"must be {what}")
    return _bounded_int(spec.name, value)


def normalize_attribute(spec: FieldSpec, value: object) -> FactValue:
    """An applicant attribute as a request carries it (numbers may arrive as floats, e.g. from a protobuf
    Struct): whole numbers and money (fen) must be integral, decimals finite."""
    t = spec.type
    if t in (FieldType.INT, FieldType.MONEY) and isinstance(value, float | Decimal) and not isinstance(value, bool):
        number = _decimal_of(spec.name, value)
        if number != number.to_integral_value():
            what = "an amount in fen" if t is FieldType.MONEY else "a whole number"
            raise InvalidFact(spec.name, f"must be {what}, not {value}")
        return _bounded_int(spec.name, int(number))
    return normalize_value(spec, value)


def _text(spec: FieldSpec, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidFact(spec.name, "must be text")
    if len(value) > MAX_TEXT:
        raise InvalidFact(spec.name, f"must be at most {MAX_TEXT} characters")
    if spec.allowed_values and value not in spec.allowed_values:
        raise InvalidFact(spec.name, "must be one of " + ", ".join(spec.allowed_values))
    return value


def _bounded_int(name: str, value: int) -> int:
    if not -INT_LIMIT < value < INT_LIMIT:
        raise InvalidFact(name, "is out of range (at most 15 digits)")
    return value


def _decimal_of(name: str, value: object) -> Decimal:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidFact(name, "must be a finite number")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidFact(name, "must be a finite number")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise InvalidFact(name, "must be a number")


def _decimal(name: str, value: object) -> Decimal:
    number = _decimal_of(name, value)
    if abs(number) >= DECIMAL_LIMIT:
        raise InvalidFact(name, "is out of range (must stay below 1,000,000,000)")
    try:
        rounded = number.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # pragma: no cover - bounded above, so quantize cannot overflow
        raise InvalidFact(name, "is out of range") from None
    if abs(rounded) >= DECIMAL_LIMIT:
        raise InvalidFact(name, "is out of range (must stay below 1,000,000,000)")
    return rounded
