"""Calendar arithmetic as the seeds mean it: months and years of the Jalali calendar, not blocks of
30 or 365 days.

"One year after production" is the same Jalali day and month a year on; a day the target month
lacks (30 Esfand in a common year, 31 of the first six months moved into the last six) falls on
that month's last day, as a calendar reader would count.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from datetime import date, datetime, time, timedelta

import holidays
from persiantools.jdatetime import JalaliDate

from domain.display import TEHRAN


def tehran_today(now: datetime) -> date:
    """The calendar day in Tehran at the instant ``now`` (the seeds' days are Tehran's)."""
    return now.astimezone(TEHRAN).date()


def add_jalali_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` Jalali calendar months (negative moves back)."""
    j = JalaliDate.to_jalali(day)
    index = j.year * 12 + (j.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = JalaliDate.days_in_month(month, year)
    return JalaliDate(year, month, min(j.day, last)).to_gregorian()


def add_jalali_years(day: date, years: int) -> date:
    """``day`` moved by ``years`` Jalali calendar years."""
    return add_jalali_months(day, 12 * years)


def add_months_at(at: datetime, months: int) -> datetime:
    """The instant ``months`` Jalali calendar months after ``at`` (negative: before), at the same
    wall-clock time in Tehran; a day the target month lacks falls on its last day."""
    local = at.astimezone(TEHRAN)
    return datetime.combine(add_jalali_months(local.date(), months), local.time(), tzinfo=TEHRAN)


def months_started(since: datetime, now: datetime) -> int:
    """Calendar months begun from ``since`` to ``now``: 0 before ``since``, 1 from ``since`` until
    one month after it, 2 from then, and so on (a penalty "per started month")."""
    if now < since:
        return 0
    begun = (now - since).days // 31  # no Jalali month is longer: at least this many have passed
    while add_months_at(since, begun + 1) <= now:
        begun += 1
    return begun + 1


FRIDAY = 4
"""``date.weekday()`` of the Iranian weekend (Friday)."""


def closed_days(first: date, last: date, closures: Iterable[date] = ()) -> frozenset[date]:
    """Days from ``first`` to ``last`` on which banks and offices are shut: Fridays, Iran's official
    holidays (the ``holidays`` library's calendar for Iran) and the closures operators declared."""
    official = holidays.country_holidays("IR", years=range(first.year, last.year + 1))
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    shut = {d for d in days if d.weekday() == FRIDAY or d in official}
    return frozenset(shut | {d for d in closures if first <= d <= last})


def add_working_hours(start: datetime, hours: int, closed: Container[date]) -> datetime:
    """The instant ``hours`` working hours after ``start``: only the hours of days (in Tehran) that
    are not ``closed`` count, so 72 working hours from a Wednesday noon skip the Friday."""
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(TEHRAN)
    for _ in range(3660):  # ten years of days: far past any closure run
        midnight = datetime.combine(cursor.date() + timedelta(days=1), time(0), tzinfo=TEHRAN)
        if cursor.date() not in closed:
            if remaining <= midnight - cursor:
                return cursor + remaining
            remaining -= midnight - cursor
        cursor = midnight
    raise ValueError("no working hours in ten years: the closures cannot be right")
