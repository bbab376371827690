"""A whole letter exchange through the pages, and every refusal on the way."""

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from relay.models import CaseKey
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterState
from relay.models import LetterVersion
from relay.services import invitations

FIRST = "I want you to know how afraid I have been since that night."
EDITED = "Since that night I have been afraid to be at home on my own."
REPLY = "I am sorry. I understand now that I took away your feeling of safety."


def _letter_id(response) -> int:
    return int(re.search(r"/my/letters/(\d+)", response.headers["Location"]).group(1))


def _state(session, letter_id) -> LetterState:
    session.expire_all()
    return session.get(Letter, letter_id).state


@pytest.fixture
def exchange(app, client, auth, world, session):
    """Run the exchange of the core issue and return the two letters' ids."""
    case_id = world.case.id
    auth.sign_in("victim")
    sent = client.post(f"/my/cases/{case_id}/write", data={"text": FIRST, "send": "1"})
    first = _letter_id(sent)
    assert _state(session, first) == LetterState.IN_REVIEW
    auth.sign_out()

    auth.sign_in("facilitator")
    queue = client.get("/review/")
    assert f"/review/letters/{first}" in queue.text
    review = client.get(f"/review/letters/{first}")
    assert FIRST in review.text
    client.post(f"/review/letters/{first}/changes", data={"note": "Please say it your way."})
    assert _state(session, first) == LetterState.CHANGES_REQUESTED
    auth.sign_out()

    auth.sign_in("victim")
    page = client.get(f"/my/letters/{first}")
    assert "Please say it your way." in page.text
    edit = client.get(f"/my/letters/{first}/edit")
    assert FIRST in edit.text
    client.post(f"/my/letters/{first}/edit", data={"text": EDITED, "send": "1"})
    assert _state(session, first) == LetterState.IN_REVIEW
    auth.sign_out()

    auth.sign_in("facilitator")
    review = client.get(f"/review/letters/{first}")
    assert FIRST in review.text and EDITED in review.text
    client.post(f"/review/letters/{first}/approve")
    assert _state(session, first) == LetterState.DELIVERED
    auth.sign_out()

    auth.sign_in("offender")
    case_page = client.get(f"/my/cases/{case_id}")
    assert f"/my/received/{first}" in case_page.text
    warning = client.get(f"/my/received/{first}")
    assert EDITED not in warning.text
    opened = client.post(f"/my/received/{first}/open")
    assert EDITED in opened.text
    assert FIRST not in opened.text
    assert _state(session, first) == LetterState.READ
    replied = client.post(f"/my/cases/{case_id}/write", data={"text": REPLY, "send": "1"})
    reply = _letter_id(replied)
    auth.sign_out()

    auth.sign_in("facilitator")
    client.post(f"/review/letters/{reply}/approve")
    # The person harmed has not chosen to receive letters yet: approved is not delivered.
    assert _state(session, reply) == LetterState.APPROVED
    auth.sign_out()

    auth.sign_in("victim")
    assert f"/my/received/{reply}" not in client.get(f"/my/cases/{case_id}").text
    client.post(
        f"/my/cases/{case_id}/receiving",
        data={"preference": "receive", "conditions": ""},
    )
    assert _state(session, reply) == LetterState.DELIVERED
    opened = client.post(f"/my/received/{reply}/open")
    assert REPLY in opened.text
    assert _state(session, reply) == LetterState.READ
    auth.sign_out()
    return first, reply


def test_full_exchange_reaches_both_parties(exchange, client, auth, session):
    first, reply = exchange
    auth.sign_in("facilitator")
    review = client.get(f"/review/letters/{reply}")
    assert "Opened by the recipient 1 time" in review.text
    assert session.get(Letter, first).versions[-1].number == 2


def test_author_is_not_told_of_reading_unless_the_recipient_allows(exchange, client, auth):
    first, _reply = exchange
    auth.sign_in("victim")
    page = client.get(f"/my/letters/{first}")
    assert "Approved" in page.text
    assert ">Read<" not in page.text


def test_recipient_never_sees_earlier_versions(exchange, client, auth):
    first, _reply = exchange
    auth.sign_in("offender")
    opened = client.post(f"/my/received/{first}/open")
    assert EDITED in opened.text and FIRST not in opened.text


def test_no_recipient_seal_exists_before_approval(client, auth, world, session):
    auth.sign_in("victim")
    sent = client.post(f"/my/cases/{world.case.id}/write", data={"text": FIRST, "send": "1"})
    letter_id = _letter_id(sent)
    offender_holder = f"user:{world.offender.id}"
    versions = select(LetterVersion.id).where(LetterVersion.letter_id == letter_id)
    seals = session.scalars(
        select(ContentKeySeal.holder).where(ContentKeySeal.version_id.in_(versions))
    ).all()
    assert offender_holder not in seals
    case_key = session.scalar(select(CaseKey).where(CaseKey.case_id == world.case.id))
    assert sorted(seals) == sorted([f"case:{case_key.id}", f"user:{world.victim.id}"])


