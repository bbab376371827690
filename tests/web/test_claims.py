"""Claims through the pages: the review page says who is reviewing a letter and until
when, taking it over asks first, and a decision from a page whose claim was taken over is
refused with the reason, changing nothing."""

import re

import pytest
from sqlalchemy import func
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Letter
from relay.models import LetterState
from relay.models import OutboxMessage
from relay.services import letters
from tests.paper import typed_in_on_pages

TEXT = "I have thought about that evening every day since."


@pytest.fixture
def letter_id(session, settings, world) -> int:
    letter = letters.save_draft(session, world.offender, world.case.id, None, TEXT)
    letters.submit_letter(session, settings, world.offender, letter.id)
    return letter.id


def _letter(session, letter_id: int) -> Letter:
    session.expire_all()
    return session.get(Letter, letter_id)


def _holder(session, letter_id: int) -> int | None:
    return _letter(session, letter_id).claimed_by_id


def _last_entry(session) -> int:
    return session.scalar(select(func.max(AuditEntry.sequence)))


def _claim_notice(page: str) -> str:
    found = re.search(r'<div class="notice" id="review-claim">(.*?)</div>', page, re.S)
    assert found, "the page says nothing of who is reviewing the letter"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_opening_a_letter_says_you_are_reviewing_it_until_when(
    client, auth, session, world, letter_id
):
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter_id}").text
    until = _letter(session, letter_id).claimed_until
    assert _claim_notice(page).startswith(f"You are reviewing this letter until {until:%H:%M} UTC.")
    assert _holder(session, letter_id) == world.facilitator.id
    assert f'action="/review/letters/{letter_id}/approve"' in page


def test_another_facilitator_sees_who_is_reviewing_it_and_is_offered_to_take_over(
    client, auth, session, sam_client, letter_id
):
    auth.sign_in("facilitator")
    client.get(f"/review/letters/{letter_id}")
    page = sam_client.get(f"/review/letters/{letter_id}").text
    until = _letter(session, letter_id).claimed_until
    notice = _claim_notice(page)
    assert notice.startswith(f"Fran Facilitator is reviewing this letter until {until:%H:%M} UTC.")
    assert f'href="/review/letters/{letter_id}/take-over"' in page
    assert "Take over" in notice
    # The decisions are the holder's while they hold it.
    assert f'action="/review/letters/{letter_id}/approve"' not in page
    assert TEXT in page


def test_taking_over_asks_first_and_only_the_answer_moves_the_claim(
    client, auth, session, world, sam_client, letter_id
):
    auth.sign_in("facilitator")
    client.get(f"/review/letters/{letter_id}")
    before = _last_entry(session)
    question = sam_client.get(f"/review/letters/{letter_id}/take-over")
    assert question.status_code == 200
    assert "<h1>Take over this letter from Fran Facilitator?</h1>" in question.text
    assert "the decision they are writing will not be saved" in question.text
    assert ">Continue</button>" in question.text
    assert f'href="/review/letters/{letter_id}">Cancel</a>' in question.text
    assert _holder(session, letter_id) == world.facilitator.id
    assert _last_entry(session) == before

    answer = sam_client.post(f"/review/letters/{letter_id}/take-over")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/review/letters/{letter_id}"
    holder = _holder(session, letter_id)
    assert holder not in (None, world.facilitator.id)
    page = sam_client.get(f"/review/letters/{letter_id}").text
    assert "You have taken this letter over" in page
    assert _claim_notice(page).startswith("You are reviewing this letter until")
    assert _claim_notice(client.get(f"/review/letters/{letter_id}").text).startswith(
        "Sam Jones is reviewing this letter until"
    )


def test_a_decision_from_a_page_whose_claim_was_taken_over_is_refused_and_changes_nothing(
    client, auth, session, sam_client, letter_id
):
    auth.sign_in("facilitator")
    assert "Approve and pass on" in client.get(f"/review/letters/{letter_id}").text
    sam_client.post(f"/review/letters/{letter_id}/take-over")
    taken = _letter(session, letter_id)
    holder, since = taken.claimed_by_id, taken.claimed_at
    before, notices = _last_entry(session), session.scalar(select(func.count(OutboxMessage.id)))

    refused = client.post(f"/review/letters/{letter_id}/approve")
    assert refused.status_code == 409
    assert (
        f"Sam Jones took this letter over at {since:%H:%M} UTC; your decision was not saved. "
        "Open it again to see where it is"
    ) in refused.text
    changes = client.post(f"/review/letters/{letter_id}/changes", data={"note": "Say more."})
    assert changes.status_code == 409

    after = _letter(session, letter_id)
    assert after.state == LetterState.IN_REVIEW and after.approved_by_id is None
    assert (after.claimed_by_id, after.claimed_at) == (holder, since)
    assert _last_entry(session) == before
    assert session.scalar(select(func.count(OutboxMessage.id))) == notices


def test_the_take_over_question_is_not_asked_when_nobody_else_holds_the_letter(
    client, auth, session, world, letter_id
):
    auth.sign_in("facilitator")
    answer = client.get(f"/review/letters/{letter_id}/take-over")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/review/letters/{letter_id}"
    assert _holder(session, letter_id) is None


def test_a_paper_letter_waits_unclaimed_for_the_second_facilitator(
    client, auth, session, world, sam_client
):
    auth.sign_in("facilitator")
    letter_id = typed_in_on_pages(client, session, world.case.id, "offender", TEXT)
    entered = client.get(f"/review/letters/{letter_id}")
    assert 'id="review-claim"' not in entered.text
    assert _holder(session, letter_id) is None
    page = sam_client.get(f"/review/letters/{letter_id}").text
    assert _claim_notice(page).startswith("You are reviewing this letter until")
    approved = sam_client.post(f"/review/letters/{letter_id}/approve", data={"scan_checked": "y"})
    assert approved.status_code == 302
    assert _letter(session, letter_id).approved_by_id != world.facilitator.id


def test_stop_reviewing_is_a_button_on_the_page_that_lets_the_letter_go(
    client, auth, session, settings, world
):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, letter.id)
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter.id}").text
    assert f'action="/review/letters/{letter.id}/stop-reviewing"' in page
    stopped = client.post(f"/review/letters/{letter.id}/stop-reviewing")
    assert stopped.status_code == 302 and stopped.headers["Location"].endswith("/review/")
    assert "You have stopped reviewing the letter" in client.get("/review/").text
    session.expire_all()
    assert session.get(Letter, letter.id).claimed_by_id is None
