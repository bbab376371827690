"""Two answers to one party's closing survey at once, on PostgreSQL (relay/services/
survey.py `_record`): a double click, two tabs, or the party answering online while their
facilitator enters the printed form. One survey is kept, with its one comment and its one
audit entry; the other is refused in words (a 409 on the pages), never a 500.

Two things keep it to one: the party's row is locked before the "not answered yet"
check, so the second waits and then sees the first; and the unique participant id, whose
violation is mapped to the same refusal. Without both, the loser is a 500 (a
UniqueViolation), which these tests catch; each alone passes them."""

import pytest
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import CaseParticipant
from relay.models import NoteKind
from relay.models import NoteSeal
from relay.models import Role
from relay.models import SealedNote
from relay.models import SurveyResponse
from relay.services import cases
from relay.services import survey
from relay.services.errors import InvalidTransition
from tests.concurrency.harness import race
from tests.factories import PEOPLE
from tests.factories import actor_for

pytestmark = pytest.mark.slow

ROUNDS = 5


def _answering(app, settings, role: str, case_id: int, comment: str):
    """The party answers for themselves, in a session of their own."""

    def act(ready):
        with app.extensions["relay.sessionmaker"]() as own:
            email, _name, password = PEOPLE[role]
            actor = actor_for(own, settings, email, password)
            ready.wait()
            return survey.answer_survey(own, actor, case_id, satisfied="yes", comment=comment).id

    return act


def _counts(session, case_id: int) -> tuple[int, int, int]:
    session.expire_all()
    responses = session.scalar(
        select(func.count()).select_from(SurveyResponse).where(SurveyResponse.case_id == case_id)
    )
    comments = session.scalar(
        select(func.count())
        .select_from(SealedNote)
        .where(SealedNote.case_id == case_id, SealedNote.kind == NoteKind.SURVEY_COMMENT)
    )
    entries = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "survey.answered", AuditEntry.case_id == case_id)
    )
    return responses, comments, entries


def _forget(session, case_id: int) -> None:
    """Tampering on purpose, between rounds: the survey unanswered again (its row and its
    comment), so the next round races on the same party."""
    session.execute(delete(SurveyResponse).where(SurveyResponse.case_id == case_id))
    notes = select(SealedNote.id).where(SealedNote.case_id == case_id)
    session.execute(delete(NoteSeal).where(NoteSeal.note_id.in_(notes)))
    session.execute(delete(SealedNote).where(SealedNote.case_id == case_id))
    # The trail stays as it is (append-only): each round counts its own entries.
    session.commit()


def test_two_answers_at_once_keep_one_survey(app, session, settings, world):
    case_id = world.case.id
    cases.close_case(session, world.facilitator, case_id, "completed")
    for round_number in range(ROUNDS):
        _, _, entries_before = _counts(session, case_id)
        results = race(
            _answering(app, settings, "victim", case_id, f"first {round_number}"),
            _answering(app, settings, "victim", case_id, f"second {round_number}"),
        )
        kept = [r for r in results if isinstance(r, int)]
        refused = [r for r in results if isinstance(r, InvalidTransition)]
        assert len(kept) == 1 and len(refused) == 1, results
        assert str(refused[0]) == survey.ALREADY_ANSWERED
        responses, comments, entries = _counts(session, case_id)
        assert (responses, comments, entries - entries_before) == (1, 1, 1)
        _forget(session, case_id)


def test_the_party_online_and_the_paper_form_at_once_keep_one(server, session, settings, world):
    """Through the pages, on gunicorn: a party on paper who still has their account sends
    their answers while their facilitator enters the printed form (a form is entered only
    for a party on paper or without an account). One is kept; the other page says why."""
    case_id = world.case.id
    victim_id = session.scalar(
        select(CaseParticipant.id).where(
            CaseParticipant.case_id == case_id, CaseParticipant.role == Role.VICTIM
        )
    )
    cases.set_on_paper(session, settings, world.facilitator, case_id, victim_id, True)
    cases.close_case(session, world.facilitator, case_id, "completed")
    party = server.sign_in(*PEOPLE["victim"][::2])
    facilitator = server.sign_in(*PEOPLE["facilitator"][::2])
    unhandled = server.unhandled_errors()
    for round_number in range(ROUNDS):
        _, _, entries_before = _counts(session, case_id)
        online, on_paper = race(
            lambda ready, n=round_number: party.post(
                f"/my/cases/{case_id}/survey",
                {"satisfied": "yes", "comment": f"online {n}"},
                ready=ready,
            ),
            lambda ready, n=round_number: facilitator.post(
                f"/cases/{case_id}/survey/{victim_id}",
                {"satisfied": "no", "comment": f"paper {n}"},
                ready=ready,
            ),
        )
        statuses = sorted([online.status, on_paper.status])
        assert statuses == [302, 409], (online, on_paper)
        loser = online if online.status == 409 else on_paper
        expected = survey.ALREADY_ANSWERED if loser is online else survey.ALREADY_ENTERED
        assert expected in loser.body
        responses, comments, entries = _counts(session, case_id)
        assert (responses, comments, entries - entries_before) == (1, 1, 1)
        kept = session.scalar(select(SurveyResponse))
        assert kept.from_paper == (on_paper.status == 302)
        _forget(session, case_id)
    assert server.unhandled_errors() == unhandled, server.log_tail()