def _second_case(session, settings, world):
    """Another case of the same facilitator, with its own two parties."""
    from relay.models import Role
    from relay.services import cases

    case = cases.open_case(
        session, world.facilitator, reference="RJ-OTHER", offence_category="violence"
    )
    for role in ("victim", "offender"):
        token = cases.invite_party(
            session,
            settings,
            world.facilitator,
            case.id,
            role=Role(role),
            email=f"other-{role}@relay.test",
            name=f"Other {role}",
            display_name="Other",
        )
        invitations.accept_invitation(
            session, settings, token=token, password=f"another long {role} password"
        )
    return case


def test_party_cannot_open_a_letter_of_another_case(
    exchange, client, auth, session, settings, world
):
    first, reply = exchange
    other = _second_case(session, settings, world)
    for role in ("victim", "offender"):
        auth.sign_in_as(f"other-{role}@relay.test", f"another long {role} password")
        for letter_id in (first, reply):
            for url in (f"/my/received/{letter_id}", f"/my/letters/{letter_id}"):
                response = client.get(url)
                assert response.status_code == 404
                assert EDITED not in response.text and REPLY not in response.text
            assert client.post(f"/my/received/{letter_id}/open").status_code == 404
        assert client.get(f"/my/cases/{world.case.id}").status_code == 404
        assert client.get(f"/my/cases/{other.id}").status_code == 200
        client.post("/sign-out")


@pytest.mark.parametrize(
    "url",
    [
        "/my/letters/{id}",
        "/my/letters/{id}/edit",
        "/my/received/{id}",
    ],
)
def test_offender_cannot_open_a_draft_that_is_not_theirs(client, auth, world, url):
    auth.sign_in("victim")
    saved = client.post(f"/my/cases/{world.case.id}/write", data={"text": FIRST, "save": "1"})
    draft = int(re.search(r"/my/letters/(\d+)", saved.headers["Location"]).group(1))
    auth.sign_out()
    auth.sign_in("offender")
    response = client.get(url.format(id=draft))
    assert response.status_code == 404
    assert FIRST not in response.text


def test_facilitator_cannot_read_a_draft(client, auth, world):
    auth.sign_in("victim")
    saved = client.post(f"/my/cases/{world.case.id}/write", data={"text": FIRST, "save": "1"})
    draft = int(re.search(r"/my/letters/(\d+)", saved.headers["Location"]).group(1))
    auth.sign_out()
    auth.sign_in("facilitator")
    response = client.get(f"/review/letters/{draft}")
    assert response.status_code == 404
    assert FIRST not in response.text


@pytest.mark.parametrize("url", ["/my/letters/999", "/my/received/999", "/review/letters/999"])
def test_a_letter_that_does_not_exist_is_404(client, auth, world, url):
    auth.sign_in("facilitator" if url.startswith("/review") else "victim")
    response = client.get(url)
    assert response.status_code == 404
    assert "Page not found" in response.text


def test_withdrawing_stops_letters_in_review(client, auth, world, session):
    auth.sign_in("offender")
    sent = client.post(f"/my/cases/{world.case.id}/write", data={"text": REPLY, "send": "1"})
    letter_id = _letter_id(sent)
    auth.sign_out()
    auth.sign_in("victim")
    confirm = client.get(f"/my/cases/{world.case.id}/withdraw")
    assert "Stop taking part" in confirm.text
    client.post(f"/my/cases/{world.case.id}/withdraw")
    auth.sign_out()
    assert _state(session, letter_id) == LetterState.STOPPED
    auth.sign_in("facilitator")
    response = client.post(f"/review/letters/{letter_id}/approve")
    assert response.status_code == 409
    assert _state(session, letter_id) == LetterState.STOPPED
    auth.sign_out()
    auth.sign_in("offender")
    assert "This exchange has ended" in client.get(f"/my/cases/{world.case.id}").text


def _assert_nowhere_in_the_database(app, session, texts: list[str]) -> None:
    """Neither the SQLite file's bytes nor any PostgreSQL column holds any of `texts`."""
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite"):
        app.extensions["relay.engine"].dispose()
        raw = Path(url.removeprefix("sqlite:///")).read_bytes()
        for text in texts:
            for fragment in (text, text[:20], text.encode().hex()[:40]):
                assert fragment.encode() not in raw, text
        return
    from sqlalchemy import inspect
    from sqlalchemy import text as sql

    inspector = inspect(session.get_bind())
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            type_name = str(column["type"]).upper()
            if not any(word in type_name for word in ("CHAR", "TEXT", "BYTEA", "BINARY")):
                continue
            # Names come from the database's own catalogue, not from input.
            query = sql(f'SELECT "{column["name"]}" FROM "{table}"')  # noqa: S608
            for (value,) in session.execute(query):
                if value is None:
                    continue
                data = bytes(value) if isinstance(value, bytes | memoryview) else value.encode()
                for text in texts:
                    assert text[:20].encode() not in data, (table, column["name"], text)


