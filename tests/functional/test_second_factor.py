"""The second step at sign-in (TOTP): enrolment, wrong, replayed and stale codes, backup codes."""

import dataclasses
import re
from datetime import timedelta

import pyotp
import pytest

from relay.models import utcnow
from relay.services import accounts

EMAIL, NAME, PASSWORD = "boss@relay.test", "Bo Boss", "a long admin phrase"


@pytest.fixture
def app(app):
    """The test app with the second step required for staff, as in production."""
    app.config["STAFF_SECOND_FACTOR"] = True
    app.extensions["relay.settings"] = dataclasses.replace(
        app.extensions["relay.settings"], staff_second_factor=True
    )
    return app


@pytest.fixture
def admin(session, settings):
    return accounts.create_administrator(
        session, settings, email=EMAIL, name=NAME, password=PASSWORD
    )


def _password(client, email=EMAIL, password=PASSWORD):
    return client.post("/sign-in", data={"email": email, "password": password})


def _enrol(client) -> tuple[str, list[str]]:
    started = client.post("/sign-in/set-up/start")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    assert 'src="data:image/svg+xml' in started.text
    done = client.post("/sign-in/set-up/confirm", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li>([0-9a-f]{6}-[0-9a-f]{6})</li>", done.text)
    return secret, codes


def test_staff_must_set_up_a_second_step_before_anything_else(client, admin):
    assert _password(client).headers["Location"].endswith("/sign-in/set-up")
    assert client.get("/admin/").status_code == 404
    assert "Show my set-up code" in client.get("/sign-in/set-up").text
    started = client.post("/sign-in/set-up/start")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    wrong = client.post("/sign-in/set-up/confirm", data={"code": "000000"})
    assert "The code is not right" in wrong.text
    assert secret in wrong.text, "a wrong code keeps the same key on the page"
    done = client.post("/sign-in/set-up/confirm", data={"code": pyotp.TOTP(secret).now()})
    assert len(re.findall(r"<li>[0-9a-f]{6}-[0-9a-f]{6}</li>", done.text)) == 10
    assert client.get("/admin/").status_code == 200


def test_wrong_replayed_and_stale_codes_are_refused(client, admin):
    _password(client)
    secret, _codes = _enrol(client)
    client.post("/sign-out")
    totp = pyotp.TOTP(secret)

    assert _password(client).headers["Location"].endswith("/sign-in/code")
    assert "The code is not right" in client.post("/sign-in/code", data={"code": "123456"}).text
    stale = totp.at(utcnow() - timedelta(minutes=3))
    assert "The code is not right" in client.post("/sign-in/code", data={"code": stale}).text
    assert client.get("/admin/").status_code == 404
    fresh = totp.at(utcnow(), counter_offset=1)
    assert client.post("/sign-in/code", data={"code": fresh}).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post("/sign-out")

    _password(client)
    replayed = client.post("/sign-in/code", data={"code": fresh})
    assert "already been used" in replayed.text
    assert client.get("/admin/").status_code == 404


def test_a_backup_code_works_once(client, admin):
    _password(client)
    _secret, codes = _enrol(client)
    client.post("/sign-out")
    _password(client)
    assert client.post("/sign-in/code", data={"code": codes[0]}).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post("/sign-out")
    _password(client)
    again = client.post("/sign-in/code", data={"code": codes[0]})
    assert "already been used" in again.text
    assert client.get("/admin/").status_code == 404


def test_the_code_page_is_only_for_someone_halfway_through_signing_in(client, admin):
    assert client.get("/sign-in/code").status_code == 404
    assert client.post("/sign-in/set-up/start").status_code == 404


def test_the_totp_secret_is_stored_only_sealed(client, admin, session):
    _password(client)
    secret, _codes = _enrol(client)
    session.expire_all()
    user = session.get(type(admin.user), admin.user.id)
    assert user.totp_sealed_secret is not None
    assert secret.encode() not in user.totp_sealed_secret
