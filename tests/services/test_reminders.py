"""The review target and the facilitators' daily digest (relay/services/reminders.py).

Time is passed in as `now`. A letter's time of submission is the service's clock, which a
test cannot hand to `submit_letter`: the tests that need a date write it on the row.
"""

import dataclasses
import json
import re
import threading
import time
from datetime import date
from datetime import datetime

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from relay.database import transaction
from relay.models import AuditEntry
from relay.models import Case
from relay.models import Letter
from relay.models import LetterState
from relay.models import NoticePreference
from relay.models import OutboxMessage
from relay.models import ReceivePreference
from relay.models import Role
from relay.models import User
from relay.services import access
from relay.services import accounts
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from relay.services import outbox
from relay.services import reminders
from relay.services.reminders import Waiting
from relay.services.working_days import UK_TIME
from tests.factories import OTHER
from tests.factories import PEOPLE
from tests.factories import actor_for
from tests.web.test_constant_sql import counted

SAM = ("sam@relay.test", "Sam Jones", "correct horse sam jones")
NELL = ("nell@relay.test", "Nell Nocases", "correct horse nell nocases")
NEWCOMER = ("newcomer@relay.test", "Newton Comer")
CHANGES_TEXT = "I would like to say sorry for the fear I caused that night."
READING_TEXT = "I think of the garden often, and of the summer before."
CHRISTMAS_EVE = datetime(2026, 12, 24, 15, 0, tzinfo=UK_TIME)  # due Tuesday 5 January 2027
AFTER_BOXING_DAY = datetime(2026, 12, 29, 10, 0, tzinfo=UK_TIME)  # due Wednesday 6 January
# Wednesday 6 January 2027, before work: the Christmas Eve letter is a day past its due
# date, the one sent on 29 December is due today. Counting weekdays alone (25 and 28
# December and 1 January open), both would be overdue.
TWELFTH_NIGHT = datetime(2027, 1, 6, 7, 30, tzinfo=UK_TIME)


def _submitted_at(session, letter_id: int, moment: datetime) -> None:
    session.execute(update(Letter).where(Letter.id == letter_id).values(submitted_at=moment))
    session.commit()


def _new_mail(session, before: set[int]) -> list[OutboxMessage]:
    session.expire_all()
    return [
        message
        for message in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        if message.id not in before
    ]


def _outbox_ids(session) -> set[int]:
    return set(session.scalars(select(OutboxMessage.id)))


def _runs(session) -> list[dict]:
    session.expire_all()
    return [
        json.loads(details)
        for details in session.scalars(
            select(AuditEntry.details)
            .where(AuditEntry.action == reminders.REMINDERS_SENT)
            .order_by(AuditEntry.sequence)
        )
    ]


def _facilitator_b(session, settings):
    return actor_for(session, settings, *OTHER["other_facilitator"][::2])


