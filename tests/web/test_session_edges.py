"""The edges of a session (issue 13, "Nothing lost, nothing leaked"): leaving the site ends
the session on the server; a page asked for after the session ended asks to sign in and
comes back; a letter sent after the idle limit is kept, as a draft, once signed in again."""

import dataclasses
import html
import re
from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy import update

from config.settings import ConfigError
from config.settings import load_settings
from relay.models import AuditEntry
from relay.models import Base
from relay.models import UserSession
from relay.models import utcnow
from relay.services import accounts
from relay.services import cases
from relay.services import letters
from relay.web.signed_in import TIMED_OUT
from tests import factories

SIGN_IN = "/sign-in"


def _idle_for(session, minutes: int) -> None:
    """Every session has been idle `minutes` (the clock is moved, not waited for)."""
    session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=minutes)))
    session.commit()


def _sign_in_form(client, auth, role: str, **fields):
    """The sign-in form as the page sends it, with its hidden fields (what is tested here)."""
    email, _name, password = auth.people[role]
    return client.post(SIGN_IN, data={"email": email, "password": password, **fields})


def _cookie_contents(app, client) -> str:
    """What the session cookie holds, decoded (it is signed, not encrypted)."""
    cookie = client.get_cookie("session")
    if cookie is None:
        return ""
    serializer = app.session_interface.get_signing_serializer(app)
    return repr(serializer.loads(cookie.value))


def _everything_stored(session) -> str:
    """Every value of every row of every table, as text: where clear text would show."""
    found = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            found.extend(
                value.decode("latin-1") if isinstance(value, bytes) else str(value) for value in row
            )
    return "\n".join(found)


def _letter_id(location: str) -> int:
    return int(re.fullmatch(r"/my/letters/(\d+)/edit", urlsplit(location).path).group(1))


# --- leaving the site -------------------------------------------------------------------


def test_leaving_ends_the_session_on_the_server_and_the_old_cookie_no_longer_works(
    app, client, auth, world, session
):
    auth.sign_in("victim")
    kept = client.get_cookie("session").value
    assert client.get("/my/").status_code == 200

    left = client.get("/leave")

    assert left.status_code == 302
    assert left.headers["Location"] == app.config["QUICK_EXIT_URL"]
    assert left.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert left.headers["Cache-Control"] == "no-store"
    # The browser forgets the cookie; and the cookie, kept by anyone, opens nothing.
    assert client.get_cookie("session") is None
    other = app.test_client()
    other.set_cookie("session", kept)
    again = other.get("/my/")
    assert again.status_code == 302
    assert urlsplit(again.headers["Location"]).path == SIGN_IN
    victim_sessions = session.scalars(
        select(UserSession).where(
            UserSession.user_id == world.victim.id, UserSession.revoked_at.is_(None)
        )
    ).all()
    assert len(victim_sessions) == 1, "only the world's own sign-in is left"
    assert victim_sessions[0].sealed_private_key is not None


def test_leaving_is_audited_as_a_sign_out_without_naming_it(client, auth, world, session):
    auth.sign_in("victim")
    client.get("/leave")
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc())).first()
    assert entry.action == "sign_out"
    assert entry.actor_id == world.victim.id
    assert "left the site" in repr(entry.details)
    assert "quick" not in repr(entry.details).lower()


def test_leaving_works_as_a_plain_link_with_no_form_and_no_token(app, client, auth, world):
    auth.sign_in("victim")
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/my/")
    assert re.search(r'<a class="exit__link" id="quick-exit" href="/leave"', page.text)
    assert client.get("/leave").status_code == 302
    assert client.get("/my/").status_code == 302


def test_the_exit_address_must_be_another_site():
    with pytest.raises(ConfigError, match="QUICK_EXIT_URL"):
        load_settings("development", {"QUICK_EXIT_URL": "/weather"})
    configured = load_settings("development", {"QUICK_EXIT_URL": "http://127.0.0.1:9/here"})
    assert configured["QUICK_EXIT_URL"] == "http://127.0.0.1:9/here"


