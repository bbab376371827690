"""The dashboard: the evidence a service is commissioned on (referrals and uptake, cases,
letters, times, survey answers), as counts over a range of dates, with small numbers
suppressed so that no one can be picked out.

Three steps, each its own function, so the suppression can be proved apart from the SQL:
`figures` reads the raw counts (aggregate SQL, a handful of statements) into `Figures`;
`suppress`, a pure function, decides what may be shown (`Dashboard`); the page, the charts
(`chart_svg`) and the CSV (`csv_rows`) show only what `suppress` let through.

Suppression, as statistical disclosure control practice has it (ONS and NHS England's
small-number rules):
- Primary: any count from 1 to 4 is shown as "fewer than 5". Zero is shown as 0: an empty
  cell describes nobody, suppressing zeros would force more real figures to be withheld,
  and the published rules this follows (ONS, NHS England HES) suppress 1 to 4 or 1 to 7,
  not 0. (A zero beside a total can say "all of them": that is what the figure is for.)
- Secondary (complementary): wherever a total is shown with its parts, one hidden cell
  alone could be recovered by subtraction, so the next smallest shown part (not a zero,
  which hides nothing) is withheld too, or the total when there is none; repeated until no
  group of a total and its parts has exactly one hidden cell (groups share cells: the
  declined count is a part of the statuses and the total of the reasons). Every figure
  shown that adds up with others is declared as a group (`_layout`), and a table's rows
  are made to partition its total rather than overlap (the letters).
- Then the page is attacked as its reader could: "fewer than 5" is 1 to 4, "withheld"
  anything from 0, each group's total the sum of its parts, the ranges narrowed to a fixed
  point (`bounds`), and the groups solved exactly as equations (`solved`). While any
  hidden figure other than a 0 comes down to one value, one more is withheld in a group
  with it: its smallest shown part, a zero too, else a shown total, else a "fewer than 5"
  there becomes "withheld". So "withheld" may be any figure, 0 and 1 to 4 included: which
  figure is withheld says nothing about its size.
- A share is withheld when its numerator or its denominator is; a median or a 90th
  percentile over fewer than 5 values is withheld (and so is its count).
"""

import csv
import enum
import io
import math
import statistics
import sys
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from fractions import Fraction

# Only to write out pygal's tree: nothing is parsed.
from xml.etree import ElementTree  # nosec B405

import pygal
from markupsafe import Markup
from sqlalchemy import ColumnElement
from sqlalchemy import Float
from sqlalchemy import Select
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from relay import audit
from relay.database import transaction
from relay.models import Case
from relay.models import CaseOutcome
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import DeclineReason
from relay.models import Letter
from relay.models import LetterState
from relay.models import LetterVersion
from relay.models import NoteKind
from relay.models import OffenceCategory
from relay.models import Referral
from relay.models import ReferralSource
from relay.models import ReferralStatus
from relay.models import Role
from relay.models import SealedNote
from relay.models import SurveyAnswer
from relay.models import SurveyResponse
from relay.services import survey
from relay.services.actor import Actor
from relay.services.cases import PARTY_ROLES
from relay.services.errors import InvalidInput
from relay.services.errors import NotAllowed
from relay.services.timeline import safe_cell

# pygal adds an import finder for its map plugins (which Relay does not use), written for
# the import protocol Python dropped: every failed import after it warns (ImportWarning),
# which breaks optional imports elsewhere (ReportLab's) where warnings are errors.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

THRESHOLD = 5
FEWER = "fewer than 5"
# A figure (of any size, 0 included) withheld so that another cannot be worked out from the
# totals: it says nothing about its own size.
WITHHELD = "withheld"


# --- the filter -------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """A range of days (both included) and, optionally, one kind of offence."""

    start: date
    end: date
    offence: OffenceCategory | None = None

    def details(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "offence_category": self.offence.value if self.offence else None,
        }


def default_filter(today: date) -> Filter:
    """The last 12 months up to today."""
    try:
        year_ago = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        year_ago = today.replace(year=today.year - 1, day=28)
    return Filter(start=year_ago + timedelta(days=1), end=today)


# The dashboard's window: nothing Relay holds is older than this, and a year ahead allows a
# report's period to be chosen before it ends. A day outside it is a mistake (or a probe):
# the day after 9999-12-31 does not exist, and a range of centuries is work for nothing.
EARLIEST = date(2000, 1, 1)


def _a_year_after(today: date) -> date:
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)