@pytest.fixture
def desk(session, settings, world, two_cases):
    """Case A (the world's facilitator, and Sam beside them), case B (another facilitator)
    and case C (the world's facilitator alone, a party invited who has not signed up),
    with something of each kind waiting, and Nell, a facilitator with no cases."""
    case_a, case_b = two_cases
    # Sam works on case A beside its facilitator.
    token = invitations.invite_staff(
        session, settings, world.administrator, email=SAM[0], name=SAM[1]
    )
    invitations.accept_invitation(session, settings, token=token, password=SAM[2])
    access.add_facilitator(session, world.facilitator, world.case.id, SAM[0])
    token = invitations.invite_staff(
        session, settings, world.administrator, email=NELL[0], name=NELL[1]
    )
    invitations.accept_invitation(session, settings, token=token, password=NELL[2])
    # Case A: a letter back with its writer for changes; its letter in review overdue.
    back = letters.save_draft(session, world.offender, world.case.id, None, CHANGES_TEXT)
    letters.submit_letter(session, settings, world.offender, back.id)
    letters.request_changes(session, settings, world.facilitator, back.id, "A little shorter.")
    _submitted_at(session, case_a.review_letter, CHRISTMAS_EVE)
    # Case B: a reading to arrange; its letter in review within the target.
    other = _facilitator_b(session, settings)
    b_victim = actor_for(session, settings, *OTHER["other_victim"][::2])
    b_offender = actor_for(session, settings, *OTHER["other_offender"][::2])
    cases.set_receiving(session, settings, b_victim, case_b.case_id, preference="with_facilitator")
    reading = letters.save_draft(session, b_offender, case_b.case_id, None, READING_TEXT)
    letters.submit_letter(session, settings, b_offender, reading.id)
    letters.approve_letter(session, settings, other, reading.id)
    _submitted_at(session, case_b.review_letter, AFTER_BOXING_DAY)
    # Case C: an invitation not yet accepted.
    case_c = cases.open_case(
        session, world.facilitator, reference="RJ-2026-777", offence_category="criminal_damage"
    )
    cases.invite_party(
        session,
        settings,
        world.facilitator,
        case_c.id,
        role=Role.VICTIM,
        email=NEWCOMER[0],
        name=NEWCOMER[1],
        display_name="Newt",
    )
    return {
        "a": world.facilitator.id,
        "sam": actor_for(session, settings, SAM[0], SAM[2]).id,
        "b": other.id,
        "nell": actor_for(session, settings, NELL[0], NELL[2]).id,
        "references": [world.case.reference, "RJ-B", case_c.reference],
    }


# --- how long a letter has waited ---------------------------------------------------------


def test_review_age_counts_working_days_across_christmas(settings):
    age = reminders.review_age(CHRISTMAS_EVE, settings, TWELFTH_NIGHT)
    # 29, 30, 31 December, 4, 5 and (begun) 6 January: 25 and 28 December and 1 January
    # are closed.
    assert age == reminders.ReviewAge(working_days=6, due=date(2027, 1, 5), overdue=True)
    # On its due day a letter has waited the target, and is not yet overdue.
    later = reminders.review_age(AFTER_BOXING_DAY, settings, TWELFTH_NIGHT)
    assert later == reminders.ReviewAge(working_days=5, due=date(2027, 1, 6), overdue=False)


def test_review_age_follows_the_configured_target_and_bank_holidays(settings):
    longer = dataclasses.replace(settings, review_target_working_days=10)
    assert not reminders.review_age(CHRISTMAS_EVE, longer, TWELFTH_NIGHT).overdue
    # In Scotland 28 December and 4 January are bank holidays, and Christmas Eve's letter
    # is due on 6 January.
    scotland = dataclasses.replace(settings, bank_holidays_subdivision="SCT")
    age = reminders.review_age(CHRISTMAS_EVE, scotland, TWELFTH_NIGHT)
    assert age == reminders.ReviewAge(working_days=5, due=date(2027, 1, 6), overdue=False)


# --- what waits for whom ------------------------------------------------------------------


def test_each_facilitator_counts_what_waits_in_their_own_cases(session, settings, desk):
    waiting = reminders.waiting_in_cases(session, settings, TWELFTH_NIGHT)
    assert waiting == {
        desk["a"]: Waiting(overdue=1, in_review=0, with_author=1, readings=0, invitations=1),
        desk["sam"]: Waiting(overdue=1, in_review=0, with_author=1, readings=0, invitations=0),
        desk["b"]: Waiting(overdue=0, in_review=1, with_author=0, readings=1, invitations=0),
    }


def test_the_overdue_count_agrees_with_review_age_row_by_row(session, settings, desk):
    for now in (TWELFTH_NIGHT, TWELFTH_NIGHT.replace(day=5), TWELFTH_NIGHT.replace(day=7)):
        counted_overdue = sum(
            counts.overdue
            for user_id, counts in reminders.waiting_in_cases(session, settings, now).items()
            if user_id in (desk["a"], desk["b"])
        )
        in_review = session.scalars(
            select(Letter.submitted_at).where(Letter.state == LetterState.IN_REVIEW)
        ).all()
        assert counted_overdue == sum(
            reminders.review_age(submitted, settings, now).overdue for submitted in in_review
        )


