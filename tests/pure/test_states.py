"""The one table of letter and case transitions, walked whole: every action against every
letter state and every case state, each refusal proved. No database: the table is pure."""

import itertools
from types import SimpleNamespace

import pytest

from relay.models import CaseState
from relay.models import LetterState
from relay.models import ReceivePreference
from relay.models import Role
from relay.services import states
from relay.services.errors import InvalidTransition
from relay.services.states import CASE_ACTIONS
from relay.services.states import LETTER_TRANSITIONS
from relay.services.states import CaseAction
from relay.services.states import LetterAction

AUTHOR, RECIPIENT, FACILITATOR, STRANGER = 1, 2, 3, 4


def _letter(state: LetterState, case_state: CaseState, **fields) -> SimpleNamespace:
    """A letter as the table sees it: its state, its case's state and its people."""
    participants = [
        SimpleNamespace(user_id=AUTHOR, role=Role.OFFENDER, withdrawn_at=None),
        SimpleNamespace(user_id=RECIPIENT, role=Role.VICTIM, withdrawn_at=None),
        SimpleNamespace(user_id=FACILITATOR, role=Role.FACILITATOR, withdrawn_at=None),
    ]
    recipient = SimpleNamespace(
        user_id=RECIPIENT,
        receive_preference=fields.pop("preference", ReceivePreference.WITH_FACILITATOR),
        withdrawn_at=None,
        on_paper=fields.pop("on_paper", False),
    )
    letter = SimpleNamespace(
        state=state,
        case=SimpleNamespace(state=case_state, participants=participants),
        author=SimpleNamespace(user_id=AUTHOR),
        recipient=recipient,
        entered_by_id=None,
        versions=[SimpleNamespace(id=1)],
        first_approval_version_id=None,
        first_approved_by_id=None,
        hidden_by_recipient=False,
        recipient_copy_destroyed_at=None,
        deliver_not_before=None,
        updated_at=None,
    )
    for name, value in fields.items():
        setattr(letter, name, value)
    return letter


def _actor(user_id: int, role: Role) -> SimpleNamespace:
    return SimpleNamespace(id=user_id, role=role)


MOVES = [action for action, t in LETTER_TRANSITIONS.items() if t.from_states]


@pytest.mark.parametrize("action", MOVES, ids=str)
def test_every_move_against_every_letter_and_case_state(action):
    transition = LETTER_TRANSITIONS[action]
    for letter_state, case_state in itertools.product(LetterState, CaseState):
        letter = _letter(letter_state, case_state)
        allowed = letter_state in transition.from_states and case_state in transition.case_states
        if allowed and transition.condition is not None:
            allowed = transition.condition(letter, FACILITATOR) is None
        if allowed:
            states.move(letter, action, FACILITATOR)
            assert letter.state == (transition.to_state or letter_state)
            assert letter.updated_at is not None
        else:
            with pytest.raises(InvalidTransition):
                states.move(letter, action, FACILITATOR)
            assert letter.state == letter_state, "a refused move must change nothing"


@pytest.mark.parametrize("action", [LetterAction.START, LetterAction.ENTER_FROM_PAPER], ids=str)
def test_a_new_letter_only_while_the_case_allows(action):
    for case_state in CaseState:
        case = SimpleNamespace(state=case_state)
        if case_state in LETTER_TRANSITIONS[action].case_states:
            states.check_new(action, case)
        else:
            with pytest.raises(InvalidTransition):
                states.check_new(action, case)


def test_nothing_leaves_a_final_state():
    final = {LetterState.REJECTED, LetterState.WITHDRAWN, LetterState.STOPPED}
    for action, transition in LETTER_TRANSITIONS.items():
        assert not (transition.from_states & final), f"{action} moves a finished letter"