def chosen_filter(start: date | None, end: date | None, offence: str, today: date) -> Filter:
    """The filter as chosen: a missing day is the default's; each day from 1 January 2000
    to a year from today; the start on or before the end (said next to "To", where the
    person looks last)."""
    default = default_filter(today)
    start = start or default.start
    end = end or default.end
    latest = _a_year_after(today)
    for name, day in (("start", start), ("end", end)):
        if not EARLIEST <= day <= latest:
            raise InvalidInput(
                f"Enter a date from {EARLIEST:%-d %B %Y} to {latest:%-d %B %Y}", name
            )
    if start > end:
        raise InvalidInput("The ‘to’ date must be the same as or after the ‘from’ date", "end")
    try:
        kind = OffenceCategory(offence) if offence else None
    except ValueError:
        raise InvalidInput("Choose a kind of offence from the list", "offence") from None
    return Filter(start=start, end=end, offence=kind)


# --- the raw figures --------------------------------------------------------------------


@dataclass(frozen=True)
class Sum:
    """`total` is the sum of `parts`: a group someone could subtract within."""

    total: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[str, ...]  # the keys of its counts, one per column


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    row_heading: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    total: Row | None = None
    chart: bool = True


@dataclass(frozen=True)
class Share:
    key: str
    label: str
    part: str
    whole: str


@dataclass(frozen=True)
class Timing:
    key: str
    label: str
    count: str  # the key of how many values there are
    values: tuple[float, ...]  # in days


@dataclass(frozen=True)
class Figures:
    """Every raw count by key, the groups that add up, and how they are laid out."""

    filter: Filter
    counts: Mapping[str, int]
    sums: tuple[Sum, ...]
    tables: tuple[Table, ...]
    shares: tuple[Share, ...]
    timings: tuple[Timing, ...]


# --- what may be shown ------------------------------------------------------------------


class Hidden(enum.StrEnum):
    SMALL = "small"  # 1 to 4
    SECONDARY = "secondary"  # withheld to protect a small one


@dataclass(frozen=True)
class Shown:
    """One figure as the page, the chart and the CSV show it: `value` is None when hidden."""

    value: int | float | None
    text: str
    hidden: Hidden | None = None


@dataclass(frozen=True)
class TimingShown:
    timing: Timing = field(repr=False)
    count: Shown
    median: Shown
    p90: Shown


@dataclass(frozen=True)
class Dashboard:
    filter: Filter
    cells: Mapping[str, Shown]
    tables: tuple[Table, ...]
    shares: Mapping[str, Shown]
    share_labels: tuple[Share, ...]
    timings: tuple[TimingShown, ...]

    def cell(self, key: str) -> Shown:
        return self.cells[key]

    def table(self, key: str) -> Table:
        return next(table for table in self.tables if table.key == key)

    def survey_tables(self) -> tuple[Table, ...]:
        return tuple(table for table in self.tables if table.key.startswith("survey_"))


def _hidden_cells(counts: Mapping[str, int], sums: tuple[Sum, ...]) -> dict[str, Hidden]:
    hidden = {key: Hidden.SMALL for key, value in counts.items() if 0 < value < THRESHOLD}
    _complement(counts, sums, hidden)
    # No group then has one hidden cell alone, but groups together, and what "fewer than
    # 5" says (1 to 4), can still pin one down: 7 = 5 + two "fewer than 5" + 0 makes both
    # 1. Attack the page as someone knowing all that would, and hide more until nothing
    # hidden has one possible value.
    while exposed := _exposed(counts, sums, hidden):
        _withhold_more(counts, sums, hidden, exposed)
        _complement(counts, sums, hidden)
    return hidden


def _complement(counts: Mapping[str, int], sums: tuple[Sum, ...], hidden: dict) -> None:
    """The next smallest shown part (not a zero) of every group with one hidden cell."""
    changed = True
    while changed:
        changed = False
        for group in sums:
            cells = (group.total, *group.parts)
            if sum(cell in hidden for cell in cells) != 1:
                continue
            shown_parts = sorted(
                (counts[part], part) for part in group.parts if part not in hidden and counts[part]
            )
            pick = shown_parts[0][1] if shown_parts else group.total
            if pick in hidden:  # the total alone, its parts all zero: nothing to work out
                continue
            hidden[pick] = Hidden.SECONDARY
            changed = True


def bounds(
    counts: Mapping[str, int], sums: tuple[Sum, ...], hidden: Mapping[str, Hidden]
) -> dict[str, tuple[float, float]]:
    """What someone reading the page can narrow each figure in a group down to: a shown
    figure is itself, "fewer than 5" is 1 to 4, "withheld" anything from 0; each group's
    total is the sum of its parts; tightened until nothing changes."""
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for key in {cell for group in sums for cell in (group.total, *group.parts)}:
        kind = hidden.get(key)
        if kind is None:
            lo[key] = hi[key] = counts[key]
        elif kind is Hidden.SMALL:
            lo[key], hi[key] = 1, THRESHOLD - 1
        else:
            lo[key], hi[key] = 0, math.inf
    # Each pass narrows a range or stops; counts are whole and bounded by a shown total,
    # so it ends, and the cap is a guard only.
    for _ in range(1000):
        changed = False
        for group in sums:
            low = sum(lo[part] for part in group.parts)
            high = sum(hi[part] for part in group.parts)
            if low > lo[group.total]:
                lo[group.total], changed = low, True
            if high < hi[group.total]:
                hi[group.total], changed = high, True
            for part in group.parts:
                least = lo[group.total] - (high - hi[part])
                most = hi[group.total] - (low - lo[part])
                if least > lo[part]:
                    lo[part], changed = least, True
                if most < hi[part]:
                    hi[part], changed = most, True
        if not changed:
            break
    return {key: (lo[key], hi[key]) for key in lo}


