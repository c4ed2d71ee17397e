"""The plain character meant by one that word processors and input methods type instead.

Word turns ' into a curly quote and >= into a sign of its own as one types, and a Chinese input method types
full-width digits and currency signs. The person editing a rule is on a Latin keyboard already, so telling them
to switch layouts does not help: each such character gets the fix that says exactly what to type.
"""

from __future__ import annotations

import re
import unicodedata

_CURLY_QUOTES = "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2032\u2033\u00b4\u0060"
_OPERATORS = {
    "\u2265": ">=", "\u2267": ">=", "\u2264": "<=", "\u2266": "<=", "\u2260": "!=", "\u2212": "-", "\u2013": "-",
    "\u2014": "-", "\u00d7": "*", "\u00f7": "/",
}
_YUAN_SIGNS = "\u00a5\uffe5"  # ¥ and the full-width ￥
_YUAN_WORDS = ("\u5143", "\u5706", "\u4eba\u6c11\u5e01")  # 元, 圓, 人民币
_NUMBER_AFTER = re.compile(r"\s*([0-9\uff10-\uff19][0-9\uff10-\uff19_.,]*)")
_NUMBER_BEFORE = re.compile(r"([0-9\uff10-\uff19][0-9\uff10-\uff19_.,]*)\s*$")


def plain_fix(text: str, pos: int) -> str | None:
    """How to write the character at `pos` of a condition, when it is one a word processor or an input method
    typed for a plain one; None for any other character."""
    ch = text[pos]
    if ch in _CURLY_QUOTES:
        return _straight_quotes(text, pos)
    if ch in _OPERATORS:
        return f"write {_OPERATORS[ch]} instead of '{ch}'"
    if ch in _YUAN_SIGNS:
        after = _NUMBER_AFTER.match(text, pos + 1)
        return f"write the amount as {_ascii(after.group(1)) if after else '500'} CNY: amounts are written with their" \
               " currency after the number"
    word = next((w for w in _YUAN_WORDS if text.startswith(w, pos)), None)
    if word is not None:
        before = _NUMBER_BEFORE.search(text, 0, pos)
        return f"write the amount as {_ascii(before.group(1)) if before else '500'} CNY: amounts are written with " \
               "their currency code, CNY"
    plain = unicodedata.normalize("NFKC", ch)
    if plain != ch and plain.isascii() and plain.isprintable() and len(plain) == 1:
        return f"write the plain character {plain} instead of the full-width '{ch}' (switch the input method to" \
               " half-width, or to English, to type it)"
    return None


def _straight_quotes(text: str, pos: int) -> str:
    closing = next((end for end in range(pos + 1, min(len(text), pos + 258)) if text[end] in _CURLY_QUOTES), None)
    quoted = f": '{text[pos + 1:closing]}'" if closing is not None and "'" not in text[pos + 1:closing] else ""
    return f"use the straight quote ' instead{quoted} (Word makes quotes curly as you type: retype them in a " \
           "plain-text editor, or turn off Word's smart quotes)"


def _ascii(number: str) -> str:
    return unicodedata.normalize("NFKC", number).replace(",", "")