def test_signed_in_pages_are_never_stored_by_the_browser(client, auth, world):
    auth.sign_in("victim")
    for url in ("/my/", f"/my/cases/{world.case.id}", f"/my/cases/{world.case.id}/write"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store", url


# --- asked to sign in, and back again ----------------------------------------------------


@pytest.mark.parametrize(
    ("role", "url"),
    [
        ("victim", "/my/"),
        ("victim", "/my/cases/{case}"),
        ("facilitator", "/cases/"),
        ("facilitator", "/review/"),
        ("administrator", "/admin/"),
    ],
)
def test_a_page_asked_for_signed_out_asks_to_sign_in_then_returns_there(
    client, auth, world, role, url
):
    url = url.format(case=world.case.id)
    asked = client.get(url)
    assert asked.status_code == 302
    location = urlsplit(asked.headers["Location"])
    assert location.path == SIGN_IN
    assert parse_qs(location.query) == {"next": [url]}
    page = client.get(asked.headers["Location"])
    assert re.search(r'name="next" type="hidden" value="' + re.escape(url) + '"', page.text)
    assert TIMED_OUT not in page.text, "nobody was signed in: nothing timed out"

    signed = _sign_in_form(client, auth, role, next=url)

    assert signed.headers["Location"] == url
    assert client.get(url).status_code == 200


def test_a_page_of_another_role_is_still_not_found_after_signing_in(client, auth, world):
    signed = _sign_in_form(client, auth, "victim", next="/cases/")
    assert signed.headers["Location"] == "/cases/"
    assert client.get("/cases/").status_code == 404
    other_case = client.get(f"/my/cases/{world.case.id + 1000}")
    assert other_case.status_code == 404


@pytest.mark.parametrize(
    "next_page",
    [
        "https://evil.example/my/",
        "//evil.example/my/",
        "/\\evil.example/my/",
        "\\\\evil.example/my/",
        "/\\/evil.example",
        "javascript:alert(1)",
        "http:/my/",
        " /my/",
        "/my/\r\nLocation: https://evil.example",
        "/my/?then=https://evil.example",
        "/no-such-page",
        "/sign-out",
        "/leave",
        "/static/relay.css",
    ],
)
def test_only_a_page_of_this_site_is_returned_to(client, auth, world, next_page):
    page = client.get(SIGN_IN, query_string={"next": next_page})
    assert 'name="next" type="hidden" value=""' in page.text

    signed = _sign_in_form(client, auth, "victim", next=next_page)

    assert signed.headers["Location"] == "/my/"


def test_after_the_idle_limit_any_page_says_so_once_and_returns_there(client, auth, world, session):
    auth.sign_in("victim")
    url = f"/my/cases/{world.case.id}"
    _idle_for(session, 16)

    asked = client.get(url)

    assert asked.status_code == 302
    page = client.get(asked.headers["Location"])
    assert TIMED_OUT in page.text
    assert TIMED_OUT not in client.get(SIGN_IN).text, "said once"
    assert _sign_in_form(client, auth, "victim", next=url).headers["Location"] == url


def test_signing_out_is_not_taken_for_the_idle_limit(client, auth, world):
    auth.sign_in("victim")
    auth.sign_out()
    asked = client.get("/my/")
    assert TIMED_OUT not in client.get(asked.headers["Location"]).text


def test_an_action_sent_after_the_idle_limit_asks_to_sign_in_and_is_not_done(
    client, auth, world, session
):
    auth.sign_in("victim")
    _idle_for(session, 16)
    sent = client.post(f"/my/cases/{world.case.id}/receiving", data={"preference": "pause"})
    assert sent.status_code == 303
    assert sent.headers["Location"] == SIGN_IN
    assert TIMED_OUT in client.get(SIGN_IN).text


@pytest.fixture
def staff_second_step(app):
    app.config["STAFF_SECOND_FACTOR"] = True
    app.extensions["relay.settings"] = dataclasses.replace(
        app.extensions["relay.settings"], staff_second_factor=True
    )
    return app


def test_the_second_step_returns_to_the_page_asked_for(client, session, staff_second_step):
    email, password = "boss@relay.test", "a long admin phrase"
    accounts.create_administrator(
        session,
        staff_second_step.extensions["relay.settings"],
        email=email,
        name="B",
        password=password,
    )
    client.post(SIGN_IN, data={"email": email, "password": password})
    started = client.post("/sign-in/set-up/start")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    done = client.post("/sign-in/set-up/confirm", data={"code": pyotp.TOTP(secret).now()})
    backup = re.findall(r"<li>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})</li>", done.text)[0]
    client.post("/sign-out")

    asked = client.get("/admin/audit")
    first = client.post(
        SIGN_IN, data={"email": email, "password": password, "next": "/admin/audit"}
    )
    assert asked.status_code == 302
    assert first.headers["Location"] == "/sign-in/code"
    second = client.post("/sign-in/code", data={"code": backup})
    assert second.headers["Location"] == "/admin/audit"


# --- a letter sent after the idle limit ----------------------------------------------------

WORDS = "I have thought about that night every day since, and I want you to know why."


def test_a_letter_sent_after_the_idle_limit_is_kept_as_a_draft_once_signed_in(
    app, client, auth, world, session, settings
):
    auth.sign_in("victim")
    write = f"/my/cases/{world.case.id}/write"
    _idle_for(session, 16)

    sent = client.post(write, data={"text": WORDS, "save": "Save draft"})

    # The sign-in page, carrying the text, says what happened; the text is in no address
    # and no cookie.
    assert sent.status_code == 401
    assert TIMED_OUT in sent.text
    assert 'action="/sign-in"' in sent.text
    assert html.escape(WORDS, quote=True) in sent.text
    assert WORDS not in _cookie_contents(app, client)
    assert "Location" not in sent.headers

    email, _name, password = auth.people["victim"]
    signed = client.post(
        SIGN_IN,
        data={"email": email, "password": password, "next": write, "letter": WORDS},
    )

    letter_id = _letter_id(signed.headers["Location"])
    edit = client.get(signed.headers["Location"])
    assert TIMED_OUT in edit.text
    victim = factories.actor_for(session, settings, email, password)
    letter, texts = letters.read_own_letter(session, victim, letter_id)
    assert texts[letter.versions[-1].id] == WORDS
    assert letter.case_id == world.case.id
    assert WORDS not in _everything_stored(session)
    assert WORDS not in _cookie_contents(app, client)


def test_an_edit_sent_after_the_idle_limit_is_kept_in_the_same_draft(
    client, auth, world, session, settings
):
    draft = letters.save_draft(session, world.victim, world.case.id, None, "A first try.")
    auth.sign_in("victim")
    edit = f"/my/letters/{draft.id}/edit"
    _idle_for(session, 16)

    sent = client.post(edit, data={"text": WORDS, "save": "Save draft"})
    assert sent.status_code == 401
    email, _name, password = auth.people["victim"]
    signed = client.post(
        SIGN_IN, data={"email": email, "password": password, "next": edit, "letter": WORDS}
    )

    assert signed.headers["Location"] == edit
    session.expire_all()  # this test's session still holds the draft as it first wrote it
    victim = factories.actor_for(session, settings, email, password)
    letter, texts = letters.read_own_letter(session, victim, draft.id)
    assert texts[letter.versions[-1].id] == WORDS


def test_a_carried_letter_is_saved_only_for_the_person_who_wrote_it(
    client, auth, world, session, settings
):
    auth.sign_in("victim")
    _idle_for(session, 16)
    client.post(f"/my/cases/{world.case.id}/write", data={"text": WORDS, "save": "Save draft"})

    email, _name, password = auth.people["offender"]
    signed = client.post(
        SIGN_IN,
        data={
            "email": email,
            "password": password,
            "next": f"/my/cases/{world.case.id}/write",
            "letter": WORDS,
        },
    )

    assert signed.headers["Location"] == f"/my/cases/{world.case.id}/write"
    offender = factories.actor_for(session, settings, email, password)
    _case, mine = cases.case_for_party(session, offender, world.case.id)
    assert letters.letters_written_by(session, mine) == []


def test_a_letter_sent_by_someone_never_signed_in_carries_nothing(client, world):
    sent = client.post(f"/my/cases/{world.case.id}/write", data={"text": WORDS})
    assert sent.status_code == 303
    assert WORDS not in client.get(sent.headers["Location"]).text


def test_carried_text_is_dropped_when_the_sign_in_needs_a_second_step(
    app, client, auth, world, session, staff_second_step
):
    auth.sign_in("victim")
    _idle_for(session, 16)
    client.post(f"/my/cases/{world.case.id}/write", data={"text": WORDS})

    signed = _sign_in_form(
        client, auth, "facilitator", next=f"/my/cases/{world.case.id}/write", letter=WORDS
    )

    assert signed.headers["Location"] in ("/sign-in/code", "/sign-in/set-up")
    assert WORDS not in _cookie_contents(app, client)
    assert "carried_for" not in _cookie_contents(app, client)
    assert WORDS not in _everything_stored(session)


def test_a_carried_letter_that_cannot_be_saved_is_shown_back_to_copy(
    client, auth, world, session, settings
):
    draft = letters.save_draft(session, world.victim, world.case.id, None, "A first try.")
    auth.sign_in("victim")
    _idle_for(session, 16)
    edit = f"/my/letters/{draft.id}/edit"
    client.post(edit, data={"text": WORDS})
    # Meanwhile the draft was sent from another device: it can no longer be edited.
    letters.submit_letter(session, settings, world.victim, draft.id)

    email, _name, password = auth.people["victim"]
    signed = client.post(
        SIGN_IN, data={"email": email, "password": password, "next": edit, "letter": WORDS}
    )

    assert signed.status_code == 200
    assert "Your letter was not saved" in signed.text
    assert html.escape(WORDS, quote=False) in signed.text


# --- the warning before the idle limit -------------------------------------------------------


def test_signed_in_pages_know_the_idle_limit_of_the_role(client, auth, world):
    auth.sign_in("victim")
    page = client.get("/my/").text
    assert 'data-idle-limit="900"' in page
    left = int(re.search(r'data-idle-left="(\d+)"', page).group(1))
    assert 860 <= left <= 900
    assert 'role="alertdialog"' in page and "Stay signed in" in page
    auth.sign_out()
    auth.sign_in("facilitator")
    assert 'data-idle-limit="1800"' in client.get("/cases/").text
    auth.sign_out()
    assert "data-idle-limit" not in client.get(SIGN_IN).text


def test_staying_signed_in_starts_the_idle_time_again(app, client, auth, world, session):
    auth.sign_in("victim")
    _idle_for(session, 14)

    kept = client.post("/session/keep-alive")

    assert kept.status_code == 204
    session.expire_all()
    newest = session.scalars(
        select(UserSession)
        .where(UserSession.user_id == world.victim.id)
        .order_by(UserSession.id.desc())
    ).first()
    assert utcnow() - newest.last_seen_at < timedelta(seconds=5)


def test_staying_signed_in_needs_a_live_session_and_its_token(app, client, auth, world, session):
    assert client.post("/session/keep-alive").status_code == 404
    auth.sign_in("victim")
    _idle_for(session, 16)
    assert client.post("/session/keep-alive").status_code == 404
    auth.sign_in("victim")
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/session/keep-alive").status_code == 400, "no CSRF token"


def test_when_the_page_says_time_is_up_the_session_ends_and_the_next_page_says_so(
    client, auth, world, session
):
    auth.sign_in("victim")
    assert client.post("/session/time-out").status_code == 204
    asked = client.get(f"/my/cases/{world.case.id}")
    assert urlsplit(asked.headers["Location"]).path == SIGN_IN
    assert TIMED_OUT in client.get(asked.headers["Location"]).text
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc())).first()
    assert entry.action == "session.expired"


def test_ending_on_time_with_no_one_signed_in_ends_nothing(client, world, session):
    def live() -> int:
        return len(
            session.scalars(select(UserSession).where(UserSession.revoked_at.is_(None))).all()
        )

    before = live()
    assert client.post("/session/time-out").status_code == 204
    session.expire_all()
    assert live() == before
