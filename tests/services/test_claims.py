"""Claims (relay/services/claims.py): opening a letter for review claims it, others see
who holds it and may take it over, and every decision checks the claim in its own
transaction. Time is passed in as `now`; nothing sleeps."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.models import utcnow
from relay.services import access
from relay.services import cases
from relay.services import claims
from relay.services import letters
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from tests.conftest import receive_letters
from tests.paper import typed_from_paper

TEXT = "I have thought about that evening every day since."
A_WHILE = timedelta(minutes=5)
RUN_OUT = claims.CLAIM_LENGTH + timedelta(minutes=1)


def _submitted(session, settings, world) -> Letter:
    letter = letters.save_draft(session, world.offender, world.case.id, None, TEXT)
    letters.submit_letter(session, settings, world.offender, letter.id)
    return letter


@pytest.fixture
def letter(session, settings, world) -> Letter:
    return _submitted(session, settings, world)


def _entries(session, letter_id: int, action: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.letter_id == letter_id, AuditEntry.action == action)
            .order_by(AuditEntry.sequence)
        )
    )


def _claim_fields(session, letter_id: int):
    session.expire_all()
    found = session.get(Letter, letter_id)
    return found.claimed_by_id, found.claimed_at, found.claimed_until


def _refused_because(name: str, at) -> str:
    return (
        f"{name} took this letter over at {at:%H:%M} UTC; your decision was not saved. "
        "Open it again to see where it is"
    )


# --- opening the review page ---------------------------------------------------------


def test_opening_a_letter_claims_it_for_thirty_minutes_and_says_so(session, world, letter):
    now = utcnow()
    claim = claims.claim_for_review(session, world.facilitator, letter.id, now)
    assert claim.mine and claim.holder_id == world.facilitator.id
    assert claim.holder_name == "Fran Facilitator"
    assert (claim.since, claim.until) == (now, now + timedelta(minutes=30))
    assert _claim_fields(session, letter.id) == (
        world.facilitator.id,
        now,
        now + claims.CLAIM_LENGTH,
    )
    [entry] = _entries(session, letter.id, "letter.claimed")
    assert (entry.actor_id, entry.case_id, json.loads(entry.details)) == (
        world.facilitator.id,
        world.case.id,
        {},
    )


def test_opening_it_again_extends_your_claim_without_a_new_entry(session, world, letter):
    now = utcnow()
    claims.claim_for_review(session, world.facilitator, letter.id, now)
    claim = claims.claim_for_review(session, world.facilitator, letter.id, now + A_WHILE)
    assert (claim.since, claim.until) == (now, now + A_WHILE + claims.CLAIM_LENGTH)
    assert len(_entries(session, letter.id, "letter.claimed")) == 1


def test_another_facilitator_sees_who_holds_it_and_leaves_it_with_them(session, world, sam, letter):
    now = utcnow()
    claims.claim_for_review(session, world.facilitator, letter.id, now)
    claim = claims.claim_for_review(session, sam, letter.id, now + A_WHILE)
    assert not claim.mine and claim.can_take_over
    assert (claim.holder_name, claim.until) == ("Fran Facilitator", now + claims.CLAIM_LENGTH)
    assert _claim_fields(session, letter.id)[0] == world.facilitator.id
    assert len(_entries(session, letter.id, "letter.claimed")) == 1


def test_a_claim_that_ran_out_goes_to_the_next_facilitator_who_opens_it(
    session, world, sam, letter
):
    now = utcnow()
    claims.claim_for_review(session, world.facilitator, letter.id, now)
    claim = claims.claim_for_review(session, sam, letter.id, now + RUN_OUT)
    assert claim.mine and claim.holder_name == "Sam Jones"
    assert [e.actor_id for e in _entries(session, letter.id, "letter.claimed")] == [
        world.facilitator.id,
        sam.id,
    ]


def test_a_letter_with_no_decision_waiting_is_not_claimed(session, settings, world, letter):
    letters.request_changes(session, settings, world.facilitator, letter.id, "Say more.")
    assert claims.claim_for_review(session, world.facilitator, letter.id) is None
    assert _claim_fields(session, letter.id) == (None, None, None)
    assert _entries(session, letter.id, "letter.claimed") == []


def test_an_administrator_sees_the_claim_but_never_claims_or_takes_over(session, world, letter):
    assert claims.claim_for_review(session, world.administrator, letter.id) is None
    claims.claim_for_review(session, world.facilitator, letter.id)
    seen = claims.claim_for_review(session, world.administrator, letter.id)
    assert seen.holder_id == world.facilitator.id and not seen.can_take_over
    with pytest.raises(NotAllowed):
        claims.take_over(session, world.administrator, letter.id)
    assert _claim_fields(session, letter.id)[0] == world.facilitator.id


# --- taking over -------------------------------------------------------------------------


def test_taking_over_moves_the_claim_and_audits_the_previous_holder(session, world, sam, letter):
    now = utcnow()
    claims.claim_for_review(session, world.facilitator, letter.id, now)
    claim = claims.take_over(session, sam, letter.id, now + A_WHILE)
    assert claim.mine and (claim.since, claim.until) == (
        now + A_WHILE,
        now + A_WHILE + claims.CLAIM_LENGTH,
    )
    assert _claim_fields(session, letter.id)[0] == sam.id
    [entry] = _entries(session, letter.id, "letter.claim_taken_over")
    assert (entry.actor_id, json.loads(entry.details)) == (
        sam.id,
        {"previous_holder": world.facilitator.id},
    )


def test_taking_over_a_claim_that_ran_out_is_a_plain_claim(session, world, sam, letter):
    now = utcnow()
    claims.claim_for_review(session, world.facilitator, letter.id, now)
    claims.take_over(session, sam, letter.id, now + RUN_OUT)
    assert _claim_fields(session, letter.id)[0] == sam.id
    assert _entries(session, letter.id, "letter.claim_taken_over") == []
    assert len(_entries(session, letter.id, "letter.claimed")) == 2


def test_a_letter_with_no_decision_waiting_cannot_be_taken_over(
    session, settings, world, sam, letter
):
    letters.reject_letter(session, settings, world.facilitator, letter.id, "Not now.")
    with pytest.raises(InvalidTransition, match="nothing to take over"):
        claims.take_over(session, sam, letter.id)


# --- decisions check the claim -------------------------------------------------------------

DECISIONS = {
    "approve": lambda session, settings, actor, letter_id: letters.approve_letter(
        session, settings, actor, letter_id
    ),
    "request changes": lambda session, settings, actor, letter_id: letters.request_changes(
        session, settings, actor, letter_id, "Please say more."
    ),
    "reject": lambda session, settings, actor, letter_id: letters.reject_letter(
        session, settings, actor, letter_id, "Not this letter."
    ),
    "propose a redaction": lambda session, settings, actor, letter_id: letters.propose_redaction(
        session, settings, actor, letter_id, "Shorter.", "Shorter."
    ),
}


@pytest.mark.parametrize("decision", DECISIONS)
def test_a_decision_is_refused_while_someone_else_holds_a_live_claim(
    session, settings, world, sam, letter, decision
):
    claim = claims.claim_for_review(session, sam, letter.id)
    entries_before = session.scalar(
        select(AuditEntry.sequence).order_by(AuditEntry.sequence.desc())
    )
    with pytest.raises(InvalidTransition) as refused:
        DECISIONS[decision](session, settings, world.facilitator, letter.id)
    assert str(refused.value) == _refused_because("Sam Jones", claim.since)
    session.expire_all()
    assert session.get(Letter, letter.id).state == LetterState.IN_REVIEW
    assert len(session.get(Letter, letter.id).versions) == 1
    assert _claim_fields(session, letter.id)[0] == sam.id
    last = session.scalar(select(AuditEntry.sequence).order_by(AuditEntry.sequence.desc()))
    assert last == entries_before


def test_a_stale_page_whose_claim_was_taken_over_is_refused(session, settings, world, sam, letter):
    claims.claim_for_review(session, world.facilitator, letter.id)
    taken = claims.take_over(session, sam, letter.id)
    with pytest.raises(InvalidTransition) as refused:
        letters.approve_letter(session, settings, world.facilitator, letter.id)
    assert str(refused.value) == _refused_because("Sam Jones", taken.since)
    assert _entries(session, letter.id, "letter.approved") == []


@pytest.mark.parametrize("decision", DECISIONS)
def test_a_decision_by_the_holder_goes_through_and_ends_the_claim(
    session, settings, world, sam, letter, decision
):
    claims.claim_for_review(session, world.facilitator, letter.id)
    DECISIONS[decision](session, settings, world.facilitator, letter.id)
    assert session.get(Letter, letter.id).state != LetterState.IN_REVIEW
    assert _claim_fields(session, letter.id) == (None, None, None)


def test_a_decision_with_no_live_claim_claims_and_decides_at_once(
    session, settings, world, sam, letter
):
    claims.claim_for_review(session, sam, letter.id, utcnow() - RUN_OUT)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    assert session.get(Letter, letter.id).approved_by_id == world.facilitator.id
    assert _claim_fields(session, letter.id) == (None, None, None)


def test_a_decision_refused_for_its_input_keeps_the_claim(session, settings, world, letter):
    now = utcnow()
    claims.claim_for_review(session, world.facilitator, letter.id, now)
    with pytest.raises(InvalidInput):
        letters.request_changes(session, settings, world.facilitator, letter.id, "  ")
    assert _claim_fields(session, letter.id) == (
        world.facilitator.id,
        now,
        now + claims.CLAIM_LENGTH,
    )


def test_a_facilitator_taken_off_the_case_holds_no_claim_in_it(
    session, settings, world, sam, letter
):
    claims.claim_for_review(session, sam, letter.id)
    access.remove_facilitator(session, world.facilitator, world.case.id, sam.id)
    assert claims.claim_for_review(session, world.facilitator, letter.id).mine
    letters.approve_letter(session, settings, world.facilitator, letter.id)


def test_a_paper_letter_is_claimed_by_the_second_facilitator_not_its_typist(
    session, settings, world, sam
):
    paper = typed_from_paper(
        session, settings, world.facilitator, world.case.id, Role.OFFENDER, TEXT
    )
    assert claims.claim_for_review(session, world.facilitator, paper.id) is None
    claim = claims.claim_for_review(session, sam, paper.id)
    assert claim.mine
    # Its typist decides nothing on it alone: refused before any claim is looked at.
    with pytest.raises(NotAllowed, match="needs another facilitator"):
        letters.reject_letter(session, settings, world.facilitator, paper.id, "Not this.")
    letters.approve_letter(session, settings, sam, paper.id, scan_checked=True)
    assert session.get(Letter, paper.id).approved_by_id == sam.id


def _reading_to_arrange(session, settings, world, letter) -> None:
    """The recipient reads only with their facilitator: the approved letter waits for them."""
    cases.set_receiving(
        session,
        settings,
        world.victim,
        world.case.id,
        preference="with_facilitator",
        tell_author_when_read=False,
        conditions="",
    )
    letters.approve_letter(session, settings, world.facilitator, letter.id)


def test_a_delivered_letter_that_waits_for_nobody_is_not_claimed(
    session, settings, world, sam, letter
):
    receive_letters(session, settings, world.victim, world.case.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    assert session.get(Letter, letter.id).state == LetterState.DELIVERED
    assert claims.claim_for_review(session, sam, letter.id) is None
    letters.hold_back(session, world.facilitator, letter.id)


def test_holding_back_and_letting_go_check_the_claim(session, settings, world, sam, letter):
    _reading_to_arrange(session, settings, world, letter)
    assert claims.claim_for_review(session, sam, letter.id).mine  # a reading to arrange
    with pytest.raises(InvalidTransition, match="Sam Jones took this letter over"):
        letters.hold_back(session, world.facilitator, letter.id)
    letters.hold_back(session, sam, letter.id)
    assert claims.claim_for_review(session, world.facilitator, letter.id).mine  # to let go
    with pytest.raises(InvalidTransition, match="Fran Facilitator took this letter over"):
        letters.let_go(session, settings, sam, letter.id)
    letters.let_go(session, settings, world.facilitator, letter.id)
    assert _entries(session, letter.id, "letter.let_go")[0].actor_id == world.facilitator.id


def test_releasing_for_a_reading_checks_the_claim(session, settings, world, sam, letter):
    _reading_to_arrange(session, settings, world, letter)
    assert claims.claim_for_review(session, world.facilitator, letter.id).mine
    with pytest.raises(InvalidTransition, match="Fran Facilitator took this letter over"):
        letters.release_for_reading(session, settings, sam, letter.id)
    letters.release_for_reading(session, settings, world.facilitator, letter.id)
    assert session.get(Letter, letter.id).state == LetterState.DELIVERED


# --- stopping before the claim runs out ----------------------------------------------


def test_stopping_lets_the_letter_go_to_the_next_who_opens_it(session, world, sam, letter):
    claims.claim_for_review(session, world.facilitator, letter.id)
    with pytest.raises(InvalidTransition, match="You are not reviewing this letter"):
        claims.stop_reviewing(session, sam, letter.id)
    claims.stop_reviewing(session, world.facilitator, letter.id)
    assert _claim_fields(session, letter.id) == (None, None, None)
    (released,) = _entries(session, letter.id, "letter.claim_released")
    assert released.actor_id == world.facilitator.id
    assert claims.claim_for_review(session, sam, letter.id).mine
    # Nothing is left to stop for the one who stopped.
    with pytest.raises(InvalidTransition):
        claims.stop_reviewing(session, world.facilitator, letter.id)
