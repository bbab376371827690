"""Retention: a closed case's letters, scans and notes are kept for the service's period
(`ServiceSettings.retention_years`, whole years after the day it closed, in UTC) and then
crypto-shredded by the daily run (`flask retention purge`), one case per transaction
through `cases.shred_case`, so an interrupted run leaves every case whole or shredded and
the next run carries on. The case, its letters' rows and states, and its audit trail stay:
the counts still add up.

Survey comments (issue 11, item 2) do not exist yet. When they come, they are sealed to the
case and shredded in `content_keys.shred`, which `cases.shred_case` calls: this run then
forgets them with the rest, and its tests (tests/services/test_retention.py `_texts_of`)
should count them.
"""

from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from sqlalchemy import Select
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.database import transaction
from relay.models import Case
from relay.models import CaseOutcome
from relay.models import CaseState
from relay.models import Role
from relay.models import utcnow
from relay.services import cases
from relay.services.actor import Actor
from relay.services.delivery import lock_case
from relay.services.errors import NotAllowed
from relay.services.paging import Page
from relay.services.paging import page_of
from relay.services.settings import ServiceSettings

# What the administrator's page and `retention due` look ahead by.
DUE_WITHIN_DAYS = 30
# Written in each case's `case.shredded` entry: the daily run shredded it, not a person.
BY_RETENTION = "retention"


@dataclass(frozen=True)
class DueCase:
    """A closed case whose texts the run will shred: metadata only."""

    case_id: int
    reference: str
    outcome: CaseOutcome | None
    closed_on: date
    falls_due: date


@dataclass(frozen=True)
class Purged:
    case_id: int
    reference: str
    texts: int  # letter versions, notes and scans that lost their text


@dataclass(frozen=True)
class PurgeRun:
    day: date
    shredded: list[Purged]
    # Cases found shredded already under their lock: another run got there first.
    passed_over: int = 0


# --- the dates ------------------------------------------------------------------------


def falls_due(closed_on: date, years: int) -> date:
    """The day a case closed on `closed_on` is shredded: the same day `years` later. A
    case closed on 29 February falls due on 1 March of a common year, never on the 28th:
    the period is never cut short."""
    try:
        return closed_on.replace(year=closed_on.year + years)
    except ValueError:  # 29 February, and no 29th that year
        return date(closed_on.year + years, 3, 1)


def last_closing_due_by(day: date, years: int) -> date:
    """The last closing day whose case has fallen due by `day`: a case is due by `day`
    exactly when it closed on or before this (`falls_due` never goes backwards)."""
    try:
        closed_on = day.replace(year=day.year - years)
    except ValueError:  # `day` is 29 February and that year has none
        closed_on = date(day.year - years, 2, 28)
    # 28 February of a leap year, when `day` is 28 February of a common year: the 29th
    # would fall due on 1 March, after `day`.
    while falls_due(closed_on, years) > day:
        closed_on -= timedelta(days=1)
    return closed_on


def closed_on(case_closed_at: datetime) -> date:
    """The day a case closed, in UTC (as the dates it falls due are counted)."""
    if case_closed_at.tzinfo is not None:
        case_closed_at = case_closed_at.astimezone(UTC)
    return case_closed_at.date()


def today_in_utc() -> date:
    return utcnow().astimezone(UTC).date()


# --- what falls due -------------------------------------------------------------------


def _due_query(settings: ServiceSettings, by: date) -> Select:
    """Closed cases not yet shredded that fall due on or before `by`, oldest first."""
    last = last_closing_due_by(by, settings.retention_years)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    return (
        select(Case)
        .where(
            Case.state == CaseState.CLOSED,
            Case.shredded_at.is_(None),
            Case.closed_at.is_not(None),
            Case.closed_at < until,
        )
        .order_by(Case.closed_at, Case.id)
    )


def _due_case(case: Case, years: int) -> DueCase:
    day = closed_on(case.closed_at)
    return DueCase(case.id, case.reference, case.outcome, day, falls_due(day, years))


def due(
    session: Session,
    settings: ServiceSettings,
    within_days: int = DUE_WITHIN_DAYS,
    *,
    today: date | None = None,
) -> list[DueCase]:
    """Every closed case the run will shred by `within_days` after today (including any
    already past its day and not yet shredded), each with its day, in one query."""
    by = (today or today_in_utc()) + timedelta(days=within_days)
    found = session.scalars(_due_query(settings, by)).all()
    return [_due_case(case, settings.retention_years) for case in found]


def due_page(
    session: Session,
    actor: Actor,
    settings: ServiceSettings,
    number: int = 1,
    *,
    today: date | None = None,
) -> Page[DueCase]:
    """The administrator's page of what falls due in the next 30 days, 25 at a time."""
    if actor.role != Role.ADMINISTRATOR:
        raise NotAllowed("Only an administrator sees what retention will shred")
    by = (today or today_in_utc()) + timedelta(days=DUE_WITHIN_DAYS)
    found = page_of(session, _due_query(settings, by), number)
    years = settings.retention_years
    return Page([_due_case(case, years) for case in found.items], found.number, found.total)


# --- the run --------------------------------------------------------------------------


def purge(session: Session, settings: ServiceSettings, *, today: date | None = None) -> PurgeRun:
    """Shred every closed case whose period is over, each in its own transaction.

    Safe to run daily and to interrupt: a case is shredded and marked (`shredded_at`) in
    one commit, or not at all, and a shredded case is never listed again. Two runs at once
    (PostgreSQL) take each case's lock exclusively in the same order; the second finds the
    case shredded under the lock and passes over it. A case closing while the run goes
    closes today, years short of its day, so it is neither listed nor shredded.
    """
    day = today or today_in_utc()
    years = settings.retention_years
    found = session.scalars(_due_query(settings, day)).all()
    shredded: list[Purged] = []
    passed_over = 0
    for listed in found:
        with transaction(session):
            case = lock_case(session, listed.id, exclusive=True)
            expired = (
                case.state == CaseState.CLOSED
                and case.closed_at is not None
                and falls_due(closed_on(case.closed_at), years) <= day
            )
            if case.shredded_at is not None or not expired:
                passed_over += 1
                continue
            texts = cases.shred_case(session, case.id, by=BY_RETENTION)
            shredded.append(Purged(case.id, case.reference, texts))
    return PurgeRun(day, shredded, passed_over)