def solved(
    counts: Mapping[str, int], sums: tuple[Sum, ...], hidden: Mapping[str, Hidden]
) -> set[str]:
    """The hidden figures the groups' sums alone fix, whatever the ranges: each group an
    equation in the hidden figures, solved exactly (a hidden figure is fixed when the
    equations reduce to it alone)."""
    unknown = sorted({c for g in sums for c in (g.total, *g.parts) if c in hidden})
    index = {key: i for i, key in enumerate(unknown)}
    rows = []
    for group in sums:
        row = [Fraction(0)] * (len(unknown) + 1)
        for key, sign in [(group.total, 1), *((part, -1) for part in group.parts)]:
            if key in index:
                row[index[key]] += sign
            else:
                row[-1] -= sign * counts[key]
        if any(row[:-1]):
            rows.append(row)
    pivots = []
    for column in range(len(unknown)):
        r = len(pivots)
        found = next((i for i in range(r, len(rows)) if rows[i][column]), None)
        if found is None:
            continue
        rows[r], rows[found] = rows[found], rows[r]
        rows[r] = [x / rows[r][column] for x in rows[r]]
        for i, other in enumerate(rows):
            if i != r and other[column]:
                factor = other[column]
                rows[i] = [a - factor * b for a, b in zip(other, rows[r], strict=True)]
        pivots.append(column)
    return {
        unknown[column]
        for r, column in enumerate(pivots)
        if not any(rows[r][j] for j in range(len(unknown)) if j != column)
    }


def _exposed(
    counts: Mapping[str, int], sums: tuple[Sum, ...], hidden: Mapping[str, Hidden]
) -> list[str]:
    """Hidden figures someone could work out exactly (other than a 0, which describes
    nobody, as a shown 0 does)."""
    ranges = bounds(counts, sums, hidden)
    pinned = {key for key, (lo, hi) in ranges.items() if key in hidden and lo == hi}
    if not pinned:
        pinned = solved(counts, sums, hidden)
    return sorted(key for key in pinned if counts[key])


def _withhold_more(
    counts: Mapping[str, int], sums: tuple[Sum, ...], hidden: dict, exposed: list[str]
) -> None:
    """Hide one more figure in a group with an exposed one: its smallest shown part (a
    zero too: a withheld zero is as good as any figure at hiding), else a shown total;
    with none shown by any exposed figure, a "fewer than 5" becomes "withheld" (anything
    from 0), which says less. As a last resort the same anywhere, so each call hides more
    and the loop ends."""
    for near in (
        *([g for g in sums if key in (g.total, *g.parts)] for key in exposed),
        list(sums),
    ):
        touched = [g for g in near if hidden.keys() & {g.total, *g.parts}]
        parts = sorted((counts[p], p) for g in touched for p in g.parts if p not in hidden)
        totals = sorted((counts[g.total], g.total) for g in touched if g.total not in hidden)
        for candidates in (parts, totals):
            if candidates:
                hidden[candidates[0][1]] = Hidden.SECONDARY
                return
    small = [key for key in exposed if hidden[key] is Hidden.SMALL]
    small = small or sorted(key for key, kind in hidden.items() if kind is Hidden.SMALL)
    if not small:
        raise AssertionError("every figure is withheld, yet one can be worked out")
    hidden[small[0]] = Hidden.SECONDARY


def _count_shown(value: int, hidden: Hidden | None) -> Shown:
    if hidden is Hidden.SMALL:
        return Shown(None, FEWER, hidden)
    if hidden is Hidden.SECONDARY:
        return Shown(None, WITHHELD, hidden)
    return Shown(value, f"{value:,}")


def _days(value: float) -> Shown:
    return Shown(round(value, 1), f"{value:.1f} days")


def _timing_shown(timing: Timing, count: Shown) -> TimingShown:
    values = sorted(timing.values)
    if len(values) < THRESHOLD:
        withheld = Shown(None, FEWER, Hidden.SMALL) if values else Shown(None, "none", None)
        return TimingShown(timing, count, withheld, withheld)
    p90 = statistics.quantiles(values, n=10, method="inclusive")[8]
    return TimingShown(timing, count, _days(statistics.median(values)), _days(p90))


