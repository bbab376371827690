"""The survey at closing (relay/services/survey.py): each party answers once, for
themselves, after the case closes; a facilitator of the case enters a printed form; the
comment is sealed to the team and its writer, never in clear, and shredded with the case
while the answers stay for the dashboard."""

import json
from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from relay import keyring
from relay.models import AuditEntry
from relay.models import Case
from relay.models import NoteKind
from relay.models import NoteSeal
from relay.models import Role
from relay.models import SealedNote
from relay.models import SurveyAnswer
from relay.models import SurveyResponse
from relay.services import access
from relay.services import cases
from relay.services import keys
from relay.services import limits
from relay.services import my_data
from relay.services import retention
from relay.services import survey
from relay.services import timeline
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from tests import paper
from tests.factories import OTHER
from tests.factories import actor_for

COMMENT = "My facilitator listened; the wait for the reply was hard."


def _close(session, world) -> int:
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    return world.case.id


def _responses(session) -> int:
    return session.scalar(select(func.count()).select_from(SurveyResponse))


def test_a_party_answers_once_the_case_has_closed_and_the_comment_is_sealed(session, world):
    case_id = _close(session, world)

    response = survey.answer_survey(
        session,
        world.victim,
        case_id,
        satisfied="yes",
        felt_safe="partly",
        felt_heard="",
        would_recommend="no",
        comment=COMMENT,
    )

    session.expire_all()
    kept = session.get(SurveyResponse, response.id)
    assert (kept.satisfied, kept.felt_safe, kept.felt_heard, kept.would_recommend) == (
        SurveyAnswer.YES,
        SurveyAnswer.PARTLY,
        None,
        SurveyAnswer.NO,
    )
    assert kept.role == Role.VICTIM and not kept.from_paper
    assert kept.entered_by_id == world.victim.id
    note = session.get(SealedNote, kept.comment_note_id)
    assert note.kind == NoteKind.SURVEY_COMMENT and note.participant_id == kept.participant_id
    # Sealed to the case key and to its writer; never to the other party.
    holders = set(session.scalars(select(NoteSeal.holder).where(NoteSeal.note_id == note.id)))
    case_key = keys.case_key_of(session, case_id)
    assert holders == {keyring.case_holder(case_key.id), keyring.user_holder(world.victim.id)}
    # Never in clear, anywhere in the database (the audit trail included).
    dump = "\n".join(
        str(row)
        for table in ("sealed_notes", "note_seals", "survey_responses", "audit_entries")
        for row in session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 (fixed names)
    )
    assert "facilitator listened" not in dump
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "survey.answered")).one()
    assert entry.case_id == case_id and entry.actor_id == world.victim.id
    assert json.loads(entry.details) == {
        "person": "victim",
        "from_paper": False,
        "answered": ["satisfied", "felt_safe", "would_recommend"],
        "comment": True,
    }
    # The party reads their own back with their own key.
    mine = survey.own_survey(session, world.victim, case_id)
    assert mine.comment == COMMENT
    assert mine.answers[2] == (survey.QUESTIONS[2].words, survey.LEFT_BLANK)


def test_every_question_may_be_left_blank(session, world):
    case_id = _close(session, world)
    response = survey.answer_survey(session, world.offender, case_id)
    assert response.comment_note_id is None
    assert response.satisfied is None and response.would_recommend is None
    assert (
        session.scalar(
            select(func.count())
            .select_from(SealedNote)
            .where(SealedNote.kind == NoteKind.SURVEY_COMMENT)
        )
        == 0
    )


def test_the_survey_waits_for_the_case_to_close(session, world):
    with pytest.raises(InvalidTransition, match="once the case has closed"):
        survey.answer_survey(session, world.victim, world.case.id, satisfied="yes")
    assert _responses(session) == 0


