"""Jalali calendar arithmetic at its edges: 31-, 30- and 29-day months and leap years."""

from datetime import UTC, date, datetime, timedelta

import pytest
from persiantools.jdatetime import JalaliDate

from domain.calendar import (
    add_jalali_months,
    add_jalali_years,
    add_months_at,
    add_working_hours,
    closed_days,
    months_started,
    tehran_today,
)
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


def tehran(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=TEHRAN).replace(hour=hour)


def test_closed_days_are_fridays_official_holidays_and_declared_closures() -> None:
    first, last = jalali(1405, 1, 1), jalali(1405, 1, 31)
    extra = jalali(1405, 1, 20)  # a closure operators declared (e.g. for heat or pollution)
    shut = closed_days(first, last, [extra, jalali(1406, 1, 1)])
    assert jalali(1405, 1, 1) in shut and jalali(1405, 1, 4) in shut  # Nowruz
    assert jalali(1405, 1, 13) in shut  # Sizdah be-dar (Nature's Day)
    assert extra in shut and jalali(1406, 1, 1) not in shut  # outside the range asked
    assert all(d in shut for d in (first + timedelta(days=n) for n in range(31)) if d.weekday() == 4)
    assert jalali(1405, 1, 18) not in shut  # an ordinary Tuesday


def test_72_working_hours_skip_a_friday_and_a_holiday() -> None:
    # From Wednesday 25 Azar 1405 (2026-12-16) at 10:00: Thursday counts, Friday does not.
    wednesday = tehran(date(2026, 12, 16), 10)
    assert wednesday.weekday() == 2
    shut = closed_days(wednesday.date(), wednesday.date() + timedelta(days=30))
    assert add_working_hours(wednesday, 72, shut) == wednesday + timedelta(hours=72 + 24)
    # 23 December 2026 is an official holiday (Imam Ali's birthday, 13 Rajab): one more day.
    assert date(2026, 12, 23) in shut
    monday = tehran(date(2026, 12, 21), 10)
    assert add_working_hours(monday, 72, shut) == monday + timedelta(hours=72 + 24 + 24)  # the holiday and Friday
    # With nothing closed it is 72 clock hours.
    assert add_working_hours(monday, 72, frozenset()) == monday + timedelta(hours=72)


def test_working_hours_from_a_closed_day_start_at_the_next_working_midnight() -> None:
    friday = tehran(date(2026, 12, 18), 15)
    assert friday.weekday() == 4
    shut = closed_days(friday.date(), friday.date() + timedelta(days=30))
    assert add_working_hours(friday, 24, shut) == tehran(date(2026, 12, 20))
