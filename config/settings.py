"""Relay's configuration: one class per environment, environment variables on top.

`load_settings(name)` returns the plain dict that `create_app` hands to Flask.
Production refuses to start while any secret is missing or still a default,
and names which one, because a service holding victims' letters must never
run on a key that is printed in this file.
"""

import base64
import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

# Development defaults only; production refuses each of these by name.
DEV_SECRET_KEY = "dev-secret-key-not-for-production"  # noqa: S105
DEV_SESSION_KEY = base64.b64encode(b"dev-session-key-not-for-prod-use").decode()
SECRETS = ("SECRET_KEY", "SESSION_KEY")
# How a party reaches the service, for development and the demo: a number in Ofcom's range
# kept for drama (0808 157 0000 to 0999), which nobody answers. Production shows only the
# text its operator sets, and refuses this one by name.
DEV_SERVICE_CONTACT_TEXT = "Call 0808 157 0192, Monday to Friday, 9am to 5pm"
# Where a letter posted to a party on paper comes back to if it cannot be delivered, for
# development and the demo: ZZ99 is no real postcode. Production prints only the address
# its operator sets, and refuses this one by name: a letter returned to it would be lost.
DEV_RETURN_ADDRESS = "Relay (development)\nPO Box 0000\nNowhere\nZZ99 9ZZ"

# libsodium's Argon2id limits (nacl.pwhash.argon2id), written out so that this
# file needs nothing installed to be read.
ARGON2_INTERACTIVE = {"ARGON2_OPSLIMIT": 2, "ARGON2_MEMLIMIT": 67108864}
ARGON2_MODERATE = {"ARGON2_OPSLIMIT": 3, "ARGON2_MEMLIMIT": 268435456}