def test_an_unknown_answer_or_a_long_comment_is_refused_next_to_its_field(session, world):
    case_id = _close(session, world)
    with pytest.raises(InvalidInput) as refused:
        survey.answer_survey(session, world.victim, case_id, felt_heard="very")
    assert refused.value.field == "felt_heard"
    too_long = "x" * (limits.SURVEY_COMMENT_CHARACTERS + 1)
    with pytest.raises(InvalidInput) as refused:
        survey.answer_survey(session, world.victim, case_id, comment=too_long)
    assert refused.value.field == "comment"
    assert _responses(session) == 0


def test_a_second_answer_is_refused_in_words(session, world):
    case_id = _close(session, world)
    survey.answer_survey(session, world.victim, case_id, satisfied="yes")
    with pytest.raises(InvalidTransition, match="already answered"):
        survey.answer_survey(session, world.victim, case_id, satisfied="no")
    session.expire_all()
    assert _responses(session) == 1
    assert session.scalar(select(SurveyResponse.satisfied)) == SurveyAnswer.YES


def test_a_printed_form_is_entered_once(session, settings, world):
    case_id, lee_id = paper.paper_case(session, settings, world.facilitator)
    paper.started(session, world.facilitator, case_id)
    cases.close_case(session, world.facilitator, case_id, "completed")
    survey.enter_paper_survey(session, world.facilitator, case_id, lee_id, satisfied="yes")
    with pytest.raises(InvalidTransition, match="already recorded"):
        survey.enter_paper_survey(session, world.facilitator, case_id, lee_id, satisfied="no")
    session.expire_all()
    assert session.scalar(select(SurveyResponse.satisfied)) == SurveyAnswer.YES


def test_a_facilitator_cannot_answer_for_a_party_who_takes_part_online(session, world):
    # The facilitators being rated must not answer for someone who answers in their own
    # pages: that party would then be told they had already answered, with the
    # facilitator's words shown as theirs.
    case_id = _close(session, world)
    victim = cases.parties(session.get(Case, case_id), Role.VICTIM)[0]
    assert victim.user_id is not None and not victim.on_paper
    with pytest.raises(InvalidTransition, match="through Relay"):
        survey.enter_paper_survey(
            session, world.facilitator, case_id, victim.id, satisfied="yes", comment="All good"
        )
    with pytest.raises(InvalidTransition, match="through Relay"):
        survey.party_for_paper(session, world.facilitator, case_id, victim.id)
    assert _responses(session) == 0
    shown = {s.party.id: s for s in survey.surveys_for_staff(session, world.facilitator, case_id)}
    assert not shown[victim.id].on_paper
    # They still answer for themselves.
    survey.answer_survey(session, world.victim, case_id, satisfied="no")
    assert session.scalar(select(SurveyResponse.from_paper)) is False


def test_a_party_with_an_account_who_was_moved_to_paper_has_their_form_entered(
    session, settings, world
):
    offender = cases.parties(session.get(Case, world.case.id), Role.OFFENDER)[0]
    cases.set_on_paper(session, settings, world.facilitator, world.case.id, offender.id, True)
    case_id = _close(session, world)
    survey.enter_paper_survey(session, world.facilitator, case_id, offender.id, felt_safe="yes")
    kept = session.scalars(select(SurveyResponse)).one()
    assert kept.from_paper and kept.participant_id == offender.id


def test_a_party_who_withdrew_is_offered_it(session, settings, world):
    cases.withdraw_from_case(session, settings, world.offender, world.case.id)
    response = survey.answer_survey(session, world.offender, world.case.id, felt_safe="yes")
    assert response.role == Role.OFFENDER


def test_a_party_answers_only_for_themselves_and_sees_only_their_own(session, world, two_cases):
    _case_a, case_b = two_cases
    case_id = _close(session, world)
    with pytest.raises(NotFound):
        survey.answer_survey(session, world.victim, case_b.case_id, satisfied="yes")
    survey.answer_survey(session, world.victim, case_id, satisfied="no", comment=COMMENT)
    # The other party's own survey is theirs alone: they see none, and hold no seal.
    assert survey.own_survey(session, world.offender, case_id) is None
    with pytest.raises(NotFound):
        survey.enter_paper_survey(session, world.offender, case_id, 1, satisfied="yes")