def test_only_undelivered_letters_stop_and_only_unapproved_ones_are_withdrawn():
    stop = LETTER_TRANSITIONS[LetterAction.STOP]
    destroy = LETTER_TRANSITIONS[LetterAction.DESTROY_DRAFT]
    # At the end of a case every undelivered letter is stopped, or destroyed if it was
    # never sent: nothing is left over, and no draft is kept.
    assert stop.from_states | destroy.from_states == states.UNDELIVERED
    assert (
        destroy.from_states
        == {LetterState.DRAFT}
        == LETTER_TRANSITIONS[LetterAction.DELETE_DRAFT].from_states
    )
    assert not (stop.from_states & states.DELIVERED)
    # After approval the author asks their facilitator: the portal's answer must not say
    # whether the letter was delivered.
    withdraw = LETTER_TRANSITIONS[LetterAction.WITHDRAW]
    assert withdraw.from_states == states.BEFORE_APPROVAL
    refusals = {
        states.refusal(LetterAction.WITHDRAW, state, CaseState.ACTIVE)
        for state in (LetterState.APPROVED, LetterState.DELIVERED, LetterState.READ)
    }
    assert len(refusals) == 1 and "ask your facilitator" in refusals.pop()


def test_the_conditions_beyond_the_states():
    approved = _letter(LetterState.APPROVED, CaseState.ACTIVE, preference=ReceivePreference.RECEIVE)
    with pytest.raises(InvalidTransition, match="read with their facilitator"):
        states.move(approved, LetterAction.RELEASE, FACILITATOR)
    own_paper = _letter(LetterState.IN_REVIEW, CaseState.ACTIVE, entered_by_id=FACILITATOR)
    with pytest.raises(InvalidTransition, match="another facilitator"):
        states.move(own_paper, LetterAction.APPROVE, FACILITATOR)
    states.move(own_paper, LetterAction.APPROVE, STRANGER)  # a second facilitator
    # Extra care: whoever gave the version its first approval does not give the second.
    first = {"first_approval_version_id": 1, "first_approved_by_id": FACILITATOR}
    approved_once = _letter(LetterState.IN_REVIEW, CaseState.ACTIVE, **first)
    with pytest.raises(InvalidTransition, match="a second facilitator must approve it"):
        states.move(approved_once, LetterAction.APPROVE, FACILITATOR)
    states.move(approved_once, LetterAction.APPROVE, STRANGER)
    # A first approval of an earlier version is no approval of this one.
    two_versions = [SimpleNamespace(id=1), SimpleNamespace(id=2)]
    earlier = _letter(LetterState.IN_REVIEW, CaseState.ACTIVE, **first, versions=two_versions)
    states.move(earlier, LetterAction.APPROVE, FACILITATOR)
    # A letter reaches a party on paper when it is posted or handed over, and only then.
    portal = _letter(LetterState.APPROVED, CaseState.ACTIVE)
    with pytest.raises(InvalidTransition, match="takes part through Relay"):
        states.move(portal, LetterAction.DELIVER_ON_PAPER, FACILITATOR)
    on_paper = _letter(LetterState.APPROVED, CaseState.ACTIVE, on_paper=True)
    with pytest.raises(InvalidTransition, match="takes part on paper"):
        states.move(on_paper, LetterAction.RELEASE, FACILITATOR)
    assert not states.waiting_for_reading(on_paper)  # though they read with their facilitator
    receiving = _letter(
        LetterState.APPROVED, CaseState.ACTIVE, on_paper=True, preference=ReceivePreference.RECEIVE
    )
    assert not states.due(receiving)  # Relay has no account to deliver to
    states.move(on_paper, LetterAction.DELIVER_ON_PAPER, FACILITATOR)
    destroyed = _letter(LetterState.READ, CaseState.ACTIVE, recipient_copy_destroyed_at=1)
    for action in (LetterAction.OPEN, LetterAction.HOLD, LetterAction.DESTROY_COPY):
        with pytest.raises(InvalidTransition):
            states.move(destroyed, action, RECIPIENT)
    held = _letter(LetterState.READ, CaseState.ACTIVE, hidden_by_recipient=True)
    with pytest.raises(InvalidTransition):
        states.move(held, LetterAction.HOLD, RECIPIENT)
    states.move(held, LetterAction.UNHOLD, RECIPIENT)


