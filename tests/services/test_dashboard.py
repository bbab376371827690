"""The dashboard's raw figures (issue 11, item 3): what each counts, over which dates and
kinds of offence, for whom; its filter; its audited export; and its reads through indexes.
Suppression itself is proved in tests/pure/test_dashboard_suppression.py."""

import csv
import io
import itertools
import json
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseOutcome
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import DeclineReason
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import OffenceCategory
from relay.models import Referral
from relay.models import ReferralSource
from relay.models import ReferralStatus
from relay.models import Role
from relay.models import SurveyAnswer
from relay.models import SurveyResponse
from relay.models import utcnow
from relay.services import claims
from relay.services import dashboard
from relay.services import invitations
from relay.services import letters
from relay.services.dashboard import Filter
from relay.services.errors import InvalidInput
from relay.services.errors import NotAllowed
from tests.factories import OTHER
from tests.factories import actor_for
from tests.factories import approve_as_reviewed

TODAY = utcnow().date()
NOW = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
YEAR = Filter(TODAY - timedelta(days=364), TODAY)
NUMBERS = itertools.count(1)


def other_facilitator(session, settings, world):
    email, name, password = OTHER["other_facilitator"]
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    return actor_for(session, settings, email, password)


def add_cases(
    session,
    facilitator_id: int,
    count: int,
    *,
    offence="theft",
    state="active",
    outcome=None,
    created=NOW,
    prefix="C",
) -> list[Case]:
    """Cases in bulk, with their facilitator: rows as the services leave them."""
    made = []
    for _ in range(count):
        case = Case(
            reference=f"{prefix}-{next(NUMBERS)}",
            offence_category=offence,
            state=CaseState(state),
            outcome=CaseOutcome(outcome) if outcome else None,
            created_by_id=facilitator_id,
            created_at=created,
        )
        session.add(case)
        session.add(
            CaseParticipant(
                case=case, user_id=facilitator_id, role=Role.FACILITATOR, display_name="F"
            )
        )
        made.append(case)
    session.commit()
    return made


def add_referrals(
    session,
    recorded_by: int,
    count: int,
    *,
    source="police",
    status="referred",
    reason=None,
    received_on=TODAY,
    offence="theft",
    case_ids=(),
) -> None:
    for index in range(count):
        session.add(
            Referral(
                received_on=received_on,
                source=ReferralSource(source),
                offence_category=OffenceCategory(offence),
                status=ReferralStatus(status),
                decline_reason=DeclineReason(reason) if reason else None,
                recorded_by_id=recorded_by,
                case_id=case_ids[index] if case_ids else None,
            )
        )
    session.commit()


def add_survey(session, case: Case, role: Role, count: int, answered_at=NOW, **answers) -> None:
    """Survey answers as the survey pages store them (one per party: a party each)."""
    for _ in range(count):
        party = CaseParticipant(case=case, role=role, display_name="P")
        session.add(party)
        session.flush()
        session.add(
            SurveyResponse(
                case_id=case.id,
                participant_id=party.id,
                role=role,
                entered_by_id=case.created_by_id,
                answered_at=answered_at,
                **{q: SurveyAnswer(a) if a else None for q, a in answers.items()},
            )
        )
    session.commit()


