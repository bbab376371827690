"""The review target, and the daily digest that tells each facilitator what waits for them.

The target is a number of working days (`ServiceSettings.review_target_working_days`,
counted as relay/services/working_days.py says, with the configured bank holidays): a
letter in review longer than that is overdue. `review_age` says how long one letter has
waited, from the `submitted_at` the queue already holds, with no query of its own.

The digest (`flask --app wsgi reminders send`, daily) goes to each active facilitator
with something waiting in their cases: counts only, never a letter's text, a name or a
case reference (docs/rules.md rule 7), and a link to sign in to the review queue. Nothing
waiting, no e-mail. A facilitator who chose no e-mail notices gets none.

- Counted in SQL, grouped by facilitator: the same few queries however many letters.
- Working days only: on a weekend or bank holiday nobody is sent anything.
- Once a day: each run is one transaction that queues its e-mails in the outbox (the
  worker sends them) and writes one audit entry, "reminders.sent", with the day and the
  number of digests. A second run the same day finds that entry and sends nothing, so an
  operator trying the command by hand after the timer has run does not e-mail everyone
  twice. It looks only after appending its own entry, which holds the audit chain's
  lock: two runs at once are taken one after the other, and the second stands down.
"""

import json
from dataclasses import dataclass
from dataclasses import fields
from datetime import date
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased

from relay import audit
from relay.database import transaction
from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterState
from relay.models import NoticePreference
from relay.models import ReceivePreference
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from relay.services import outbox
from relay.services import states
from relay.services import working_days
from relay.services.cases import PARTY_ROLES
from relay.services.settings import ServiceSettings

REMINDERS_SENT = "reminders.sent"
# Back with their writer: changes asked for, or a change suggested for them to accept.
WITH_AUTHOR = frozenset({LetterState.CHANGES_REQUESTED, LetterState.REDACTION_PROPOSED})
REVIEW_QUEUE_PATH = "/review/"

# Fixed text around numbers: nothing from a case, a letter or a person is put in.
DIGEST_SUBJECTS = {
    NoticePreference.STANDARD: "Relay: what is waiting for you today",
    NoticePreference.DISCREET: "A daily summary from your account",
}
DIGEST_BODY = (
    "Hello,\n\nThis is what is waiting for you in your cases on {day}:\n\n{counts}\n\n"
    "Please sign in to see them:\n\n{link}\n\n"
    "This e-mail gives numbers only. It is sent on working days when something is waiting.\n"
)


@dataclass(frozen=True)
class ReviewAge:
    """How long a letter in review has waited, against the target."""

    working_days: int
    due: date
    overdue: bool


def review_age(
    submitted_at: datetime, settings: ServiceSettings, now: datetime | None = None
) -> ReviewAge:
    """The working days a letter sent for review at `submitted_at` has waited at `now`,
    its due date, and whether it is past it. Pure: one call per row of the queue."""
    now = now or utcnow()
    calendar, target = settings.calendar, settings.review_target_working_days
    return ReviewAge(
        working_days=working_days.working_days_waited(submitted_at, now, calendar),
        due=working_days.due_date(submitted_at, target, calendar),
        overdue=working_days.is_overdue(submitted_at, now, target, calendar),
    )


def overdue_if_submitted_before(settings: ServiceSettings, now: datetime | None = None) -> datetime:
    """A letter in review is overdue at `now` exactly when its `submitted_at` is before
    this moment: for a query (count or filter the overdue) rather than a row at a time."""
    return working_days.overdue_if_since_before(
        now or utcnow(), settings.review_target_working_days, settings.calendar
    )


@dataclass(frozen=True)
class Waiting:
    """What waits for one facilitator in their cases, as numbers."""

    overdue: int = 0  # in review past the target
    in_review: int = 0  # in review, within the target
    with_author: int = 0  # changes asked for or suggested, back with the writer
    readings: int = 0  # approved for a recipient who reads with their facilitator
    to_post: int = 0  # approved for a party on paper: to print, and post or hand over
    invitations: int = 0  # a party invited who has not set up their account
    risk_reviews: int = 0  # a party's risk review date has passed (cases.risk_reviews_due)

    def __bool__(self) -> bool:
        return any(getattr(self, field.name) for field in fields(self))