def suppress(figures: Figures) -> Dashboard:
    """What may be shown of `figures`: pure, so every figure's suppression is provable."""
    hidden = _hidden_cells(figures.counts, figures.sums)
    cells = {key: _count_shown(value, hidden.get(key)) for key, value in figures.counts.items()}
    shares = {}
    for share in figures.shares:
        part, whole = figures.counts[share.part], figures.counts[share.whole]
        if share.part in hidden or share.whole in hidden:
            shares[share.key] = Shown(None, WITHHELD, Hidden.SECONDARY)
        elif whole == 0:
            shares[share.key] = Shown(None, "none offered", None)
        else:
            percent = round(100 * part / whole)
            shares[share.key] = Shown(percent, f"{percent}%")
    return Dashboard(
        filter=figures.filter,
        cells=cells,
        tables=figures.tables,
        shares=shares,
        share_labels=figures.shares,
        timings=tuple(_timing_shown(t, cells[t.count]) for t in figures.timings),
    )


# --- reading the figures ----------------------------------------------------------------

ROLES = {role: role.label.capitalize() for role in PARTY_ROLES}
QUESTIONS = {question.name: question.counted_as for question in survey.QUESTIONS}
ANSWERS = {**{answer.value: answer.label for answer in SurveyAnswer}, "blank": "No answer"}
# The letters written, split so that the rows add up to it: shown as overlapping figures
# (approved first time, changed, rejected), the gaps between them bounded a small one.
LETTER_FIGURES = {
    "written": "Written (sent for review)",
    "approved_first_time": "Approved first time",
    "approved_after_changes": "Approved after changes (sent back, or a change suggested)",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn by their writer",
    "undecided": "Not decided (in review, sent back, or stopped when the case ended)",
}
LETTER_PARTS = tuple(name for name in LETTER_FIGURES if name != "written")
NO_OUTCOME = "not_recorded"


def _may_see(actor: Actor) -> None:
    if actor.role not in (Role.ADMINISTRATOR, Role.FACILITATOR):
        raise NotAllowed("Only staff see the dashboard")


def _mine(actor: Actor) -> Select | None:
    """The cases whose figures the actor sees: None for an administrator (every case)."""
    if actor.role == Role.ADMINISTRATOR:
        return None
    return select(CaseParticipant.case_id).where(
        CaseParticipant.user_id == actor.id, CaseParticipant.role == Role.FACILITATOR
    )


def _case_offence_is(kind: OffenceCategory) -> ColumnElement[bool]:
    """A case's kind of offence is a string holding the category's value (migration 0020
    turned the labels older referrals gave their cases into values); any other, older
    free text counts as "another offence"."""
    if kind != OffenceCategory.OTHER:
        return Case.offence_category == kind.value
    known = [other.value for other in OffenceCategory if other != OffenceCategory.OTHER]
    return Case.offence_category.not_in(known)


def _instants(chosen: Filter) -> tuple[datetime, datetime]:
    """The range as instants in UTC: from the start of its first day to the start of the
    day after its last."""
    start = datetime.combine(chosen.start, time(), tzinfo=UTC)
    end = datetime.combine(chosen.end + timedelta(days=1), time(), tzinfo=UTC)
    return start, end


def _referrals(session: Session, actor: Actor, mine: Select | None, chosen: Filter) -> dict:
    where = [Referral.received_on >= chosen.start, Referral.received_on <= chosen.end]
    if chosen.offence is not None:
        where.append(Referral.offence_category == chosen.offence)
    if mine is not None:
        # The referrals that became their cases, and those they recorded themselves.
        where.append(or_(Referral.case_id.in_(mine), Referral.recorded_by_id == actor.id))
    counts = {f"referrals.source.{source.value}": 0 for source in ReferralSource}
    counts |= {f"referrals.status.{status.value}": 0 for status in ReferralStatus}
    counts |= {f"referrals.declined.{reason.value}": 0 for reason in DeclineReason}
    by_source = select(Referral.source, func.count()).where(*where).group_by(Referral.source)
    for source, number in session.execute(by_source):
        counts[f"referrals.source.{source.value}"] = number
    by_status = (
        select(Referral.status, Referral.decline_reason, func.count())
        .where(*where)
        .group_by(Referral.status, Referral.decline_reason)
    )
    for status, reason, number in session.execute(by_status):
        counts[f"referrals.status.{status.value}"] += number
        if status == ReferralStatus.DECLINED:
            # The service records a decline only with its reason; one without is "no
            # reason given", so the reasons always add up to the declines.
            reason = reason or DeclineReason.NO_REASON_GIVEN
            counts[f"referrals.declined.{reason.value}"] += number
    counts["referrals.total"] = sum(counts[f"referrals.source.{s.value}"] for s in ReferralSource)
    counts["referrals.offered_total"] = sum(
        counts[f"referrals.status.{status.value}"] for status in OFFERED
    )
    return counts