def test_referrals_are_counted_by_source_status_and_reason_with_the_share_who_took_part(
    session, world
):
    me = world.facilitator.id
    add_referrals(session, me, 6, source="police", status="offered")
    add_referrals(session, me, 3, source="prison", status="declined", reason="not_ready")
    add_referrals(session, me, 2, source="prison", status="declined")  # no reason: none given
    add_referrals(session, me, 4, source="self", status="not_contacted")
    add_referrals(session, me, 1, source="self", status="referred")
    cases = add_cases(session, me, 5)
    add_referrals(
        session, me, 5, source="victim_services", status="took_part", case_ids=[c.id for c in cases]
    )
    # Outside the range, or of another kind when one is chosen.
    add_referrals(session, me, 7, received_on=TODAY - timedelta(days=400))
    add_referrals(session, me, 2, offence="fraud", status="offered")

    counts = dashboard.figures(session, world.facilitator, YEAR).counts
    assert counts["referrals.total"] == 23
    assert [counts[f"referrals.source.{s.value}"] for s in ReferralSource] == [8, 0, 5, 0, 5, 5]
    assert counts["referrals.status.offered"] == 8 and counts["referrals.status.declined"] == 5
    assert counts["referrals.status.not_contacted"] == 4
    assert counts["referrals.status.referred"] == 1 and counts["referrals.status.took_part"] == 5
    assert counts["referrals.declined.not_ready"] == 3
    assert counts["referrals.declined.no_reason_given"] == 2
    # Offered: offered, took part and declined; not "not yet offered" nor "not contacted".
    assert counts["referrals.offered_total"] == 18
    theft = Filter(YEAR.start, YEAR.end, OffenceCategory.THEFT)
    board = dashboard.dashboard(session, world.administrator, theft)
    assert board.cell("referrals.total").value == 21
    assert board.shares["referrals.took_part_share"].text == "31%"  # 5 of 16


def test_cases_count_by_state_and_outcome_and_free_text_is_another_offence(session, world):
    me = world.facilitator.id
    add_cases(session, me, 2, offence="burglary", state="closed", outcome="completed")
    add_cases(session, me, 1, offence="burglary", state="closed", outcome="withdrawn_by_victim")
    add_cases(session, me, 3, offence="a shed was broken into", state="preparing")
    add_cases(session, me, 4, offence="other", state="closed", outcome="completed")
    add_cases(session, me, 9, created=NOW - timedelta(days=500))

    everything = dashboard.figures(session, world.administrator, YEAR).counts
    # The world's own case is active and was opened today.
    assert everything["cases.total"] == 11
    assert everything["cases.state.closed"] == 7 and everything["cases.state.preparing"] == 3
    assert everything["cases.outcome.completed"] == 6
    assert everything["cases.outcome.withdrawn_by_victim"] == 1
    burglary = Filter(YEAR.start, YEAR.end, OffenceCategory.BURGLARY)
    counts = dashboard.figures(session, world.administrator, burglary).counts
    # The category's value, the world's case too (a case opened from a referral before
    # migration 0020 held the label: test_schema.py proves it now holds the value).
    assert counts["cases.total"] == 4
    other = Filter(YEAR.start, YEAR.end, OffenceCategory.OTHER)
    counts = dashboard.figures(session, world.administrator, other).counts
    assert counts["cases.total"] == 7 and counts["cases.state.preparing"] == 3


def test_letters_are_counted_once_by_how_their_review_went(session, settings, world):
    offender, victim, staff = world.offender, world.victim, world.facilitator
    case_id = world.case.id

    def sent(author, text="I am writing to say sorry for what I did.") -> int:
        return letters.send_letter(session, settings, author, case_id, None, text).id

    def claimed(letter_id):
        claims.open_for_review(session, staff, letter_id)
        return letter_id

    first_time = sent(offender)
    approve_as_reviewed(session, settings, staff, first_time)
    changed = claimed(sent(offender))
    letters.request_changes(session, settings, staff, changed, "Please say more.")
    letters.send_letter(session, settings, offender, case_id, changed, "I am sorry. More now.")
    approve_as_reviewed(session, settings, staff, changed)
    rejected = claimed(sent(offender))
    letters.reject_letter(session, settings, staff, rejected, "Not this one.")
    withdrawn = sent(offender)
    letters.withdraw_letter(session, offender, withdrawn)
    redacted = claimed(sent(victim, "How it affected me, and a street name."))
    letters.propose_redaction(
        session, settings, staff, redacted, "How it affected me.", "Took out a street."
    )
    letters.accept_redaction(session, settings, victim, redacted)
    approve_as_reviewed(session, settings, staff, redacted)
    asked_then_withdrawn = claimed(sent(victim))
    letters.request_changes(session, settings, staff, asked_then_withdrawn, "A little more?")
    letters.withdraw_letter(session, victim, asked_then_withdrawn)
    letters.save_draft(session, offender, case_id, None, "A draft is not written yet.")

    figures = dashboard.figures(session, staff, YEAR)
    counts = figures.counts
    assert counts["letters.written"] == 6
    assert counts["letters.approved_first_time"] == 1
    # Sent back then approved; a change suggested then approved. (Sent back then withdrawn
    # is withdrawn: each letter is in one row, so the rows add up to those written.)
    assert counts["letters.approved_after_changes"] == 2
    assert counts["letters.rejected"] == 1 and counts["letters.withdrawn"] == 2
    assert counts["letters.undecided"] == 0
    # Decided: three approved, one rejected; each a few moments after it was sent.
    review = next(t for t in figures.timings if t.key == "times.review")
    assert len(review.values) == counts["times.review.count"] == 4
    assert all(0 <= days < 0.01 for days in review.values)
    # Not first sent in the range: counted in another.
    earlier = Filter(TODAY - timedelta(days=30), TODAY - timedelta(days=1))
    assert dashboard.figures(session, staff, earlier).counts["letters.written"] == 0


