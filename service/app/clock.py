"""Wall-clock time, and the lender's business calendar (China Standard Time, which has no DST)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

BUSINESS_TIMEZONE = timezone(timedelta(hours=8), "CST")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def business_date(moment: datetime) -> date:
    """The calendar date at the lender's office for an aware moment."""
    return moment.astimezone(BUSINESS_TIMEZONE).date()
