"""No one loses a letter they wrote, and no draft outlives its exchange (issue "Nothing
lost, nothing leaked", items 1 and 2). Each test here was seen failing first."""

from sqlalchemy import func
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterState
from relay.models import LetterVersion
from relay.services import cases
from relay.services import letters


def _letters_by(session, author_user_id: int) -> int:
    session.expire_all()
    return len(
        [
            letter
            for letter in session.scalars(select(Letter))
            if letter.author.user_id == author_user_id
        ]
    )


def _rows_of(session, letter_id: int) -> tuple[int, int]:
    """How many versions, and seals of them, the letter still has in the database."""
    versions = select(LetterVersion.id).where(LetterVersion.letter_id == letter_id)
    return (
        session.scalar(select(func.count()).select_from(versions.subquery())),
        session.scalar(
            select(func.count())
            .select_from(ContentKeySeal)
            .where(ContentKeySeal.version_id.in_(versions))
        ),
    )


def _gone(session, letter_id: int) -> bool:
    session.expire_all()
    return session.scalar(select(Letter.id).where(Letter.id == letter_id)) is None


def _actions(session, letter_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.letter_id == letter_id)
            .order_by(AuditEntry.sequence)
        )
    )


# --- item 1: an empty save or send makes nothing; drafts can be deleted ---------------


def test_an_empty_save_or_send_creates_nothing(client, auth, session, world):
    auth.sign_in("offender")
    before = _letters_by(session, world.offender.id)
    for button in ("save", "send"):
        page = client.post(f"/my/cases/{world.case.id}/write", data={"text": "  \n ", button: "1"})
        assert page.status_code == 200
        assert "error-summary" in page.text
        assert "Write something" in page.text
    assert _letters_by(session, world.offender.id) == before


def test_an_empty_save_through_the_service_is_refused(session, world):
    import pytest

    from relay.services.errors import InvalidInput

    with pytest.raises(InvalidInput):
        letters.save_draft(session, world.offender, world.case.id, None, "   ")
    draft = letters.save_draft(session, world.offender, world.case.id, None, "a start")
    with pytest.raises(InvalidInput):
        letters.save_draft(session, world.offender, world.case.id, draft.id, "")
    _letter, texts = letters.read_own_letter(session, world.offender, draft.id)
    assert list(texts.values()) == ["a start"]


def test_the_author_can_delete_a_draft_after_confirming(client, auth, session, world):
    draft_id = letters.save_draft(session, world.offender, world.case.id, None, "not this one").id
    auth.sign_in("offender")
    assert f"/my/letters/{draft_id}/delete" in client.get(f"/my/letters/{draft_id}").text
    confirm = client.get(f"/my/letters/{draft_id}/delete")
    assert confirm.status_code == 200
    assert "Delete this draft?" in confirm.text
    assert _rows_of(session, draft_id)[0] == 1  # asking changed nothing
    done = client.post(f"/my/letters/{draft_id}/delete")
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/my/cases/{world.case.id}")
    assert _gone(session, draft_id)
    assert _rows_of(session, draft_id) == (0, 0)
    assert _actions(session, draft_id)[-1] == "letter.draft_deleted"
    assert client.get(f"/my/letters/{draft_id}").status_code == 404


def test_a_letter_sent_for_review_cannot_be_deleted(client, auth, session, settings, world):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "sent")
    letters.submit_letter(session, settings, world.offender, letter.id)
    auth.sign_in("offender")
    assert f"/my/letters/{letter.id}/delete" not in client.get(f"/my/letters/{letter.id}").text
    assert client.post(f"/my/letters/{letter.id}/delete").status_code == 409
    session.expire_all()
    assert session.get(Letter, letter.id).state == LetterState.IN_REVIEW


def test_someone_else_cannot_delete_a_draft(client, auth, session, world):
    draft = letters.save_draft(session, world.offender, world.case.id, None, "mine")
    for role in ("victim", "facilitator"):
        other = auth.another_client(role)
        assert other.post(f"/my/letters/{draft.id}/delete").status_code == 404
    assert _rows_of(session, draft.id)[0] == 1


