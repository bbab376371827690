"""Configuration: production refuses unsafe settings by name; env vars go on top."""

import base64
import secrets
from datetime import date

import holidays
import pytest
from nacl.pwhash import argon2id

from config.settings import ARGON2_INTERACTIVE
from config.settings import ARGON2_MODERATE
from config.settings import DEV_SECRET_KEY
from config.settings import DEV_SESSION_KEY
from config.settings import UK_SUBDIVISIONS
from config.settings import ConfigError
from config.settings import load_settings
from relay.services.settings import settings_from_config


def production_environ(**overrides: str) -> dict[str, str]:
    """A complete, safe production environment, with `overrides` on top."""
    environ = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "SESSION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": "postgresql+psycopg://relay@db.internal/relay",
    }
    environ.update(overrides)
    return environ


def without(environ: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in environ.items() if key != name}


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings("production", environ=environ)
    return str(caught.value)


# --- production refuses to start, and says why ------------------------------------


@pytest.mark.parametrize("name", ["SECRET_KEY", "SESSION_KEY", "DATABASE_URL"])
def test_production_refuses_a_missing_setting_by_name(name):
    assert name in refusal(without(production_environ(), name))


@pytest.mark.parametrize("name", ["SECRET_KEY", "SESSION_KEY", "DATABASE_URL"])
def test_production_refuses_an_empty_setting_by_name(name):
    assert name in refusal(production_environ(**{name: ""}))


@pytest.mark.parametrize(
    ("name", "default"), [("SECRET_KEY", DEV_SECRET_KEY), ("SESSION_KEY", DEV_SESSION_KEY)]
)
def test_production_refuses_the_development_default_by_name(name, default):
    message = refusal(production_environ(**{name: default}))
    assert name in message
    assert "default" in message


def test_production_refuses_an_empty_environment_naming_a_secret():
    message = refusal({})
    assert "SECRET_KEY" in message or "SESSION_KEY" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ARGON2_MEMLIMIT", argon2id.MEMLIMIT_INTERACTIVE),
        ("ARGON2_MEMLIMIT", argon2id.MEMLIMIT_MODERATE - 1),
        ("ARGON2_OPSLIMIT", argon2id.OPSLIMIT_INTERACTIVE),
        ("ARGON2_OPSLIMIT", argon2id.OPSLIMIT_MODERATE - 1),
    ],
    ids=[
        "memlimit-interactive",
        "memlimit-just-below",
        "opslimit-interactive",
        "opslimit-just-below",
    ],
)
def test_production_refuses_argon2_limits_below_moderate_by_name(name, value):
    assert name in refusal(production_environ(**{name: str(value)}))


def test_production_refuses_a_session_key_of_the_wrong_length():
    short = base64.b64encode(secrets.token_bytes(16)).decode()
    assert "SESSION_KEY" in refusal(production_environ(SESSION_KEY=short))


# --- a valid production environment ------------------------------------------------


def test_a_valid_production_environment_loads():
    environ = production_environ()
    settings = load_settings("production", environ=environ)
    assert settings["RELAY_ENV"] == "production"
    assert settings["SECRET_KEY"] == environ["SECRET_KEY"]
    assert settings["SESSION_KEY"] == environ["SESSION_KEY"]
    assert settings["DATABASE_URL"] == environ["DATABASE_URL"]
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert settings["TESTING"] is False
    assert settings["DEBUG"] is False


def test_production_uses_at_least_libsodiums_moderate_argon2_limits():
    settings = load_settings("production", environ=production_environ())
    assert settings["ARGON2_OPSLIMIT"] >= argon2id.OPSLIMIT_MODERATE
    assert settings["ARGON2_MEMLIMIT"] >= argon2id.MEMLIMIT_MODERATE


def test_production_accepts_argon2_limits_above_moderate():
    environ = production_environ(
        ARGON2_OPSLIMIT=str(argon2id.OPSLIMIT_SENSITIVE),
        ARGON2_MEMLIMIT=str(argon2id.MEMLIMIT_SENSITIVE),
    )
    settings = load_settings("production", environ=environ)
    assert settings["ARGON2_OPSLIMIT"] == argon2id.OPSLIMIT_SENSITIVE
    assert settings["ARGON2_MEMLIMIT"] == argon2id.MEMLIMIT_SENSITIVE


# --- Argon2 limits per environment ------------------------------------------------


def test_the_written_out_limits_are_libsodiums():
    assert ARGON2_INTERACTIVE == {
        "ARGON2_OPSLIMIT": argon2id.OPSLIMIT_INTERACTIVE,
        "ARGON2_MEMLIMIT": argon2id.MEMLIMIT_INTERACTIVE,
    }
    assert ARGON2_MODERATE == {
        "ARGON2_OPSLIMIT": argon2id.OPSLIMIT_MODERATE,
        "ARGON2_MEMLIMIT": argon2id.MEMLIMIT_MODERATE,
    }


