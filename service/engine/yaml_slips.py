"""Editing slips that make a file invalid YAML, found in the text itself, to report instead of PyYAML's words.

PyYAML reports where it gave up, which is often the line after the slip, with a cause that does not help the
person who made it: non-breaking spaces pasted from Word as indentation, a ` # note` at the end of a line
that the next line was meant to continue, or a key written without its ':' or indented too far (PyYAML then says
"mapping values are not allowed here", whose usual fix, quoting a text that holds ': ', is wrong for these). Each
slip here is found near the line PyYAML names and reported at the line that holds it, with a fix that works.
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
# The start of a line: its indentation, a '- ' if it is a list item, and its first word. The keys of the bundle's
# files are such words, in lower case; a word in capitals starts a text more likely than a key.
_LINE_START = re.compile(r"(?P<indent> *)(?:- +)?(?P<word>[a-z_][a-z0-9_]*)")
_SHOWN_CHARS = 60  # of a line quoted in a fix


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


def colon_slip(text: str, error_line: int, error_col: int) -> Slip | None:
    """Why PyYAML found "mapping values are not allowed here" at 0-based `error_line` and `error_col` (a ':'), when
    it is a key written without its ':' (`- id FRD-008` or `then {outcome: ...}`) or a key indented further than the
    keys beside it: YAML then reads the key's line, or the line that follows, as more of a text."""
    lines = text.split("\n")
    before = _plain_text_before(text, error_line)
    if before is None or error_line >= len(lines):
        return None
    start = before.start_mark
    if start.line == error_line:  # `then {outcome: REVIEW, ...}`: the text is the key and the start of its value
        found = _LINE_START.match(lines[error_line])
        rest = lines[error_line][found.end():] if found else ""
        if found is None or not rest.startswith(" ") or rest.lstrip()[:1] not in ("{", "["):
            return None
        return _missing_colon(lines, error_line, found, "")
    start_line = lines[start.line]
    found = _LINE_START.match(start_line)
    if found is not None and found.start("word") == start.column:  # `- id FRD-008`: the text starts the line
        if not start_line[found.end():].startswith(" "):
            return None
        consequence = f", so YAML reads this line and line {error_line + 1} as one text"
        return _missing_colon(lines, start.line, found, consequence)
    # `description: text` and, below it, a key indented further than `description:`: read as more of its text
    key = _LINE_START.fullmatch(lines[error_line][:error_col])
    above = _LINE_START.match(start_line)
    if key is None or above is None or not start_line[above.end():].startswith(":"):
        return None
    word, above_word, indent = key.group("word"), above.group("word"), above.start("word")
    return Slip(error_line, key.start("word"), f"'{word}:' is indented further than '{above_word}:' on line "
                f"{start.line + 1}, so YAML reads it as more of the text of '{above_word}:'",
                f"indent '{word}:' by {indent} spaces, as far as '{above_word}:'")


def _plain_text_before(text: str, error_line: int) -> yaml.ScalarToken | None:
    """The unquoted text YAML read last before it failed at or before 0-based `error_line`."""
    last = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line > error_line:
                break
            if isinstance(token, yaml.ScalarToken):
                last = token
    except (yaml.YAMLError, ValueError, OverflowError):  # the tokens read before it are what counts
        pass
    return last if last is not None and last.plain else None


def _missing_colon(lines: list[str], number: int, found: re.Match[str], consequence: str) -> Slip:
    """The key `found` at the start of 0-based line `number` has no ':' after it: the fix shows the line with it."""
    line, word, end = lines[number], found.group("word"), found.end()
    fixed = f"{line[found.end('indent'):end]}:{line[end:]}".rstrip()
    if len(fixed) > _SHOWN_CHARS:
        fixed = fixed[: _SHOWN_CHARS - 3] + "..."
    return Slip(number, end, f"'{word}' has no ':' after it{consequence}", f"put ':' after '{word}': {fixed}")