def test_withdrawing_a_letter_asks_to_confirm(client, auth, session, settings, world):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "sent")
    letters.submit_letter(session, settings, world.offender, letter.id)
    auth.sign_in("offender")
    page = client.get(f"/my/letters/{letter.id}").text
    # The letter page links to a question; it holds no button that withdraws at once.
    assert f'href="/my/letters/{letter.id}/withdraw"' in page
    assert f'action="/my/letters/{letter.id}/withdraw"' not in page
    confirm = client.get(f"/my/letters/{letter.id}/withdraw")
    assert "Withdraw this letter?" in confirm.text
    session.expire_all()
    assert session.get(Letter, letter.id).state == LetterState.IN_REVIEW
    client.post(f"/my/letters/{letter.id}/withdraw")
    session.expire_all()
    assert session.get(Letter, letter.id).state == LetterState.WITHDRAWN


def test_autosave_makes_one_draft_and_keeps_it_up_to_date(client, auth, session, world):
    auth.sign_in("offender")
    before = _letters_by(session, world.offender.id)
    nothing = client.post(f"/my/cases/{world.case.id}/write", data={"text": "", "autosave": "1"})
    assert nothing.status_code == 200
    assert nothing.json == {"saved_at": None}
    assert _letters_by(session, world.offender.id) == before
    first = client.post(f"/my/cases/{world.case.id}/write", data={"text": "Dear", "autosave": "1"})
    assert first.status_code == 200
    action = first.json["action"]
    assert first.json["saved_at"]
    again = client.post(action, data={"text": "Dear Sam", "autosave": "1"})
    assert again.json["action"] == action
    assert _letters_by(session, world.offender.id) == before + 1
    letter_id = int(action.rstrip("/").split("/")[-2])
    _letter, texts = letters.read_own_letter(session, world.offender, letter_id)
    assert list(texts.values()) == ["Dear Sam"]
    refused = client.post(action, data={"text": "x" * 100_001, "autosave": "1"})
    assert refused.status_code == 400
    assert "characters" in refused.json["error"]


# --- item 2: drafts are destroyed when the exchange ends, and people are told first ----


def test_closing_a_case_destroys_unsent_drafts_and_says_so_first(
    client, auth, session, settings, world
):
    draft_id = letters.save_draft(session, world.offender, world.case.id, None, "never sent").id
    sent_id = letters.save_draft(session, world.offender, world.case.id, None, "sent once").id
    letters.submit_letter(session, settings, world.offender, sent_id)
    letters.request_changes(session, settings, world.facilitator, sent_id, "Say it plainly")
    letters.save_draft(session, world.offender, world.case.id, sent_id, "half-done rewrite")
    auth.sign_in("facilitator")
    closing = client.get(f"/cases/{world.case.id}/close").text
    assert "2 unsent drafts" in closing
    assert "destroyed" in closing
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    assert _gone(session, draft_id)
    assert _rows_of(session, draft_id) == (0, 0)
    assert "letter.draft_destroyed" in _actions(session, draft_id)
    # The letter that reached the facilitator keeps what they read; the rewrite is gone.
    kept = session.get(Letter, sent_id)
    assert kept.state == LetterState.STOPPED
    assert [v.number for v in kept.versions] == [1]


def test_a_party_is_told_before_stopping_that_their_drafts_will_be_destroyed(
    client, auth, session, world
):
    letters.save_draft(session, world.offender, world.case.id, None, "never sent")
    auth.sign_in("offender")
    page = client.get(f"/my/cases/{world.case.id}/withdraw").text
    assert "letters you have not sent" in page
    assert "destroyed" in page
    client.post(f"/my/cases/{world.case.id}/withdraw")
    assert _letters_by(session, world.offender.id) == 0


def test_a_letter_written_slowly_is_not_refused_for_an_old_form_token(
    app, client, auth, session, world, monkeypatch
):
    """Writing a letter can take more than an hour on one page; the form's CSRF token must
    not expire under it (Flask-WTF's default is an hour), or the Save loses the text."""
    import re
    import time

    from itsdangerous.timed import TimestampSigner

    auth.sign_in("offender")
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(f"/my/cases/{world.case.id}/write").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    two_hours_later = int(time.time()) + 2 * 60 * 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _self: two_hours_later)
    saved = client.post(
        f"/my/cases/{world.case.id}/write",
        data={"csrf_token": token, "text": "Written slowly.", "save": "1"},
    )
    assert saved.status_code == 302, saved.text[:300]
    assert _letters_by(session, world.offender.id) == 1
