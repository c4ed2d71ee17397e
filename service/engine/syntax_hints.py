"""Fixes for the slips people most often make in a condition, where the parser stops at a token it did not expect.

The parser's general advice for a word or number it did not expect is "join two conditions with 'and' or 'or'",
which is wrong for these: the currency in lower case or before the amount (`CNY 100`, `RMB 100`), `is false`, a
list named without `lists.` or by its file name, and a thousands separator (a comma, or a space). Each gets the
form to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

# Words people write for the yuan after an amount, in lower case (RMB in capitals is read as a currency code).
_YUAN_WORDS = {"yuan", "rmb", "renminbi", "kuai"}
_LIST_FILE = re.compile(r"lists/([A-Za-z0-9_]+)(?:\.txt)?")


class TokenLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


def hint_for_unexpected(tokens: Sequence[TokenLike], at: int, text: str, currency: str) -> str | None:
    """The fix for the unexpected token `tokens[at]` of the condition `text`, when it is one of the slips above."""
    tok = tokens[at]
    prev = tokens[at - 1] if at > 0 else None
    after = tokens[at + 1] if at + 1 < len(tokens) else None
    if prev is None:
        return None
    if prev.kind == "keyword" and prev.text == "in" and tok.kind == "name":
        named = _LIST_FILE.match(text, tok.start)
        name = named.group(1) if named else tok.text
        return f"write lists.{name} for the file lists/{name}.txt, or a list of values such as ['A', 'B']"
    if prev.kind == "number" and tok.kind == "name" and tok.text.upper() == currency:
        return f"write the currency in capitals: {prev.text} {currency}"
    if prev.kind == "number" and tok.kind == "name" and tok.text.lower() in _YUAN_WORDS:
        return f"write the amount with the currency code: {prev.text} {currency}"
    if prev.kind == "name" and prev.text.upper() == currency and tok.kind == "number":
        return f"write the currency after the amount: {tok.text} {currency}"
    if prev.kind == "name" and prev.text.lower() in _YUAN_WORDS and tok.kind == "number":  # `RMB 20000`
        return f"write the amount first, then {currency}: {tok.text} {currency}"
    if prev.kind == "name" and tok.kind == "name" and tok.text == "is" and after is not None:
        if after.text == "false":
            return f"write not {prev.text} (or {prev.text} == false)"
        if after.text == "true":
            return f"write {prev.text} on its own (or {prev.text} == true)"
        return "'is' is not an operator: compare with == or !="
    if prev.kind == "number" and tok.text == "," and after is not None and after.kind == "number":
        whole = prev.text + after.text
        return f"write numbers without thousands separators: {whole} or {prev.text}_{after.text}"
    if prev.kind == "number" and _THOUSANDS_LEAD.fullmatch(prev.text) and tok.kind == "number":
        return _space_separated_number(tokens, at, text, currency)
    return None


_THOUSANDS_LEAD = re.compile(r"[0-9]{1,3}")
_THOUSANDS_GROUP = re.compile(r"[0-9]{3}(?:\.[0-9]+)?")


def _space_separated_number(tokens: Sequence[TokenLike], at: int, text: str, currency: str) -> str | None:
    """The fix for `10 000 CNY`, a number written with spaces between its groups of three digits (as Excel and
    many locales print it), whose second group `tokens[at]` the parser did not expect; None when it is not one."""
    groups = [tokens[at - 1].text]
    index = at
    while index < len(tokens) and tokens[index].kind == "number" and _THOUSANDS_GROUP.fullmatch(tokens[index].text) \
            and not text[tokens[index - 1].end:tokens[index].start].strip() and "." not in groups[-1]:
        groups.append(tokens[index].text)
        index += 1
    if len(groups) < 2:
        return None
    after = tokens[index] if index < len(tokens) else None
    unit = f" {currency}" if after is not None and after.kind == "name" and after.text == currency else ""
    return f"write numbers without spaces inside them: {''.join(groups)}{unit} or {'_'.join(groups)}{unit}"