# Offered restorative justice: those who had the offer, whatever they answered; not those
# not yet offered or never reached.
OFFERED = (ReferralStatus.OFFERED, ReferralStatus.TOOK_PART, ReferralStatus.DECLINED)
OFFERED_LABEL = "Offered restorative justice (offered, took part or declined)"


def _case_scope(mine: Select | None, chosen: Filter) -> list[ColumnElement[bool]]:
    where = []
    if chosen.offence is not None:
        where.append(_case_offence_is(chosen.offence))
    if mine is not None:
        where.append(Case.id.in_(mine))
    return where


def _cases(session: Session, mine: Select | None, chosen: Filter) -> dict:
    start, end = _instants(chosen)
    counts = {f"cases.state.{state.value}": 0 for state in CaseState}
    counts |= {f"cases.outcome.{outcome.value}": 0 for outcome in CaseOutcome}
    counts[f"cases.outcome.{NO_OUTCOME}"] = 0
    query = (
        select(Case.state, Case.outcome, func.count())
        .where(Case.created_at >= start, Case.created_at < end, *_case_scope(mine, chosen))
        .group_by(Case.state, Case.outcome)
    )
    for state, outcome, number in session.execute(query):
        counts[f"cases.state.{state.value}"] += number
        if state == CaseState.CLOSED:
            counts[f"cases.outcome.{outcome.value if outcome else NO_OUTCOME}"] += number
    counts["cases.total"] = sum(counts[f"cases.state.{s.value}"] for s in CaseState)
    return counts


def _letters(session: Session, mine: Select | None, chosen: Filter) -> dict:
    """Each letter counted once, in the range its first sending falls in. Approved first
    time: approved with one version sent and no change asked for or suggested. After
    changes: approved once sent back for changes (a second version sent, or a note asking
    for changes still on it) or a change suggested (a redaction version), accepted or not.
    Rejected and withdrawn letters are those, whatever came before; the rest are undecided:
    each letter is in exactly one, so they add up to those written."""
    start, end = _instants(chosen)
    per_letter = (
        select(
            Letter.id,
            Letter.state,
            Letter.approved_at,
            func.min(LetterVersion.submitted_at).label("first_sent"),
            func.count(LetterVersion.submitted_at).label("sent"),
            func.sum(case((LetterVersion.kind == "redaction", 1), else_=0)).label("redactions"),
        )
        .join(LetterVersion, LetterVersion.letter_id == Letter.id)
        .join(Case, Case.id == Letter.case_id)
        # A letter first sent in the range was last sent in it or after.
        .where(Letter.submitted_at >= start, *_case_scope(mine, chosen))
        .group_by(Letter.id, Letter.state, Letter.approved_at)
        .having(func.min(LetterVersion.submitted_at) < end)
        .having(func.min(LetterVersion.submitted_at) >= start)
        .subquery()
    )
    changed = or_(
        per_letter.c.sent > 1,
        per_letter.c.redactions > 0,
        exists().where(
            SealedNote.letter_id == per_letter.c.id,
            SealedNote.kind == NoteKind.CHANGES_REQUESTED,
        ),
    )
    ended = per_letter.c.state.in_((LetterState.REJECTED, LetterState.WITHDRAWN))
    approved = and_(per_letter.c.approved_at.is_not(None), ~ended)
    totals = select(
        func.count(),
        func.sum(case((and_(approved, ~changed), 1), else_=0)),
        func.sum(case((and_(approved, changed), 1), else_=0)),
        func.sum(case((per_letter.c.state == LetterState.REJECTED, 1), else_=0)),
        func.sum(case((per_letter.c.state == LetterState.WITHDRAWN, 1), else_=0)),
    )
    row = [int(value or 0) for value in session.execute(totals).one()]
    counts = dict(zip((f"letters.{name}" for name in LETTER_FIGURES), row, strict=False))
    counts["letters.undecided"] = row[0] - sum(row[1:])
    return counts


def _review_times(session: Session, mine: Select | None, chosen: Filter) -> tuple[float, ...]:
    """Sent for review to decided (approved or rejected), for decisions in the range: the
    wait for the decision on the version decided (a letter is last sent just before it)."""
    start, end = _instants(chosen)
    decided_at = case(
        (Letter.state == LetterState.REJECTED, Letter.updated_at), else_=Letter.approved_at
    )
    query = (
        select(_DaysBetween(Letter.submitted_at, decided_at))
        .join(Case, Case.id == Letter.case_id)
        .where(
            or_(
                and_(Letter.approved_at >= start, Letter.approved_at < end),
                and_(
                    Letter.state == LetterState.REJECTED,
                    Letter.updated_at >= start,
                    Letter.updated_at < end,
                ),
            ),
            Letter.submitted_at.is_not(None),
            *_case_scope(mine, chosen),
        )
    )
    return tuple(float(days) for days in session.scalars(query) if days is not None)


