"""The second step at sign-in (TOTP): enrolment, wrong, replayed and stale codes, backup codes."""

import dataclasses
import re
from datetime import timedelta

import pyotp
import pytest

from relay.models import utcnow
from relay.services import accounts
from tests.conftest import asked_to_sign_in

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


def _enrol(client) -> tuple[str, list[str]]:
    started = client.post("/sign-in/set-up/start")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    assert 'src="data:image/svg+xml' in started.text
    done = client.post("/sign-in/set-up/confirm", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})</li>", done.text)
    return secret, codes


def test_staff_must_set_up_a_second_step_before_anything_else(client, auth, admin):
    assert auth.sign_in_as(EMAIL, PASSWORD).headers["Location"].endswith("/sign-in/set-up")
    assert asked_to_sign_in(client.get("/admin/"))
    assert "Show my set-up code" in client.get("/sign-in/set-up").text
    started = client.post("/sign-in/set-up/start")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    wrong = client.post("/sign-in/set-up/confirm", data={"code": "000000"})
    assert "The code is not right" in wrong.text
    assert secret in wrong.text, "a wrong code keeps the same key on the page"
    done = client.post("/sign-in/set-up/confirm", data={"code": pyotp.TOTP(secret).now()})
    assert len(re.findall(r"<li>[a-z2-7]{4}(?:-[a-z2-7]{4}){3}</li>", done.text)) == 10
    assert client.get("/admin/").status_code == 200


def test_wrong_replayed_and_stale_codes_are_refused(client, auth, admin):
    auth.sign_in_as(EMAIL, PASSWORD)
    secret, _codes = _enrol(client)
    client.post("/sign-out")
    totp = pyotp.TOTP(secret)

    assert auth.sign_in_as(EMAIL, PASSWORD).headers["Location"].endswith("/sign-in/code")
    assert "The code is not right" in client.post("/sign-in/code", data={"code": "123456"}).text
    stale = totp.at(utcnow() - timedelta(minutes=3))
    assert "The code is not right" in client.post("/sign-in/code", data={"code": stale}).text
    assert asked_to_sign_in(client.get("/admin/"))
    fresh = totp.at(utcnow(), counter_offset=1)
    assert client.post("/sign-in/code", data={"code": fresh}).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post("/sign-out")

    auth.sign_in_as(EMAIL, PASSWORD)
    replayed = client.post("/sign-in/code", data={"code": fresh})
    assert "already been used" in replayed.text
    assert asked_to_sign_in(client.get("/admin/"))


def test_a_backup_code_works_once(client, auth, admin):
    auth.sign_in_as(EMAIL, PASSWORD)
    _secret, codes = _enrol(client)
    client.post("/sign-out")
    auth.sign_in_as(EMAIL, PASSWORD)
    assert client.post("/sign-in/code", data={"code": codes[0]}).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post("/sign-out")
    auth.sign_in_as(EMAIL, PASSWORD)
    again = client.post("/sign-in/code", data={"code": codes[0]})
    assert "already been used" in again.text
    assert asked_to_sign_in(client.get("/admin/"))


def test_the_code_page_is_only_for_someone_halfway_through_signing_in(client, admin):
    assert client.get("/sign-in/code").status_code == 404
    assert client.post("/sign-in/set-up/start").status_code == 404


def test_the_totp_secret_is_stored_only_sealed(client, auth, admin, session):
    auth.sign_in_as(EMAIL, PASSWORD)
    secret, _codes = _enrol(client)
    session.expire_all()
    user = session.get(type(admin.user), admin.user.id)
    assert user.totp_sealed_secret is not None
    assert secret.encode() not in user.totp_sealed_secret


def _enrolled_admin_signed_out(auth) -> str:
    auth.sign_in_as(EMAIL, PASSWORD)
    secret, _codes = _enrol(auth.client)
    auth.sign_out()
    return secret


def test_a_password_alone_cannot_replace_an_enrolled_authenticator(client, auth, admin, session):
    # The attack: with only the password, start and confirm a new enrolment with a
    # secret the attacker made, and so skip the second step and take over the account.
    secret = _enrolled_admin_signed_out(auth)
    session.expire_all()
    sealed_before = session.get(type(admin.user), admin.user.id).totp_sealed_secret
    assert auth.sign_in_as(EMAIL, PASSWORD).headers["Location"].endswith("/sign-in/code")

    assert client.get("/sign-in/set-up").status_code == 404
    assert client.post("/sign-in/set-up/start").status_code == 404
    attacker = pyotp.random_base32()
    confirmed = client.post("/sign-in/set-up/confirm", data={"code": pyotp.TOTP(attacker).now()})
    assert confirmed.status_code == 404
    assert asked_to_sign_in(client.get("/admin/"))
    session.expire_all()
    assert session.get(type(admin.user), admin.user.id).totp_sealed_secret == sealed_before
    # The real authenticator still works.
    code = pyotp.TOTP(secret).at(utcnow(), counter_offset=1)
    assert client.post("/sign-in/code", data={"code": code}).status_code == 302


