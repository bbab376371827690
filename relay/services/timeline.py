"""A case's timeline for its staff, read from the audit trail: who did what, and when.

Only what the trail holds is shown, and only in words: never a letter's or a note's text
(the trail holds none), never an entry's details but the days of a paper letter's steps
(the date on its envelope, the day it came, the day it was posted or handed over).
Anyone who may manage the case sees its timeline; an administrator can also narrow it to
one person and to a range of days, and export it as CSV (the export is itself audited).
"""

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay.database import transaction
from relay.models import AuditEntry
from relay.models import Role
from relay.models import User
from relay.services.actor import Actor
from relay.services.cases import case_for_staff
from relay.services.errors import InvalidInput
from relay.services.errors import NotAllowed
from relay.services.paging import Page
from relay.services.paging import page_of

# Each action a case's trail may hold, in plain words. An action not here is shown by its
# name made readable ("letter.some_thing" as "Letter: some thing"), so nothing is hidden.
WORDS = {
    "case.opened": "Opened the case",
    "case.opened_from_referral": "Opened the case from a referral: the person harmed agreed",
    "case.key_granted": "Was given the case's key",
    "case.key_rotated": "Changed the case's key",
    "case.key_withdrawn": "A leaving member of staff's key to the case was taken away",
    "case.paper_party_added": "Added a person who takes part on paper",
    "case.party_on_paper": "Changed a person to take part on paper",
    "case.party_off_paper": "Changed a person to take part through Relay",
    "case.paper_letter_received": "Received a letter on paper",
    "case.paper_letter_scanned": "Scanned a letter that came on paper",
    "case.paper_scan_discarded": "Discarded a scan before it was typed in",
    "case.gate.consent": "Recorded the consent of the person harmed",
    "case.gate.admission": "Recorded the admission of responsibility",
    "case.gate.risk": "Recorded a risk assessment",
    "case.gate.no_contact": "Recorded the no-contact order check",
    "case.activated": "Started the exchange",
    "case.paused": "Paused the exchange",
    "case.resumed": "Resumed the exchange",
    "case.closed": "Closed the case",
    "case.shredded": "Destroyed the case's letters and notes (retention)",
    "case.note_added": "Added a case note",
    "case.facilitator_added": "Added a facilitator to the case",
    "case.facilitator_removed": "Took a facilitator off the case",
    "case.administrator_joined": "Added themselves to the case (administrator)",
    "case.timeline_exported": "Exported this timeline",
    "invitation.created": "Sent an invitation",
    "invitation.resent": "Sent an invitation again",
    "invitation.code_printed": "Printed a one-time code to set up an account",
    "account.activated": "Set up their account",
    "account.access_restored": "Restored a person's access to their letters",
    "case.personal_data_exported": "Produced a party's own data for a subject access request",
    "party.receiving_changed": "Changed how they receive letters",
    # Worded with whose survey it was and how it came (`described`); this is the fallback.
    "survey.answered": "Answered the closing survey",
    "letter.started": "Started a letter",
    "letter.draft_saved": "Saved a draft",
    "letter.draft_deleted": "Deleted a draft",
    "letter.draft_destroyed": "A draft never sent was destroyed",
    "letter.submitted": "Sent a letter for review",
    "letter.entered_from_paper": "Typed in a paper letter from its scan",
    "letter.transcript_checked": "Checked a typed letter against its scan",
    "letter.transcript_corrected": "Typed a paper letter in again from its scan",
    "letter.claimed": "Opened a letter for review",
    "letter.claim_taken_over": "Took over the review of a letter",
    "letter.claim_released": "Stopped reviewing a letter",
    "letter.read_by_staff": "Read a letter for review",
    "letter.read_by_author": "Read their own letter",
    "letter.changes_requested": "Asked for changes to a letter",
    "letter.redaction_proposed": "Suggested changes to a letter",
    "letter.redaction_accepted": "Accepted the suggested changes",
    "letter.redaction_declined": "Declined the suggested changes",
    "letter.rejected": "Decided not to pass a letter on",
    "letter.first_approval": "Gave a letter its first approval",
    "letter.approved": "Approved a letter",
    "letter.delivered": "A letter was delivered",
    "letter.delivered_on_paper": "Recorded a letter posted or handed over",
    "letter.printed": "Printed a letter to post",
    "letter.cover_sheet_printed": "Printed a cover sheet for a letter to post",
    "letter.read": "Opened a letter sent to them",
    "letter.held_back": "Held a letter back",
    "letter.let_go": "Let a held letter go on",
    "letter.withdrawn": "Withdrew a letter",
    "letter.stopped": "A letter was stopped: the exchange ended",
    "letter.held": "Put a letter away",
    "letter.unheld": "Brought a letter back",
    "letter.recipient_copy_destroyed": "Destroyed their copy of a letter",
}


def words_for(action: str) -> str:
    if action in WORDS:
        return WORDS[action]
    kind, _, rest = action.partition(".")
    return f"{kind.capitalize()}: {rest.replace('_', ' ').replace('.', ', ')}"


def _day(value: object) -> str:
    return f"{date.fromisoformat(str(value)):%-d %B %Y}"


def _paper_dates(details: dict) -> str:
    """The days a paper letter's record keeps: the only details a timeline shows, since
    a day says nothing of what a letter says (docs/rules.md, "Paper and custody")."""
    if "received_on" in details:
        envelope = details.get("envelope_dated")
        dated = f"envelope dated {_day(envelope)}, " if envelope else "no date on the envelope, "
        return f" ({dated}came {_day(details['received_on'])})"
    if "how" in details and "on" in details:
        how = "posted" if details["how"] == "posted" else "handed over"
        return f" ({how} on {_day(details['on'])})"
    return ""


