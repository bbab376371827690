"""Brute force: per-address rate limits (Flask-Limiter) and a capped lockout per account."""

import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from relay.models import SignInThrottle
from relay.models import utcnow
from relay.services import accounts
from tests.conftest import build_app

EMAIL, PASSWORD = "keeper@relay.test", "a long keeper phrase"


def _build(database_url, tmp_path, **config):
    return build_app(database_url, tmp_path, **config)


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
    throttle = session.query(SignInThrottle).one()
    assert throttle.locked_until - utcnow() <= timedelta(minutes=15)


def test_a_successful_sign_in_clears_the_count(client, person, session):
    for _ in range(4):
        _try(client)
    assert _try(client, password=PASSWORD).status_code == 302
    session.expire_all()
    assert session.query(SignInThrottle).one().failures == 0


def test_rate_limit_answers_429_then_lifts(database_url, tmp_path):
    app = _build(database_url, tmp_path, SIGN_IN_RATE_LIMIT="3 per 2 seconds")
    client = app.test_client()
    answers = [_try(client, email=f"n{i}@relay.test").status_code for i in range(4)]
    assert answers == [200, 200, 200, 429]
    assert "Too many attempts" in _try(client).text
    assert client.get("/sign-in").status_code == 200, "only the POST is limited"
    time.sleep(2.1)
    assert _try(client).status_code == 200
    app.extensions["relay.engine"].dispose()


@pytest.mark.parametrize("url", ["/reset", "/activate/some-token", "/reset/some-token"])
def test_account_links_are_rate_limited(database_url, tmp_path, url):
    app = _build(database_url, tmp_path, ACCOUNT_LINK_RATE_LIMIT="2 per minute")
    client = app.test_client()
    statuses = [client.post(url, data={"email": "x@relay.test"}).status_code for _ in range(3)]
    assert statuses[-1] == 429
    app.extensions["relay.engine"].dispose()


@pytest.mark.slow
def test_rate_limits_are_shared_through_redis(database_url, tmp_path):
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
    first = _build(database_url, tmp_path, **config)
    second = _build(database_url, tmp_path, **config)
    # Two app instances stand for two gunicorn workers: the count is shared.
    assert _try(first.test_client()).status_code == 200
    assert _try(second.test_client()).status_code == 200
    assert _try(first.test_client()).status_code == 429
    assert connection.keys("LIMITS*"), "the counts live in Redis"
    connection.flushdb()
    connection.close()
    for app in (first, second):
        app.extensions["relay.engine"].dispose()
