"""Brute force: per-address rate limits (Flask-Limiter) and a capped lockout per account."""

import os
import re
import time
from datetime import timedelta

import limits.storage.memory
import pytest
from sqlalchemy import select
from sqlalchemy import update

from relay.models import SignInThrottle
from relay.models import utcnow
from relay.services import accounts

EMAIL, PASSWORD = "keeper@relay.test", "a long keeper phrase"


class Clock:
    """A clock of our own where Flask-Limiter's memory storage reads `time.time()`: a
    window passes when the test says so, not when a sleep hopes it has."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    found = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", found)
    return found


@pytest.fixture
def person(session, settings):
    return accounts.create_administrator(
        session, settings, email=EMAIL, name="Kim Keeper", password=PASSWORD
    )


def _try(client, email=EMAIL, password="not the password"):
    return client.post("/sign-in", data={"email": email, "password": password})


def test_lockout_refuses_even_the_right_password_then_lifts(client, person, session):
    for _ in range(5):
        assert "not right" in _try(client).text
    locked = _try(client, password=PASSWORD)
    assert locked.status_code == 200
    assert "too many attempts" in locked.text
    # As documented: the pause ends by itself (here: its end is moved into the past).
    session.execute(update(SignInThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert _try(client, password=PASSWORD).status_code == 302


def test_lockout_answers_the_same_for_unknown_and_known_addresses(client, person):
    for _ in range(5):
        _try(client)
        _try(client, email="nobody@relay.test")
    known = _try(client)
    unknown = _try(client, email="nobody@relay.test")
    assert "too many attempts" in known.text
    assert known.text.replace(EMAIL, "X") == unknown.text.replace("nobody@relay.test", "X")


def test_lockout_is_capped_so_nobody_is_locked_out_for_long(client, person, session):
    for _ in range(30):
        _try(client)
    session.expire_all()
    throttle = session.scalars(select(SignInThrottle)).one()
    assert throttle.locked_until - utcnow() <= timedelta(minutes=15)


def test_a_successful_sign_in_clears_the_count(client, person, session):
    for _ in range(4):
        _try(client)
    assert _try(client, password=PASSWORD).status_code == 302
    session.expire_all()
    assert session.scalars(select(SignInThrottle)).one().failures == 0


def test_rate_limit_answers_429_then_lifts(build_app_with, clock):
    client = build_app_with(SIGN_IN_RATE_LIMIT="3 per minute").test_client()
    answers = [_try(client, email=f"n{i}@relay.test").status_code for i in range(4)]
    assert answers == [200, 200, 200, 429]
    assert "Too many attempts" in _try(client).text
    assert client.get("/sign-in").status_code == 200, "only the POST is limited"
    clock.advance(59)
    assert _try(client).status_code == 429, "the minute has not passed yet"
    clock.advance(2)
    assert _try(client).status_code == 200


@pytest.mark.parametrize("url", ["/reset", "/activate/some-token", "/reset/some-token"])
def test_account_links_are_rate_limited(build_app_with, url):
    client = build_app_with(ACCOUNT_LINK_RATE_LIMIT="2 per minute").test_client()
    statuses = [client.post(url, data={"email": "x@relay.test"}).status_code for _ in range(3)]
    assert statuses[-1] == 429


# --- behind a reverse proxy --------------------------------------------------------------

PROXY = "10.0.0.2"  # what the app sees as the peer when a proxy sits in front of it


def _try_from(client, forwarded_for: str):
    return client.post(
        "/sign-in",
        data={"email": EMAIL, "password": "not the password"},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": PROXY},
    )


def test_behind_a_trusted_proxy_each_client_has_its_own_count(build_app_with):
    client = build_app_with(TRUSTED_PROXY_HOPS=1, SIGN_IN_RATE_LIMIT="2 per minute").test_client()
    first = [_try_from(client, "203.0.113.7").status_code for _ in range(3)]
    # Another person behind the same proxy is not limited by the first one's attempts.
    other = _try_from(client, "198.51.100.9")
    assert first == [200, 200, 429]
    assert other.status_code == 200
    assert "not right" in other.text


def test_behind_a_trusted_proxy_a_forged_header_does_not_dodge_the_limit(build_app_with):
    # The proxy appends the address it saw; only that last entry is trusted (one hop), so
    # an attacker who writes their own X-Forwarded-For changes only the part that is ignored.
    client = build_app_with(TRUSTED_PROXY_HOPS=1, SIGN_IN_RATE_LIMIT="2 per minute").test_client()
    statuses = [
        _try_from(client, f"192.0.2.{forged}, 203.0.113.7").status_code for forged in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(build_app_with):
    app = build_app_with(SIGN_IN_RATE_LIMIT="2 per minute")
    assert app.config["TRUSTED_PROXY_HOPS"] == 0
    client = app.test_client()
    statuses = [_try_from(client, f"203.0.113.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]


def test_a_trusted_proxy_does_not_turn_on_the_referrer_check_that_would_refuse_every_form(
    build_app_with,
):
    # Relay sends Referrer-Policy: no-referrer, so browsers post forms without a Referer.
    # Trusting X-Forwarded-Proto would make requests look like HTTPS, and Flask-WTF then
    # refuses any form without a Referer: nobody could sign in.
    client = build_app_with(TRUSTED_PROXY_HOPS=1, WTF_CSRF_ENABLED=True).test_client()
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    page = client.get("/sign-in", headers=headers, environ_base={"REMOTE_ADDR": PROXY})
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/sign-in",
        data={"csrf_token": token, "email": EMAIL, "password": "not the password"},
        headers=headers,
        environ_base={"REMOTE_ADDR": PROXY},
    )
    assert answer.status_code == 200, answer.text
    assert "The e-mail address or password is not right" in answer.text


@pytest.mark.slow
def test_rate_limits_are_shared_through_redis(build_app_with):
    redis = pytest.importorskip("redis")
    connection = redis.Redis(host="127.0.0.1", port=6379, db=15, socket_timeout=2)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable at 127.0.0.1:6379, and CI must test it")
        pytest.skip("Redis is not running here (CI runs this test against a real Redis)")
    connection.flushdb()
    config = {
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
        "SIGN_IN_RATE_LIMIT": "2 per minute",
    }
    first = build_app_with(**config)
    second = build_app_with(**config)
    # Two app instances stand for two gunicorn workers: the count is shared.
    assert _try(first.test_client()).status_code == 200
    assert _try(second.test_client()).status_code == 200
    assert _try(first.test_client()).status_code == 429
    assert connection.keys("LIMITS*"), "the counts live in Redis"
    connection.flushdb()
    connection.close()
