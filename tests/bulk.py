"""Rows in bulk for the tests and the bench that need thousands of them: valid audit
entries and cases with a letter in review, inserted without the services' keys, seals
and transactions (a thousand letters through the services would take most of a minute).
What they make reads like the services' rows to the pages and to `audit verify`."""

from sqlalchemy import insert
from sqlalchemy import update
from sqlalchemy.orm import Session

from relay import audit
from relay.models import AuditEntry
from relay.models import AuditHead
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.models import utcnow

BATCH = 20_000  # rows per INSERT; a commit per 1,000 cases


def append_audit_entries(session: Session, count: int) -> None:
    """`count` more valid entries on the chain, as `audit.record` writes them, and the
    head moved to the last."""
    sequence, prev_hash = audit.head(session)
    rows = []
    for _ in range(count):
        sequence += 1
        fields = {
            "sequence": sequence,
            "at": "2026-11-27T12:00:00.000000Z",
            "actor_id": 1,
            "action": "letter.read",
            "case_id": 1,
            "letter_id": 1,
            "details": audit.canonical_details({"first": False}),
            "prev_hash": prev_hash,
        }
        prev_hash = audit.entry_hash_of(**fields)
        rows.append({**fields, "entry_hash": prev_hash})
        if len(rows) == BATCH:
            session.execute(insert(AuditEntry), rows)
            rows = []
    if rows:
        session.execute(insert(AuditEntry), rows)
    session.execute(update(AuditHead).values(sequence=sequence))
    session.commit()


def add_cases_in_review(session: Session, facilitator_id: int, count: int, start: int) -> None:
    """`count` active cases of the facilitator, numbered from `start`, each with a letter
    from its offender to its victim waiting for review."""
    now = utcnow()
    for index in range(start, start + count):
        case = Case(
            reference=f"BULK-{index}",
            offence_category="theft",
            state=CaseState.ACTIVE,
            created_by_id=facilitator_id,
        )
        facilitator = CaseParticipant(
            case=case, user_id=facilitator_id, role=Role.FACILITATOR, display_name="F"
        )
        victim = CaseParticipant(case=case, role=Role.VICTIM, display_name=f"V{index}")
        offender = CaseParticipant(case=case, role=Role.OFFENDER, display_name=f"O{index}")
        letter = Letter(
            case=case,
            author=offender,
            recipient=victim,
            state=LetterState.IN_REVIEW,
            submitted_at=now,
        )
        session.add_all([case, facilitator, victim, offender, letter])
        if (index - start) % 1_000 == 999:
            session.commit()
    session.commit()
