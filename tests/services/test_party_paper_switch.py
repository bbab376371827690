"""Changing a party to or from paper later (issue 10, item 1): a facilitator switches a
party who uses Relay to paper (their account stays; letters approved to them from then on
wait to be printed and posted), and back again (letters approved while they were on paper
are given to their account, from the case key, and those due are passed on). A party with
no account is never switched off paper: they are given a printed one-time code instead."""

import json
from datetime import date

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import CaseParticipant
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.services import cases
from relay.services import delivery
from relay.services import letters
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from tests.factories import receive_letters


def _participant(session, case_id: int, role: Role) -> CaseParticipant:
    session.expire_all()
    return session.scalar(
        select(CaseParticipant).where(
            CaseParticipant.case_id == case_id, CaseParticipant.role == role
        )
    )


def _letter_to_victim(session, settings, world, text: str = "I am sorry.") -> int:
    letter = letters.save_draft(session, world.offender, world.case.id, None, text)
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    return letter.id


def _state(session, letter_id: int) -> LetterState:
    session.expire_all()
    return session.get(Letter, letter_id).state


def _entries(session, action: str) -> list[dict]:
    return [
        json.loads(details)
        for details in session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == action)
        )
    ]


def _holders(session, letter_id: int) -> set[str]:
    letter = session.get(Letter, letter_id)
    return set(
        session.scalars(
            select(ContentKeySeal.holder).where(
                ContentKeySeal.version_id == letter.approved_version_id
            )
        )
    )


def test_a_party_switched_to_paper_keeps_their_account_and_new_letters_wait_to_be_posted(
    session, settings, world
):
    receive_letters(session, settings, world.victim, world.case.id)
    victim = _participant(session, world.case.id, Role.VICTIM)
    cases.set_on_paper(session, settings, world.facilitator, world.case.id, victim.id, True)

    victim = _participant(session, world.case.id, Role.VICTIM)
    assert (victim.on_paper, victim.user_id) == (True, world.victim.id)
    assert _entries(session, "case.party_on_paper") == [{"person": "victim"}]

    letter_id = _letter_to_victim(session, settings, world)
    # Not passed on through Relay although they chose to receive: it waits to be posted.
    assert _state(session, letter_id) == LetterState.APPROVED
    assert delivery.deliver_due_everywhere(session, settings) == 0
    assert [row.id for row in letters.to_print_and_post(session, world.facilitator).items] == [
        letter_id
    ]
    # Still sealed to their account, so once posted it can be read there too.
    assert f"user:{world.victim.id}" in _holders(session, letter_id)
    letters.deliver_on_paper(session, world.facilitator, letter_id, how="posted", on=date.today())
    _letter, text = letters.open_letter(session, settings, world.victim, letter_id)
    assert text == "I am sorry."


def test_switched_back_off_paper_the_letters_waiting_are_passed_on_through_relay(
    session, settings, world
):
    receive_letters(session, settings, world.victim, world.case.id)
    victim = _participant(session, world.case.id, Role.VICTIM)
    cases.set_on_paper(session, settings, world.facilitator, world.case.id, victim.id, True)
    letter_id = _letter_to_victim(session, settings, world)
    assert _state(session, letter_id) == LetterState.APPROVED

    cases.set_on_paper(session, settings, world.facilitator, world.case.id, victim.id, False)

    assert _participant(session, world.case.id, Role.VICTIM).on_paper is False
    assert _state(session, letter_id) == LetterState.DELIVERED
    assert letters.to_print_and_post(session, world.facilitator).items == []
    assert _entries(session, "case.party_off_paper") == [{"person": "victim", "letters": 0}]
    _letter, text = letters.open_letter(session, settings, world.victim, letter_id)
    assert text == "I am sorry."


def test_a_party_with_no_account_is_not_switched_off_paper(session, settings, world):
    case = cases.open_case(session, world.facilitator, reference="RJ-P1", offence_category="other")
    inmate = cases.add_paper_party(
        session, world.facilitator, case.id, role=Role.OFFENDER, display_name="Lee"
    )
    with pytest.raises(InvalidTransition, match="one-time code"):
        cases.set_on_paper(session, settings, world.facilitator, case.id, inmate.id, False)
    assert _participant(session, case.id, Role.OFFENDER).on_paper is True
    assert _entries(session, "case.party_off_paper") == []


def test_switching_to_what_they_already_do_is_refused(session, settings, world):
    victim = _participant(session, world.case.id, Role.VICTIM)
    with pytest.raises(InvalidTransition, match="already take part through Relay"):
        cases.set_on_paper(session, settings, world.facilitator, world.case.id, victim.id, False)
    cases.set_on_paper(session, settings, world.facilitator, world.case.id, victim.id, True)
    with pytest.raises(InvalidTransition, match="already take part on paper"):
        cases.set_on_paper(session, settings, world.facilitator, world.case.id, victim.id, True)


def test_only_the_cases_facilitator_switches_and_never_a_facilitator_or_a_closed_case(
    session, settings, world
):
    victim = _participant(session, world.case.id, Role.VICTIM)
    facilitator = _participant(session, world.case.id, Role.FACILITATOR)
    with pytest.raises(NotFound):
        cases.set_on_paper(session, settings, world.offender, world.case.id, victim.id, True)
    with pytest.raises(NotAllowed):
        cases.set_on_paper(session, settings, world.administrator, world.case.id, victim.id, True)
    with pytest.raises(NotFound):
        cases.set_on_paper(
            session, settings, world.facilitator, world.case.id, facilitator.id, True
        )
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    with pytest.raises(InvalidTransition, match="closed"):
        cases.set_on_paper(session, settings, world.facilitator, world.case.id, victim.id, True)
    assert _participant(session, world.case.id, Role.VICTIM).on_paper is False


def test_a_letter_already_approved_and_waiting_goes_to_print_and_post_when_they_change(
    session, settings, world
):
    # The person harmed has not chosen to receive yet: the approved letter waits.
    letter_id = _letter_to_victim(session, settings, world)
    assert _state(session, letter_id) == LetterState.APPROVED
    assert letters.to_print_and_post(session, world.facilitator).items == []
    victim = _participant(session, world.case.id, Role.VICTIM)
    cases.set_on_paper(session, settings, world.facilitator, world.case.id, victim.id, True)
    assert [row.id for row in letters.to_print_and_post(session, world.facilitator).items] == [
        letter_id
    ]
    assert letter_id not in [
        row.id for row in letters.approved_not_passed_on(session, world.facilitator).items
    ]
    assert _state(session, letter_id) == LetterState.APPROVED
