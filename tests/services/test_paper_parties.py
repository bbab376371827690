"""A party who takes part on paper (issue 10, item 1): added without an e-mail address, they
never block the case's gates; a letter to them is approved as usual, waits to be printed
and posted, and reaches them when their facilitator records it posted or handed over."""

import json
from datetime import date
from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import CaseKey
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterState
from relay.models import PaperDelivery
from relay.models import Role
from relay.services import cases
from relay.services import delivery
from relay.services import letters
from relay.services import states
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from tests import paper
from tests.factories import receive_letters
from tests.paper import typed_from_paper


@pytest.fixture
def paper_case(session, settings, world):
    """A case whose person harmed uses Relay and whose person responsible, in prison, takes
    part on paper; started once its gates are recorded."""
    case_id, inmate_id = paper.paper_case(session, settings, world.facilitator, "RJ-PAPER")
    return case_id, inmate_id, paper.pat_signed_in(session, settings)


def _letter_to_paper(session, settings, world, paper_case) -> int:
    case_id, _inmate, harmed = paper_case
    paper.started(session, world.facilitator, case_id)
    letter = letters.save_draft(session, harmed, case_id, None, "Why our house?")
    letters.submit_letter(session, settings, harmed, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    return letter.id


def _case_key_id(session, case_id: int) -> int:
    return session.scalar(select(CaseKey.id).where(CaseKey.case_id == case_id))


def _entries(session, action: str) -> list[dict]:
    return [
        json.loads(details)
        for details in session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == action)
        )
    ]


def test_a_party_on_paper_needs_no_e_mail_and_does_not_block_the_gates(
    session, settings, world, paper_case
):
    case_id, inmate_id, _harmed = paper_case
    case = cases.case_for_staff(session, world.facilitator, case_id)
    inmate = next(p for p in case.participants if p.id == inmate_id)
    assert (inmate.on_paper, inmate.user_id) == (True, None)
    assert (
        session.scalar(
            select(AuditEntry.details).where(
                AuditEntry.action == "case.paper_party_added", AuditEntry.case_id == case_id
            )
        )
        == '{"person":"offender"}'
    )
    parties_gate = next(g for g in cases.gate_status(case) if g.name == "parties")
    assert parties_gate.done
    paper.started(session, world.facilitator, case_id)
    session.expire_all()
    assert cases.case_for_staff(session, world.facilitator, case_id).state == "active"


def test_a_party_invited_by_e_mail_still_blocks_the_gates_until_they_sign_up(
    session, settings, world
):
    case = cases.open_case(
        session, world.facilitator, reference="RJ-WAIT", offence_category="other"
    )
    cases.invite_party(
        session,
        settings,
        world.facilitator,
        case.id,
        role=Role.VICTIM,
        email="later@relay.test",
        name="Later",
        display_name="Later",
    )
    cases.add_paper_party(
        session, world.facilitator, case.id, role=Role.OFFENDER, display_name="Lee"
    )
    case = cases.case_for_staff(session, world.facilitator, case.id)
    assert not next(g for g in cases.gate_status(case) if g.name == "parties").done


def test_a_letter_to_a_party_on_paper_waits_to_be_posted_and_is_sealed_to_nobody(
    session, settings, world, paper_case
):
    letter_id = _letter_to_paper(session, settings, world, paper_case)
    session.expire_all()
    letter = session.get(Letter, letter_id)
    assert letter.state == LetterState.APPROVED
    # Sealed to the case key and its writer only: nobody else holds a key to it.
    holders = set(
        session.scalars(
            select(ContentKeySeal.holder).where(
                ContentKeySeal.version_id == letter.approved_version_id
            )
        )
    )
    assert holders == {f"case:{_case_key_id(session, letter.case_id)}", f"user:{paper_case[2].id}"}
    listed = letters.to_print_and_post(session, world.facilitator)
    assert [row.id for row in listed.items] == [letter_id]
    # Neither a reading to arrange nor an approved letter waiting for a choice.
    assert letters.readings_to_arrange(session, world.facilitator).items == []
    assert letter_id not in [
        row.id for row in letters.approved_not_passed_on(session, world.facilitator).items
    ]
    # The delivery job never passes it on: there is no account to pass it to.
    assert delivery.deliver_due_everywhere(session, settings) == 0


def test_posting_it_records_the_day_and_who_and_is_audited(session, settings, world, paper_case):
    letter_id = _letter_to_paper(session, settings, world, paper_case)
    today = date.today()
    letters.deliver_on_paper(session, world.facilitator, letter_id, how="posted", on=today)
    session.expire_all()
    letter = session.get(Letter, letter_id)
    assert letter.state == LetterState.DELIVERED
    assert (letter.paper_delivery, letter.paper_delivered_on, letter.paper_delivered_by_id) == (
        PaperDelivery.POSTED,
        today,
        world.facilitator.id,
    )
    assert _entries(session, "letter.delivered_on_paper") == [
        {"how": "posted", "on": today.isoformat()}
    ]
    # Its author learns only what the recipient's choice allows, as for any delivery.
    assert states.shown_to_author(letter) == LetterState.APPROVED
    assert letters.to_print_and_post(session, world.facilitator).items == []


@pytest.mark.parametrize(
    ("how", "days", "message"),
    [
        ("posted", 1, "cannot be in the future"),
        ("posted", -3, "before the letter was approved"),
        ("by pigeon", 0, "Choose how the letter reached them"),
    ],
)
def test_a_day_or_a_way_that_cannot_be_is_refused(
    session, settings, world, paper_case, how, days, message
):
    letter_id = _letter_to_paper(session, settings, world, paper_case)
    with pytest.raises(InvalidInput, match=message):
        letters.deliver_on_paper(
            session, world.facilitator, letter_id, how=how, on=date.today() + timedelta(days=days)
        )
    session.expire_all()
    assert session.get(Letter, letter_id).state == LetterState.APPROVED


def test_a_letter_to_someone_using_relay_is_never_recorded_as_posted(session, settings, world):
    receive_letters(session, settings, world.victim, world.case.id)
    letter = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    with pytest.raises(InvalidTransition):
        letters.deliver_on_paper(
            session, world.facilitator, letter.id, how="posted", on=date.today()
        )


def test_a_letter_from_the_party_on_paper_is_typed_in_for_review(
    session, settings, world, paper_case
):
    case_id, _inmate, harmed = paper_case
    paper.started(session, world.facilitator, case_id)
    typed = typed_from_paper(
        session, settings, world.facilitator, case_id, Role.OFFENDER, "I think of it every day."
    )
    assert typed.state == LetterState.IN_REVIEW
    assert typed.author.user_id is None


def test_the_typist_of_a_paper_letter_cannot_reject_it_alone(session, settings, world):
    """Found reading the code for issue 10: approval refused the typist, but rejection did
    not, so one facilitator could type a letter in and stop it without anyone else seeing
    it. Four eyes on either decision (docs/rules.md rule 4)."""
    typed = typed_from_paper(
        session, settings, world.facilitator, world.case.id, Role.OFFENDER, "I am sorry."
    )
    with pytest.raises(NotAllowed, match="another facilitator"):
        letters.reject_letter(session, settings, world.facilitator, typed.id, "Not this one.")
    session.expire_all()
    assert session.get(Letter, typed.id).state == LetterState.IN_REVIEW
    assert _entries(session, "letter.rejected") == []