def test_a_closed_case_waits_for_nobody(session, settings, world):
    case_c = cases.open_case(
        session, world.facilitator, reference="RJ-2026-778", offence_category="theft"
    )
    cases.invite_party(
        session,
        settings,
        world.facilitator,
        case_c.id,
        role=Role.VICTIM,
        email=NEWCOMER[0],
        name=NEWCOMER[1],
        display_name="Newt",
    )
    assert reminders.waiting_in_cases(session, settings, TWELFTH_NIGHT) == {
        world.facilitator.id: Waiting(invitations=1)
    }
    cases.close_case(session, world.facilitator, case_c.id, "ended_by_facilitator")
    assert reminders.waiting_in_cases(session, settings, TWELFTH_NIGHT) == {}


# --- the digest ---------------------------------------------------------------------------


def test_the_digest_goes_to_each_facilitator_with_something_waiting(session, settings, desk):
    before = _outbox_ids(session)
    run = reminders.send_digests(session, settings, TWELFTH_NIGHT)
    assert (run.digests, run.skipped, run.day.isoformat()) == (3, "", "2027-01-06")
    mail = _new_mail(session, before)
    emails = {
        "a": PEOPLE["facilitator"][0],
        "sam": SAM[0],
        "b": OTHER["other_facilitator"][0],
    }
    assert sorted(message.recipient for message in mail) == sorted(emails.values())
    assert NELL[0] not in [message.recipient for message in mail]
    bodies = {m.recipient: outbox.read_body(settings.outbox_key, m) for m in mail}
    assert "Letters waiting for review longer than 5 working days: 1" in bodies[emails["a"]]
    assert "People invited who have not yet set up their account: 1" in bodies[emails["a"]]
    assert "People invited who have not yet set up their account: 0" in bodies[emails["sam"]]
    assert "Other letters waiting for review: 1" in bodies[emails["b"]]
    assert "Readings to arrange: 1" in bodies[emails["b"]]
    for body in bodies.values():
        assert "Wednesday 6 January 2027" in body
        assert settings.link("/review/") in body
    assert _runs(session) == [{"day": "2027-01-06", "digests": 3}]


def test_the_digest_carries_numbers_only(session, settings, desk):
    before = _outbox_ids(session)
    reminders.send_digests(session, settings, TWELFTH_NIGHT)
    # Each person's name, and each word of it ("Other Victim" only whole: "Other letters"
    # is the digest's own wording).
    names = [name for _email, name, _password in PEOPLE.values()]
    names += [SAM[1], NELL[1], NEWCOMER[1]]
    names += [word for name in names for word in name.split()]
    names += [name for _email, name, _password in OTHER.values()] + ["Jo", "Chris", "Newt"]
    texts = [CHANGES_TEXT, READING_TEXT, "In review.", "To the offender.", "To the victim."]
    texts += ["A little shorter.", "burglary", "robbery", "criminal damage"]
    forbidden = [*names, *texts, *desk["references"]]
    forbidden += [email for email, _name, _password in {**PEOPLE, **OTHER}.values()]
    mail = _new_mail(session, before)
    assert len(mail) == 3
    for message in mail:
        assert message.subject == reminders.DIGEST_SUBJECTS[NoticePreference.STANDARD]
        body = outbox.read_body(settings.outbox_key, message)
        assert "RJ" not in body
        for word in forbidden:
            pattern = r"(?<!\w)" + re.escape(word) + r"(?!\w)"
            assert not re.search(pattern, message.subject + body, re.IGNORECASE), (word, body)
        # Beyond the fixed text: the day, the target, the counts and the link, no more.
        assert re.sub(r"\d+", "N", body) == re.sub(
            r"\d+", "N", reminders.digest_body(Waiting(), settings, TWELFTH_NIGHT.date())
        )


