"""Parts of a condition that are true for every request, or false for every request (W007).

`applicant.age > 18 and applicant.age >= 0` means `applicant.age > 18`: its second part holds for every age a
request carries, so it changes nothing, and its writer most likely meant another bound. The whole condition's
"never" and "always" are R108 and W001 (load_rules.py); this looks at each part of an `and` or `or`, outermost
first, judged over the values requests carry exactly as those are (satisfy.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from service.engine.compiler import Lowering
from service.engine.nodes import BoolOp, Expr, Not
from service.engine.satisfy import always_matches, never_matches
from service.engine.sources import SourceTable
from service.engine.typecheck import Scope


@dataclass(frozen=True)
class ConstantPart:
    part: Expr  # its span locates it in the condition's text
    value: bool  # what it is for every request


def constant_parts(expr: Expr, scope: Scope) -> Iterator[ConstantPart]:
    """Each part of an `and` or `or` in `expr` that has the same truth for every request; a constant part's own
    parts are not looked into (it is reported, not what makes it so).

    Called for a condition that is neither never nor always true, each part found changes nothing: a part false
    for every request would make its `and` false for every request, and that `and` would be the part found (or
    the whole condition, never true); likewise a part true for every request within an `or`."""
    if isinstance(expr, Not):
        yield from constant_parts(expr.operand, scope)
    elif isinstance(expr, BoolOp):
        for operand in expr.operands:
            value = _constant(operand, scope)
            if value is None:
                yield from constant_parts(operand, scope)
            else:
                yield ConstantPart(operand, value)


def _constant(expr: Expr, scope: Scope) -> bool | None:
    table = SourceTable()
    cond = Lowering(scope, table).lower(expr)
    if always_matches(cond, table.sources):
        return True
    if never_matches(cond, table.sources):
        return False
    return None


def describe(found: ConstantPart, text: str) -> tuple[str, str]:
    """The message and the hint for a constant part, `text` being the part as written."""
    return (f"'{text}' is {'true' if found.value else 'false'} for every request, so it changes nothing: the "
            "condition means the same without it",
            "check the bounds and values of this part (docs/rules.md gives the values requests carry), or remove it")