def _first_letter_times(session: Session, mine: Select | None, chosen: Filter) -> tuple[float, ...]:
    """The referral's day to its case's first letter sent for review, for first letters
    sent in the range (each time counted when it ends, as the review times are)."""
    start, end = _instants(chosen)
    first_sent = func.min(LetterVersion.submitted_at)
    query = (
        select(_WholeDaysBetween(Referral.received_on, first_sent))
        .join(Letter, Letter.case_id == Referral.case_id)
        .join(LetterVersion, LetterVersion.letter_id == Letter.id)
        .join(Case, Case.id == Referral.case_id)
        # Neither the referral nor its case can come after the case's first letter.
        .where(Referral.received_on <= chosen.end, Case.created_at < end)
        .where(*_case_scope(mine, chosen))
        .group_by(Referral.id, Referral.received_on)
        .having(first_sent >= start, first_sent < end)
    )
    return tuple(float(days) for days in session.scalars(query))


class _DaysBetween(FunctionElement):
    """From one instant to a later one, in days (fractions too), worked out by the
    database: one number a row comes back, not two timestamps to convert."""

    type = Float()
    name = "days_between"
    inherit_cache = True


class _WholeDaysBetween(FunctionElement):
    """From a day to the day (in UTC) of a later instant, in whole days."""

    type = Float()
    name = "whole_days_between"
    inherit_cache = True


@compiles(_DaysBetween, "sqlite")
def _days_between_sqlite(element, compiler, **kw) -> str:
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(_DaysBetween, "postgresql")
def _days_between_postgresql(element, compiler, **kw) -> str:
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({later}) - ({earlier})) / 86400.0)"


@compiles(_WholeDaysBetween, "sqlite")
def _whole_days_sqlite(element, compiler, **kw) -> str:
    day, moment = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday(date({moment})) - julianday({day}))"


@compiles(_WholeDaysBetween, "postgresql")
def _whole_days_postgresql(element, compiler, **kw) -> str:
    day, moment = (compiler.process(c, **kw) for c in element.clauses)
    return f"((({moment}) AT TIME ZONE 'UTC')::date - ({day}))"


def _survey(session: Session, mine: Select | None, chosen: Filter) -> dict:
    start, end = _instants(chosen)
    counts = {}
    for role in ROLES:
        counts[f"answers.{role.value}.total"] = 0
        for question in QUESTIONS:
            for answer in ANSWERS:
                counts[f"answers.{question}.{role.value}.{answer}"] = 0
    columns = [getattr(SurveyResponse, question) for question in QUESTIONS]
    query = (
        select(SurveyResponse.role, *columns, func.count())
        .join(Case, Case.id == SurveyResponse.case_id)
        .where(
            SurveyResponse.answered_at >= start,
            SurveyResponse.answered_at < end,
            SurveyResponse.role.in_(tuple(ROLES)),
            *_case_scope(mine, chosen),
        )
        .group_by(SurveyResponse.role, *columns)
    )
    for role, *answers, number in session.execute(query):
        counts[f"answers.{role.value}.total"] += number
        for question, answer in zip(QUESTIONS, answers, strict=True):
            counts[f"answers.{question}.{role.value}.{answer.value if answer else 'blank'}"] += (
                number
            )
    counts["answers.total"] = sum(counts[f"answers.{role.value}.total"] for role in ROLES)
    return counts