def test_a_letter_first_sent_before_the_range_is_not_counted_when_sent_again_in_it(
    session, settings, world
):
    letter_id = letters.send_letter(session, settings, world.offender, world.case.id, None, "Hi").id
    version = session.scalars(
        select(LetterVersion).where(LetterVersion.letter_id == letter_id)
    ).one()
    version.submitted_at = NOW - timedelta(days=40)
    session.commit()
    letter = session.get(Letter, letter_id)
    assert letter.submitted_at >= NOW - timedelta(days=1)
    last_month = Filter(TODAY - timedelta(days=20), TODAY)
    assert dashboard.figures(session, world.facilitator, last_month).counts["letters.written"] == 0
    assert dashboard.figures(session, world.facilitator, YEAR).counts["letters.written"] == 1


def test_time_from_referral_to_the_first_letter_is_in_days(session, settings, world):
    session.add(
        Referral(
            received_on=TODAY - timedelta(days=10),
            source=ReferralSource.POLICE,
            offence_category=OffenceCategory.THEFT,
            status=ReferralStatus.TOOK_PART,
            recorded_by_id=world.facilitator.id,
            case_id=world.case.id,
        )
    )
    session.commit()
    letters.send_letter(session, settings, world.offender, world.case.id, None, "First.")
    letters.send_letter(session, settings, world.victim, world.case.id, None, "Second.")
    figures = dashboard.figures(session, world.facilitator, YEAR)
    first = next(t for t in figures.timings if t.key == "times.first_letter")
    assert first.values == (10.0,)
    assert dashboard.suppress(figures).timings[1].median.text == dashboard.FEWER


def test_survey_answers_are_counted_by_question_answer_and_role(session, world):
    case = world.case
    add_survey(session, case, Role.VICTIM, 6, satisfied="yes", felt_safe="yes", felt_heard="partly")
    add_survey(session, case, Role.VICTIM, 2, satisfied="no")
    add_survey(session, case, Role.OFFENDER, 5, would_recommend="yes")
    add_survey(session, case, Role.OFFENDER, 3, answered_at=NOW - timedelta(days=400))
    counts = dashboard.figures(session, world.administrator, YEAR).counts
    assert counts["answers.victim.total"] == 8 and counts["answers.offender.total"] == 5
    assert (
        counts["answers.satisfied.victim.yes"] == 6 and counts["answers.satisfied.victim.no"] == 2
    )
    assert counts["answers.felt_heard.victim.partly"] == 6
    assert counts["answers.felt_heard.victim.blank"] == 2
    assert counts["answers.would_recommend.offender.yes"] == 5
    assert counts["answers.satisfied.offender.blank"] == 5
    assert counts["answers.total"] == 13


def test_a_facilitator_sees_only_their_own_cases_and_referrals(session, settings, world):
    me = world.facilitator
    someone_else = other_facilitator(session, settings, world)
    theirs = add_cases(session, someone_else.id, 6, state="closed", outcome="completed")
    add_survey(session, theirs[0], Role.VICTIM, 5, satisfied="yes")
    add_referrals(session, someone_else.id, 6, status="took_part", case_ids=[c.id for c in theirs])
    mine = add_cases(session, me.id, 2, prefix="M")
    # A referral that became my case, recorded by someone else; and one I recorded.
    add_referrals(session, someone_else.id, 1, status="took_part", case_ids=[mine[0].id])
    add_referrals(session, me.id, 1, status="offered")

    counts = dashboard.figures(session, me, YEAR).counts
    assert counts["cases.total"] == 3  # the world's case and my two
    assert counts["cases.state.closed"] == 0 and counts["answers.total"] == 0
    assert counts["referrals.total"] == 2
    everything = dashboard.figures(session, world.administrator, YEAR).counts
    assert everything["cases.total"] == 9 and everything["referrals.total"] == 8
    assert dashboard.figures(session, someone_else, YEAR).counts["cases.total"] == 6


