"""Case records (issue 9, item 5): who recorded each gate, when and on what evidence; a
risk assessment for each person, with its review date; the facilitators' case notes; a
pause's reason; and the case's timeline, read from the audit trail."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import CaseState
from relay.models import NoteKind
from relay.models import NoteSeal
from relay.models import RiskLevel
from relay.models import Role
from relay.models import SealedNote
from relay.models import User
from relay.models import utcnow
from relay.services import access
from relay.services import cases
from relay.services import invitations
from relay.services import notes
from relay.services import timeline
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.timeline import Narrowing
from tests.factories import OTHER
from tests.factories import actor_for

EVIDENCE = "Consent form signed, scanned to file 12"
CASE_NOTE = "Spoke to the victim's support worker about timing"
TODAY = utcnow().date()


def _preparing_case(session, settings, facilitator, reference="RJ-PREP"):
    case = cases.open_case(session, facilitator, reference=reference, offence_category="theft")
    for role in ("victim", "offender"):
        cases.invite_party(
            session,
            settings,
            facilitator,
            case.id,
            role=Role(role),
            email=f"{reference.lower()}-{role}@relay.test",
            name=role,
            display_name=role,
        )
    return case


def _party(case, role):
    return next(p for p in case.participants if p.role == role)


def _other_facilitator(session, settings, world):
    email, name, password = OTHER["other_facilitator"]
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    return actor_for(session, settings, email, password)


def _entries(session, case_id, action):
    query = select(AuditEntry).where(AuditEntry.case_id == case_id, AuditEntry.action == action)
    return session.scalars(query).all()


# --- gates: who, when and the evidence -----------------------------------------------------


def test_a_gate_keeps_who_when_and_its_evidence_sealed_to_the_case_alone(session, settings, world):
    case = _preparing_case(session, settings, world.facilitator)
    cases.record_gate(session, world.facilitator, case.id, "consent", evidence=EVIDENCE)
    cases.record_gate(session, world.facilitator, case.id, "no_contact", evidence="PNC checked")

    records = {r.gate: r for r in cases.gate_records(session, world.facilitator, case)}
    assert records["consent"].by == "Fran Facilitator"
    assert records["consent"].about == Role.VICTIM.label
    assert records["consent"].evidence == EVIDENCE
    assert abs(records["consent"].at - utcnow()) < timedelta(minutes=1)
    assert records["no_contact"].evidence == "PNC checked"
    assert "admission" not in records

    note = session.scalars(
        select(SealedNote).where(SealedNote.kind == NoteKind.CONSENT_EVIDENCE)
    ).one()
    assert EVIDENCE.encode() not in note.ciphertext
    holders = session.scalars(select(NoteSeal.holder).where(NoteSeal.note_id == note.id)).all()
    assert len(holders) == 1 and holders[0].startswith("case")
    [entry] = _entries(session, case.id, "case.gate.consent")
    assert entry.actor_id == world.facilitator.id
    assert "scanned" not in entry.details


def test_a_gate_recorded_again_replaces_its_evidence(session, settings, world):
    case = _preparing_case(session, settings, world.facilitator)
    cases.record_gate(session, world.facilitator, case.id, "admission", evidence="First")
    cases.record_gate(session, world.facilitator, case.id, "admission", evidence="Second")
    [record] = [
        r for r in cases.gate_records(session, world.facilitator, case) if r.gate == "admission"
    ]
    assert record.evidence == "Second"
    kind = NoteKind.ADMISSION_EVIDENCE
    assert len(session.scalars(select(SealedNote).where(SealedNote.kind == kind)).all()) == 1


# --- the risk assessment, person by person ---------------------------------------------------


def test_each_person_is_assessed_apart_and_extra_care_marks_only_them(session, settings, world):
    case = _preparing_case(session, settings, world.facilitator)
    victim, offender = _party(case, Role.VICTIM), _party(case, Role.OFFENDER)
    review = TODAY + timedelta(days=90)
    cases.assess_risk(
        session,
        world.facilitator,
        case.id,
        victim.id,
        level="high",
        categories=["stalking", "domestic_violence"],
        review_on=review,
        evidence="Risk form RA-3 on file",
        today=TODAY,
    )
    assert victim.risk_level == RiskLevel.HIGH
    assert victim.risk_extra_care is True
    assert [c.value for c in cases.risk_categories_of(victim)] == [
        "domestic_violence",
        "stalking",
    ]
    assert victim.risk_review_on == review
    assert offender.risk_assessed_at is None and offender.risk_extra_care is False
    risk = next(g for g in cases.gate_status(case) if g.name == "risk")
    assert not risk.done  # the offender is not assessed yet

    cases.assess_risk(
        session,
        world.facilitator,
        case.id,
        offender.id,
        level="low",
        categories=[],
        review_on=review,
        today=TODAY,
    )
    assert offender.risk_extra_care is False
    assert next(g for g in cases.gate_status(case) if g.name == "risk").done
    # The rule the second approval reads: any person marked makes the case one for it.
    assert any(p.risk_extra_care for p in case.participants)
    entries = _entries(session, case.id, "case.gate.risk")
    assert len(entries) == 2
    assert "RA-3" not in entries[0].details and '"level":"high"' in entries[0].details


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"level": "extreme"}, "level"),
        ({"categories": ["arson"]}, "categories"),
        ({"review_on": None}, "review_on"),
        ({"review_on": TODAY}, "review_on"),
        ({"review_on": TODAY - timedelta(days=1)}, "review_on"),
    ],
)
def test_a_risk_assessment_needs_a_level_known_categories_and_a_future_review(
    session, settings, world, change, field
):
    case = _preparing_case(session, settings, world.facilitator)
    victim = _party(case, Role.VICTIM)
    answers = {"level": "medium", "categories": [], "review_on": TODAY + timedelta(days=30)}
    with pytest.raises(InvalidInput) as refused:
        cases.assess_risk(
            session,
            world.facilitator,
            case.id,
            victim.id,
            **{**answers, **change},
            today=TODAY,
        )
    assert refused.value.field == field
    session.expire_all()
    assert _party(case, Role.VICTIM).risk_assessed_at is None


def test_only_the_cases_own_parties_are_assessed(session, settings, world):
    case = _preparing_case(session, settings, world.facilitator)
    me = _party(case, Role.FACILITATOR)
    with pytest.raises(InvalidInput):
        cases.assess_risk(
            session,
            world.facilitator,
            case.id,
            me.id,
            level="low",
            categories=[],
            review_on=TODAY + timedelta(days=5),
            today=TODAY,
        )
    # Nor a person of another case, by their id.
    with pytest.raises(InvalidInput):
        cases.assess_risk(
            session,
            world.facilitator,
            case.id,
            _party(world.case, Role.VICTIM).id,
            level="low",
            categories=[],
            review_on=TODAY + timedelta(days=5),
            today=TODAY,
        )


def test_a_review_is_done_while_the_exchange_goes_on_and_can_add_extra_care(session, world):
    victim = _party(world.case, Role.VICTIM)
    assert world.case.state == CaseState.ACTIVE and not victim.risk_extra_care
    cases.assess_risk(
        session,
        world.facilitator,
        world.case.id,
        victim.id,
        level="medium",
        categories=["sexual_violence"],
        review_on=TODAY + timedelta(days=14),
        today=TODAY,
    )
    assert victim.risk_extra_care is True


def test_an_overdue_review_is_on_its_facilitators_desk_only(session, settings, world):
    victim = _party(world.case, Role.VICTIM)
    cases.assess_risk(
        session,
        world.facilitator,
        world.case.id,
        victim.id,
        level="low",
        categories=[],
        review_on=TODAY + timedelta(days=10),
        today=TODAY,
    )
    on_the_day = cases.risk_reviews_due(session, world.facilitator, TODAY + timedelta(days=10))
    assert on_the_day.items == [] and on_the_day.total == 0
    after = cases.risk_reviews_due(session, world.facilitator, TODAY + timedelta(days=11))
    assert [p.id for p in after.items] == [victim.id] and after.total == 1
    assert after.items[0].case.reference == world.case.reference
    # Every case for an administrator; none for a facilitator of other cases.
    later = TODAY + timedelta(days=11)
    assert cases.risk_reviews_due(session, world.administrator, later).total == 1
    other = _other_facilitator(session, settings, world)
    assert cases.risk_reviews_due(session, other, later).total == 0
    # A closed case has nothing left to review.
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    assert cases.risk_reviews_due(session, world.facilitator, later).total == 0


# --- case notes --------------------------------------------------------------------------------


def test_a_case_note_is_for_the_team_only_and_audited_without_its_text(session, settings, world):
    cases.add_case_note(session, world.facilitator, world.case.id, CASE_NOTE)
    cases.add_case_note(session, world.facilitator, world.case.id, "A second note")

    shown = notes.case_notes(session, world.facilitator, world.case)
    assert [n.text for n in shown.items] == ["A second note", CASE_NOTE]
    assert shown.items[0].written_by == "Fran Facilitator" and shown.total == 2
    for note in session.scalars(select(SealedNote).where(SealedNote.kind == NoteKind.CASE_NOTE)):
        assert CASE_NOTE.encode() not in note.ciphertext
        holders = session.scalars(select(NoteSeal.holder).where(NoteSeal.note_id == note.id))
        assert [h for h in holders if not h.startswith("case")] == []
    entries = _entries(session, world.case.id, "case.note_added")
    assert len(entries) == 2 and all("support" not in e.details for e in entries)
    # An administrator reads them only once they join the case, as its letters.
    assert notes.case_notes(session, world.administrator, world.case).items[0].text is None
    access.join_case(session, world.administrator, world.case.id)
    assert notes.case_notes(session, world.administrator, world.case).items[1].text == CASE_NOTE


def test_a_case_note_is_written_by_a_facilitator_of_the_case_and_is_not_empty(
    session, settings, world
):
    with pytest.raises(InvalidInput) as refused:
        cases.add_case_note(session, world.facilitator, world.case.id, "   ")
    assert refused.value.field == "text"
    with pytest.raises(NotAllowed):
        cases.add_case_note(session, world.administrator, world.case.id, CASE_NOTE)
    other = _other_facilitator(session, settings, world)
    with pytest.raises(NotFound):
        cases.add_case_note(session, other, world.case.id, CASE_NOTE)
    with pytest.raises(NotFound):
        cases.add_case_note(session, world.victim, world.case.id, CASE_NOTE)
    assert notes.case_notes(session, world.facilitator, world.case).total == 0


# --- a pause asks why ----------------------------------------------------------------------------


def test_a_pause_needs_a_reason(session, settings, world):
    with pytest.raises(InvalidInput) as refused:
        cases.pause_case(session, settings, world.facilitator, world.case.id, "  ")
    assert refused.value.field == "reason"
    session.expire_all()
    assert world.case.state == CaseState.ACTIVE
    assert _entries(session, world.case.id, "case.paused") == []


# --- the case timeline ---------------------------------------------------------------------------


def test_the_timeline_says_who_did_what_when_in_words_without_any_text(session, settings, world):
    cases.add_case_note(session, world.facilitator, world.case.id, CASE_NOTE)
    cases.pause_case(session, settings, world.facilitator, world.case.id, "Safeguarding worry")
    page = timeline.timeline(session, world.facilitator, world.case.id)
    assert page.items[0].what == "Paused the exchange"
    assert page.items[0].who == "Fran Facilitator (facilitator)"
    assert page.items[1].what == "Added a case note"
    whats = [entry.what for entry in page.items]
    assert "Opened the case" in whats or page.total > len(page.items)
    shown = repr(page.items)
    assert "Safeguarding" not in shown and "support worker" not in shown
    assert page.total == len(
        session.scalars(select(AuditEntry).where(AuditEntry.case_id == world.case.id)).all()
    )


def test_the_timeline_is_for_the_cases_staff(session, settings, world):
    other = _other_facilitator(session, settings, world)
    with pytest.raises(NotFound):
        timeline.timeline(session, other, world.case.id)
    with pytest.raises(NotFound):
        timeline.timeline(session, world.victim, world.case.id)
    assert timeline.timeline(session, world.administrator, world.case.id).total > 0


def test_only_an_administrator_narrows_and_exports_the_timeline(session, world):
    with pytest.raises(NotAllowed):
        timeline.timeline(
            session, world.facilitator, world.case.id, narrowing=Narrowing(person_id=1)
        )
    with pytest.raises(NotAllowed):
        timeline.export_csv(session, world.facilitator, world.case.id)


def test_an_administrator_narrows_the_timeline_by_person_and_by_day(session, settings, world):
    cases.add_case_note(session, world.facilitator, world.case.id, CASE_NOTE)
    admin = world.administrator
    people = dict(timeline.people_in(session, admin, world.case.id))
    assert people[world.facilitator.id] == "Fran Facilitator (facilitator)"
    assert people[world.victim.id] == "Vic Harmed (person harmed)"

    only_victim = timeline.timeline(
        session, admin, world.case.id, narrowing=Narrowing(person_id=world.victim.id)
    )
    assert only_victim.total > 0
    assert {entry.who for entry in only_victim.items} == {"Vic Harmed (person harmed)"}

    today = timeline.timeline(
        session, admin, world.case.id, narrowing=Narrowing(start=TODAY, end=TODAY)
    )
    assert today.total == timeline.timeline(session, admin, world.case.id).total
    yesterday = TODAY - timedelta(days=1)
    before = Narrowing(start=yesterday, end=yesterday)
    assert timeline.timeline(session, admin, world.case.id, narrowing=before).total == 0
    tomorrow = Narrowing(start=TODAY + timedelta(days=1))
    assert timeline.timeline(session, admin, world.case.id, narrowing=tomorrow).total == 0
    with pytest.raises(InvalidInput):
        timeline.timeline(
            session, admin, world.case.id, narrowing=Narrowing(start=TODAY, end=yesterday)
        )


def test_the_export_is_csv_a_spreadsheet_cannot_run_and_is_audited(session, settings, world):
    user = session.get(User, world.facilitator.id)
    user.name = '=HYPERLINK("http://evil.example","Fran")'
    session.commit()
    exported = timeline.export_csv(session, world.administrator, world.case.id)
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0] == ["When (UTC)", "Who", "What", "Letter"]
    assert rows[1][2] == "Opened the case"  # oldest first
    names = {row[1] for row in rows[1:]}
    assert "'" + user.name + " (facilitator)" in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    [entry] = _entries(session, world.case.id, "case.timeline_exported")
    assert entry.actor_id == world.administrator.id


def test_a_cell_that_would_be_a_formula_is_kept_as_text():
    for risky in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert timeline.safe_cell(risky) == "'" + risky
    assert timeline.safe_cell("Opened the case") == "Opened the case"
    assert timeline.safe_cell(None) == ""


def test_every_case_action_has_words():
    for action in (
        "case.opened",
        "case.gate.risk",
        "case.paused",
        "case.note_added",
        "letter.approved",
    ):
        assert timeline.words_for(action) == timeline.WORDS[action]
    assert timeline.words_for("letter.new_thing") == "Letter: new thing"


def test_a_closed_case_takes_no_new_note_or_assessment(session, world):
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    with pytest.raises(InvalidTransition):
        cases.add_case_note(session, world.facilitator, world.case.id, CASE_NOTE)
    with pytest.raises(InvalidTransition):
        cases.assess_risk(
            session,
            world.facilitator,
            world.case.id,
            _party(world.case, Role.VICTIM).id,
            level="low",
            categories=[],
            review_on=TODAY + timedelta(days=3),
            today=TODAY,
        )