def test_database_holds_no_letter_text_after_a_full_exchange(exchange, app, session):
    _assert_nowhere_in_the_database(app, session, [FIRST, EDITED, REPLY])


# Free text that people type besides letters (issue "Nothing lost, nothing leaked", item 7).
CONDITIONS = "Never mention my daughter Ellie by name."
CHANGES_NOTE = "Please take out the part about the court case."
REDACTION_NOTE = "I took out where you live, for your safety."
REJECTION = "This letter repeats the threat from last summer."
PAUSE_REASON = "Jo is in hospital this week and cannot read anything."


def test_database_holds_nothing_anyone_typed(app, client, auth, world, session, settings):
    from relay.services import cases
    from relay.services import letters

    case_id = world.case.id
    auth.sign_in("victim")
    client.post(
        f"/my/cases/{case_id}/receiving",
        data={"preference": "receive", "conditions": CONDITIONS},
    )
    auth.sign_out()
    one = letters.save_draft(session, world.offender, case_id, None, "Letter one.")
    letters.submit_letter(session, settings, world.offender, one.id)
    two = letters.save_draft(session, world.offender, case_id, None, "Letter two, 12 Elm Row.")
    letters.submit_letter(session, settings, world.offender, two.id)
    three = letters.save_draft(session, world.offender, case_id, None, "Letter three.")
    letters.submit_letter(session, settings, world.offender, three.id)
    auth.sign_in("facilitator")
    client.post(f"/review/letters/{one.id}/changes", data={"note": CHANGES_NOTE})
    client.post(
        f"/review/letters/{two.id}/redact",
        data={"redact-text": "Letter two.", "redact-note": REDACTION_NOTE},
    )
    client.post(f"/review/letters/{three.id}/reject", data={"reason": REJECTION})
    client.post(f"/cases/{case_id}/pause", data={"reason": PAUSE_REASON})
    # Each note reaches the person it is for, and the facilitator sees them all.
    review = client.get(f"/review/letters/{one.id}").text
    assert CHANGES_NOTE in review
    assert CONDITIONS in review
    assert PAUSE_REASON in client.get(f"/cases/{case_id}").text
    auth.sign_out()
    auth.sign_in("offender")
    assert CHANGES_NOTE in client.get(f"/my/letters/{one.id}").text
    assert REDACTION_NOTE in client.get(f"/my/letters/{two.id}").text
    assert REJECTION in client.get(f"/my/letters/{three.id}").text
    assert CONDITIONS in client.get(f"/my/letters/{one.id}/edit").text
    assert PAUSE_REASON in client.get(f"/my/cases/{case_id}").text
    auth.sign_out()
    typed = [CONDITIONS, CHANGES_NOTE, REDACTION_NOTE, REJECTION, PAUSE_REASON]
    _assert_nowhere_in_the_database(app, session, typed)
    # And a shredded case keeps none of it, even sealed.
    cases.close_case(session, world.facilitator, case_id, "completed")
    cases.shred_case(session, case_id)
    from relay.models import NoteSeal
    from relay.models import SealedNote

    assert session.scalars(select(NoteSeal)).all() == []
    assert all(note.ciphertext is None for note in session.scalars(select(SealedNote)))


def test_staff_reading_a_letter_is_audited(client, auth, world, session, settings):
    # docs/security.md: every view of letter text by anyone is an audited action; the review
    # page showed a letter's every version to staff and recorded nothing.
    from relay.models import AuditEntry
    from relay.services import letters

    letter = letters.save_draft(session, world.victim, world.case.id, None, "Read by staff.")
    letters.submit_letter(session, settings, world.victim, letter.id)
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter.id}")
    assert "Read by staff." in page.text
    session.expire_all()
    reads = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "letter.read_by_staff")
    ).all()
    assert [(e.actor_id, e.letter_id) for e in reads] == [(world.facilitator.id, letter.id)]
    assert "Read by staff" not in reads[0].details


def test_an_author_reading_their_own_letter_is_audited(client, auth, world, session):
    from relay.models import AuditEntry

    auth.sign_in("victim")
    sent = client.post(f"/my/cases/{world.case.id}/write", data={"text": FIRST, "send": "1"})
    letter_id = _letter_id(sent)
    assert FIRST in client.get(f"/my/letters/{letter_id}").text
    session.expire_all()
    reads = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "letter.read_by_author")
    ).all()
    assert [(e.actor_id, e.letter_id) for e in reads] == [(world.victim.id, letter_id)]