def test_a_facilitator_enters_a_printed_form_for_a_party_on_paper(session, settings, world):
    case_id, lee_id = paper.paper_case(session, settings, world.facilitator)
    paper.started(session, world.facilitator, case_id)
    cases.close_case(session, world.facilitator, case_id, "completed")

    survey.enter_paper_survey(
        session,
        world.facilitator,
        case_id,
        lee_id,
        satisfied="partly",
        felt_heard="yes",
        comment="Written on the form in pencil.",
    )

    kept = session.scalars(select(SurveyResponse)).one()
    assert kept.from_paper and kept.entered_by_id == world.facilitator.id
    assert kept.role == Role.OFFENDER and kept.participant_id == lee_id
    # Lee has no account: the team alone holds the comment.
    holders = set(
        session.scalars(select(NoteSeal.holder).where(NoteSeal.note_id == kept.comment_note_id))
    )
    assert holders == {keyring.case_holder(keys.case_key_of(session, case_id).id)}
    shown = {s.party.id: s for s in survey.surveys_for_staff(session, world.facilitator, case_id)}
    assert shown[lee_id].answered.comment == "Written on the form in pencil."
    assert shown[lee_id].words.startswith("Entered from the printed form on ")
    assert shown[lee_id].answered.answers[0][1] == "Partly"
    assert shown[lee_id].on_paper and shown[lee_id].hidden is None
    pat = next(s for s in shown.values() if s.party.id != lee_id)
    assert pat.status == "waiting" and pat.words == "Offered, not answered"
    # Pat has an account (invited to Relay): her facilitator neither prints nor enters hers.
    assert not pat.on_paper
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "survey.answered")).one()
    assert json.loads(entry.details)["from_paper"] is True
    words = timeline.described(entry.action, entry.details)
    assert words == "Entered the person responsible’s closing survey from the printed form"


def test_only_the_cases_facilitators_enter_a_form(session, settings, world, two_cases):
    _case_a, case_b = two_cases
    case_id = _close(session, world)
    victim = cases.parties(session.get(Case, case_id), Role.VICTIM)[0]
    with pytest.raises(NotAllowed):
        survey.enter_paper_survey(session, world.administrator, case_id, victim.id)
    other = actor_for(session, settings, *OTHER["other_facilitator"][::2])
    with pytest.raises(NotFound):
        survey.enter_paper_survey(session, other, case_id, victim.id)
    # A party of another case, named on this case: not found.
    other_victim = cases.parties(session.get(Case, case_b.case_id), Role.VICTIM)[0]
    with pytest.raises(NotFound):
        survey.enter_paper_survey(session, world.facilitator, case_id, other_victim.id)
    assert _responses(session) == 0


def test_before_closing_the_staff_see_it_is_not_offered_yet(session, world):
    shown = survey.surveys_for_staff(session, world.facilitator, world.case.id)
    assert [s.status for s in shown] == ["not_offered", "not_offered"]


def test_the_timeline_says_who_answered(session, world):
    case_id = _close(session, world)
    survey.answer_survey(session, world.victim, case_id, satisfied="yes")
    page = timeline.timeline(session, world.facilitator, case_id)
    assert page.items[0].what == "The person harmed answered the closing survey"


