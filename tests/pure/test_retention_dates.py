"""When a closed case falls due for crypto-shredding: the retention period's date
arithmetic, and the setting that gives the period."""

from datetime import date
from datetime import timedelta

import pytest

from config.settings import ConfigError
from config.settings import load_settings
from relay.services.retention import falls_due
from relay.services.retention import last_closing_due_by
from relay.services.settings import settings_from_config


def test_a_case_falls_due_on_the_same_day_of_the_year_after_the_period():
    assert falls_due(date(2024, 5, 10), 2) == date(2026, 5, 10)
    assert falls_due(date(2023, 12, 31), 1) == date(2024, 12, 31)


def test_a_case_closed_on_a_leap_day_falls_due_the_day_after_the_28th_never_before():
    # 29 February 2024 + 2 years has no 29th: the period is never cut short, so 1 March.
    assert falls_due(date(2024, 2, 29), 2) == date(2026, 3, 1)
    # Four years on there is a 29th again.
    assert falls_due(date(2024, 2, 29), 4) == date(2028, 2, 29)
    # The 28th of a leap year stays the 28th.
    assert falls_due(date(2024, 2, 28), 2) == date(2026, 2, 28)


def test_the_last_closing_day_due_by_a_day_is_exactly_on_the_day():
    # Due exactly on 10 May 2026: closed on 10 May 2024, not the 11th.
    assert last_closing_due_by(date(2026, 5, 10), 2) == date(2024, 5, 10)
    # On 28 February 2026 the leap day of 2024 is not yet due (it falls due on 1 March).
    assert last_closing_due_by(date(2026, 2, 28), 2) == date(2024, 2, 28)
    assert last_closing_due_by(date(2026, 3, 1), 2) == date(2024, 3, 1)
    # A leap day today: closings on 28 February of a common year are due, nothing later.
    assert last_closing_due_by(date(2028, 2, 29), 1) == date(2027, 2, 28)
    assert last_closing_due_by(date(2028, 2, 29), 4) == date(2024, 2, 29)


@pytest.mark.parametrize("years", [1, 2, 3, 4, 7])
def test_the_last_closing_day_agrees_with_falls_due_for_every_day_of_eight_years(years):
    # The query (closed on or before the last closing day) and the date each row shows
    # (falls_due) must never disagree: one case listed and not purged, or the reverse.
    day = date(2027, 1, 1)
    while day < date(2035, 1, 1):
        last = last_closing_due_by(day, years)
        assert falls_due(last, years) <= day
        assert falls_due(last + timedelta(days=1), years) > day
        day += timedelta(days=1)


def test_retention_defaults_to_two_years_and_reaches_the_services():
    config = load_settings("test", environ={})
    assert config["RETENTION_YEARS"] == 2
    assert settings_from_config(config).retention_years == 2
    config = load_settings("test", environ={"RETENTION_YEARS": "6"})
    assert settings_from_config(config).retention_years == 6


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "RETENTION_YEARS must be at least 1"),
        ("-2", "RETENTION_YEARS must be at least 1"),
        ("two", "RETENTION_YEARS must be a whole number"),
        ("1.5", "RETENTION_YEARS must be a whole number"),
        ("1000", "RETENTION_YEARS must be at most 100"),
    ],
)
def test_a_retention_period_that_makes_no_sense_is_refused(raw, message):
    for environment in ("production", "development"):
        with pytest.raises(ConfigError, match=message):
            load_settings(environment, environ={"RETENTION_YEARS": raw})
