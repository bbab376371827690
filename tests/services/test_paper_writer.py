"""A writer on paper with no account cannot be asked for changes (issue 10, item 3).

Found reading the review page: "Ask for changes" was offered on a letter from a party on
paper, and sent it back to a writer who could never see it, where it stayed for ever.
Neither that nor a suggested change is offered now: the typing is corrected from the scan
instead (`letters.correct_transcript`), or the letter is not passed on."""

import pytest

from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.services import access
from relay.services import claims
from relay.services import invitations
from relay.services import letters
from relay.services import states
from relay.services.errors import InvalidTransition
from relay.services.states import LetterAction
from tests import paper
from tests.factories import actor_for
from tests.paper import typed_from_paper

KIM = ("kim@relay.test", "Kim Second", "correct horse kim second")


@pytest.fixture
def paper_writer(session, settings, world):
    """(case id, a second facilitator): a running case whose person responsible takes part
    on paper with no account; the person harmed is the world's."""
    fran = world.facilitator
    case_id, _lee = paper.paper_case(session, settings, fran, "RJ-PAPER-W")
    paper.started(session, fran, case_id)
    token = invitations.invite_staff(
        session, settings, world.administrator, email=KIM[0], name=KIM[1]
    )
    invitations.accept_invitation(session, settings, token=token, password=KIM[2])
    access.add_facilitator(session, fran, case_id, KIM[0])
    return case_id, actor_for(session, settings, KIM[0], KIM[2])


def test_a_writer_on_paper_is_never_asked_for_changes_they_cannot_make(
    session, settings, world, paper_writer
):
    case_id, kim = paper_writer
    letter = typed_from_paper(
        session, settings, world.facilitator, case_id, Role.OFFENDER, "I am sorry."
    )
    claims.claim_for_review(session, kim, letter.id)
    offered = states.allowed_actions(letter, kim)
    assert LetterAction.REQUEST_CHANGES not in offered
    assert LetterAction.PROPOSE_REDACTION not in offered
    assert {LetterAction.CORRECT_TRANSCRIPT, LetterAction.REJECT} <= offered
    with pytest.raises(InvalidTransition, match="takes part on paper"):
        letters.request_changes(session, settings, kim, letter.id, "Say more.")
    with pytest.raises(InvalidTransition, match="takes part on paper"):
        letters.propose_redaction(session, settings, kim, letter.id, "I am so sorry.", "")
    session.expire_all()
    assert session.get(Letter, letter.id).state == LetterState.IN_REVIEW


def test_a_paper_letter_from_a_writer_with_an_account_can_still_go_back_to_them(
    session, settings, world, paper_writer
):
    """Someone who uses Relay may still post a letter in: they can answer a request."""
    _case_id, kim = paper_writer
    access.add_facilitator(session, world.facilitator, world.case.id, KIM[0])
    typed = typed_from_paper(
        session, settings, world.facilitator, world.case.id, Role.OFFENDER, "I am sorry."
    )
    claims.claim_for_review(session, kim, typed.id)
    assert LetterAction.REQUEST_CHANGES in states.allowed_actions(typed, kim)
    letters.request_changes(session, settings, kim, typed.id, "Say more.")
    session.expire_all()
    assert session.get(Letter, typed.id).state == LetterState.CHANGES_REQUESTED