def test_retention_destroys_the_comment_and_keeps_the_answers(session, settings, world):
    case_id = _close(session, world)
    survey.answer_survey(session, world.victim, case_id, felt_safe="yes", comment=COMMENT)
    # Tampering on purpose: a case closed years ago.
    long_ago = datetime(2020, 1, 6, 12, 0, tzinfo=UTC)
    session.execute(update(Case).where(Case.id == case_id).values(closed_at=long_ago))
    session.commit()

    run = retention.purge(session, settings)

    assert [purged.case_id for purged in run.shredded] == [case_id]
    session.expire_all()
    kept = session.scalars(select(SurveyResponse)).one()
    assert kept.felt_safe == SurveyAnswer.YES  # the dashboard still counts it
    note = session.get(SealedNote, kept.comment_note_id)
    assert note.ciphertext is None
    assert (
        session.scalar(
            select(func.count()).select_from(NoteSeal).where(NoteSeal.note_id == note.id)
        )
        == 0
    )
    shown = survey.surveys_for_staff(session, world.facilitator, case_id)
    victim = next(s for s in shown if s.party.role == Role.VICTIM)
    # Once the records have ended, no one's answers are shown beside their name: they are
    # kept for the service's figures only.
    assert victim.status == "answered" and victim.words.startswith("Answered on ")
    assert victim.hidden == survey.KEPT_ONLY_IN_FIGURES
    assert victim.answered.answers == [] and victim.answered.comment is None
    # Nothing more is taken once the records have ended.
    with pytest.raises(InvalidTransition, match="records have ended"):
        survey.answer_survey(session, world.offender, case_id, satisfied="yes")


def test_a_partys_own_data_holds_their_survey_and_comment_and_not_the_others(session, world):
    case_id = _close(session, world)
    survey.answer_survey(
        session, world.victim, case_id, satisfied="partly", felt_heard="yes", comment=COMMENT
    )
    survey.answer_survey(session, world.offender, case_id, satisfied="no", comment="Olly's own")

    found = json.loads(my_data.as_json(my_data.for_myself(session, world.victim)))

    (case,) = found["cases"]
    mine = case["your_survey"]
    assert mine["comment"] == COMMENT  # opened with their own key
    assert mine["entered_by_your_facilitator_from_paper"] is False
    assert mine["answers"][0] == {"question": survey.QUESTIONS[0].words, "answer": "Partly"}
    assert mine["answers"][1]["answer"] == survey.LEFT_BLANK
    assert "Olly's own" not in json.dumps(found)


def test_a_subject_access_file_holds_the_survey_entered_from_paper(session, settings, world):
    case_id, lee_id = paper.paper_case(session, settings, world.facilitator)
    paper.started(session, world.facilitator, case_id)
    cases.close_case(session, world.facilitator, case_id, "completed")
    survey.enter_paper_survey(
        session, world.facilitator, case_id, lee_id, felt_safe="no", comment="Lee's words"
    )
    access.join_case(session, world.administrator, case_id)

    data = my_data.for_subject_access(session, world.administrator, case_id, "offender")

    mine = json.loads(my_data.as_json(data))["cases"][0]["your_survey"]
    assert mine["entered_by_your_facilitator_from_paper"] is True
    assert mine["comment"] == "Lee's words"  # through the case key, once joined
    assert mine["answers"][1]["answer"] == "No"


def test_after_retention_their_file_says_the_comment_is_no_longer_held(session, settings, world):
    case_id = _close(session, world)
    survey.answer_survey(session, world.victim, case_id, felt_safe="yes", comment=COMMENT)
    cases.shred_case(session, case_id)
    mine = my_data.for_myself(session, world.victim).cases[0].your_survey
    assert mine.comment is None and mine.not_included == my_data.NO_LONGER_HELD
    assert mine.answers[1].answer == "Yes"


def test_an_administrator_sees_a_partys_answers_only_after_joining(session, world):
    case_id = _close(session, world)
    survey.answer_survey(session, world.victim, case_id, felt_heard="yes", comment=COMMENT)

    shown = survey.surveys_for_staff(session, world.administrator, case_id)
    victim = next(s for s in shown if s.party.role == Role.VICTIM)
    assert victim.status == "answered" and victim.words.startswith("Answered on ")
    assert victim.hidden == survey.JOIN_TO_READ
    assert victim.answered.answers == [] and victim.answered.comment is None

    access.join_case(session, world.administrator, case_id)
    shown = survey.surveys_for_staff(session, world.administrator, case_id)
    victim = next(s for s in shown if s.party.role == Role.VICTIM)
    assert victim.hidden is None
    assert victim.answered.answers[2] == (survey.QUESTIONS[2].words, "Yes")
    assert victim.answered.comment == COMMENT