def test_the_test_config_uses_interactive_argon2_limits():
    settings = load_settings("test", environ={})
    assert settings["ARGON2_OPSLIMIT"] == argon2id.OPSLIMIT_INTERACTIVE
    assert settings["ARGON2_MEMLIMIT"] == argon2id.MEMLIMIT_INTERACTIVE
    assert settings["TESTING"] is True


def test_development_and_test_start_without_any_environment():
    for name in ("development", "test"):
        settings = load_settings(name, environ={})
        assert settings["RELAY_ENV"] == name
        assert settings["SESSION_COOKIE_SECURE"] is False


# --- environment variables on top ---------------------------------------------------


def test_the_environment_is_chosen_by_relay_env():
    assert load_settings(environ={"RELAY_ENV": "test"})["RELAY_ENV"] == "test"
    assert load_settings(environ={})["RELAY_ENV"] == "development"


def test_an_unknown_environment_is_refused_by_name():
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"RELAY_ENV": "staging"})
    assert "RELAY_ENV" in str(caught.value)


def test_an_environment_variable_overrides_and_numbers_become_ints():
    settings = load_settings("test", environ={"MAIL_PORT": "2525", "MAIL_SERVER": "mail.test"})
    assert settings["MAIL_PORT"] == 2525
    assert isinstance(settings["MAIL_PORT"], int)
    assert settings["MAIL_SERVER"] == "mail.test"


def test_an_environment_variable_overrides_production_too():
    settings = load_settings("production", environ=production_environ(MAIL_PORT="587"))
    assert settings["MAIL_PORT"] == 587


@pytest.mark.parametrize("name", ["MAIL_PORT", "INVITATION_DAYS", "ARGON2_MEMLIMIT"])
def test_a_number_setting_that_is_not_a_number_is_refused_by_name(name):
    with pytest.raises(ConfigError) as caught:
        load_settings("test", environ={name: "twenty-five"})
    assert name in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("no", False)],
)
def test_boolean_settings_read_the_usual_spellings(raw, expected):
    assert load_settings("test", environ={"MAIL_USE_TLS": raw})["MAIL_USE_TLS"] is expected


def test_unrelated_environment_variables_are_ignored():
    settings = load_settings("test", environ={"TESTING": "0", "HOME": "/nowhere"})
    assert settings["TESTING"] is True
    assert "HOME" not in settings


# --- the session key ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "not base64 at all!",
        base64.b64encode(b"x" * 31).decode(),
        base64.b64encode(b"x" * 33).decode(),
        secrets.token_hex(32),  # 64 hex characters: valid base64, but 48 bytes
    ],
    ids=["not-base64", "31-bytes", "33-bytes", "hex"],
)
def test_a_session_key_that_is_not_32_bytes_of_base64_is_refused(value):
    with pytest.raises(ConfigError) as caught:
        load_settings("test", environ={"SESSION_KEY": value})
    assert "SESSION_KEY" in str(caught.value)


def test_a_32_byte_base64_session_key_is_accepted():
    value = base64.b64encode(secrets.token_bytes(32)).decode()
    assert load_settings("test", environ={"SESSION_KEY": value})["SESSION_KEY"] == value


# --- rate-limit counts and workers ---------------------------------------------------


def test_production_refuses_memory_rate_limits_with_more_than_one_worker():
    # Each gunicorn worker would keep its own counts: N workers, N times the guesses.
    message = refusal(production_environ(WEB_CONCURRENCY="4"))
    assert "RATELIMIT_STORAGE_URI" in message
    assert "WEB_CONCURRENCY" in message


def test_production_refuses_memory_rate_limits_named_explicitly_with_workers():
    environ = production_environ(WEB_CONCURRENCY="2", RATELIMIT_STORAGE_URI="memory://")
    assert "RATELIMIT_STORAGE_URI" in refusal(environ)


@pytest.mark.parametrize("workers", [None, "1"])
def test_production_accepts_memory_rate_limits_with_one_worker(workers):
    environ = production_environ()
    if workers is not None:
        environ["WEB_CONCURRENCY"] = workers
    settings = load_settings("production", environ=environ)
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"
    assert settings["WEB_CONCURRENCY"] == 1


def test_redis_url_becomes_the_rate_limit_storage_in_production():
    environ = production_environ(WEB_CONCURRENCY="4", REDIS_URL="redis://cache.internal:6379/2")
    settings = load_settings("production", environ=environ)
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/2"
    assert settings["WEB_CONCURRENCY"] == 4


