"""What a request can carry: the lengths, codes and ranges the service holds every request to.

The one place these are written. api/requests.py refuses a request outside them, case_input.py a rule-test case
outside them, and the field catalogue (engine/catalogue.py) tells the rule checker from them which values a field
can never take, so that a rule comparing a field with such a value is refused rather than silently never (or
always) matching.
"""

from __future__ import annotations

import re

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
