"""Jalali calendar arithmetic at its edges: 31-, 30- and 29-day months and leap years."""

from datetime import UTC, date, datetime, timedelta

import pytest
from persiantools.jdatetime import JalaliDate

from domain.calendar import add_jalali_months, add_jalali_years, add_months_at, months_started, tehran_today
from domain.display import TEHRAN


def jalali(year: int, month: int, day: int) -> date:
    return JalaliDate(year, month, day).to_gregorian()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (jalali(1404, 1, 15), 1, jalali(1404, 2, 15)),  # an ordinary month on
        (jalali(1404, 1, 31), 6, jalali(1404, 7, 30)),  # 31 Farvardin → Mehr has 30 days
        (jalali(1404, 6, 31), 1, jalali(1404, 7, 30)),  # the first half's 31st → the second half
        (jalali(1404, 11, 30), 1, jalali(1404, 12, 29)),  # Esfand of a common year has 29
        (jalali(1403, 11, 30), 1, jalali(1403, 12, 30)),  # ... and of a leap year 30
        (jalali(1404, 12, 29), 1, jalali(1405, 1, 29)),  # across the new year
        (jalali(1405, 1, 31), -1, jalali(1404, 12, 29)),  # back across it
        (jalali(1400, 3, 10), 48, jalali(1404, 3, 10)),  # 48 calendar months is not 1,440 days
        (jalali(1404, 7, 1), 3, jalali(1404, 10, 1)),  # three months from Mehr: 90 days, from Farvardin: 93
    ],
)
def test_months_are_calendar_months(start: date, months: int, expected: date) -> None:
    assert add_jalali_months(start, months) == expected


def test_three_months_differ_in_days_by_season() -> None:
    spring = jalali(1404, 1, 1)
    autumn = jalali(1404, 7, 1)
    assert (add_jalali_months(spring, 3) - spring).days == 93
    assert (add_jalali_months(autumn, 3) - autumn).days == 90


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (jalali(1403, 12, 30), jalali(1404, 12, 29)),  # a leap day a year on: the month's last day
        (jalali(1402, 12, 29), jalali(1403, 12, 29)),  # into a leap year: the same day
        (jalali(1404, 5, 20), jalali(1405, 5, 20)),
    ],
)
def test_years_are_calendar_years(start: date, expected: date) -> None:
    assert add_jalali_years(start, 1) == expected


def test_the_day_is_tehrans() -> None:
    # 21:00 UTC is already the next day in Tehran (UTC+03:30).
    assert tehran_today(datetime(2026, 3, 20, 21, 0, tzinfo=UTC)) == date(2026, 3, 21)
    assert tehran_today(datetime(2026, 3, 20, 20, 29, tzinfo=UTC)) == date(2026, 3, 20)


def test_an_instant_moves_by_months_at_the_same_tehran_time() -> None:
    at = datetime.combine(jalali(1404, 6, 31), datetime.min.time(), tzinfo=UTC).replace(hour=20, minute=45)
    # 20:45 UTC on 31 Shahrivar is 00:15 on 1 Mehr in Tehran: a month on is 00:15 on 1 Aban.
    moved = add_months_at(at, 1)
    assert moved == datetime.combine(jalali(1404, 8, 1), datetime.min.time(), tzinfo=UTC).replace(hour=20, minute=45) - timedelta(
        days=1
    )
    assert add_months_at(moved, -1) == at


def test_months_started_counts_each_begun_calendar_month() -> None:
    since = datetime.combine(jalali(1404, 11, 30), datetime.min.time(), tzinfo=TEHRAN)
    assert months_started(since, since - timedelta(seconds=1)) == 0
    assert months_started(since, since) == 1
    a_month_on = add_months_at(since, 1)  # 29 Esfand 1404: Esfand of a common year has 29 days
    assert a_month_on.date() == jalali(1404, 12, 29)
    assert months_started(since, a_month_on - timedelta(seconds=1)) == 1
    assert months_started(since, a_month_on) == 2
    assert months_started(since, add_months_at(since, 3)) == 4
    assert months_started(since, add_months_at(since, 3) - timedelta(seconds=1)) == 3