def test_parties_see_no_dashboard(session, world):
    with pytest.raises(NotAllowed):
        dashboard.figures(session, world.victim, YEAR)


def test_the_filter_defaults_to_the_last_12_months_and_refuses_a_start_after_its_end():
    default = dashboard.default_filter(date(2026, 11, 28))
    assert (default.start, default.end, default.offence) == (
        date(2025, 11, 29),
        date(2026, 11, 28),
        None,
    )
    assert dashboard.default_filter(date(2028, 2, 29)).start == date(2027, 3, 1)
    with pytest.raises(InvalidInput) as refused:
        dashboard.chosen_filter(date(2026, 5, 2), date(2026, 5, 1), "", date(2026, 11, 28))
    assert refused.value.field == "end"
    with pytest.raises(InvalidInput) as refused:
        dashboard.chosen_filter(None, None, "arson", date(2026, 11, 28))
    assert refused.value.field == "offence"
    one_day = dashboard.chosen_filter(
        date(2026, 5, 1), date(2026, 5, 1), "fraud", date(2026, 11, 28)
    )
    assert one_day == Filter(date(2026, 5, 1), date(2026, 5, 1), OffenceCategory.FRAUD)


def test_the_export_is_the_suppressed_figures_audited_with_its_filter(session, world):
    add_referrals(session, world.facilitator.id, 3, source="prison")
    add_referrals(session, world.facilitator.id, 12, source="police")
    add_referrals(session, world.facilitator.id, 8, source="self")
    chosen = Filter(YEAR.start, YEAR.end, OffenceCategory.THEFT)
    text = dashboard.export_csv(session, world.administrator, chosen)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(dashboard.CSV_HEADINGS)
    by_figure = {(row[0], row[2]): row[4] for row in rows[1:]}
    assert by_figure[("referrals_by_source", "Police")] == "12"
    assert by_figure[("referrals_by_source", "Prison")] == dashboard.FEWER
    # Else the total (23) less the other sources would give the 3 back.
    assert by_figure[("referrals_by_source", "Self-referral")] == dashboard.WITHHELD
    assert by_figure[("referrals_by_source", "Total")] == "23"
    assert by_figure[("Filter", "")] is not None
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "dashboard.exported")
    ).one()
    assert entry.case_id is None and entry.actor_id == world.administrator.id
    assert json.loads(entry.details) == {
        "start": YEAR.start.isoformat(),
        "end": YEAR.end.isoformat(),
        "offence_category": "theft",
    }


def test_the_figures_are_read_in_a_few_statements_through_indexes(session, world):
    """Aggregates, not rows: the same few statements at any size, and no table of the
    dashboard's read whole (referrals, cases, survey answers by their dates)."""
    from sqlalchemy import text

    from tests.services.test_indexes import caught

    add_referrals(session, world.facilitator.id, 30)
    add_cases(session, world.facilitator.id, 30)
    session.expire_all()
    with caught(session) as statements:
        dashboard.figures(session, world.administrator, YEAR)
    assert len(statements) <= 8
    connection = session.connection()
    unindexed = []
    watched = ("referrals", "cases", "survey_responses")
    for statement, parameters in statements:
        if connection.dialect.name == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            unindexed += [
                line
                for *_, line in plan.all()
                if any(
                    line.startswith(f"SCAN {table}") and "INDEX" not in line for table in watched
                )
            ]
        else:
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            unindexed += [
                line
                for (line,) in plan.all()
                if any(f"Seq Scan on {t} " in line + " " for t in watched)
            ]
    session.rollback()
    assert unindexed == []
