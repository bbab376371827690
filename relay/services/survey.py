"""The short survey each party is offered when their case closes (issue 11, item 2).

Four questions, each answered yes, partly or no, or left blank, and a comment: nothing is
required. A party answers in their own pages, from a link on their case page (and on the
page that says they stopped taking part: their case closed when they withdrew); a party on
paper fills in the printed form and their facilitator enters it. Each party answers once.

The answers are kept as plain values, so the dashboard counts them and they outlive
retention; the comment is everything a person types, so it is a sealed note
(`notes.add_survey_comment`): for the case's team and the party who wrote it, never the
other party, never in the audit trail, and shredded with the case's letters.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay import audit
from relay.database import transaction
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Role
from relay.models import SurveyAnswer
from relay.models import SurveyResponse
from relay.services import cases
from relay.services import keys
from relay.services import limits
from relay.services import notes
from relay.services import text
from relay.services.actor import Actor
from relay.services.delivery import lock_case
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound


@dataclass(frozen=True)
class Question:
    name: str  # the SurveyResponse column and the form field
    words: str  # as the party reads it, in their pages and on the printed form
    counted_as: str  # as the dashboard names what it counts


QUESTIONS = (
    Question(
        "satisfied", "Are you satisfied with how the process went?", "Satisfied with the process"
    ),
    Question("felt_safe", "Did you feel safe while taking part?", "Felt safe"),
    Question("felt_heard", "Did you feel heard?", "Felt heard"),
    Question(
        "would_recommend",
        "Would you recommend it to someone in your position?",
        "Would recommend it",
    ),
)
COMMENT_WORDS = "Is there anything else you would like to tell us?"
LEFT_BLANK = "Left blank"

# The survey is about how it went: it is offered once the case has closed, and only then.
# Not a `states.CASE_ACTIONS` entry: those are what a party still in the exchange may do,
# and a party who withdrew (whose withdrawal closed the case) is offered it too.
OFFERED_IN = frozenset({CaseState.CLOSED})

ALREADY_ANSWERED = "You have already answered the survey for this case. Thank you"
ALREADY_ENTERED = "Their survey is already recorded: each person answers it once"
ANSWERS_ONLINE = (
    "They take part through Relay, so they answer the survey themselves, in their own "
    "pages. A printed form is only for a person on paper or without an account"
)
# Why a party's answers are not shown beside their name on the case page.
KEPT_ONLY_IN_FIGURES = (
    "This case’s records have ended: the answers are kept only in the service’s figures, "
    "without names"
)
JOIN_TO_READ = "Add yourself to the case to read the answers and comment"


def on_paper(party: CaseParticipant) -> bool:
    """May a facilitator print and enter this party's survey? Only for someone on paper or
    without an account: anyone else answers in their own pages, and the facilitators being
    rated must not answer for them (they would then be told they had already answered,
    with the facilitator's words shown as theirs). A party who would rather use paper is
    moved to paper first (`cases.set_on_paper`), which the audit trail records."""
    return party.on_paper or party.user_id is None


def offered(case: Case) -> bool:
    return case.state in OFFERED_IN and case.shredded_at is None


def _answers(given: Mapping[str, str | None]) -> dict[str, SurveyAnswer | None]:
    """Each question's answer, None when left blank; anything else is refused next to
    its question (only a changed form sends another value)."""
    unknown = set(given) - {question.name for question in QUESTIONS} - {"comment"}
    if unknown:
        raise TypeError(f"not a question of the survey: {', '.join(sorted(unknown))}")
    chosen = {}
    for question in QUESTIONS:
        value = (given.get(question.name) or "").strip()
        try:
            chosen[question.name] = SurveyAnswer(value) if value else None
        except ValueError:
            raise InvalidInput("Choose yes, partly or no, or leave it", question.name) from None
    return chosen


def _comment(comment: str | None) -> str:
    typed = text.sanitise(comment or "")
    if len(typed) > limits.SURVEY_COMMENT_CHARACTERS:
        raise InvalidInput(
            f"The comment must be {limits.SURVEY_COMMENT_CHARACTERS:,} characters or fewer",
            "comment",
        )
    return typed


def _record(
    session: Session,
    actor: Actor,
    case: Case,
    party: CaseParticipant,
    given: Mapping[str, str | None],
    *,
    from_paper: bool,
) -> SurveyResponse:
    """The survey recorded, inside the caller's transaction, the case locked for share.

    The party's row is locked before the check that they have not answered, so two
    answers at once (a double click, two tabs, a facilitator entering the form while the
    party answers online) are taken one after the other: the second sees the first and is
    refused in words. The unique participant id is the backstop."""
    if not offered(case):
        raise InvalidTransition(
            "The survey is offered once the case has closed"
            if case.shredded_at is None
            else "This case's records have ended"
        )
    answers = _answers(given)
    typed = _comment(given.get("comment"))
    session.scalar(
        select(CaseParticipant.id)
        .where(CaseParticipant.id == party.id)
        .with_for_update(key_share=True)
    )
    refusal = ALREADY_ENTERED if from_paper else ALREADY_ANSWERED
    if session.scalar(select(SurveyResponse.id).where(SurveyResponse.participant_id == party.id)):
        raise InvalidTransition(refusal)
    note = notes.add_survey_comment(session, case, party, typed, actor.id) if typed else None
    response = SurveyResponse(
        case_id=case.id,
        participant_id=party.id,
        role=party.role,
        **answers,
        comment_note_id=note.id if note is not None else None,
        entered_by_id=actor.id,
        from_paper=from_paper,
    )
    session.add(response)
    try:
        session.flush()
    except IntegrityError:
        raise InvalidTransition(refusal) from None
    audit.record(
        session,
        "survey.answered",
        actor_id=actor.id,
        case_id=case.id,
        # Which questions were answered and whether there is a comment: never the comment,
        # and not the answers either (the dashboard counts them without a name beside them).
        details={
            "person": str(party.role),
            "from_paper": from_paper,
            "answered": [name for name, answer in answers.items() if answer is not None],
            "comment": note is not None,
        },
    )
    return response


def answer_survey(
    session: Session, actor: Actor, case_id: int, **given: str | None
) -> SurveyResponse:
    """A party answers for themselves, once their case has closed. `given`: each
    question's answer by its name (`QUESTIONS`) and the comment, every one optional."""
    with transaction(session):
        case, mine = cases.case_for_party(session, actor, case_id, lock=True)
        return _record(session, actor, case, mine, given, from_paper=False)


def _party_of(case: Case, participant_id: int) -> CaseParticipant:
    party = next((p for p in case.participants if p.id == participant_id), None)
    if party is None or party.role not in cases.PARTY_ROLES:
        raise NotFound("person")
    return party


def party_for_paper(
    session: Session, actor: Actor, case_id: int, participant_id: int
) -> tuple[Case, CaseParticipant]:
    """A party of a case on paper (`on_paper`), for one of its facilitators to print their
    survey form or enter it: the case's facilitators do the paper, as they do a paper letter."""
    case = cases.case_for_staff(session, actor, case_id)
    if actor.role != Role.FACILITATOR:
        raise NotAllowed("Only the case's facilitators print and enter a survey form")
    party = _party_of(case, participant_id)
    if not on_paper(party):
        raise InvalidTransition(ANSWERS_ONLINE)
    return case, party


def enter_paper_survey(
    session: Session, actor: Actor, case_id: int, participant_id: int, **given: str | None
) -> SurveyResponse:
    """A facilitator of the case enters the printed form a party filled in, as written
    (`given` as for `answer_survey`)."""
    with transaction(session):
        case, party = party_for_paper(session, actor, case_id, participant_id)
        case = lock_case(session, case.id, exclusive=False)
        return _record(session, actor, case, party, given, from_paper=True)


# --- reading --------------------------------------------------------------------------------


def _response_of(session: Session, party: CaseParticipant) -> SurveyResponse | None:
    return session.scalar(select(SurveyResponse).where(SurveyResponse.participant_id == party.id))


@dataclass(frozen=True)
class Answered:
    """A survey as its reader may see it: each question with its answer, and the comment."""

    answered_at: datetime
    from_paper: bool
    answers: list[tuple[str, str]]  # (question, "Yes" / "Partly" / "No" / "Left blank")
    had_comment: bool
    comment: str | None  # None: none given, shredded, or not for this reader


def _answered(session: Session, actor: Actor, response: SurveyResponse) -> Answered:
    return Answered(
        answered_at=response.answered_at,
        from_paper=response.from_paper,
        answers=[
            (
                question.words,
                getattr(response, question.name).label
                if getattr(response, question.name)
                else LEFT_BLANK,
            )
            for question in QUESTIONS
        ],
        had_comment=response.comment_note_id is not None,
        comment=notes.survey_comment(session, actor, response.comment_note_id),
    )


def own_survey(session: Session, actor: Actor, case_id: int) -> Answered | None:
    """The party's own answers, read with their own seal; never the other party's."""
    _case, mine = cases.case_for_party(session, actor, case_id)
    response = _response_of(session, mine)
    return _answered(session, actor, response) if response is not None else None


def answered_by(session: Session, actor: Actor, party: CaseParticipant) -> Answered | None:
    """A party's survey for their own data file: `actor` is the party themselves or an
    administrator answering a subject access request (who opens the comment through the
    case key, once they have joined the case). The caller has checked which."""
    response = _response_of(session, party)
    return _answered(session, actor, response) if response is not None else None


@dataclass(frozen=True)
class PartySurvey:
    """One party's survey, for the case's staff."""

    party: CaseParticipant
    status: str  # "not_offered", "waiting" or "answered"
    answered: Answered | None  # with no answers and no comment when `hidden`
    on_paper: bool  # its form may be printed and entered by a facilitator (`on_paper`)
    hidden: str | None = None  # why the answers are not shown to this reader

    @property
    def words(self) -> str:
        if self.answered is not None:
            day = f"{self.answered.answered_at:%-d %B %Y}"
            if self.answered.from_paper:
                return f"Entered from the printed form on {day}"
            return f"Answered on {day}"
        if self.status == "not_offered":
            return "Not offered yet: it is offered when the case closes"
        return "Offered, not answered"


def _hidden_from(session: Session, actor: Actor, case: Case) -> str | None:
    """Why this reader is not shown each party's answers, or None when they are.

    The answers are shown beside a name only to those who work the case: its facilitators
    and an administrator who has joined it (audited, as for its letters); an administrator
    who has not sees only whether each party answered. Once the case's records have ended
    no one sees them beside a name: they outlive retention only for the service's figures."""
    if case.shredded_at is not None:
        return KEPT_ONLY_IN_FIGURES
    if actor.role == Role.FACILITATOR:
        return None  # `cases.case_for_staff` let them in: a facilitator of this case
    return None if keys.holds_case_key(session, actor.user, case.id) else JOIN_TO_READ


def surveys_for_staff(session: Session, actor: Actor, case_id: int) -> list[PartySurvey]:
    """Each party's survey status, and for those who may read them (`_hidden_from`) the
    answers and opened comment, for the case's staff. A survey exists only once the case
    has closed, so the page of an open case reads none."""
    case = cases.case_for_staff(session, actor, case_id)
    closed = case.state in OFFERED_IN
    responses = (
        {
            response.participant_id: response
            for response in session.scalars(
                select(SurveyResponse).where(SurveyResponse.case_id == case.id)
            )
        }
        if closed
        else {}
    )
    hidden = _hidden_from(session, actor, case) if responses else None
    found = []
    for party in case.participants:
        if party.role not in cases.PARTY_ROLES:
            continue
        response = responses.get(party.id)
        if response is None:
            status = "waiting" if closed else "not_offered"
            found.append(PartySurvey(party, status, None, on_paper(party)))
        elif hidden is None:
            answered = _answered(session, actor, response)
            found.append(PartySurvey(party, "answered", answered, on_paper(party)))
        else:
            # When and how they answered, never what: not even read from the row.
            answered = Answered(response.answered_at, response.from_paper, [], False, None)
            found.append(PartySurvey(party, "answered", answered, on_paper(party), hidden))
    return found
