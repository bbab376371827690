"""Case records on the staff pages (issue 9, item 5): gate evidence, the risk assessment
per person, case notes, a pause's reason, the timeline and an overdue review on the desk."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from relay import audit
from relay.database import transaction
from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Role
from relay.models import utcnow
from relay.services import cases
from tests.web.test_constant_sql import _statements_for
from tests.web.test_letter_exchange import _assert_nowhere_in_the_database

EVIDENCE = "Consent form signed, scanned to file 12"
RISK_EVIDENCE = "Risk form RA-3 on the shared drive"
NOTE = "Victim prefers contact after school hours"
REASON = "Safeguarding review under way"
FUTURE = (utcnow().date() + timedelta(days=60)).isoformat()


def _preparing_case(session, settings, world):
    case = cases.open_case(session, world.facilitator, reference="RJ-NEW", offence_category="theft")
    for role in ("victim", "offender"):
        cases.invite_party(
            session,
            settings,
            world.facilitator,
            case.id,
            role=Role(role),
            email=f"new-{role}@relay.test",
            name=role,
            display_name=role.capitalize(),
        )
    return case


def _party(session, case_id, role):
    query = select(CaseParticipant).where(
        CaseParticipant.case_id == case_id, CaseParticipant.role == role
    )
    return session.scalars(query).one()


def test_a_gate_is_recorded_with_its_evidence_and_shown_with_who_and_when(
    client, auth, session, settings, world
):
    case = _preparing_case(session, settings, world)
    auth.sign_in("facilitator")
    refused = client.post(f"/cases/{case.id}/gates/consent", data={"consent-evidence": " "})
    assert refused.status_code == 200
    assert "There is a problem" in refused.text
    assert 'href="#consent-evidence">Enter the evidence for this step' in refused.text
    assert 'id="consent-evidence-error"' in refused.text
    session.expire_all()
    assert _party(session, case.id, Role.VICTIM).consent_recorded_at is None

    done = client.post(f"/cases/{case.id}/gates/consent", data={"consent-evidence": EVIDENCE})
    assert done.status_code == 302
    page = client.get(f"/cases/{case.id}").text
    assert EVIDENCE in page
    assert "Fran Facilitator" in page
    assert utcnow().strftime("%d %B %Y") in page
    assert "Done: The person harmed has given written, informed consent" in page


def test_each_persons_risk_is_assessed_on_the_page(client, auth, session, settings, world):
    case = _preparing_case(session, settings, world)
    victim = _party(session, case.id, Role.VICTIM)
    prefix = f"risk-{victim.id}"
    auth.sign_in("facilitator")
    past = client.post(
        f"/cases/{case.id}/risk",
        data={
            "participant": victim.id,
            f"{prefix}-level": "high",
            f"{prefix}-review_on": "2020-01-01",
            f"{prefix}-evidence": RISK_EVIDENCE,
        },
    )
    assert f'href="#{prefix}-review_on">The review date must be in the future' in past.text
    assert RISK_EVIDENCE in past.text  # what was typed is kept

    done = client.post(
        f"/cases/{case.id}/risk",
        data={
            "participant": victim.id,
            f"{prefix}-level": "high",
            f"{prefix}-categories": ["stalking", "sexual_violence"],
            f"{prefix}-review_on": FUTURE,
            f"{prefix}-evidence": RISK_EVIDENCE,
        },
    )
    assert done.status_code == 302
    session.expire_all()
    victim = _party(session, case.id, Role.VICTIM)
    assert victim.risk_extra_care is True
    assert _party(session, case.id, Role.OFFENDER).risk_extra_care is False
    page = client.get(f"/cases/{case.id}").text
    summary = page[page.index(f'id="risk-{victim.id}-summary"') :]
    assert "High" in summary and "Sexual violence, Stalking" in summary
    assert RISK_EVIDENCE in page


def test_a_pause_without_a_reason_is_refused_next_to_the_field(client, auth, session, world):
    auth.sign_in("facilitator")
    refused = client.post(f"/cases/{world.case.id}/pause", data={"reason": ""})
    assert "There is a problem" in refused.text
    assert 'href="#reason">Enter why you are pausing the exchange' in refused.text
    assert 'id="reason-error"' in refused.text
    session.expire_all()
    assert session.get(Case, world.case.id).state == CaseState.ACTIVE
    assert client.post(f"/cases/{world.case.id}/pause", data={"reason": REASON}).status_code == 302
    session.expire_all()
    assert session.get(Case, world.case.id).state == CaseState.PAUSED


def test_case_notes_and_evidence_are_for_staff_only_and_never_in_clear(
    app, client, auth, session, settings, world
):
    auth.sign_in("facilitator")
    empty = client.post(f"/cases/{world.case.id}/notes", data={"text": ""})
    assert 'href="#text">Enter the note' in empty.text
    assert client.post(f"/cases/{world.case.id}/notes", data={"text": NOTE}).status_code == 302
    page = client.get(f"/cases/{world.case.id}").text
    listed = page[page.index('id="case-note-list"') :]
    assert NOTE in listed and "Fran Facilitator" in listed
    auth.sign_out()
    for role in ("victim", "offender"):
        auth.sign_in(role)
        assert NOTE not in client.get(f"/my/cases/{world.case.id}").text
        auth.sign_out()
    case = _preparing_case(session, settings, world)
    cases.record_gate(session, world.facilitator, case.id, "consent", evidence=EVIDENCE)
    _assert_nowhere_in_the_database(app, session, [NOTE, EVIDENCE])


def test_the_timeline_shows_who_did_what_in_words_and_no_text(client, auth, session, world):
    auth.sign_in("facilitator")
    client.post(f"/cases/{world.case.id}/notes", data={"text": NOTE})
    client.post(f"/cases/{world.case.id}/pause", data={"reason": REASON})
    page = client.get(f"/cases/{world.case.id}/timeline")
    assert page.status_code == 200
    rows = page.text[page.text.index('id="timeline"') :]
    assert "Paused the exchange" in rows and "Added a case note" in rows
    assert "Fran Facilitator (facilitator)" in rows
    assert NOTE not in page.text and REASON not in page.text
    # A facilitator neither filters nor exports.
    assert 'id="timeline-filter"' not in page.text
    assert client.post(f"/cases/{world.case.id}/timeline/export").status_code == 403
    assert f'href="/cases/{world.case.id}/timeline"' in client.get(f"/cases/{world.case.id}").text


def test_an_administrator_filters_and_exports_the_timeline(client, auth, session, world):
    auth.sign_in("administrator")
    victim_id = world.victim.id
    page = client.get(f"/cases/{world.case.id}/timeline?person={victim_id}").text
    assert 'id="timeline-filter"' in page and '<label class="label" for="person">' in page
    rows = page[page.index('id="timeline"') :]
    assert "Vic Harmed (person harmed)" in rows and "Fran Facilitator" not in rows

    bad = client.get(f"/cases/{world.case.id}/timeline?start=2026-13-40").text
    assert 'href="#start">Enter a real date' in bad
    backwards = client.get(f"/cases/{world.case.id}/timeline?start=2026-02-01&end=2026-01-01")
    assert "The start date must be on or before the end date" in backwards.text

    exported = client.post(f"/cases/{world.case.id}/timeline/export", data={"person": victim_id})
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["When (UTC)", "Who", "What", "Letter"]
    assert len(rows) > 1 and {row[1] for row in rows[1:]} == {"Vic Harmed (person harmed)"}
    session.expire_all()
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.timeline_exported")
    ).one()
    assert entry.actor_id == world.administrator.id and entry.case_id == world.case.id


def test_an_overdue_risk_review_shows_on_the_desk(client, auth, session, world):
    auth.sign_in("facilitator")
    assert "Risk reviews overdue" not in client.get("/cases/").text
    victim = _party(session, world.case.id, Role.VICTIM)
    # Time passes: the review date set in the future is now behind us.
    victim.risk_review_on = utcnow().date() - timedelta(days=1)
    session.commit()
    desk = client.get("/cases/").text
    section = desk[desk.index('id="risk-reviews-due"') :]
    assert world.case.reference in section
    assert "person harmed" in section


def _case_entries(session, world, count: int) -> None:
    """`count` more entries in the case's trail, by two people, appended as actions do."""
    with transaction(session):
        for index in range(count):
            who = world.facilitator.id if index % 2 else world.victim.id
            audit.record(session, "letter.read_by_staff", actor_id=who, case_id=world.case.id)


def _case_notes(session, world, count: int) -> None:
    for index in range(count):
        cases.add_case_note(session, world.facilitator, world.case.id, f"Note {index}")


@pytest.mark.parametrize(
    ("role", "path", "grow"),
    [
        ("facilitator", "/cases/{case}/timeline", _case_entries),
        ("administrator", "/cases/{case}/timeline?person={victim}&start=2020-01-01", _case_entries),
        ("facilitator", "/cases/{case}", _case_notes),
    ],
)
def test_the_timeline_and_the_notes_ask_the_same_however_long(
    app, client, auth, session, world, role, path, grow
):
    path = path.format(case=world.case.id, victim=world.victim.id)
    auth.sign_in(role)
    grow(session, world, 3)
    client.get(path)  # the first request of a client warms what every request reuses
    few = _statements_for(app, client, path)
    grow(session, world, 60)
    many = _statements_for(app, client, path)
    assert many == few, f"{path}: {few} statements at 3, {many} at 63"
    page = client.get(path).text
    assert 'aria-current="page">1<' in page and 'rel="next"' in page
