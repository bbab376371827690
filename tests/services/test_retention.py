"""The retention run: closed cases crypto-shredded once their period is over, one case per
transaction, each audited, their metadata and counts kept; and its commands."""

import json
from datetime import UTC
from datetime import date
from datetime import datetime

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from relay.models import AuditEntry
from relay.models import Case
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import NoteSeal
from relay.models import PaperScan
from relay.models import SealedNote
from relay.models import utcnow
from relay.services import cases
from relay.services import content_keys
from relay.services import retention
from tests.factories import OTHER
from tests.factories import actor_for

# Case A (the world's) closed on a leap day, case B a year later; with the default period
# of two years A falls due on 1 March 2026 and B on 1 March 2027.
CLOSED_A = datetime(2024, 2, 29, 16, 30, tzinfo=UTC)
CLOSED_B = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _closed_on(session, case_id: int, when: datetime) -> None:
    # Tampering on purpose: a case closed years ago, without waiting years.
    session.execute(update(Case).where(Case.id == case_id).values(closed_at=when))
    session.commit()


@pytest.fixture
def closed(session, settings, world, two_cases):
    """Both cases of `two_cases` closed, A on CLOSED_A and B on CLOSED_B."""
    case_a, case_b = two_cases
    other = actor_for(session, settings, *OTHER["other_facilitator"][::2])
    for facilitator, case_id in ((world.facilitator, case_a.case_id), (other, case_b.case_id)):
        cases.add_case_note(session, facilitator, case_id, "A note to be forgotten.")
        cases.close_case(session, facilitator, case_id, "completed")
    _closed_on(session, case_a.case_id, CLOSED_A)
    _closed_on(session, case_b.case_id, CLOSED_B)
    return case_a.case_id, case_b.case_id


def _texts_of(session, case_id: int) -> dict[str, int]:
    """How many ciphertexts and seals the case still holds, by kind."""
    versions = (
        select(LetterVersion.id)
        .join(Letter, LetterVersion.letter_id == Letter.id)
        .where(Letter.case_id == case_id)
    )
    notes = select(SealedNote.id).where(SealedNote.case_id == case_id)
    return {
        "versions": session.scalar(
            select(func.count())
            .select_from(LetterVersion)
            .where(LetterVersion.id.in_(versions), LetterVersion.ciphertext.is_not(None))
        ),
        "version seals": session.scalar(
            select(func.count())
            .select_from(ContentKeySeal)
            .where(ContentKeySeal.version_id.in_(versions))
        ),
        "notes": session.scalar(
            select(func.count())
            .select_from(SealedNote)
            .where(SealedNote.case_id == case_id, SealedNote.ciphertext.is_not(None))
        ),
        "note seals": session.scalar(
            select(func.count()).select_from(NoteSeal).where(NoteSeal.note_id.in_(notes))
        ),
        "scans": session.scalar(
            select(func.count())
            .select_from(PaperScan)
            .where(PaperScan.case_id == case_id, PaperScan.ciphertext.is_not(None))
        ),
    }


def _metadata_of(session, case_id: int) -> dict:
    """What the dashboard counts: the case, its letters and their states, its versions,
    scans and notes as rows, and its audit trail."""
    case = session.get(Case, case_id)
    return {
        "case": (case.reference, case.state, case.outcome, case.closed_at),
        "letters": sorted(
            (letter.id, letter.state)
            for letter in session.scalars(select(Letter).where(Letter.case_id == case_id))
        ),
        "versions": session.scalar(
            select(func.count())
            .select_from(LetterVersion)
            .join(Letter, LetterVersion.letter_id == Letter.id)
            .where(Letter.case_id == case_id)
        ),
        "scans": session.scalar(
            select(func.count()).select_from(PaperScan).where(PaperScan.case_id == case_id)
        ),
        "notes": session.scalar(
            select(func.count()).select_from(SealedNote).where(SealedNote.case_id == case_id)
        ),
        "audit": session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.case_id == case_id)
            .order_by(AuditEntry.sequence)
        ).all(),
    }


def _shredded_entries(session) -> list[AuditEntry]:
    return session.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.shredded").order_by(AuditEntry.sequence)
    ).all()


