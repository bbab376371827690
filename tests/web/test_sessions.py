"""Server-side sessions: renewed at sign-in, dead after sign-out, idle and absolute limits,
and revocable from another of the person's sessions."""

import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update

from relay.models import UserSession
from relay.models import utcnow
from tests.conftest import PEOPLE
from tests.conftest import asked_to_sign_in

VICTIM_EMAIL, _NAME, VICTIM_PASSWORD = PEOPLE["victim"]


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _client_with(app, cookie: str):
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_sign_in_renews_the_session_so_a_planted_one_is_useless(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/sign-in")  # the cookie an attacker could plant is made here
    before = _cookie(client)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    client.post(
        "/sign-in",
        data={"email": VICTIM_EMAIL, "password": VICTIM_PASSWORD, "csrf_token": token},
    )
    after = _cookie(client)
    assert before != after
    assert asked_to_sign_in(_client_with(app, before).get("/my/"))
    assert _client_with(app, after).get("/my/").status_code == 200


def test_a_session_cannot_be_used_after_sign_out(app, client, auth, world):
    auth.sign_in("victim")
    stolen = _cookie(client)
    auth.sign_out()
    assert asked_to_sign_in(_client_with(app, stolen).get("/my/"))


def test_an_idle_party_session_ends(client, auth, world, session):
    auth.sign_in("victim")
    assert client.get("/my/").status_code == 200
    session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=16)))
    session.commit()
    assert asked_to_sign_in(client.get("/my/"))


def test_staff_may_stay_idle_longer_than_parties(client, auth, world, session):
    auth.sign_in("facilitator")
    session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=16)))
    session.commit()
    assert client.get("/cases/").status_code == 200
    session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
    session.commit()
    assert asked_to_sign_in(client.get("/cases/"))


def test_a_session_ends_at_its_absolute_limit_however_active(client, auth, world, session):
    auth.sign_in("victim")
    session.execute(update(UserSession).values(created_at=utcnow() - timedelta(hours=13)))
    session.commit()
    assert asked_to_sign_in(client.get("/my/"))


def test_one_session_signs_out_another(client, auth, world, session):
    auth.sign_in("victim")
    lost_phone = auth.another_client("victim")
    assert lost_phone.get("/my/").status_code == 200
    page = client.get("/account/sessions")
    assert "This browser" in page.text
    ends = re.findall(r'action="(/account/sessions/\d+/end)"', page.text)
    assert len(ends) == 2  # the lost phone, and the sign-in the world fixture made
    for end in ends:
        client.post(end)
    assert asked_to_sign_in(lost_phone.get("/my/"))
    assert client.get("/my/").status_code == 200


def test_sign_out_everywhere_ends_every_session(client, auth, world, session):
    auth.sign_in("victim")
    other = auth.another_client("victim")
    client.post("/account/sessions/end-all")
    assert asked_to_sign_in(client.get("/my/"))
    assert asked_to_sign_in(other.get("/my/"))
    open_sessions = session.scalars(
        select(UserSession).where(UserSession.revoked_at.is_(None))
    ).all()
    assert all(record.user_id != world.victim.id for record in open_sessions)


def test_session_cookie_is_http_only_and_same_site_lax(client, auth, world):
    response = auth.sign_in("victim")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
