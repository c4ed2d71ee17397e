"""The syntax tree of the rule expression language.

Every node keeps the character span of its source text, so that errors point at a column and
`explain` can quote the part of a condition that failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from service.engine.catalogue import FieldType

LiteralValue = int | Decimal | str | bool


@dataclass(frozen=True)
class Span:
    start: int  # offset of the first character in the expression text
    end: int  # offset just past the last character


@dataclass(frozen=True)
class Literal:
    """A constant. INT -> int, DECIMAL -> Decimal, MONEY -> int fen, BOOL -> bool, STR -> str."""

    value: LiteralValue
    type: FieldType
    span: Span


@dataclass(frozen=True)
class FieldRef:
    name: str  # dotted catalogue name, e.g. applicant.age
    span: Span


@dataclass(frozen=True)
class ListRef:
    name: str  # the list's name, i.e. the file lists/<name>.txt
    span: Span


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Member:
    """`subject in [..]`, `subject not in [..]`, `subject in lists.NAME`."""

    negated: bool
    subject: Expr
    items: tuple[Literal, ...] | None  # an inline list
    list_ref: ListRef | None  # or a list file
    span: Span


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span


Expr = Literal | FieldRef | ListRef | Not | BoolOp | Compare | Member | Arith | Neg

COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")
ORDERING_OPS = ("<", "<=", ">", ">=")
NEGATED_OP = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
MIRRORED_OP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def field_refs(expr: Expr) -> list[FieldRef]:
    """Every field reference in the expression, in source order."""
    out: list[FieldRef] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, FieldRef):
            out.append(node)
        else:
            stack.extend(reversed(children(node)))
    return out


def children(node: Expr) -> list[Expr]:
    """The direct sub-expressions of a node."""
    if isinstance(node, Not | Neg):
        return [node.operand]
    if isinstance(node, BoolOp):
        return list(node.operands)
    if isinstance(node, Compare | Arith):
        return [node.left, node.right]
    if isinstance(node, Member):
        kids: list[Expr] = [node.subject]
        if node.items is not None:
            kids.extend(node.items)
        if node.list_ref is not None:
            kids.append(node.list_ref)
        return kids
    return []


def render(expr: Expr) -> str:
    """A canonical text of the expression, fully parenthesised (equal texts mean equal meaning)."""
    if isinstance(expr, Literal):
        if isinstance(expr.value, bool):
            return "true" if expr.value else "false"
        if isinstance(expr.value, str):
            return repr(expr.value)
        if expr.type is FieldType.MONEY:
            return f"{expr.value}fen"
        return str(expr.value)
    if isinstance(expr, FieldRef):
        return expr.name
    if isinstance(expr, ListRef):
        return f"lists.{expr.name}"
    if isinstance(expr, Not):
        return f"(not {render(expr.operand)})"
    if isinstance(expr, Neg):
        return f"(-{render(expr.operand)})"
    if isinstance(expr, BoolOp):
        return "(" + f" {expr.op} ".join(render(op) for op in expr.operands) + ")"
    if isinstance(expr, Compare | Arith):
        return f"({render(expr.left)} {expr.op} {render(expr.right)})"
    target = render(expr.list_ref) if expr.list_ref is not None else \
        "[" + ", ".join(render(i) for i in expr.items or ()) + "]"
    return f"({render(expr.subject)} {'not in' if expr.negated else 'in'} {target})"