def test_due_lists_closed_cases_whose_period_ends_within_the_window_with_the_day(
    session, settings, closed
):
    case_a, case_b = closed
    # 30 days before A falls due (1 March 2026): A is listed, with its day.
    listed = retention.due(session, settings, today=date(2026, 1, 30))
    assert [(c.case_id, c.closed_on, c.falls_due) for c in listed] == [
        (case_a, date(2024, 2, 29), date(2026, 3, 1))
    ]
    # A day earlier it is outside the 30 days.
    assert retention.due(session, settings, today=date(2026, 1, 29)) == []
    # A year later both, oldest first.
    listed = retention.due(session, settings, today=date(2027, 2, 1))
    assert [c.case_id for c in listed] == [case_a, case_b]
    assert retention.due(session, settings, within_days=0, today=date(2027, 2, 1)) == [listed[0]]


def test_due_is_one_query_however_many_cases(session, settings, closed, app):
    from sqlalchemy import event

    statements = []
    engine = app.extensions["relay.engine"]

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        session.expire_all()
        assert len(retention.due(session, settings, today=date(2027, 3, 1))) == 2
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1


def test_an_open_case_is_never_due_however_old(session, settings, two_cases):
    # Both cases are active; they were opened "years ago" as far as any date goes.
    assert retention.due(session, settings, today=date(2099, 1, 1)) == []
    assert retention.purge(session, settings, today=date(2099, 1, 1)).shredded == []
    assert _texts_of(session, two_cases[0].case_id)["versions"] > 0


def test_purge_shreds_only_expired_closed_cases_and_keeps_their_metadata(session, settings, closed):
    case_a, case_b = closed
    held_a = _texts_of(session, case_a)
    # The world built each kind the run must shred: letters, their seals, notes, scans.
    assert all(held_a[kind] > 0 for kind in ("versions", "version seals", "notes", "scans"))
    before_a, held_b = _metadata_of(session, case_a), _texts_of(session, case_b)
    before_b = _metadata_of(session, case_b)

    # The day before A falls due, nothing; on the day itself, A and only A.
    assert retention.purge(session, settings, today=date(2026, 2, 28)).shredded == []
    assert _texts_of(session, case_a) == held_a
    run = retention.purge(session, settings, today=date(2026, 3, 1))

    reference_a = session.get(Case, case_a).reference
    assert [(p.reference, p.texts) for p in run.shredded] == [
        (reference_a, held_a["versions"] + held_a["notes"] + held_a["scans"])
    ]
    session.expire_all()
    assert _texts_of(session, case_a) == dict.fromkeys(held_a, 0)
    assert _texts_of(session, case_b) == held_b
    assert session.get(Case, case_a).shredded_at is not None
    assert session.get(Case, case_b).shredded_at is None
    # Everything counted stays: the case, its letters in their states, the rows, the trail
    # (with one entry more: the shredding itself).
    after_a = _metadata_of(session, case_a)
    assert after_a["audit"] == [*before_a["audit"], "case.shredded"]
    assert {**after_a, "audit": None} == {**before_a, "audit": None}
    assert _metadata_of(session, case_b) == before_b


def test_each_purge_is_audited_as_the_retention_run_by_relay(session, settings, closed):
    case_a, _case_b = closed
    retention.purge(session, settings, today=date(2026, 3, 1))
    [entry] = _shredded_entries(session)
    assert entry.case_id == case_a
    assert entry.actor_id is None
    details = json.loads(entry.details)
    assert details["by"] == "retention"
    assert details["texts"] > 0


def test_a_second_run_passes_over_what_is_done(session, settings, closed):
    case_a, case_b = closed
    first = retention.purge(session, settings, today=date(2027, 3, 1))
    assert [p.case_id for p in first.shredded] == [case_a, case_b]
    again = retention.purge(session, settings, today=date(2027, 3, 1))
    assert again.shredded == []
    assert len(_shredded_entries(session)) == 2
    # And a shredded case is no longer listed as due.
    assert retention.due(session, settings, today=date(2027, 3, 1)) == []


