"""The staff's case list (issue 9, item 6): every case a facilitator can see, with its
state, last activity, next action and facilitators; found by reference, narrowed by state."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Role
from relay.models import utcnow
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from relay.services.errors import InvalidInput
from tests.factories import OTHER
from tests.factories import actor_for

TODAY = utcnow().date()


def _open(session, settings, world, reference, invite=True):
    case = cases.open_case(
        session, world.facilitator, reference=reference, offence_category="other"
    )
    if invite:
        for role in ("victim", "offender"):
            cases.invite_party(
                session,
                settings,
                world.facilitator,
                case.id,
                role=Role(role),
                email=f"{reference.lower()}-{role}@relay.test",
                name=role,
                display_name=role,
            )
    return case


def _rows(session, actor, **narrowing):
    return {
        row.case.reference: row
        for row in cases.case_list(session, actor, today=TODAY, **narrowing).items
    }


def test_each_case_shows_its_state_last_activity_next_action_and_facilitators(
    session, settings, world
):
    _open(session, settings, world, "RJ-REFERRED", invite=False)
    preparing = _open(session, settings, world, "RJ-PREPARING")
    cases.record_gate(session, world.facilitator, preparing.id, "consent", evidence="Form")
    letter = letters.save_draft(session, world.victim, world.case.id, None, "Hello")
    letters.submit_letter(session, settings, world.victim, letter.id)

    rows = _rows(session, world.facilitator)
    assert rows["RJ-REFERRED"].next_action == (
        "Invite the person harmed and the person responsible"
    )
    assert rows["RJ-PREPARING"].case.state == CaseState.PREPARING
    assert rows["RJ-PREPARING"].next_action == "Wait for both people to set up their accounts"
    active = rows[world.case.reference]
    assert active.next_action == "Review 1 letter"
    assert active.facilitators == ["Fran Facilitator"]
    newest = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.case_id == world.case.id)
        .order_by(AuditEntry.sequence.desc())
    ).first()
    assert active.last_activity.isoformat().startswith(newest.at[:19])


def test_the_next_action_walks_the_gates_then_the_exchange(session, settings, world):
    case = _open(session, settings, world, "RJ-GATES")
    # As if both had set up their accounts.
    for place in case.participants:
        if place.role == Role.VICTIM:
            place.user_id = world.victim.id
        if place.role == Role.OFFENDER:
            place.user_id = world.offender.id
    session.commit()
    expected = [
        ("consent", "Record the admission of responsibility"),
        ("admission", "Assess the risk for each person"),
        ("risk", "Check for a no-contact order"),
        ("no_contact", "Start the exchange"),
    ]
    assert _rows(session, world.facilitator)["RJ-GATES"].next_action == (
        "Record the consent of the person harmed"
    )
    for gate, then in expected:
        cases.record_gate(session, world.facilitator, case.id, gate)
        assert _rows(session, world.facilitator)["RJ-GATES"].next_action == then


def test_an_overdue_review_and_a_pause_come_first(session, settings, world):
    victim = session.scalar(
        select(CaseParticipant).where(
            CaseParticipant.case_id == world.case.id, CaseParticipant.role == Role.VICTIM
        )
    )
    cases.pause_case(session, settings, world.facilitator, world.case.id, "A concern")
    assert _rows(session, world.facilitator)[world.case.reference].next_action == (
        "Resume or close the exchange (paused)"
    )
    victim.risk_review_on = TODAY - timedelta(days=1)  # the review date has passed
    session.commit()
    assert _rows(session, world.facilitator)[world.case.reference].next_action == (
        "Review a risk assessment (overdue)"
    )


def test_cases_are_found_by_part_of_their_reference_and_narrowed_by_state(session, settings, world):
    _open(session, settings, world, "LEEDS-2026-1", invite=False)
    _open(session, settings, world, "LEEDS-2026-2")
    _open(session, settings, world, "YORK_50%")

    found = cases.case_list(session, world.facilitator, reference="leeds", today=TODAY)
    assert {row.case.reference for row in found.items} == {"LEEDS-2026-1", "LEEDS-2026-2"}
    assert found.total == 2
    # % and _ are themselves, not patterns.
    assert cases.case_list(session, world.facilitator, reference="%", today=TODAY).total == 1
    assert cases.case_list(session, world.facilitator, reference="K_5", today=TODAY).total == 1
    preparing = cases.case_list(
        session, world.facilitator, reference="LEEDS", state="preparing", today=TODAY
    )
    assert [row.case.reference for row in preparing.items] == ["LEEDS-2026-2"]
    with pytest.raises(InvalidInput) as refused:
        cases.case_list(session, world.facilitator, state="lost", today=TODAY)
    assert refused.value.field == "state"


def test_a_facilitator_sees_their_cases_and_an_administrator_all(session, settings, world):
    email, name, password = OTHER["other_facilitator"]
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    other = actor_for(session, settings, email, password)
    cases.open_case(session, other, reference="RJ-THEIRS", offence_category="other")
    assert set(_rows(session, world.facilitator)) == {world.case.reference}
    assert set(_rows(session, other)) == {"RJ-THEIRS"}
    assert set(_rows(session, world.administrator)) == {world.case.reference, "RJ-THEIRS"}