def waiting_in_cases(
    session: Session, settings: ServiceSettings, now: datetime
) -> dict[int, Waiting]:
    """{user id: Waiting} for everyone with a facilitator's place in a case, counted in two
    grouped queries whatever the number of letters; nobody with nothing waiting."""
    place = aliased(CaseParticipant)
    recipient = aliased(CaseParticipant)
    in_review = Letter.state.in_(states.IN_REVIEW)
    overdue_before = overdue_if_submitted_before(settings, now)
    # As letters.readings_to_arrange lists them.
    reading = (
        Letter.state.in_(states.WAITING)
        & (recipient.receive_preference == ReceivePreference.WITH_FACILITATOR)
        & recipient.on_paper.is_(False)
    )
    # As letters.to_print_and_post lists them.
    to_post = Letter.state.in_(states.WAITING) & recipient.on_paper.is_(True)
    letter_counts = session.execute(
        select(
            place.user_id,
            func.count().filter(in_review & (Letter.submitted_at < overdue_before)),
            func.count().filter(in_review),
            func.count().filter(Letter.state.in_(WITH_AUTHOR)),
            func.count().filter(reading),
            func.count().filter(to_post),
        )
        .select_from(place)
        .join(Letter, Letter.case_id == place.case_id)
        .join(recipient, recipient.id == Letter.recipient_id)
        .where(
            place.role == Role.FACILITATOR,
            place.user_id.is_not(None),
            Letter.state.in_(states.IN_REVIEW | WITH_AUTHOR | states.WAITING),
        )
        .group_by(place.user_id)
    ).all()
    # The parties of each facilitator's open cases: those invited who have not set up an
    # account, and those whose risk review date has passed (as cases.risk_reviews_due
    # lists them, on the service's calendar day). One grouped query for both.
    party = aliased(CaseParticipant)
    party_counts = session.execute(
        select(
            place.user_id,
            func.count().filter(party.user_id.is_(None)),
            func.count().filter(party.risk_review_on < working_days.uk_date(now)),
        )
        .select_from(place)
        .join(Case, Case.id == place.case_id)
        .join(party, party.case_id == place.case_id)
        .where(
            place.role == Role.FACILITATOR,
            place.user_id.is_not(None),
            Case.state != CaseState.CLOSED,
            party.role.in_(PARTY_ROLES),
            party.withdrawn_at.is_(None),
        )
        .group_by(place.user_id)
    ).all()
    found: dict[int, dict[str, int]] = {}
    for user_id, overdue, reviewing, with_author, readings, to_print in letter_counts:
        found[user_id] = {
            "overdue": overdue,
            "in_review": reviewing - overdue,
            "with_author": with_author,
            "readings": readings,
            "to_post": to_print,
        }
    for user_id, invited, reviews_due in party_counts:
        found.setdefault(user_id, {}).update(invitations=invited, risk_reviews=reviews_due)
    waiting = {user_id: Waiting(**counts) for user_id, counts in found.items()}
    return {user_id: counts for user_id, counts in waiting.items() if counts}


def digest_body(waiting: Waiting, settings: ServiceSettings, day: date) -> str:
    target = settings.review_target_working_days
    lines = (
        f"Letters waiting for review longer than {target} working days: {waiting.overdue}",
        f"Other letters waiting for review: {waiting.in_review}",
        f"Letters back with their writer for changes: {waiting.with_author}",
        f"Readings to arrange: {waiting.readings}",
        f"Letters to print and post: {waiting.to_post}",
        f"People invited who have not yet set up their account: {waiting.invitations}",
        f"Risk assessments past their review date: {waiting.risk_reviews}",
    )
    return DIGEST_BODY.format(
        day=f"{day:%A %-d %B %Y}",
        counts="\n".join(f"- {line}" for line in lines),
        link=settings.link(REVIEW_QUEUE_PATH),
    )


@dataclass(frozen=True)
class DigestRun:
    day: date
    digests: int = 0
    # Why nothing was sent, if so: the day is not a working day, or today's went already.
    skipped: str = ""


class _SentAlready(Exception):
    """Today's digests went already: undo this run's entry and e-mails."""


def _sent_already(session: Session, day: date, before: int) -> bool:
    # The run before this one. No index serves `action`, so PostgreSQL reads the audit table
    # through (28 ms at 300,000 entries): once a day, beside the nightly verify that reads
    # all of it.
    details = session.scalar(
        select(AuditEntry.details)
        .where(AuditEntry.action == REMINDERS_SENT, AuditEntry.sequence < before)
        .order_by(AuditEntry.sequence.desc())
        .limit(1)
    )
    return details is not None and json.loads(details).get("day") == day.isoformat()


def send_digests(
    session: Session, settings: ServiceSettings, now: datetime | None = None
) -> DigestRun:
    """Queue today's digest for each active facilitator with something waiting; the
    outbox worker sends them. Once a day, on working days only (see the module's words)."""
    now = now or utcnow()
    day = working_days.uk_date(now)
    if not settings.calendar.is_working_day(day):
        return DigestRun(day, skipped="not a working day")
    try:
        with transaction(session):
            waiting = waiting_in_cases(session, settings, now)
            # The address and the choice of subject only: no key material is read.
            facilitators = session.execute(
                select(User.id, User.email, User.notice_preference)
                .where(
                    User.id.in_(list(waiting)),
                    User.role == Role.FACILITATOR,
                    User.disabled.is_(False),
                    User.notice_preference != NoticePreference.NONE,
                )
                .order_by(User.id)
            ).all()
            entry = audit.record(
                session,
                REMINDERS_SENT,
                details={"day": day.isoformat(), "digests": len(facilitators)},
            )
            if _sent_already(session, day, entry.sequence):
                raise _SentAlready
            for facilitator in facilitators:
                outbox.queue_mail(
                    session,
                    settings.outbox_key,
                    recipient=facilitator.email,
                    subject=DIGEST_SUBJECTS[facilitator.notice_preference],
                    body=digest_body(waiting[facilitator.id], settings, day),
                )
    except _SentAlready:
        return DigestRun(day, skipped="today's digests were sent already")
    return DigestRun(day, digests=len(facilitators))
