"""Approving through the review page (issue 9, item 4): a box for each flag, a
confirmation when the letter is flagged or the case marked for extra care, errors next
to the field with the boxes ticked kept, and the first of two approvals said plainly."""

import re
from datetime import date
from datetime import timedelta

from sqlalchemy import select

from relay.models import CaseParticipant
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.services import access
from relay.services import invitations
from relay.services import letters
from tests.factories import receive_letters

FLAGGED = "My mate Darren talked me into it. Please forgive me."
SAM = ("sam@relay.test", "Sam Jones", "correct horse sam jones")


def _in_review(session, settings, world, text: str) -> int:
    receive_letters(session, settings, world.victim, world.case.id)
    letter = letters.save_draft(session, world.offender, world.case.id, None, text)
    letters.submit_letter(session, settings, world.offender, letter.id)
    return letter.id


def _boxes(page: str) -> list[str]:
    return re.findall(r'name="checked_flags" id="[^"]+" value="([^"]+)"', page)


def _state(session, letter_id: int) -> LetterState:
    session.expire_all()
    return session.get(Letter, letter_id).state


def test_each_flag_has_a_box_and_approving_without_them_keeps_what_was_ticked(
    client, auth, session, settings, world
):
    letter_id = _in_review(session, settings, world, FLAGGED)
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter_id}").text
    keys = _boxes(page)
    assert len(keys) == 3  # Darren, "talked me into", "Please forgive"
    assert "[1] “Darren”: checked, not a problem here" in page
    assert 'id="checked_flags"' in page  # the error summary's link lands on the first box
    assert "I have read the whole letter, and it can be passed on" in page

    refused = client.post(
        f"/review/letters/{letter_id}/approve",
        data={"not_before": "", "checked_flags": keys[:2], "confirmed": "y"},
    )
    assert refused.status_code == 200
    assert "There is a problem" in refused.text
    assert '<a href="#checked_flags">Mark each flag as checked before you approve: 1 of 3' in (
        refused.text
    )
    ticked = re.findall(r'value="([^"]+)" checked>', refused.text)
    assert ticked == keys[:2]
    assert _state(session, letter_id) == LetterState.IN_REVIEW

    unconfirmed = client.post(
        f"/review/letters/{letter_id}/approve", data={"not_before": "", "checked_flags": keys}
    )
    assert '<a href="#confirmed">Confirm that you have read the whole letter' in unconfirmed.text
    assert _state(session, letter_id) == LetterState.IN_REVIEW

    approved = client.post(
        f"/review/letters/{letter_id}/approve",
        data={"not_before": "", "checked_flags": keys, "confirmed": "y"},
    )
    assert approved.status_code == 302
    assert _state(session, letter_id) == LetterState.DELIVERED


def test_a_letter_without_flags_in_an_ordinary_case_asks_for_nothing_more(
    client, auth, session, settings, world
):
    letter_id = _in_review(session, settings, world, "I think about that evening often.")
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter_id}").text
    assert _boxes(page) == []
    assert 'name="confirmed"' not in page


def test_an_extra_care_case_takes_two_facilitators_and_says_so(
    client, auth, session, settings, world
):
    victim = session.scalar(
        select(CaseParticipant).where(
            CaseParticipant.case_id == world.case.id, CaseParticipant.role == Role.VICTIM
        )
    )
    victim.risk_extra_care = True
    session.commit()
    token = invitations.invite_staff(
        session, settings, world.administrator, email=SAM[0], name=SAM[1]
    )
    invitations.accept_invitation(session, settings, token=token, password=SAM[2])
    access.add_facilitator(session, world.facilitator, world.case.id, SAM[0])
    letter_id = _in_review(session, settings, world, "I think about that evening often.")

    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter_id}").text
    assert "This case is marked for extra care" in page
    assert ">Give the first approval</button>" in page
    later = (date.today() + timedelta(days=30)).isoformat()
    first = client.post(
        f"/review/letters/{letter_id}/approve", data={"not_before": later, "confirmed": "y"}
    )
    assert first.status_code == 302
    saved = client.get(first.headers["Location"]).text
    assert "You gave the letter its first approval" in saved
    assert _state(session, letter_id) == LetterState.IN_REVIEW
    auth.sign_out()

    auth.sign_in_as(SAM[0], SAM[2])
    second_page = client.get(f"/review/letters/{letter_id}").text
    assert "By Fran Facilitator on" in second_page
    # The first approver's "not before" date is where the second starts from.
    assert f'value="{later}"' in second_page
    assert ">Approve and pass on</button>" in second_page
    second = client.post(
        f"/review/letters/{letter_id}/approve", data={"not_before": later, "confirmed": "y"}
    )
    assert second.status_code == 302
    assert _state(session, letter_id) == LetterState.APPROVED  # waiting for its date