# The actions whose entries show their days, in words.
DATED = {"case.paper_letter_received", "letter.delivered_on_paper"}


def _survey(details: dict) -> str:
    """Whose closing survey, and whether a facilitator entered it from the printed form:
    never an answer or the comment (the trail holds neither)."""
    person = Role(details["person"]).label
    if details.get("from_paper"):
        return f"Entered the {person}’s closing survey from the printed form"
    return f"The {person} answered the closing survey"


def described(action: str, details: str) -> str:
    """The words for one entry: its action's, for a paper step its days, and for a survey
    whose it was."""
    words = words_for(action)
    if action in DATED:
        words += _paper_dates(json.loads(details))
    if action == "survey.answered":
        words = _survey(json.loads(details))
    return words


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    who: str  # the person's name and role, or "Relay" for what Relay did itself
    what: str
    letter_id: int | None


@dataclass(frozen=True)
class Narrowing:
    """An administrator's filter: one person, and days from `start` to `end` inclusive."""

    person_id: int | None = None
    start: date | None = None
    end: date | None = None

    @property
    def any(self) -> bool:
        return self.person_id is not None or self.start is not None or self.end is not None


def _stamp(day: date) -> str:
    """The trail's timestamps are ISO text in UTC (audit._TIMESTAMP_FORMAT): a day's
    first moment compares with them as text."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _query(case_id: int, narrowing: Narrowing) -> Select:
    query = select(AuditEntry).where(AuditEntry.case_id == case_id)
    if narrowing.person_id is not None:
        query = query.where(AuditEntry.actor_id == narrowing.person_id)
    if narrowing.start is not None:
        query = query.where(AuditEntry.at >= _stamp(narrowing.start))
    if narrowing.end is not None:
        query = query.where(AuditEntry.at < _stamp(narrowing.end + timedelta(days=1)))
    return query


def _allowed(session: Session, actor: Actor, case_id: int, narrowing: Narrowing) -> int:
    case = case_for_staff(session, actor, case_id)
    if narrowing.any and actor.role != Role.ADMINISTRATOR:
        raise NotAllowed("Only an administrator can filter a case's timeline")
    if narrowing.start and narrowing.end and narrowing.start > narrowing.end:
        raise InvalidInput("The start date must be on or before the end date", "start")
    return case.id


def _entries(session: Session, rows: list[AuditEntry]) -> list[TimelineEntry]:
    ids = {row.actor_id for row in rows if row.actor_id is not None}
    people = {
        user_id: f"{name} ({role.label})"
        for user_id, name, role in session.execute(
            select(User.id, User.name, User.role).where(User.id.in_(ids))
        )
    }
    return [
        TimelineEntry(
            datetime.fromisoformat(row.at),
            "Relay" if row.actor_id is None else people.get(row.actor_id, "A removed account"),
            described(row.action, row.details),
            row.letter_id,
        )
        for row in rows
    ]


def timeline(
    session: Session,
    actor: Actor,
    case_id: int,
    *,
    page: int = 1,
    narrowing: Narrowing = Narrowing(),
) -> Page[TimelineEntry]:
    """The case's trail, newest first, a page at a time: three statements a page."""
    case_id = _allowed(session, actor, case_id, narrowing)
    query = _query(case_id, narrowing).order_by(AuditEntry.sequence.desc())
    count = _query(case_id, narrowing).with_only_columns(func.count(), maintain_column_froms=True)
    found = page_of(session, query, page, count)
    return Page(_entries(session, found.items), found.number, found.total)


def people_in(session: Session, actor: Actor, case_id: int) -> list[tuple[int, str]]:
    """Everyone who appears in the case's trail, by name, for the administrator's filter."""
    case_id = _allowed(session, actor, case_id, Narrowing())
    ids = select(AuditEntry.actor_id).where(
        AuditEntry.case_id == case_id, AuditEntry.actor_id.is_not(None)
    )
    return [
        (user_id, f"{name} ({role.label})")
        for user_id, name, role in session.execute(
            select(User.id, User.name, User.role).where(User.id.in_(ids)).order_by(User.name)
        )
    ]


# A cell a spreadsheet would read as a formula (or as a command, through DDE): CSV
# injection. Such a cell is kept as text by a leading apostrophe (OWASP's advice).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_csv(
    session: Session, actor: Actor, case_id: int, narrowing: Narrowing = Narrowing()
) -> str:
    """The whole timeline (as narrowed), oldest first, as CSV, for an administrator. The
    export is audited, with its filter, so the trail shows who took a copy."""
    with transaction(session):
        case_id = _allowed(session, actor, case_id, narrowing)
        if actor.role != Role.ADMINISTRATOR:
            raise NotAllowed("Only an administrator can export a case's timeline")
        rows = list(session.scalars(_query(case_id, narrowing).order_by(AuditEntry.sequence.asc())))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["When (UTC)", "Who", "What", "Letter"])
        for entry in _entries(session, rows):
            writer.writerow(
                [
                    safe_cell(entry.at.strftime("%Y-%m-%d %H:%M:%S")),
                    safe_cell(entry.who),
                    safe_cell(entry.what),
                    safe_cell(entry.letter_id),
                ]
            )
        audit.record(
            session,
            "case.timeline_exported",
            actor_id=actor.id,
            case_id=case_id,
            details={
                "person": narrowing.person_id,
                "start": narrowing.start.isoformat() if narrowing.start else None,
                "end": narrowing.end.isoformat() if narrowing.end else None,
                "entries": len(rows),
            },
        )
        return out.getvalue()