# The UK's parts whose bank holidays differ, by the `holidays` library's codes (England,
# Northern Ireland, Scotland, Wales), written out for the same reason.
UK_SUBDIVISIONS = ("ENG", "NIR", "SCT", "WLS")


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says which setting."""


class Base:
    # No request needs more: a letter is at most 20,000 characters and an audit export
    # upload at most 5 MB. A bigger body is refused (413) before any view reads it.
    MAX_CONTENT_LENGTH = 6 * 1024 * 1024
    DATABASE_URL = f"sqlite:///{INSTANCE / 'relay.sqlite3'}"
    SECRET_KEY = DEV_SECRET_KEY
    SESSION_KEY = DEV_SESSION_KEY
    AUDIT_SIGNING_KEY_PATH = str(INSTANCE / "audit-signing.key")
    SERVICE_NAME = "Relay"
    BASE_URL = "http://127.0.0.1:5000"
    INVITATION_DAYS = 7
    RESET_HOURS = 2
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 8025
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "Relay <no-reply@relay.invalid>"
    MAIL_TIMEOUT = 5
    WTF_CSRF_ENABLED = True
    # A form's token lives as long as the signed-in session (itself limited, and renewed at
    # every sign-in), not an hour: a letter can take longer than that to write, and an
    # expired token would refuse the Save and lose the text.
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    PARTY_IDLE_MINUTES = 15
    STAFF_IDLE_MINUTES = 30
    ABSOLUTE_SESSION_HOURS = 12
    # Where "Leave this site" (and Escape pressed three times) lands once the session is
    # ended: an ordinary, everyday site, so that the screen shows nothing worth a second look.
    QUICK_EXIT_URL = "https://www.bbc.co.uk/weather"
    # How a party reaches the service, shown on their pages ("How to contact the service"),
    # as plain text (escaped, never markup). Empty: the pages show none. Production starts
    # without it, showing none, but set it there: it is how a party finds help when their
    # facilitator is away.
    SERVICE_CONTACT_TEXT = ""
    # The service's postal address, printed on the cover sheet of a letter posted to a party
    # on paper, for the post room to return it to: several lines, from one variable with
    # its lines apart by newlines or by \n written out (an env file holds one line).
    # Empty: no cover sheet is printed, and its page names this setting. Production starts
    # without it (a service may have nobody on paper), but set it before anyone is.
    RETURN_ADDRESS = ""
    TESTING = False
    DEBUG = False
    # Facilitators and administrators sign in with a second factor (TOTP).
    STAFF_SECOND_FACTOR = True
    HSTS = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # gunicorn's own variable for its worker count: memory:// counts are per worker, so
    # production refuses them with more than one (set REDIS_URL or RATELIMIT_STORAGE_URI).
    WEB_CONCURRENCY = 1
    # Reverse proxies in front of Relay whose X-Forwarded-For is believed (0: none). Rate
    # limits key on the address this gives; trusting a header no proxy sets would let a
    # client name any address it likes.
    TRUSTED_PROXY_HOPS = 0
    # Per client address, on the pages a guesser would hammer.
    SIGN_IN_RATE_LIMIT = "10 per minute;60 per hour"
    ACCOUNT_LINK_RATE_LIMIT = "10 per minute;60 per hour"
    # Per e-mail address, known or not: failures before a pause, and the longest pause.
    LOCKOUT_AFTER_FAILURES = 5
    LOCKOUT_MAX_MINUTES = 15
    # The service's target for deciding on a letter sent for review, in working days
    # (relay/services/working_days.py): past it, a letter is marked overdue and counted in
    # the facilitators' daily digest.
    REVIEW_TARGET_WORKING_DAYS = 5
    # Whose bank holidays are not working days: one of UK_SUBDIVISIONS.
    BANK_HOLIDAYS_SUBDIVISION = "ENG"
    # How long a closed case's letters, scans and notes are kept, in whole years after the
    # day it closed; then the daily `flask retention purge` crypto-shreds them (the case,
    # its letters' states and its audit trail stay). Each service sets its own policy.
    RETENTION_YEARS = 2
    ARGON2_OPSLIMIT = ARGON2_MODERATE["ARGON2_OPSLIMIT"]
    ARGON2_MEMLIMIT = ARGON2_MODERATE["ARGON2_MEMLIMIT"]


class Development(Base):
    SESSION_COOKIE_SECURE = False
    SERVICE_CONTACT_TEXT = DEV_SERVICE_CONTACT_TEXT
    RETURN_ADDRESS = DEV_RETURN_ADDRESS
    HSTS = False
    ARGON2_OPSLIMIT = ARGON2_INTERACTIVE["ARGON2_OPSLIMIT"]
    ARGON2_MEMLIMIT = ARGON2_INTERACTIVE["ARGON2_MEMLIMIT"]


class Test(Development):
    TESTING = True
    DATABASE_URL = "sqlite://"
    MAIL_TIMEOUT = 2
    # Most tests are about other rules; the second-factor and rate-limit tests turn
    # these back on.
    STAFF_SECOND_FACTOR = False
    SIGN_IN_RATE_LIMIT = "1000 per minute"
    ACCOUNT_LINK_RATE_LIMIT = "1000 per minute"


class Production(Base):
    SECRET_KEY = None
    SESSION_KEY = None
    DATABASE_URL = None
    SESSION_COOKIE_NAME = "__Host-relay"


ENVIRONMENTS = {"development": Development, "test": Test, "production": Production}

_INT_SETTINGS = {
    "MAIL_PORT",
    "MAIL_TIMEOUT",
    "ARGON2_OPSLIMIT",
    "ARGON2_MEMLIMIT",
    "INVITATION_DAYS",
    "RESET_HOURS",
    "PARTY_IDLE_MINUTES",
    "STAFF_IDLE_MINUTES",
    "ABSOLUTE_SESSION_HOURS",
    "LOCKOUT_AFTER_FAILURES",
    "LOCKOUT_MAX_MINUTES",
    "WEB_CONCURRENCY",
    "TRUSTED_PROXY_HOPS",
    "REVIEW_TARGET_WORKING_DAYS",
    "RETENTION_YEARS",
}
# Counts: the smallest value each may take.
_COUNT_MINIMUM = {
    "WEB_CONCURRENCY": 1,
    "TRUSTED_PROXY_HOPS": 0,
    "REVIEW_TARGET_WORKING_DAYS": 1,
    # 0 would shred a case the day it closes.
    "RETENTION_YEARS": 1,
}
# And the largest: a period past any policy is a typing mistake (and past year 9999 the
# date of shredding cannot be counted at all).
_COUNT_MAXIMUM = {"RETENTION_YEARS": 100}
_BOOL_SETTINGS = {"MAIL_USE_TLS", "MAIL_USE_SSL", "STAFF_SECOND_FACTOR"}
_ENV_SETTINGS = {
    "DATABASE_URL",
    "SECRET_KEY",
    "SESSION_KEY",
    "AUDIT_SIGNING_KEY_PATH",
    "BASE_URL",
    "MAIL_SERVER",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "RATELIMIT_STORAGE_URI",
    "SIGN_IN_RATE_LIMIT",
    "ACCOUNT_LINK_RATE_LIMIT",
    "QUICK_EXIT_URL",
    "BANK_HOLIDAYS_SUBDIVISION",
    "SERVICE_CONTACT_TEXT",
    "RETURN_ADDRESS",
    *_INT_SETTINGS,
    *_BOOL_SETTINGS,
}


def _convert(name: str, raw: str) -> object:
    if name in _INT_SETTINGS:
        try:
            number = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number") from None
        if name in _COUNT_MINIMUM and number < _COUNT_MINIMUM[name]:
            raise ConfigError(f"{name} must be at least {_COUNT_MINIMUM[name]}")
        if name in _COUNT_MAXIMUM and number > _COUNT_MAXIMUM[name]:
            raise ConfigError(f"{name} must be at most {_COUNT_MAXIMUM[name]}")
        return number
    if name in _BOOL_SETTINGS:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if name == "BANK_HOLIDAYS_SUBDIVISION":
        return raw.strip().upper()
    if name == "RETURN_ADDRESS":
        return _address(raw)
    return raw


def _address(raw: str) -> str:
    """An address's lines from one variable: newlines, or \\n written out, part them."""
    lines = raw.replace("\\n", "\n").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.strip() for line in lines if line.strip())