def test_due_only_when_the_recipient_chose_to_receive_and_the_date_has_come():
    from datetime import date

    letter = _letter(LetterState.APPROVED, CaseState.ACTIVE, preference=ReceivePreference.RECEIVE)
    assert states.due(letter, date(2026, 1, 1))
    letter.deliver_not_before = date(2026, 6, 1)
    assert not states.due(letter, date(2026, 1, 1))
    assert states.due(letter, date(2026, 6, 1))
    letter.case.state = CaseState.PAUSED
    assert not states.due(letter, date(2026, 6, 1))
    waiting = _letter(LetterState.APPROVED, CaseState.ACTIVE, preference=ReceivePreference.NOT_NOW)
    assert not states.due(waiting, date(2026, 1, 1))


@pytest.mark.parametrize("letter_state", list(LetterState), ids=str)
def test_allowed_actions_is_the_table_seen_by_each_person(letter_state):
    """What a page offers is exactly what `move` would accept from that person."""
    people = {
        AUTHOR: _actor(AUTHOR, Role.OFFENDER),
        RECIPIENT: _actor(RECIPIENT, Role.VICTIM),
        FACILITATOR: _actor(FACILITATOR, Role.FACILITATOR),
        STRANGER: _actor(STRANGER, Role.ADMINISTRATOR),
    }
    performer = {
        AUTHOR: states.Performer.AUTHOR,
        RECIPIENT: states.Performer.RECIPIENT,
        FACILITATOR: states.Performer.FACILITATOR,
    }
    for case_state in CaseState:
        for user_id, actor in people.items():
            letter = _letter(letter_state, case_state)
            offered = states.allowed_actions(letter, actor)
            for action in MOVES:
                transition = LETTER_TRANSITIONS[action]
                accepted = (
                    performer.get(user_id) == transition.by
                    and states.refusal(action, letter_state, case_state, letter, user_id) is None
                )
                assert (action in offered) == accepted, (action, letter_state, case_state, user_id)
    # An administrator can see every case but passes nothing on (docs/rules.md rule 3).
    assert not states.allowed_actions(_letter(letter_state, CaseState.ACTIVE), people[STRANGER])


@pytest.mark.parametrize("action", list(CaseAction), ids=str)
def test_every_case_action_against_every_case_state(action):
    transition = CASE_ACTIONS[action]
    for case_state in CaseState:
        case = SimpleNamespace(state=case_state)
        if case_state in transition.from_states:
            states.move_case(case, action)
            assert case.state == (transition.to_state or case_state)
        else:
            with pytest.raises(InvalidTransition):
                states.move_case(case, action)
            assert case.state == case_state


def test_allowed_case_actions_by_person():
    participants = [
        SimpleNamespace(user_id=AUTHOR, role=Role.OFFENDER, withdrawn_at=None),
        SimpleNamespace(user_id=FACILITATOR, role=Role.FACILITATOR, withdrawn_at=None),
    ]
    case = SimpleNamespace(state=CaseState.ACTIVE, participants=participants)
    facilitator = states.allowed_case_actions(case, _actor(FACILITATOR, Role.FACILITATOR))
    assert {CaseAction.PAUSE, CaseAction.CLOSE, CaseAction.ENTER_PAPER_LETTER} <= facilitator
    assert CaseAction.WITHDRAW not in facilitator and CaseAction.RESUME not in facilitator
    party = states.allowed_case_actions(case, _actor(AUTHOR, Role.OFFENDER))
    assert party == {CaseAction.WITHDRAW, CaseAction.SET_RECEIVING, CaseAction.WRITE_LETTER}
    assert states.allowed_case_actions(case, _actor(STRANGER, Role.ADMINISTRATOR)) == {
        CaseAction.JOIN
    }
    assert not states.allowed_case_actions(case, _actor(STRANGER, Role.FACILITATOR))
    case.state = CaseState.CLOSED
    assert not states.allowed_case_actions(case, _actor(AUTHOR, Role.OFFENDER))