def _layout(counts: dict) -> tuple[tuple[Sum, ...], tuple[Table, ...], tuple[Share, ...]]:
    """The groups that add up and the tables that show them."""

    def keys(prefix: str, names) -> tuple[str, ...]:
        return tuple(f"{prefix}.{name}" for name in names)

    sources = keys("referrals.source", [s.value for s in ReferralSource])
    statuses = keys("referrals.status", [s.value for s in ReferralStatus])
    reasons = keys("referrals.declined", [r.value for r in DeclineReason])
    offered = keys("referrals.status", [s.value for s in OFFERED])
    states = keys("cases.state", [s.value for s in CaseState])
    outcome_names = [o.value for o in CaseOutcome]
    if counts[f"cases.outcome.{NO_OUTCOME}"]:
        outcome_names.append(NO_OUTCOME)
    outcomes = keys("cases.outcome", outcome_names)
    sums = [
        Sum("referrals.total", sources),
        Sum("referrals.total", statuses),
        Sum("referrals.offered_total", offered),
        # Those offered, those not yet offered and those never reached are every referral:
        # undeclared, the total less two shown figures gave back a third.
        Sum(
            "referrals.total",
            ("referrals.offered_total", *keys("referrals.status", ["referred", "not_contacted"])),
        ),
        Sum("referrals.status.declined", reasons),
        Sum("cases.total", states),
        Sum("cases.state.closed", outcomes),
        Sum("answers.total", keys("answers", [f"{role.value}.total" for role in ROLES])),
        Sum("letters.written", keys("letters", LETTER_PARTS)),
    ]

    def one_column(
        key, title, row_heading, column, labels, cells, total=None, chart=True, total_label="Total"
    ):
        return Table(
            key=key,
            title=title,
            row_heading=row_heading,
            columns=(column,),
            rows=tuple(Row(label, (cell,)) for label, cell in zip(labels, cells, strict=True)),
            total=Row(total_label, (total,)) if total else None,
            chart=chart,
        )

    outcome_labels = [CaseOutcome(o).label.capitalize() for o in outcome_names[:4]]
    if len(outcome_names) > 4:
        outcome_labels.append("No outcome recorded")
    tables = [
        one_column(
            "referrals_by_source",
            "Referrals by where they came from",
            "Where from",
            "Referrals",
            [s.label for s in ReferralSource],
            sources,
            "referrals.total",
        ),
        one_column(
            "referrals_by_status",
            "Referrals by what came of the offer",
            "What came of it",
            "Referrals",
            [s.label for s in ReferralStatus],
            statuses,
            "referrals.total",
        ),
        one_column(
            "declines_by_reason",
            "Why the person harmed declined",
            "Reason",
            "Declined",
            [r.label for r in DeclineReason],
            reasons,
            "referrals.status.declined",
        ),
        one_column(
            "cases_by_state",
            "Cases opened, by their state now",
            "State",
            "Cases",
            [s.label for s in CaseState],
            states,
            "cases.total",
        ),
        one_column(
            "closed_by_outcome",
            "Closed cases by outcome",
            "Outcome",
            "Closed cases",
            outcome_labels,
            outcomes,
            "cases.state.closed",
        ),
        one_column(
            "letters",
            "Letters first sent for review",
            "Letters",
            "Letters",
            [LETTER_FIGURES[name] for name in LETTER_PARTS],
            keys("letters", LETTER_PARTS),
            "letters.written",
            total_label=f"Total: {LETTER_FIGURES['written'].lower()}",
        ),
    ]
    role_totals = keys("answers", [f"{role.value}.total" for role in ROLES])
    tables.append(
        one_column(
            "survey_responses",
            "Survey answered, by role",
            "Role",
            "Answered",
            list(ROLES.values()),
            role_totals,
            "answers.total",
            chart=False,
        )
    )
    for question, asked in QUESTIONS.items():
        for role in ROLES:
            sums.append(
                Sum(
                    f"answers.{role.value}.total",
                    keys(f"answers.{question}.{role.value}", ANSWERS),
                )
            )
        tables.append(
            Table(
                key=f"survey_{question}",
                title=f"Survey: {asked.lower()}?",
                row_heading="Answer",
                columns=tuple(ROLES.values()),
                rows=tuple(
                    Row(label, tuple(f"answers.{question}.{r.value}.{answer}" for r in ROLES))
                    for answer, label in ANSWERS.items()
                ),
                total=Row(
                    "Everyone who answered the survey",
                    keys("answers", [f"{r.value}.total" for r in ROLES]),
                ),
            )
        )
    shares = (
        Share(
            "referrals.took_part_share",
            "Share of those offered restorative justice who took part",
            "referrals.status.took_part",
            "referrals.offered_total",
        ),
    )
    return tuple(sums), tuple(tables), shares


def figures(session: Session, actor: Actor, chosen: Filter) -> Figures:
    """The raw figures the actor may see: every case and referral for an administrator; a
    facilitator's own cases (and the referrals that became them, and those they recorded)."""
    _may_see(actor)
    mine = _mine(actor)
    counts = {
        **_referrals(session, actor, mine, chosen),
        **_cases(session, mine, chosen),
        **_letters(session, mine, chosen),
        **_survey(session, mine, chosen),
    }
    review = _review_times(session, mine, chosen)
    first_letter = _first_letter_times(session, mine, chosen)
    counts["times.review.count"] = len(review)
    counts["times.first_letter.count"] = len(first_letter)
    sums, tables, shares = _layout(counts)
    timings = (
        Timing(
            "times.review",
            "Time in review: sent to approved or rejected",
            "times.review.count",
            review,
        ),
        Timing(
            "times.first_letter",
            "Referral to the case's first letter sent",
            "times.first_letter.count",
            first_letter,
        ),
    )
    return Figures(chosen, counts, sums, tables, shares, timings)


def dashboard(session: Session, actor: Actor, chosen: Filter) -> Dashboard:
    return suppress(figures(session, actor, chosen))


# --- the CSV ----------------------------------------------------------------------------

CSV_HEADINGS = ("Section", "Figure", "Row", "Column", "Value")