def test_changing_the_authenticator_needs_a_current_code_is_audited_and_e_mailed(
    client, auth, admin, session
):
    from sqlalchemy import select

    from relay.models import AuditEntry
    from relay.models import OutboxMessage

    auth.sign_in_as(EMAIL, PASSWORD)
    secret, backup_codes = _enrol(client)
    client.post("/sign-out")
    auth.sign_in_as(EMAIL, PASSWORD)
    client.post("/sign-in/code", data={"code": backup_codes[0]})
    assert client.get("/admin/").status_code == 200
    mails_before = len(session.scalars(select(OutboxMessage)).all())

    page = client.get("/sign-in/set-up")
    assert 'name="code"' in page.text, "changing asks for a current code"
    refused = client.post("/sign-in/set-up/start", data={"code": "000000"})
    assert "The code is not right" in refused.text
    assert 'id="totp-secret"' not in refused.text

    current = pyotp.TOTP(secret).at(utcnow(), counter_offset=1)
    started = client.post("/sign-in/set-up/start", data={"code": current})
    new_secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    assert new_secret != secret
    done = client.post("/sign-in/set-up/confirm", data={"code": pyotp.TOTP(new_secret).now()})
    assert done.status_code == 200
    actions = session.scalars(select(AuditEntry.action)).all()
    assert "second_factor.changed" in actions
    mails = session.scalars(select(OutboxMessage)).all()
    assert len(mails) == mails_before + 1
    assert mails[-1].recipient == EMAIL


def test_a_backup_code_also_allows_changing_the_authenticator(client, auth, admin):
    auth.sign_in_as(EMAIL, PASSWORD)
    _secret, codes = _enrol(client)
    started = client.post("/sign-in/set-up/start", data={"code": codes[0]})
    assert 'id="totp-secret"' in started.text


def test_backup_codes_carry_at_least_80_bits_and_are_stored_keyed(client, auth, admin, session):
    from sqlalchemy import select

    from relay.models import BackupCode

    auth.sign_in_as(EMAIL, PASSWORD)
    _secret, codes = _enrol(client)
    assert len(codes) == 10
    for code in codes:
        assert len(code.replace("-", "")) * 5 >= 80
    stored = session.scalars(select(BackupCode.code_digest)).all()
    import hashlib

    plain = {hashlib.sha256(c.replace("-", "").encode()).digest() for c in codes}
    assert not plain & set(stored), "an unkeyed hash of a code can be searched offline"


def test_an_idle_signed_in_session_cannot_reach_the_set_up_pages(client, auth, admin, session):
    from sqlalchemy import update

    from relay.models import UserSession

    auth.sign_in_as(EMAIL, PASSWORD)
    _enrol(client)
    session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(hours=2)))
    session.commit()
    assert client.get("/sign-in/set-up").status_code == 404
    started = client.post("/sign-in/set-up/start", data={"code": "123456"})
    assert started.status_code == 404


def test_codes_tried_are_counted_per_account_across_sign_ins(client, auth, admin):
    secret = _enrolled_admin_signed_out(auth)
    for _attempt in range(3):
        auth.sign_in_as(EMAIL, PASSWORD)
        assert "not right" in client.post("/sign-in/code", data={"code": "000000"}).text
        client.post("/sign-out")
    auth.sign_in_as(EMAIL, PASSWORD)
    for _attempt in range(2):
        client.post("/sign-in/code", data={"code": "000001"})
    right = pyotp.TOTP(secret).at(utcnow(), counter_offset=1)
    refused = client.post("/sign-in/code", data={"code": right})
    assert "Too many codes have been tried" in refused.text
    assert asked_to_sign_in(client.get("/admin/"))


def test_a_mistyped_code_while_changing_keeps_the_replay_guard(client, auth, admin, session):
    auth.sign_in_as(EMAIL, PASSWORD)
    secret, _codes = _enrol(client)
    session.expire_all()
    guard = session.get(type(admin.user), admin.user.id).totp_last_step
    client.post("/sign-in/set-up/start", data={"code": _codes[0]})
    client.post("/sign-in/set-up/confirm", data={"code": "000000"})
    session.expire_all()
    assert session.get(type(admin.user), admin.user.id).totp_last_step == guard
    assert guard is not None
