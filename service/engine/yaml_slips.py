"""Editing slips that make a file invalid YAML, found in the text itself, to report instead of PyYAML's words.

PyYAML reports where it gave up, which is often the line after the slip, with a cause that does not help the
person who made it: non-breaking spaces pasted from Word as indentation, or a ` # note` at the end of a line
that the next line was meant to continue. Each slip here is found near the line PyYAML names and reported at
the line that holds it, with a fix that works.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

NBSP = "\u00a0"
# How far above the line PyYAML names a slip may be: PyYAML gives up on the next line or the one after it.
_LINES_ABOVE = 2
# A line `key: text # note` (or `- key: text # note`) whose value is plain text, not quoted or a block.
_VALUE_WITH_NOTE = re.compile(r"(?P<indent> *)(?:- +)?(?P<key>[A-Za-z_][\w.-]*): +(?P<value>[^'\"#|>\s][^#]*?)"
                              r" +(?P<note>#.*)$")


@dataclass(frozen=True)
class Slip:
    """A slip at 0-based `line` and `col`, said in plain words with its fix."""

    line: int
    col: int
    message: str
    hint: str


def slip_behind(text: str, error_line: int) -> Slip | None:
    """The slip that most likely made PyYAML fail at 0-based `error_line`, if one of those above is there."""
    lines = text.split("\n")
    error_line = min(error_line, len(lines) - 1)
    nearby = range(error_line, max(-1, error_line - _LINES_ABOVE - 1), -1)
    for number in nearby:
        slip = _pasted_spaces(lines[number], number)
        if slip is not None:
            return slip
    return _note_ending_a_value(lines, error_line)


def quote_left_open(text: str, error_line: int) -> Slip | None:
    """A quoted value whose closing quote is missing on its line, so that YAML read on to the next such quote, at or
    just above 0-based `error_line` where it then gave up: `when: 'a < 3` followed, lines later, by `['B']`."""
    opened = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line > error_line:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ("'", '"') \
                    and token.start_mark.line < token.end_mark.line:
                opened = token
    except (yaml.YAMLError, ValueError, OverflowError):  # the tokens read before it are what counts
        pass
    if opened is None or opened.end_mark.line < error_line - _LINES_ABOVE:
        return None
    after = text[opened.end_mark.index:].split("\n", 1)[0].lstrip()
    if not after or after[0] in ",]}:#":  # it ends a value as a closing quote does: a text written over lines
        return None
    start, quote = opened.start_mark, opened.style
    return Slip(start.line, start.column, f"the quote {quote} that starts here is never closed on this line, so YAML "
                f"read on to the next {quote}, on line {opened.end_mark.line + 1}",
                f"end the text with {quote} on this line")


def _pasted_spaces(line: str, number: int) -> Slip | None:
    """Non-breaking spaces where YAML needs ordinary ones: in the indentation, or after a ':' or '- '."""
    indentation = line[: len(line) - len(line.lstrip(" " + NBSP))]
    if NBSP in indentation:
        return Slip(number, 0, "this line starts with invisible non-breaking spaces (U+00A0, often pasted from Word)"
                    " where YAML needs ordinary spaces", "retype the indentation of this line with ordinary spaces")
    found = re.search(r"(?::|^\s*-)" + NBSP, line)
    if found is not None:
        col = found.end() - 1
        return Slip(number, col, f"an invisible non-breaking space (U+00A0, often pasted from Word) follows "
                    f"'{line[col - 1]}' where YAML needs an ordinary space", "retype that space as an ordinary space")
    return None


def _note_ending_a_value(lines: list[str], error_line: int) -> Slip | None:
    """`when: a   # note` followed by a more indented line meant to continue `a`: the note ends the value, so
    the next line cannot continue it."""
    above = error_line - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above < 0:
        return None
    found = _VALUE_WITH_NOTE.match(lines[above])
    indent = len(lines[error_line]) - len(lines[error_line].lstrip(" "))
    if found is None or indent <= len(found.group("indent")) or lines[error_line].lstrip().startswith("#"):
        return None
    key, note = found.group("key"), found.group("note")
    return Slip(above, found.start("note"), f"the comment '{note}' ends the value of '{key}:' on this line, so line "
                f"{error_line + 1} cannot continue it", f"move the comment to a line of its own, above '{key}:'")