def test_an_explicit_rate_limit_storage_wins_over_redis_url():
    environ = production_environ(
        WEB_CONCURRENCY="4",
        REDIS_URL="redis://cache.internal:6379/2",
        RATELIMIT_STORAGE_URI="redis://limits.internal:6379/0",
    )
    settings = load_settings("production", environ=environ)
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://limits.internal:6379/0"


def test_redis_url_does_not_change_the_test_configuration():
    # Tests keep their own counts in memory, so one test's attempts never limit another's.
    settings = load_settings("test", environ={"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_worker_count_that_is_not_a_positive_number_is_refused_by_name(value):
    with pytest.raises(ConfigError) as caught:
        load_settings("test", environ={"WEB_CONCURRENCY": value})
    assert "WEB_CONCURRENCY" in str(caught.value)


# --- a trusted reverse proxy ----------------------------------------------------------


def test_no_proxy_is_trusted_unless_configured():
    assert load_settings("production", environ=production_environ())["TRUSTED_PROXY_HOPS"] == 0
    assert load_settings("development", environ={})["TRUSTED_PROXY_HOPS"] == 0


def test_trusted_proxy_hops_is_read_as_a_number():
    settings = load_settings("production", environ=production_environ(TRUSTED_PROXY_HOPS="2"))
    assert settings["TRUSTED_PROXY_HOPS"] == 2


@pytest.mark.parametrize("value", ["one", "-1"])
def test_trusted_proxy_hops_that_is_not_a_count_is_refused_by_name(value):
    with pytest.raises(ConfigError) as caught:
        load_settings("test", environ={"TRUSTED_PROXY_HOPS": value})
    assert "TRUSTED_PROXY_HOPS" in str(caught.value)


def test_the_staff_second_factor_can_be_turned_off_outside_production_only():
    """The README's STAFF_SECOND_FACTOR variable does what it says (issue: it used to be
    ignored): off for a local demo, on for the tests of it, never off in production."""
    assert (
        load_settings("development", {"STAFF_SECOND_FACTOR": "false"})["STAFF_SECOND_FACTOR"]
        is False
    )
    assert load_settings("test", {"STAFF_SECOND_FACTOR": "true"})["STAFF_SECOND_FACTOR"] is True
    with pytest.raises(ConfigError, match="STAFF_SECOND_FACTOR"):
        load_settings("production", production_environ(STAFF_SECOND_FACTOR="off"))


# --- the review target and its calendar -----------------------------------------------


def test_the_review_target_is_five_working_days_in_england_unless_configured():
    for name in ("development", "test"):
        settings = load_settings(name, environ={})
        assert settings["REVIEW_TARGET_WORKING_DAYS"] == 5
        assert settings["BANK_HOLIDAYS_SUBDIVISION"] == "ENG"
    production = load_settings("production", environ=production_environ())
    assert production["REVIEW_TARGET_WORKING_DAYS"] == 5
    assert production["BANK_HOLIDAYS_SUBDIVISION"] == "ENG"


def test_the_review_target_and_subdivision_reach_the_services():
    config = load_settings(
        "test", environ={"REVIEW_TARGET_WORKING_DAYS": "10", "BANK_HOLIDAYS_SUBDIVISION": "sct"}
    )
    assert config["REVIEW_TARGET_WORKING_DAYS"] == 10
    services = settings_from_config(config)
    assert services.review_target_working_days == 10
    assert services.bank_holidays_subdivision == "SCT"
    # Scotland keeps 2 January (Monday 4 January in 2027, the 2nd being a Saturday).
    assert not services.calendar.is_working_day(date(2027, 1, 4))
    assert settings_from_config(load_settings("test", environ={})).calendar.is_working_day(
        date(2027, 1, 4)
    )


@pytest.mark.parametrize("value", ["five", "0", "-3"])
def test_a_review_target_that_is_not_a_positive_number_is_refused_by_name(value):
    with pytest.raises(ConfigError, match="REVIEW_TARGET_WORKING_DAYS"):
        load_settings("test", environ={"REVIEW_TARGET_WORKING_DAYS": value})


@pytest.mark.parametrize("value", ["UK", "GB", "Yorkshire", ""])
def test_an_unknown_bank_holiday_subdivision_is_refused_naming_the_choices(value):
    with pytest.raises(ConfigError) as caught:
        load_settings("production", environ=production_environ(BANK_HOLIDAYS_SUBDIVISION=value))
    assert "BANK_HOLIDAYS_SUBDIVISION" in str(caught.value)
    assert "ENG, NIR, SCT, WLS" in str(caught.value)


def test_the_written_out_subdivisions_are_the_holidays_librarys():
    assert UK_SUBDIVISIONS == holidays.UnitedKingdom.subdivisions