# The table as docs/rules.md states it, written out by hand: a change to the table that
# the rules do not also make fails here. (from-states, to-state, case states)
D, IR, CR, RP, AP, DL, RD = (
    "draft",
    "in_review",
    "changes_requested",
    "redaction_proposed",
    "approved",
    "delivered",
    "read",
)
OPEN, RUN, LIVE, ANY = "active paused", "active", "referred preparing active paused", "*"
PINNED = {
    "start": ("", D, OPEN),
    "enter_from_paper": ("", IR, RUN),
    "save_draft": (f"{D} {CR}", None, OPEN),
    "submit": (f"{D} {CR}", IR, RUN),
    "withdraw": (f"{D} {IR} {CR} {RP} held", "withdrawn", OPEN),
    "accept_redaction": (RP, IR, OPEN),
    "decline_redaction": (RP, CR, OPEN),
    "request_changes": (IR, CR, OPEN),
    "reject": (IR, "rejected", OPEN),
    "propose_redaction": (IR, RP, OPEN),
    "approve": (IR, AP, OPEN),
    "release": (AP, DL, RUN),
    "deliver": (AP, DL, RUN),
    "deliver_on_paper": (AP, DL, RUN),
    "correct_transcript": (IR, None, OPEN),
    "stop": (f"{IR} {CR} {RP} {AP} held", "stopped", LIVE),
    "hold_back": (f"{AP} {DL}", "held", OPEN),
    "let_go": ("held", AP, OPEN),
    "delete_draft": (D, None, OPEN),
    "destroy_draft": (D, None, LIVE),
    "open": (f"{DL} {RD}", RD, ANY),
    "hold": (f"{DL} {RD}", None, ANY),
    "unhold": (f"{DL} {RD}", None, ANY),
    "destroy_copy": (f"{DL} {RD}", None, ANY),
}


def test_the_letter_table_is_the_one_the_rules_describe():
    assert set(PINNED) == {str(action) for action in LetterAction}
    for action, (from_states, to_state, case_states) in PINNED.items():
        transition = LETTER_TRANSITIONS[LetterAction(action)]
        assert {str(s) for s in transition.from_states} == set(from_states.split()), action
        assert transition.to_state == (LetterState(to_state) if to_state else None), action
        expected = set(CaseState) if case_states == ANY else set(case_states.split())
        assert {str(s) for s in transition.case_states} == {str(s) for s in expected}, action


def test_the_author_cannot_tell_from_a_closed_case_which_letters_were_delivered():
    """Approved letters still waiting when a case ends are stopped; delivered ones stay
    delivered. Unless the recipient tells the author, both read "Approved": otherwise the
    letters not stopped would be the ones delivered."""
    stopped = _letter(LetterState.STOPPED, CaseState.CLOSED, approved_at=1)
    delivered = _letter(LetterState.DELIVERED, CaseState.CLOSED, approved_at=1)
    stopped.recipient.tell_author_when_read = delivered.recipient.tell_author_when_read = False
    assert states.shown_to_author(stopped) == states.shown_to_author(delivered)
    assert states.shown_to_author(stopped) == LetterState.APPROVED
    # A letter stopped before it was approved was never going to be passed on: said so.
    unapproved = _letter(LetterState.STOPPED, CaseState.CLOSED, approved_at=None)
    unapproved.recipient.tell_author_when_read = False
    assert states.shown_to_author(unapproved) == LetterState.STOPPED
    # A recipient who tells the author when they read lets them know delivery too.
    stopped.recipient.tell_author_when_read = True
    assert states.shown_to_author(stopped) == LetterState.STOPPED
