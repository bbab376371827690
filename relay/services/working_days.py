"""Working days in the UK: weekends and bank holidays excluded, dates in UK time.

The bank holidays are the `holidays` library's (a maintained calendar: Easter moves, and
a holiday that falls on a weekend gives a substitute day on the next weekday), for one of
the UK's subdivisions, since they differ: England, Wales, Scotland, Northern Ireland.

How a wait is counted, the way UK statutory time limits count (the ICO's "day one is the
first working day after the request is received"):

- The day something arrives is day 0, whatever the hour. Each working day that has begun
  since is one day waited. A letter sent at 9:00 on a Monday has waited 0 working days at
  17:00 that day, and 1 from the start of Tuesday.
- A letter sent on Friday evening, at the weekend, or on a bank holiday has waited 0 until
  the next working day begins, and 1 from then: sent on Friday at 21:00 or on Boxing Day's
  substitute Monday, it has waited 1 working day on the Monday or Tuesday after.
- A target of N working days is due at the end of the Nth working day after the day of
  arrival, and overdue from the start of the day after: a letter due on a Friday is overdue
  on the Saturday, though it has still waited only N working days then.

Days are UK dates (Europe/London): a letter sent at 23:30 UTC on a summer Sunday arrived
at 00:30 on Monday. Nothing here reads the clock, the database or Flask.
"""

import functools
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import holidays

UK_TIME = ZoneInfo("Europe/London")
ENGLAND = "ENG"
_DAY = timedelta(days=1)


@functools.cache
def _bank_holidays(subdivision: str, year: int) -> frozenset[date]:
    # One year at a time and kept: the library builds a year on first use, and its holiday
    # objects are mutable dictionaries; a frozenset is safe to share.
    return frozenset(holidays.country_holidays("GB", subdiv=subdivision, years=year))


def _weekdays_through(day: date) -> int:
    """Monday to Friday from 1 January of year 1 (a Monday) through `day`."""
    weeks, days = divmod(day.toordinal(), 7)
    return weeks * 5 + min(days, 5)


@dataclass(frozen=True)
class Calendar:
    """The working days of one UK subdivision (the `holidays` library's code: ENG, WLS,
    SCT or NIR)."""

    subdivision: str = ENGLAND

    def bank_holidays(self, year: int) -> frozenset[date]:
        return _bank_holidays(self.subdivision, year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.bank_holidays(day.year)

    def working_days_after(self, first: date, last: date) -> int:
        """Working days later than `first`, up to and including `last` (0 if none)."""
        if last <= first:
            return 0
        closed = sum(
            1
            for year in range(first.year, last.year + 1)
            for holiday in self.bank_holidays(year)
            if first < holiday <= last and holiday.weekday() < 5
        )
        return _weekdays_through(last) - _weekdays_through(first) - closed

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        day += _DAY
        while not self.is_working_day(day):
            day += _DAY
        return day

    def previous_working_day(self, day: date) -> date:
        """The last working day before `day`."""
        day -= _DAY
        while not self.is_working_day(day):
            day -= _DAY
        return day


def uk_date(moment: datetime) -> date:
    """The day in the UK at `moment`, which must carry its time zone."""
    if moment.tzinfo is None:
        raise ValueError("a moment without a time zone cannot be placed in the UK")
    return moment.astimezone(UK_TIME).date()


def working_days_waited(since: datetime, now: datetime, calendar: Calendar) -> int:
    """Working days waited from `since` to `now`: each one begun since the day of `since`."""
    return calendar.working_days_after(uk_date(since), uk_date(now))


def due_date(since: datetime, target: int, calendar: Calendar) -> date:
    """The last day for a target of `target` working days: the `target`th working day
    after the day of `since`."""
    if target < 1:
        raise ValueError("a target is at least one working day")
    day = uk_date(since)
    for _ in range(target):
        day = calendar.next_working_day(day)
    return day


def is_overdue(since: datetime, now: datetime, target: int, calendar: Calendar) -> bool:
    """Past its due date: from the start of the day after (UK time)."""
    return uk_date(now) > due_date(since, target, calendar)


def overdue_if_since_before(now: datetime, target: int, calendar: Calendar) -> datetime:
    """The moment such that anything that arrived before it is overdue at `now`, and
    nothing that arrived at it or later is: a bound a database can compare a column with.

    Overdue means due before today, and the due date moves with the day of arrival: what
    arrived before the `target`th working day counted back from yesterday is due before
    today; what arrived on that day or later is due today or later.
    """
    if target < 1:
        raise ValueError("a target is at least one working day")
    day = uk_date(now)
    for _ in range(target):
        day = calendar.previous_working_day(day)
    return datetime(day.year, day.month, day.day, tzinfo=UK_TIME)
