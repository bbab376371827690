"""Working days (relay/services/working_days.py) on real 2026 and 2027 dates: weekends and
UK bank holidays from the `holidays` library, days in UK time, and what "waited N working
days" means for a letter sent on a Friday evening or on a bank holiday."""

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import holidays
import pytest

from relay.services.working_days import UK_TIME
from relay.services.working_days import Calendar
from relay.services.working_days import due_date
from relay.services.working_days import is_overdue
from relay.services.working_days import overdue_if_since_before
from relay.services.working_days import uk_date
from relay.services.working_days import working_days_waited

ENGLAND = Calendar("ENG")
SCOTLAND = Calendar("SCT")
TARGET = 5


def uk(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment on the clock in the UK."""
    return datetime(year, month, day, hour, minute, tzinfo=UK_TIME)


# --- the calendar -----------------------------------------------------------------------


def test_christmas_2026_closes_friday_and_the_substitute_monday_for_boxing_day():
    # Boxing Day 2026 is a Saturday: the bank holiday is Monday 28 December.
    assert date(2026, 12, 26).weekday() == 5
    closed = [date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 28)]
    assert all(not ENGLAND.is_working_day(day) for day in closed)
    assert ENGLAND.is_working_day(date(2026, 12, 24))
    assert ENGLAND.is_working_day(date(2026, 12, 29))


def test_easter_2027_closes_good_friday_and_easter_monday_in_england_only_friday_in_scotland():
    assert not ENGLAND.is_working_day(date(2027, 3, 26))
    assert not ENGLAND.is_working_day(date(2027, 3, 29))
    assert not SCOTLAND.is_working_day(date(2027, 3, 26))
    assert SCOTLAND.is_working_day(date(2027, 3, 29))


def test_the_early_may_bank_holiday_2027_is_monday_3_may():
    assert not ENGLAND.is_working_day(date(2027, 5, 3))
    assert ENGLAND.is_working_day(date(2027, 5, 4))


def test_scotland_keeps_2_january_which_england_works():
    # 2 January 2027 is a Saturday: Scotland's substitute is Monday 4 January.
    assert not SCOTLAND.is_working_day(date(2027, 1, 4))
    assert ENGLAND.is_working_day(date(2027, 1, 4))


def test_the_counting_agrees_with_a_day_by_day_walk_over_two_years():
    start = date(2025, 12, 20)
    for first_offset in range(0, 400, 7):
        first = start + timedelta(days=first_offset)
        walked = 0
        for length in range(0, 60):
            last = first + timedelta(days=length)
            if length and ENGLAND.is_working_day(last):
                walked += 1
            assert ENGLAND.working_days_after(first, last) == walked, (first, last)


def test_the_calendar_is_the_librarys_not_a_list_of_our_own():
    ours = ENGLAND.bank_holidays(2027)
    assert ours == frozenset(holidays.country_holidays("GB", subdiv="ENG", years=2027))
    assert len(ours) >= 8


# --- waiting ------------------------------------------------------------------------------


def test_a_letter_sent_on_friday_evening_has_waited_nothing_until_monday():
    sent = uk(2026, 11, 27, 21, 0)  # a Friday
    assert working_days_waited(sent, uk(2026, 11, 27, 23, 59), ENGLAND) == 0
    assert working_days_waited(sent, uk(2026, 11, 28), ENGLAND) == 0
    assert working_days_waited(sent, uk(2026, 11, 29, 23, 59), ENGLAND) == 0
    assert working_days_waited(sent, uk(2026, 11, 30, 0, 1), ENGLAND) == 1
    assert working_days_waited(sent, uk(2026, 12, 4, 18), ENGLAND) == 5
    assert due_date(sent, TARGET, ENGLAND) == date(2026, 12, 4)


def test_a_letter_sent_on_monday_morning_counts_from_tuesday():
    sent = uk(2026, 11, 30, 9, 0)
    assert working_days_waited(sent, uk(2026, 11, 30, 17), ENGLAND) == 0
    assert working_days_waited(sent, uk(2026, 12, 1, 0, 1), ENGLAND) == 1
    assert due_date(sent, TARGET, ENGLAND) == date(2026, 12, 7)


def test_a_letter_sent_on_a_bank_holiday_counts_from_the_next_working_day():
    sent = uk(2026, 12, 28, 11)  # Boxing Day's substitute Monday
    assert working_days_waited(sent, uk(2026, 12, 28, 23), ENGLAND) == 0
    assert working_days_waited(sent, uk(2026, 12, 29), ENGLAND) == 1
    # 29, 30, 31 December, then New Year's Day (a Friday) is closed: 4 and 5 January.
    assert due_date(sent, TARGET, ENGLAND) == date(2027, 1, 5)


def test_christmas_2026_stretches_a_five_day_target_into_the_new_year():
    sent = uk(2026, 12, 24, 15)  # Christmas Eve, a Thursday and a working day
    # Closed: Friday 25, the weekend, Monday 28 (Boxing Day's substitute).
    assert working_days_waited(sent, uk(2026, 12, 28, 16), ENGLAND) == 0
    assert working_days_waited(sent, uk(2026, 12, 31), ENGLAND) == 3
    assert working_days_waited(sent, uk(2027, 1, 4), ENGLAND) == 4
    assert due_date(sent, TARGET, ENGLAND) == date(2027, 1, 5)
    assert not is_overdue(sent, uk(2027, 1, 5, 23, 59), TARGET, ENGLAND)
    assert is_overdue(sent, uk(2027, 1, 6, 0, 1), TARGET, ENGLAND)


def test_easter_2027_and_the_clocks_going_forward():
    sent = uk(2027, 3, 25, 16)  # the Thursday before Good Friday
    # British Summer Time starts on Sunday 28 March: a UK day is still a UK day.
    assert working_days_waited(sent, uk(2027, 3, 29, 12), ENGLAND) == 0
    assert working_days_waited(sent, uk(2027, 3, 30, 0, 5), ENGLAND) == 1
    assert due_date(sent, TARGET, ENGLAND) == date(2027, 4, 5)
    # Scotland works Easter Monday: due a day sooner.
    assert due_date(sent, TARGET, SCOTLAND) == date(2027, 4, 2)


def test_the_early_may_bank_holiday_after_a_friday_evening():
    sent = uk(2027, 4, 30, 18, 30)  # Friday 30 April
    assert working_days_waited(sent, uk(2027, 5, 3, 12), ENGLAND) == 0
    assert working_days_waited(sent, uk(2027, 5, 4, 9), ENGLAND) == 1
    assert due_date(sent, TARGET, ENGLAND) == date(2027, 5, 10)


def test_overdue_on_the_saturday_after_a_friday_due_date():
    sent = uk(2026, 11, 27, 21, 0)
    assert not is_overdue(sent, uk(2026, 12, 4, 23, 59), TARGET, ENGLAND)
    # The deadline has passed, though no working day has begun since.
    assert working_days_waited(sent, uk(2026, 12, 5, 9), ENGLAND) == TARGET
    assert is_overdue(sent, uk(2026, 12, 5, 9), TARGET, ENGLAND)


def test_the_day_is_the_uks_not_utcs():
    # 23:30 UTC on Sunday 27 June 2027 is 00:30 on Monday in the UK (summer time).
    summer = datetime(2027, 6, 27, 23, 30, tzinfo=UTC)
    assert uk_date(summer) == date(2027, 6, 28)
    assert working_days_waited(summer, datetime(2027, 6, 28, 23, 0, tzinfo=UTC), ENGLAND) == 1
    # In winter UTC and the UK agree: 23:30 on a Sunday is Sunday.
    winter = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert uk_date(winter) == date(2026, 11, 29)


def test_a_moment_without_a_time_zone_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        uk_date(datetime(2026, 12, 24, 10))


@pytest.mark.parametrize("target", [0, -1])
def test_a_target_below_one_working_day_is_refused(target):
    with pytest.raises(ValueError):
        due_date(uk(2026, 12, 24), target, ENGLAND)
    with pytest.raises(ValueError):
        overdue_if_since_before(uk(2026, 12, 24), target, ENGLAND)


# --- the bound a database compares with ---------------------------------------------------


def test_the_bound_for_the_database_agrees_with_is_overdue_at_every_hour():
    """A query counts `submitted_at < bound`: for each `now` across Christmas, Easter and
    the May bank holiday, that is overdue exactly when is_overdue says so."""
    for first_day, span in ((date(2026, 12, 10), 40), (date(2027, 3, 15), 60)):
        for now_offset in range(0, span, 3):
            now = uk(*(first_day + timedelta(days=now_offset)).timetuple()[:3], 8, 0)
            for target in (1, 5, 10):
                bound = overdue_if_since_before(now, target, ENGLAND)
                for hours_back in range(0, 24 * 25, 7):
                    sent = now - timedelta(hours=hours_back)
                    assert is_overdue(sent, now, target, ENGLAND) == (sent < bound), (
                        sent,
                        now,
                        target,
                    )


def test_the_bound_is_midnight_in_the_uk_at_the_start_of_a_working_day():
    # On Wednesday 6 January 2027, five working days back from yesterday is 29 December:
    # what arrived before it (Christmas Eve, Boxing Day's Monday) is overdue.
    bound = overdue_if_since_before(uk(2027, 1, 6, 7, 30), TARGET, ENGLAND)
    assert bound == uk(2026, 12, 29, 0, 0)
    assert is_overdue(uk(2026, 12, 28, 23, 59), uk(2027, 1, 6, 7, 30), TARGET, ENGLAND)
    assert not is_overdue(uk(2026, 12, 29, 0, 0), uk(2027, 1, 6, 7, 30), TARGET, ENGLAND)