def load_settings(name: str | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """The settings for `name` (default: RELAY_ENV, else development), env vars on top."""
    environ = os.environ if environ is None else environ
    name = name or environ.get("RELAY_ENV", "development")
    if name not in ENVIRONMENTS:
        raise ConfigError(f"RELAY_ENV must be one of {', '.join(ENVIRONMENTS)}, not {name!r}")
    cls = ENVIRONMENTS[name]
    settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
    for key in _ENV_SETTINGS:
        if key in environ:
            settings[key] = _convert(key, environ[key])
    settings["RELAY_ENV"] = name
    if name == "production":
        # One Redis for the service serves the rate limits too, unless told otherwise.
        if "RATELIMIT_STORAGE_URI" not in environ and environ.get("REDIS_URL"):
            settings["RATELIMIT_STORAGE_URI"] = environ["REDIS_URL"]
        _refuse_unsafe_production(settings)
    _check_quick_exit(settings["QUICK_EXIT_URL"])
    _check_subdivision(settings["BANK_HOLIDAYS_SUBDIVISION"])
    _check_session_key(settings["SESSION_KEY"])
    return settings


def _refuse_unsafe_production(settings: dict) -> None:
    defaults = {"SECRET_KEY": DEV_SECRET_KEY, "SESSION_KEY": DEV_SESSION_KEY}
    for key in SECRETS:
        if not settings.get(key):
            raise ConfigError(f"{key} is not set; production needs its own secret")
        if settings[key] == defaults[key]:
            raise ConfigError(f"{key} is the development default; set a secret of your own")
    if not settings.get("DATABASE_URL"):
        raise ConfigError("DATABASE_URL is not set")
    if not settings.get("STAFF_SECOND_FACTOR"):
        raise ConfigError("STAFF_SECOND_FACTOR must stay on in production")
    if settings["SERVICE_CONTACT_TEXT"].strip() == DEV_SERVICE_CONTACT_TEXT:
        # A party in need would ring a number nobody answers.
        raise ConfigError(
            "SERVICE_CONTACT_TEXT is the development default; set your service's own contact "
            "details, or leave it unset to show none"
        )
    if settings["RETURN_ADDRESS"] == DEV_RETURN_ADDRESS:
        # A letter the post room sends back would go to an address that does not exist.
        raise ConfigError(
            "RETURN_ADDRESS is the development default; set your service's own postal "
            "address, or leave it unset until someone takes part on paper"
        )
    workers = settings["WEB_CONCURRENCY"]
    if workers > 1 and settings["RATELIMIT_STORAGE_URI"].startswith("memory:"):
        raise ConfigError(
            f"RATELIMIT_STORAGE_URI is memory:// but WEB_CONCURRENCY is {workers}: each worker "
            "would count attempts on its own; set REDIS_URL or RATELIMIT_STORAGE_URI=redis://..."
        )
    if settings["ARGON2_MEMLIMIT"] < ARGON2_MODERATE["ARGON2_MEMLIMIT"]:
        raise ConfigError("ARGON2_MEMLIMIT is below libsodium's MODERATE limit")
    if settings["ARGON2_OPSLIMIT"] < ARGON2_MODERATE["ARGON2_OPSLIMIT"]:
        raise ConfigError("ARGON2_OPSLIMIT is below libsodium's MODERATE limit")


def _check_quick_exit(value: str) -> None:
    # An absolute address of another site: a path would keep the person on Relay.
    if not value.startswith(("https://", "http://")):
        raise ConfigError("QUICK_EXIT_URL must be a full https:// address of another site")


def _check_subdivision(value: str) -> None:
    # A wrong code would not fail until the first working day is counted, in a request.
    if value not in UK_SUBDIVISIONS:
        raise ConfigError(f"BANK_HOLIDAYS_SUBDIVISION must be one of {', '.join(UK_SUBDIVISIONS)}")


def _check_session_key(value: str | None) -> None:
    if value is None:
        return
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ConfigError("SESSION_KEY must be 32 bytes in base64") from None
    if len(raw) != 32:
        raise ConfigError("SESSION_KEY must be 32 bytes in base64")
