"""Amounts written with commas, as people write yuan: `200,000 CNY`, or `300000,50 CNY` with a decimal comma.

Inside `{ }` a comma ends the entry: `{base_limit: 200,000 CNY, daily_rate: 0.0002}` is read as `base_limit: 200`
and a key `000 CNY` with no value. Said as YAML read them, an unknown key and a wrong amount, their fixes can leave
an amount 1,000 times too small; the rule files and the rule-test cases both say instead that the amount was cut
at its comma.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yaml.nodes import Node, ScalarNode

_TAG = "tag:yaml.org,2002:"
_AMOUNT_TAIL = re.compile(r"\d+(?:\.\d+)?(?:\s+[A-Za-z]+)?")
_THOUSANDS_AMOUNT = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:\s+[A-Za-z]+)?")


@dataclass(frozen=True)
class CutAmount:
    """An amount as written before YAML cut it (`200,000 CNY`), and whether its commas separate thousands (else one
    is a decimal comma, as Excel and Word write amounts in many locales: `300000,50 CNY`)."""

    written: str
    thousands: bool

    @property
    def with_decimal_point(self) -> str:
        return self.written.replace(",", ".")


def without_commas_fix(written: str) -> str | None:
    """The fix for an amount written with thousands separators (`1,000 CNY`), which the bundle's files do not take;
    None when `written` is not one."""
    if not _THOUSANDS_AMOUNT.fullmatch(written):
        return None
    return f"write {written.replace(',', '')}, without the comma{'s' if written.count(',') > 1 else ''}"


def amount_cut_at_comma(number: Node, tail_key: Node, tail_value: Node) -> CutAmount | None:
    """The amount, when the entry `tail_key` (with no value) of a `{ }` mapping is the rest of the number `number`,
    the value of the entry before it, cut at a comma."""
    cut = isinstance(number, ScalarNode) and number.tag in (_TAG + "int", _TAG + "float") and not number.style
    if not cut or not _is_a_tail(tail_key, tail_value):
        return None
    return _cut(f"{number.value},{tail_key.value}")


def cut_again(amount: CutAmount, tail_key: Node, tail_value: Node) -> CutAmount | None:
    """The amount with the entry after its rest added, when that is cut at a second comma (`1,000,000 CNY`)."""
    return _cut(f"{amount.written},{tail_key.value}") if not amount.written[-1:].isalpha() \
        and _is_a_tail(tail_key, tail_value) else None


def _is_a_tail(key: Node, value: Node) -> bool:
    empty = isinstance(value, ScalarNode) and value.tag == _TAG + "null" and not value.value
    return empty and isinstance(key, ScalarNode) and not key.style and bool(_AMOUNT_TAIL.fullmatch(key.value))


def _cut(written: str) -> CutAmount:
    return CutAmount(written, bool(_THOUSANDS_AMOUNT.fullmatch(written)))
