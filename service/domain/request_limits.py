"""What a request can carry: the lengths, codes and ranges the service holds every request to.

The one place these are written. api/requests.py refuses a request outside them, case_input.py a rule-test case
outside them, and the field catalogue (engine/catalogue.py) tells the rule checker from them which values a field
can never take, so that a rule comparing a field with such a value is refused rather than silently never (or
always) matching.
"""

from __future__ import annotations

import re
import socket

MAX_ID_LENGTH = 64  # user, request, device and counterparty ids
MAX_TEXT_LENGTH = 64  # other short texts: a purpose, a city, a merchant category
MAX_COUNT = 100_000  # the largest value of a whole-number applicant field without its own in APPLICANT_MAXIMA
MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_TEXT = 256
# Matched whole (fullmatch: the `$` of `match` would let a trailing line break through).
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # an applicant attribute's name
COUNTRY_CODE = re.compile(r"[A-Z]{2}")  # ISO 3166 alpha-2
PURPOSE_CODE = re.compile(r"[A-Z][A-Z0-9_]*")  # a drawdown's purpose
MAX_TERM_MONTHS = 360
APPLICANT_MAXIMA = {  # the whole-number applicant fields whose largest value is not MAX_COUNT (all are at least 0)
    "age": 130,
    "active_spend_months": 12,
    "max_days_overdue_24m": 731,
    "account_age_months": 1200,
}


def identifier_problem(value: str) -> str | None:
    """Why a non-empty id (a user's, a request's, a device's, a counterparty's, a transaction's) is no id a request
    can carry, in words that follow its name; None when it is one."""
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    if not value.isprintable() or value != value.strip():
        return "must be printable, without leading or trailing spaces"
    return None


_IPV4_MAPPED = bytes(10) + b"\xff\xff"  # the first 12 bytes of ::ffff:203.0.113.7


def canonical_ip(text: str) -> str | None:
    """An IP address in the one form the service keeps and rules compare, None when `text` is not one: IPv4 dotted
    (203.0.113.7, no leading zeros), IPv6 compressed in lower case (2001:db8::1 for 2001:0DB8:0:0::0001), and an
    IPv4 address mapped into IPv6 (::ffff:203.0.113.7) as IPv4. So an address written another way by another client
    library still meets a rule or a list naming it. (The C parser and printer: ipaddress takes microseconds.)"""
    try:
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return None
    if packed[:12] == _IPV4_MAPPED:
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed)
