"""How operators see things: Jalali dates, rial amounts with separators, Persian digits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from persiantools import digits
from persiantools.jdatetime import JalaliDate, JalaliDateTime

TEHRAN = timezone(timedelta(hours=3, minutes=30))
"""Iran Standard Time; Iran has observed no daylight saving since 2022."""


def jalali_datetime(instant: datetime | None) -> str:
    """``۱۴۰۵/۰۸/۳۰ ۱۵:۳۰`` in Tehran time; ``—`` when there is no instant."""
    if instant is None:
        return "—"
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return JalaliDateTime(instant.astimezone(TEHRAN)).strftime("%Y/%m/%d %H:%M", locale="fa")


def jalali_date(day: date | None) -> str:
    """``۱۴۰۵/۰۸/۳۰``; ``—`` when there is no date."""
    if day is None:
        return "—"
    return JalaliDate(day).strftime("%Y/%m/%d", locale="fa")


def rials(amount: int | Decimal | None) -> str:
    """``۱۲,۵۰۰,۰۰۰ ریال``; ``—`` when there is no amount."""
    if amount is None:
        return "—"
    return f"{digits.en_to_fa(f'{int(amount):,}')} ریال"


def euros(amount: Decimal | None) -> str:
    if amount is None:
        return "—"
    return f"{digits.en_to_fa(f'{amount:,.2f}')} یورو"


def parse_instant(text: str | None) -> datetime | None:
    """Parse the ISO-8601 UTC strings that statuses carry."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(instant: datetime | None) -> str | None:
    """ISO-8601 in UTC with a trailing ``Z``, the contract's form for instants."""
    if instant is None:
        return None
    if instant.tzinfo is None:  # SQLite hands back naive datetimes; the registry stores UTC
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