def csv_rows(board: Dashboard) -> Iterator[tuple[str, ...]]:
    """Every figure the page shows, as shown (suppressed alike), a line each."""
    chosen = board.filter
    yield ("Filter", "From", "", "", chosen.start.isoformat())
    yield ("Filter", "To", "", "", chosen.end.isoformat())
    offence = chosen.offence.label if chosen.offence else "Any kind of offence"
    yield ("Filter", "Kind of offence", "", "", offence)
    for table in board.tables:
        rows = (*table.rows, table.total) if table.total else table.rows
        for row in rows:
            for column, key in zip(table.columns, row.cells, strict=True):
                yield (table.key, table.title, row.label, column, board.cells[key].text)
    yield ("referrals", OFFERED_LABEL, "", "", board.cells["referrals.offered_total"].text)
    for share in board.share_labels:
        yield ("referrals", share.label, "", "", board.shares[share.key].text)
    for shown in board.timings:
        label = shown.timing.label
        yield ("times", label, "Number", "", shown.count.text)
        yield ("times", label, "Median", "", shown.median.text)
        yield ("times", label, "90th percentile", "", shown.p90.text)


def as_csv(board: Dashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADINGS)
    for row in csv_rows(board):
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()


def export_csv(session: Session, actor: Actor, chosen: Filter) -> str:
    """The dashboard as CSV, audited with its filter: the trail shows who took a copy."""
    with transaction(session):
        text = as_csv(dashboard(session, actor, chosen))
        audit.record(session, "dashboard.exported", actor_id=actor.id, details=chosen.details())
        return text


# --- the charts -------------------------------------------------------------------------

COLOURS = ("#1d70b8", "#912b88")  # GOV.UK blue and purple: both over 3:1 against white


def chart_svg(board: Dashboard, table: Table) -> Markup:
    """The table as a bar chart: SVG drawn on the server (no script, no style element or
    attribute, which the content security policy would refuse: colours are presentation
    attributes), titled, with hidden figures left out rather than drawn."""
    many = len(table.columns) > 1
    config = pygal.Config(
        js=[],
        disable_xml_declaration=True,
        title=table.title,
        show_legend=many,
        legend_at_bottom=True,
        width=640,
        height=120 + 36 * len(table.rows) * len(table.columns),
        label_font_size=14,
        major_label_font_size=14,
        title_font_size=18,
        legend_font_size=14,
        print_values=False,
        truncate_label=-1,
        truncate_legend=-1,
        show_x_guides=True,
        min_scale=1,
        max_scale=6,
    )
    chart = pygal.HorizontalBar(config)
    # pygal draws a horizontal chart's first row at the bottom: reversed, it reads down in
    # the table's order.
    rows = table.rows[::-1]
    chart.x_labels = [row.label for row in rows]
    for index, column in enumerate(table.columns):
        chart.add(column, [board.cells[row.cells[index]].value for row in rows])
    root = chart.render_tree()
    # ElementTree wrote the markup and escaped every text and attribute in it; the labels
    # are Relay's own words, never anything a person typed.
    return Markup(_plain_svg(root, f"chart-{table.key}"))  # nosec B704  # noqa: S704


def _tag(element: ElementTree.Element) -> str:
    return str(element.tag).rsplit("}", 1)[-1]


def _plain_svg(root: ElementTree.Element, ident: str) -> str:
    for defs in [element for element in root.iter() if _tag(element) == "defs"]:
        for child in list(defs):
            defs.remove(child)
    for parent in list(root.iter()):
        for child in list(parent):
            if child.get("id") == "tooltip" or "tooltip" in child.get("class", "").split():
                parent.remove(child)
    root.set("id", ident)
    root.set("width", "100%")
    root.set("role", "img")
    root.set("aria-labelledby", f"{ident}-title")
    root.set("font-family", "Arial, Helvetica, sans-serif")
    root.set("font-size", "14")
    for element in root.iter():
        element.attrib.pop("style", None)
        classes = element.get("class", "").split()
        if _tag(element) == "title" and element in list(root):
            element.set("id", f"{ident}-title")
        if "background" in classes:
            element.set("fill", "#ffffff")
        if "line" in classes:
            element.set("fill", "none")
            element.set("stroke", "#b1b4b6" if "guide" in classes else "#0b0c0c")
        for name in classes:
            if name.startswith("color-"):
                element.set("fill", COLOURS[int(name[6:]) % len(COLOURS)])
        if "title" in classes:
            element.set("font-size", "18")
            element.set("font-weight", "bold")
        # pygal's own style sheet, as attributes (inherited by each group's text).
        if classes[:1] == ["axis"]:
            element.set("text-anchor", "middle" if "x" in classes else "end")
        if {"title", "no_data", "centered"} & set(classes):
            element.set("text-anchor", "middle")
        if "showable" in classes:
            element.set("visibility", "hidden")
    return ElementTree.tostring(root, encoding="unicode")