def test_nobody_with_nothing_waiting_gets_an_e_mail(session, settings, world):
    # The world's case: every party signed up, no letter anywhere.
    before = _outbox_ids(session)
    run = reminders.send_digests(session, settings, TWELFTH_NIGHT)
    assert (run.digests, run.skipped) == (0, "")
    assert _new_mail(session, before) == []
    assert _runs(session) == [{"day": "2027-01-06", "digests": 0}]


def test_a_facilitator_who_chose_no_e_mail_gets_no_digest_and_discreet_a_discreet_one(
    session, settings, world, desk
):
    accounts.set_notice_preference(session, world.facilitator, "none")
    sam = actor_for(session, settings, SAM[0], SAM[2])
    accounts.set_notice_preference(session, sam, "discreet")
    before = _outbox_ids(session)
    run = reminders.send_digests(session, settings, TWELFTH_NIGHT)
    mail = {message.recipient: message.subject for message in _new_mail(session, before)}
    assert run.digests == 2
    assert mail == {
        SAM[0]: "A daily summary from your account",
        OTHER["other_facilitator"][0]: "Relay: what is waiting for you today",
    }


def test_a_second_run_the_same_day_sends_nothing_and_the_next_working_day_sends_again(
    session, settings, desk
):
    before = _outbox_ids(session)
    assert reminders.send_digests(session, settings, TWELFTH_NIGHT).digests == 3
    again = reminders.send_digests(session, settings, TWELFTH_NIGHT.replace(hour=16))
    assert (again.digests, again.skipped) == (0, "today's digests were sent already")
    assert len(_new_mail(session, before)) == 3
    assert _runs(session) == [{"day": "2027-01-06", "digests": 3}]
    following = reminders.send_digests(session, settings, TWELFTH_NIGHT.replace(day=7))
    assert (following.digests, following.skipped) == (3, "")
    assert len(_new_mail(session, before)) == 6
    assert [run["day"] for run in _runs(session)] == ["2027-01-06", "2027-01-07"]


@pytest.mark.parametrize(
    "day",
    [
        datetime(2027, 1, 9, 7, 30, tzinfo=UK_TIME),  # a Saturday
        datetime(2026, 12, 28, 7, 30, tzinfo=UK_TIME),  # Boxing Day's substitute Monday
        datetime(2027, 5, 3, 7, 30, tzinfo=UK_TIME),  # the early May bank holiday
    ],
    ids=["saturday", "boxing-day-substitute", "early-may"],
)
def test_nothing_is_sent_on_a_weekend_or_a_bank_holiday(session, settings, desk, day):
    before = _outbox_ids(session)
    run = reminders.send_digests(session, settings, day)
    assert (run.digests, run.skipped) == (0, "not a working day")
    assert _new_mail(session, before) == []
    assert _runs(session) == []


def test_a_disabled_facilitator_gets_no_digest(session, settings, desk):
    # No service disables a facilitator yet (issue 9, item 7): the row is changed by hand.
    session.execute(update(User).where(User.id == desk["sam"]).values(disabled=True))
    session.commit()
    assert reminders.send_digests(session, settings, TWELFTH_NIGHT).digests == 2


# --- a fixed number of questions ----------------------------------------------------------


def _bulk_letters(session, world, count: int) -> None:
    """`count` letters in the world's case, in every state the digest counts, inserted as
    rows (through the services each would cost keys, seals and audit entries)."""
    case = session.get(Case, world.case.id)
    author, recipient = (
        next(p for p in case.participants if p.role == role)
        for role in (Role.OFFENDER, Role.VICTIM)
    )
    recipient.receive_preference = ReceivePreference.WITH_FACILITATOR
    kinds = [
        (LetterState.IN_REVIEW, CHRISTMAS_EVE),
        (LetterState.IN_REVIEW, AFTER_BOXING_DAY),
        (LetterState.CHANGES_REQUESTED, CHRISTMAS_EVE),
        (LetterState.REDACTION_PROPOSED, CHRISTMAS_EVE),
        (LetterState.APPROVED, CHRISTMAS_EVE),
    ]
    session.add_all(
        Letter(
            case=case,
            author=author,
            recipient=recipient,
            state=kinds[index % len(kinds)][0],
            submitted_at=kinds[index % len(kinds)][1],
        )
        for index in range(count)
    )
    session.commit()


