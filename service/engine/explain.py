"""Why a rule did or did not match, in the words of its own condition (for `decisiond rules explain`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from service.domain.money import decimal_text
from service.engine import oracle
from service.engine.nodes import BoolOp, Expr, FieldRef, Not, field_refs, render


@dataclass(frozen=True)
class RuleTrace:
    rule_id: str
    matched: bool
    failed: tuple[str, ...]  # for a rule that did not match: the parts of its condition that were false


def trace_rule(rule_id: str, expr: Expr, source: str, facts: oracle.Facts, lists: oracle.Lists,
               money_fields: frozenset[str] = frozenset()) -> RuleTrace:
    """Evaluate one rule's condition and, when it is false, name the parts that made it false, each with the
    values of the fields it reads, e.g. `features.drawdowns_last_hour >= 3 (features.drawdowns_last_hour = 1)`."""
    if oracle.truth(expr, facts, lists):
        return RuleTrace(rule_id, True, ())
    return RuleTrace(rule_id, False, tuple(_failing(expr, source, facts, lists, money_fields)))


def _failing(expr: Expr, source: str, facts: oracle.Facts, lists: oracle.Lists,
             money_fields: frozenset[str]) -> list[str]:
    if isinstance(expr, BoolOp):
        out: list[str] = []
        for operand in expr.operands:
            if not oracle.truth(operand, facts, lists):
                out.extend(_failing(operand, source, facts, lists, money_fields))
        return out
    text = _text(expr, source)
    values = []
    for ref in dict.fromkeys(r.name for r in field_refs(expr)):
        values.append(f"{ref} = {_show(facts.get(ref), ref in money_fields)}")
    if isinstance(expr, Not) and isinstance(expr.operand, FieldRef):
        values = [f"{expr.operand.name} = yes"]
    return [f"{text} ({', '.join(values)})" if values else text]


def _text(expr: Expr, source: str) -> str:
    start, end = expr.span.start, expr.span.end
    if 0 <= start < end <= len(source):
        return " ".join(source[start:end].split())
    return render(expr)


def _show(value: object, money: bool) -> str:
    if money and isinstance(value, int):
        return f"{Decimal(value).scaleb(-2)} CNY"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    return str(value)