def test_a_case_shredded_by_hand_is_not_shredded_again(session, settings, closed):
    case_a, _case_b = closed
    cases.shred_case(session, case_a)
    assert retention.purge(session, settings, today=date(2026, 3, 1)).shredded == []
    [entry] = _shredded_entries(session)
    assert "by" not in json.loads(entry.details)


def test_an_interrupted_run_leaves_each_case_whole_and_the_next_run_finishes(
    session, settings, closed, monkeypatch
):
    case_a, case_b = closed
    held_b = _texts_of(session, case_b)
    real_shred = content_keys.shred
    calls = []

    def shred_then_fail_on_the_second(session, case):
        calls.append(case.id)
        shredded = real_shred(session, case)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the operator's Ctrl-C, mid-case
        return shredded

    monkeypatch.setattr(content_keys, "shred", shred_then_fail_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        retention.purge(session, settings, today=date(2027, 3, 1))
    session.expire_all()
    assert calls == [case_a, case_b]
    assert session.get(Case, case_a).shredded_at is not None
    assert _texts_of(session, case_a)["versions"] == 0
    # B is untouched: every text, every seal, no shredded mark, no entry.
    assert session.get(Case, case_b).shredded_at is None
    assert _texts_of(session, case_b) == held_b
    assert [e.case_id for e in _shredded_entries(session)] == [case_a]

    monkeypatch.setattr(content_keys, "shred", real_shred)
    rerun = retention.purge(session, settings, today=date(2027, 3, 1))
    assert [p.case_id for p in rerun.shredded] == [case_b]
    assert _texts_of(session, case_b) == dict.fromkeys(held_b, 0)
    assert [e.case_id for e in _shredded_entries(session)] == [case_a, case_b]


def test_the_period_is_the_services_own(session, settings, closed):
    from dataclasses import replace

    case_a, _case_b = closed
    six_years = replace(settings, retention_years=6)
    assert retention.due(session, six_years, today=date(2027, 3, 1)) == []
    assert retention.purge(session, six_years, today=date(2027, 3, 1)).shredded == []
    [listed] = retention.due(session, six_years, today=date(2030, 2, 1))
    assert (listed.case_id, listed.falls_due) == (case_a, date(2030, 3, 1))


# --- the commands ---------------------------------------------------------------------


def test_retention_due_command_lists_references_and_days_never_content(runner, session, closed):
    case_a, case_b = closed
    reference_a = session.get(Case, case_a).reference
    reference_b = session.get(Case, case_b).reference
    # Today A is long past its day (1 March 2026); B falls due on 1 March 2027.
    _closed_on(session, case_b, utcnow())
    result = runner.invoke(args=["retention", "due"])
    assert result.exit_code == 0, result.output
    assert "1 closed case(s)" in result.output
    assert reference_a in result.output and "closed 2024-02-29" in result.output
    assert "due 2026-03-01" in result.output
    assert reference_b not in result.output
    # Looking far enough ahead, B too.
    ahead = runner.invoke(args=["retention", "due", "--days", str(2 * 366 + 1)])
    assert "2 closed case(s)" in ahead.output and reference_b in ahead.output
    assert "In review." not in result.output and "To the victim." not in result.output


def test_retention_due_command_says_when_nothing_is_due(runner, world):
    result = runner.invoke(args=["retention", "due"])
    assert result.exit_code == 0, result.output
    assert "No closed case falls due" in result.output


def test_retention_purge_command_shreds_what_is_due_and_a_rerun_does_nothing(
    runner, session, closed
):
    case_a, case_b = closed
    _closed_on(session, case_b, datetime(2023, 6, 1, 12, 0, tzinfo=UTC))  # both long past
    result = runner.invoke(args=["retention", "purge"])
    assert result.exit_code == 0, result.output
    assert "shredded 2 case(s)" in result.output
    assert session.get(Case, case_a).reference in result.output
    session.expire_all()
    assert session.get(Case, case_a).shredded_at is not None
    assert session.get(Case, case_b).shredded_at is not None
    assert _texts_of(session, case_b)["versions"] == 0
    again = runner.invoke(args=["retention", "purge"])
    assert again.exit_code == 0, again.output
    assert "nothing to shred" in again.output
    assert len(_shredded_entries(session)) == 2
