"""Approving with care (issue 9, item 4): every flag marked checked before a letter is
approved, enforced in the service and audited; a confirmation for a flagged letter or a
case marked for extra care; and in such a case, two facilitators' approval."""

import json
from datetime import date
from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import CaseParticipant
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.services import claims
from relay.services import letters
from relay.services import notes
from relay.services.errors import InvalidInput
from relay.services.errors import NotAllowed
from tests.conftest import receive_letters

# The letter from the issue: today it must raise flags the facilitator has to look at.
FLAGGED = (
    "I was off my head and my mate Darren talked me into it, so it wasn't all down to me. "
    "Honestly you shouldn't have left the back door unlocked. Please forgive me. "
    "I hope this helps with my parole. Olly Responsible"
)
PLAIN = "I have thought about that evening every day since."


def _submitted(session, settings, world, text: str) -> int:
    receive_letters(session, settings, world.victim, world.case.id)
    letter = letters.save_draft(session, world.offender, world.case.id, None, text)
    letters.submit_letter(session, settings, world.offender, letter.id)
    return letter.id


def _flags(session, world, letter_id: int):
    """The flags as the review page finds them, with the recipient's conditions."""
    letter, texts, _claim = claims.open_for_review(session, world.facilitator, letter_id)
    conditions = notes.conditions_of(session, world.facilitator, letter.recipient)
    return letters.flags_for_review(letter, texts[-1][1], conditions)


def _state(session, letter_id: int) -> LetterState:
    session.expire_all()
    return session.get(Letter, letter_id).state


def _details(session, letter_id: int, action: str) -> list[dict]:
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.letter_id == letter_id, AuditEntry.action == action)
    )
    return [json.loads(entry.details) for entry in entries]


def _mark_extra_care(session, world) -> None:
    """The risk assessment marked the person harmed for extra care."""
    victim = session.scalar(
        select(CaseParticipant).where(
            CaseParticipant.case_id == world.case.id, CaseParticipant.role == Role.VICTIM
        )
    )
    victim.risk_extra_care = True
    session.commit()


def test_the_letter_from_the_issue_cannot_be_approved_until_each_flag_is_checked(
    session, settings, world
):
    letter_id = _submitted(session, settings, world, FLAGGED)
    found = _flags(session, world, letter_id)
    kinds = {flag.kind for flag in found}
    assert kinds == {"given name", "blame or minimising", "forgiveness", "justice process", "name"}
    keys = [flag.key for flag in found]

    with pytest.raises(InvalidInput, match=f"1 of {len(found)} is not marked") as refused:
        letters.approve_letter(
            session, settings, world.facilitator, letter_id, checked_flags=keys[1:], confirmed=True
        )
    assert refused.value.field == "checked_flags"
    with pytest.raises(InvalidInput, match=f"{len(found)} of {len(found)} are not marked"):
        letters.approve_letter(session, settings, world.facilitator, letter_id, confirmed=True)
    assert _state(session, letter_id) == LetterState.IN_REVIEW
    assert _details(session, letter_id, "letter.approved") == []


def test_a_flagged_letter_asks_to_confirm_then_approves_and_audits_the_checks_without_words(
    session, settings, world
):
    letter_id = _submitted(session, settings, world, FLAGGED)
    found = _flags(session, world, letter_id)
    keys = [flag.key for flag in found]
    with pytest.raises(InvalidInput, match="Confirm that you have read") as refused:
        letters.approve_letter(session, settings, world.facilitator, letter_id, checked_flags=keys)
    assert refused.value.field == "confirmed"
    assert _state(session, letter_id) == LetterState.IN_REVIEW

    assert letters.approve_letter(
        session, settings, world.facilitator, letter_id, checked_flags=keys, confirmed=True
    )
    assert _state(session, letter_id) in (LetterState.APPROVED, LetterState.DELIVERED)
    (approved,) = _details(session, letter_id, "letter.approved")
    assert sum(approved["flags_checked"].values()) == len(found)
    assert approved["flags_checked"]["given name"] >= 1
    assert approved["second_approval"] is False
    recorded = json.dumps(approved)
    for flag in found:
        assert flag.excerpt not in recorded


def test_a_mark_from_another_text_does_not_count(session, settings, world):
    """Keys name places in one version's text: marks made on another text check nothing."""
    letter_id = _submitted(session, settings, world, FLAGGED)
    stale = [
        f"{flag.kind}:{flag.start + 1}:{flag.end + 1}" for flag in _flags(session, world, letter_id)
    ]
    with pytest.raises(InvalidInput, match="not marked"):
        letters.approve_letter(
            session, settings, world.facilitator, letter_id, checked_flags=stale, confirmed=True
        )


