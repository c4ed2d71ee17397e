"""An operating-system error as the service's messages give it."""

from __future__ import annotations


def reason_of(error: BaseException) -> str:
    """Why the operating system refused, in lower case for the middle of a sentence: an OSError's strerror ("no such
    file or directory"), else the error's own text (a ValueError from a closed stream, say)."""
    return (getattr(error, "strerror", None) or str(error)).lower()