def test_the_digest_asks_as_many_questions_for_100_letters_as_for_10(app, session, settings, world):
    _bulk_letters(session, world, 10)
    with counted(app) as small:
        first = reminders.send_digests(session, settings, TWELFTH_NIGHT.replace(day=5))
    _bulk_letters(session, world, 90)
    with counted(app) as large:
        second = reminders.send_digests(session, settings, TWELFTH_NIGHT)
    assert first.digests == second.digests == 1
    assert len(small) == len(large), (small, large)
    counts = reminders.waiting_in_cases(session, settings, TWELFTH_NIGHT)[world.facilitator.id]
    assert counts == Waiting(overdue=20, in_review=20, with_author=40, readings=20)
    assert session.scalar(select(func.count()).select_from(Letter)) == 100


# --- two runs at once ---------------------------------------------------------------------


@pytest.mark.only_on("postgresql", "SQLite has one writer: two runs cannot overlap")
def test_two_runs_at_once_send_one_set_of_digests(app, session, settings, desk):
    """The first run holds the audit chain's lock until it commits; the second waits for
    it, then finds today's entry and stands down."""
    sessions = app.extensions["relay.sessionmaker"]
    before = _outbox_ids(session)
    session.rollback()
    second: list[reminders.DigestRun] = []
    with sessions() as first_session, transaction(first_session):
        # Inside an outer block the run's own transaction does not commit: it holds the
        # lock until this block ends.
        first = reminders.send_digests(first_session, settings, TWELFTH_NIGHT)
        racer = threading.Thread(
            target=lambda: second.append(_run_alone(sessions, settings, TWELFTH_NIGHT))
        )
        racer.start()
        _wait_for_a_lock_wait(first_session)
    racer.join(timeout=30)
    assert first.digests == 3
    assert second == [
        reminders.DigestRun(TWELFTH_NIGHT.date(), skipped="today's digests were sent already")
    ]
    assert len(_new_mail(session, before)) == 3
    assert _runs(session) == [{"day": "2027-01-06", "digests": 3}]


def _run_alone(sessions, settings, now) -> reminders.DigestRun:
    with sessions() as own:
        return reminders.send_digests(own, settings, now)


def _wait_for_a_lock_wait(watching) -> None:
    """Until another connection waits for a lock (the second run, on the audit head)."""
    engine = watching.get_bind()
    for _ in range(300):
        with engine.connect() as connection:
            waiting = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the second run never waited for the first")


def test_a_risk_review_past_its_date_waits_for_the_cases_facilitators(
    session, settings, world, desk
):
    """As the desk lists them (cases.risk_reviews_due): a person still in an open case whose
    review date has passed, by the service's calendar day."""
    victim = next(p for p in world.case.participants if p.role == Role.VICTIM)
    victim.risk_review_on = date(2027, 1, 5)  # the day before TWELFTH_NIGHT
    session.commit()
    waiting = reminders.waiting_in_cases(session, settings, TWELFTH_NIGHT)
    assert waiting[desk["a"]].risk_reviews == 1
    assert waiting[desk["sam"]].risk_reviews == 1
    assert waiting[desk["b"]].risk_reviews == 0
    body = reminders.digest_body(waiting[desk["a"]], settings, date(2027, 1, 6))
    assert "- Risk assessments past their review date: 1" in body
    # On its review date it is not yet past.
    on_the_day = reminders.waiting_in_cases(session, settings, TWELFTH_NIGHT.replace(day=5))
    assert on_the_day[desk["a"]].risk_reviews == 0
    # A person who withdrew is reviewed no more.
    victim.withdrawn_at = TWELFTH_NIGHT
    session.commit()
    assert reminders.waiting_in_cases(session, settings, TWELFTH_NIGHT)[desk["a"]].risk_reviews == 0