def test_a_letter_without_flags_in_an_ordinary_case_needs_no_marks_or_confirmation(
    session, settings, world
):
    letter_id = _submitted(session, settings, world, PLAIN)
    assert _flags(session, world, letter_id) == []
    assert letters.approve_letter(session, settings, world.facilitator, letter_id)
    assert _details(session, letter_id, "letter.approved")[0]["flags_checked"] == {}


def test_the_recipients_surname_is_flagged_when_their_conditions_ask_it_is_not_used(
    session, settings, world
):
    receive_letters(
        session, settings, world.victim, world.case.id, conditions="Please do not use my surname"
    )
    letter = letters.save_draft(
        session, world.offender, world.case.id, None, "I am sorry, Ms Harmed."
    )
    letters.submit_letter(session, settings, world.offender, letter.id)
    found = [(flag.kind, flag.excerpt) for flag in _flags(session, world, letter.id)]
    assert ("withheld surname", "Harmed") in found


def test_without_that_condition_the_surname_is_only_a_name(session, settings, world):
    receive_letters(session, settings, world.victim, world.case.id, conditions="No letters in May")
    letter = letters.save_draft(
        session, world.offender, world.case.id, None, "I am sorry, Ms Harmed."
    )
    letters.submit_letter(session, settings, world.offender, letter.id)
    found = [(flag.kind, flag.excerpt) for flag in _flags(session, world, letter.id)]
    assert found == [("name", "Harmed")]


# --- a case marked for extra care: two facilitators ----------------------------------


def test_in_an_extra_care_case_the_first_approval_waits_for_a_second_facilitator(
    session, settings, world, sam
):
    _mark_extra_care(session, world)
    letter_id = _submitted(session, settings, world, PLAIN)
    with pytest.raises(InvalidInput, match="Confirm"):
        letters.approve_letter(session, settings, world.facilitator, letter_id)

    passed_on = letters.approve_letter(
        session, settings, world.facilitator, letter_id, confirmed=True
    )
    assert passed_on is False
    session.expire_all()
    letter = session.get(Letter, letter_id)
    assert letter.state == LetterState.IN_REVIEW
    assert letter.first_approved_by_id == world.facilitator.id
    assert letters.waits_for_second_approval(letter)
    assert letter.versions[-1].seals and all(
        not seal.holder.startswith(f"user:{world.victim.id}") for seal in letter.versions[-1].seals
    )
    assert len(_details(session, letter_id, "letter.first_approval")) == 1

    # The first approver can neither approve again nor hold the letter from the second.
    with pytest.raises(NotAllowed, match="a second facilitator must approve it"):
        letters.approve_letter(session, settings, world.facilitator, letter_id, confirmed=True)
    assert claims.claim_for_review(session, world.facilitator, letter_id) is None
    assert claims.claim_for_review(session, sam, letter_id).mine

    assert letters.approve_letter(session, settings, sam, letter_id, confirmed=True)
    assert _state(session, letter_id) in (LetterState.APPROVED, LetterState.DELIVERED)
    (approved,) = _details(session, letter_id, "letter.approved")
    assert approved["second_approval"] is True


def test_a_new_version_needs_its_first_approval_again(session, settings, world, sam):
    _mark_extra_care(session, world)
    letter_id = _submitted(session, settings, world, PLAIN)
    letters.approve_letter(session, settings, world.facilitator, letter_id, confirmed=True)
    letters.request_changes(session, settings, sam, letter_id, "Please say less about the night.")
    letters.save_draft(session, world.offender, world.case.id, letter_id, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, letter_id)
    session.expire_all()
    assert not letters.waits_for_second_approval(session.get(Letter, letter_id))
    # Sam's approval of the new version is a first approval again, not the second.
    assert letters.approve_letter(session, settings, sam, letter_id, confirmed=True) is False
    assert letters.approve_letter(session, settings, world.facilitator, letter_id, confirmed=True)


def test_the_first_approvers_not_before_date_is_kept_for_the_second(session, settings, world, sam):
    _mark_extra_care(session, world)
    letter_id = _submitted(session, settings, world, PLAIN)
    later = date.today() + timedelta(days=30)
    letters.approve_letter(session, settings, world.facilitator, letter_id, later, confirmed=True)
    session.expire_all()
    assert session.get(Letter, letter_id).deliver_not_before == later
    assert letters.approve_letter(session, settings, sam, letter_id, later, confirmed=True)
    session.expire_all()
    letter = session.get(Letter, letter_id)
    assert (letter.state, letter.deliver_not_before) == (LetterState.APPROVED, later)


def test_a_number_in_an_account_name_is_not_a_name_to_flag(session, settings, world):
    """Found by the PostgreSQL race tests: a person named "Race victim 12" made every "12"
    in a letter a name to check."""
    world.victim.user.name = "Race Victim 12"
    session.commit()
    letter_id = _submitted(session, settings, world, "I am sorry. (12)")
    assert _flags(session, world, letter_id) == []
    assert letters.approve_letter(session, settings, world.facilitator, letter_id)
