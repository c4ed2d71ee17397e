"""The plain-Python reading of an expression: the reference the compiled engine rules must agree with.

Used for derived values (arithmetic, field-to-field comparisons, list membership), limit caps, `explain`,
and as the oracle of the differential test.

Semantics worth knowing:
- facts are normalised first (see facts.py): money is int fen, decimals are rounded to 9 places;
- arithmetic is exact decimal arithmetic (100 significant digits for division);
- a comparison or `in` whose calculation cannot be carried out (division by zero) is false, and
  `not` of it is true.
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal

from service.engine.nodes import (
    Arith,
    BoolOp,
    Compare,
    Expr,
    FieldRef,
    Literal,
    Member,
    Neg,
    Not,
)

FactValue = int | Decimal | bool | str
Facts = Mapping[str, FactValue]
Lists = Mapping[str, frozenset[str]]
Evaluator = Callable[[Facts], FactValue]

_CONTEXT = decimal.Context(
    prec=100, rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


class Incalculable(Exception):
    """A calculation that has no value (division by zero, overflow)."""


def evaluate(expr: Expr, facts: Facts, lists: Lists) -> FactValue:
    """The value of a type-checked expression over normalised facts.

    Raises Incalculable for a bare calculation with no value; conditions never raise (see module doc).
    """
    return evaluator(expr, lists)(facts)


def evaluator(expr: Expr, lists: Lists) -> Evaluator:
    """The function giving an expression's value over normalised facts (see evaluate()), made once: the engine
    fact's derived keys are worked out for every call without walking the expression again."""
    if isinstance(expr, Literal):
        value = expr.value
        return lambda facts: value
    if isinstance(expr, FieldRef):
        return operator.itemgetter(expr.name)
    if isinstance(expr, Not):
        operand = evaluator(expr.operand, lists)
        return lambda facts: not operand(facts)
    if isinstance(expr, BoolOp):
        operands = tuple(evaluator(op, lists) for op in expr.operands)
        if expr.op == "and":
            return lambda facts: all(op(facts) for op in operands)
        return lambda facts: any(op(facts) for op in operands)
    if isinstance(expr, Compare):
        return _compare_evaluator(expr.op, evaluator(expr.left, lists), evaluator(expr.right, lists))
    if isinstance(expr, Member):
        return _member_evaluator(expr, evaluator(expr.subject, lists), lists)
    if isinstance(expr, Arith):
        op, left, right = expr.op, evaluator(expr.left, lists), evaluator(expr.right, lists)
        return lambda facts: arith(op, left(facts), right(facts))
    if isinstance(expr, Neg):
        negated = evaluator(expr.operand, lists)

        def negative(facts: Facts) -> FactValue:
            value = negated(facts)
            return -value if isinstance(value, int) and not isinstance(value, bool) else -_number(value)

        return negative
    raise TypeError(f"not a value expression: {type(expr).__name__}")  # pragma: no cover - ListRef


def _compare_evaluator(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    def compared(facts: Facts) -> FactValue:
        try:
            return compare(op, left(facts), right(facts))
        except Incalculable:
            return False

    return compared


def _member_evaluator(expr: Member, subject: Evaluator, lists: Lists) -> Evaluator:
    def found(facts: Facts) -> FactValue:
        try:
            return member(expr, subject(facts), lists)
        except Incalculable:
            return False

    return found


def truth(expr: Expr, facts: Facts, lists: Lists) -> bool:
    """Whether a condition holds."""
    return bool(evaluate(expr, facts, lists))


def compare(op: str, left: FactValue, right: FactValue) -> bool:
    """`left op right` for two values of compatible kinds (ints and Decimals compare exactly)."""
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    a, b = _number(left), _number(right)
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def member(expr: Member, value: FactValue, lists: Lists) -> bool:
    if expr.list_ref is not None:
        found = isinstance(value, str) and value in lists.get(expr.list_ref.name, frozenset())
    else:
        found = any(value == item.value for item in expr.items or ())
    return found != expr.negated


def arith(op: str, left: FactValue, right: FactValue) -> Decimal | int:
    a, b = _number(left), _number(right)
    try:
        if op == "+":
            result = _CONTEXT.add(a, b)
        elif op == "-":
            result = _CONTEXT.subtract(a, b)
        elif op == "*":
            result = _CONTEXT.multiply(a, b)
        else:
            result = _CONTEXT.divide(a, b)
    except ArithmeticError as err:
        raise Incalculable(str(err)) from None
    if op != "/" and isinstance(left, int) and isinstance(right, int):
        return int(result)
    return result


def _number(value: FactValue) -> Decimal:
    if isinstance(value, bool | str):
        raise TypeError("not a number")  # pragma: no cover - excluded by the type checker
    return Decimal(value)
