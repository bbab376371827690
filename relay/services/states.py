"""What each letter and case state allows: the one table of transitions, and who may act.

Every change of a letter's state goes through `move`, which refuses what the table does
not allow; every case action checks `check_case`. Pages ask `allowed_actions` and
`allowed_case_actions` which buttons to show, so a template never decides again which
state allows what (docs/rules.md, "Where each rule lives"). Nothing here touches the
database: the services lock and re-read the rows, then ask.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from relay.models import Case
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterState
from relay.models import LetterVersion
from relay.models import ReceivePreference
from relay.models import Role
from relay.models import VersionKind
from relay.models import utcnow
from relay.services.actor import Actor
from relay.services.errors import InvalidTransition

S = LetterState
C = CaseState


class Performer(enum.StrEnum):
    """Who makes a move, as seen from the letter or case."""

    AUTHOR = "author"
    RECIPIENT = "recipient"
    FACILITATOR = "facilitator"  # a facilitator of the case
    PARTY = "party"  # the person harmed or the person responsible, on their own case
    ADMINISTRATOR = "administrator"
    SERVICE = "service"  # Relay itself: delivery when due, stopping when a case ends


class LetterAction(enum.StrEnum):
    START = "start"
    ENTER_FROM_PAPER = "enter_from_paper"
    SAVE_DRAFT = "save_draft"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    ACCEPT_REDACTION = "accept_redaction"
    DECLINE_REDACTION = "decline_redaction"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"
    PROPOSE_REDACTION = "propose_redaction"
    APPROVE = "approve"
    RELEASE = "release"
    DELIVER = "deliver"
    STOP = "stop"
    OPEN = "open"
    HOLD = "hold"
    UNHOLD = "unhold"
    DESTROY_COPY = "destroy_copy"
    DELETE_DRAFT = "delete_draft"
    DESTROY_DRAFT = "destroy_draft"
    HOLD_BACK = "hold_back"
    LET_GO = "let_go"
    # A letter to a party on paper reaches them when their facilitator records it posted
    # or handed over at a reading.
    DELIVER_ON_PAPER = "deliver_on_paper"
    # A paper letter's typing that does not match its scan, typed again by a facilitator,
    # who becomes its typist: another must check the new typing.
    CORRECT_TRANSCRIPT = "correct_transcript"


# A condition beyond the states: the refusal to show, or None when it holds.
Condition = Callable[[Letter, int | None], str | None]


@dataclass(frozen=True)
class LetterTransition:
    by: Performer
    # Empty for the two moves that make a letter (START, ENTER_FROM_PAPER).
    from_states: frozenset[LetterState]
    # None: the letter's state stays (the recipient's own choices about their copy).
    to_state: LetterState | None
    case_states: frozenset[CaseState]
    refusal: str  # shown when the case's state refuses the move
    condition: Condition | None = None
    # Shown instead of naming the letter's state, where naming it would tell the person
    # something they may not know (whether a letter was delivered).
    state_refusal: str = ""


def waiting_for_reading(letter: Letter) -> bool:
    """Approved for a recipient who reads only with their facilitator: theirs to arrange.
    (With a party on paper the reading is the letter handed over: `DELIVER_ON_PAPER`.)"""
    return (
        letter.state in WAITING
        and letter.recipient.receive_preference == ReceivePreference.WITH_FACILITATOR
        and not letter.recipient.on_paper
    )


def _released_to_facilitator(letter: Letter, _actor_id: int | None) -> str | None:
    if letter.recipient.on_paper:
        return "The recipient takes part on paper: record the letter handed over at the reading"
    if letter.recipient.receive_preference != ReceivePreference.WITH_FACILITATOR:
        return "The recipient has not asked to read with their facilitator"
    # A reading honours the "not before" date as delivery does.
    if letter.deliver_not_before is not None and letter.deliver_not_before > utcnow().date():
        return (
            f'This letter waits for its "not before" date, '
            f"{letter.deliver_not_before:%-d %B %Y}: the reading can be from that day"
        )
    return None


def first_approval_holds(letter: Letter) -> bool:
    """In a case marked for extra care: has the version under review had its first
    approval? A new version needs it again."""
    return (
        letter.first_approval_version_id is not None
        and bool(letter.versions)
        and letter.first_approval_version_id == letter.versions[-1].id
    )


def _to_a_party_on_paper(letter: Letter, _actor_id: int | None) -> str | None:
    if not letter.recipient.on_paper:
        return "The recipient takes part through Relay: the letter reaches them there"
    return None


def _not_the_typist(letter: Letter, actor_id: int | None) -> str | None:
    # Four eyes on paper letters (docs/rules.md rule 4): nor is one stopped by its typist.
    if letter.entered_by_id is not None and letter.entered_by_id == actor_id:
        return "A letter you typed in from paper needs another facilitator to decide on it"
    return None


def _another_pair_of_eyes(letter: Letter, actor_id: int | None) -> str | None:
    # Four eyes on paper letters and in cases marked for extra care (docs/rules.md rule 4).
    if letter.entered_by_id is not None and letter.entered_by_id == actor_id:
        return "A letter you typed in from paper needs another facilitator to approve it"
    if first_approval_holds(letter) and letter.first_approved_by_id == actor_id:
        return "You gave this letter its first approval: a second facilitator must approve it"
    return None


def _writer_can_answer(letter: Letter, _actor_id: int | None) -> str | None:
    # A writer on paper with no account never sees a request or a suggestion: the letter
    # would wait for them for ever.
    if letter.author.user_id is None:
        return (
            "The writer takes part on paper, so they cannot change the letter here. If the "
            "typing does not match the scan, type it again; if it cannot go on, do not pass "
            "it on"
        )
    return None


def _typed_from_paper(letter: Letter, _actor_id: int | None) -> str | None:
    if letter.entered_by_id is None:
        return "Only a letter typed in from paper can be typed again"
    return None


def _copy_kept(letter: Letter, _actor_id: int | None) -> str | None:
    if letter.recipient_copy_destroyed_at is not None:
        return "You have destroyed your copy of this letter"
    return None


PAUSED_FOR_NOW = (
    "Your facilitator has paused letters for now. You can open this one when they start again"
)


def _may_open(letter: Letter, actor_id: int | None) -> str | None:
    # Pause means pause: a letter not yet opened waits; one already read may be read again.
    if letter.state == S.DELIVERED and letter.case.state == C.PAUSED:
        return PAUSED_FOR_NOW
    return _copy_kept(letter, actor_id)


def _shown(letter: Letter, actor_id: int | None) -> str | None:
    if letter.hidden_by_recipient:
        return "This letter is already held out of sight"
    return _copy_kept(letter, actor_id)


def _held(letter: Letter, actor_id: int | None) -> str | None:
    if not letter.hidden_by_recipient:
        return "This letter is not held out of sight"
    return _copy_kept(letter, actor_id)


OPEN_CASE = frozenset({C.ACTIVE, C.PAUSED})
RUNNING = frozenset({C.ACTIVE})
NOT_CLOSED = frozenset({C.REFERRED, C.PREPARING, C.ACTIVE, C.PAUSED})
ANY_CASE = frozenset(CaseState)
WRITING = frozenset({S.DRAFT, S.CHANGES_REQUESTED})
IN_REVIEW = frozenset({S.IN_REVIEW})
WAITING = frozenset({S.APPROVED})  # approved, not yet passed on
SENT_BACK = frozenset({S.CHANGES_REQUESTED, S.REDACTION_PROPOSED})  # with the writer again
DELIVERED = frozenset({S.DELIVERED, S.READ})
# Not yet passed on: what the end of the case still stops (a draft is destroyed).
UNDELIVERED = frozenset(
    {S.DRAFT, S.IN_REVIEW, S.CHANGES_REQUESTED, S.REDACTION_PROPOSED, S.APPROVED, S.HELD}
)
# Approved and not yet opened: what a facilitator can still hold back for its author.
NOT_OPENED = frozenset({S.APPROVED, S.DELIVERED})
NEVER_SENT = frozenset({S.DRAFT})
# Before approval: what its author may still withdraw in the portal. After approval they
# ask their facilitator, so the author's pages are the same for "approved, waiting" and
# "delivered" unless the recipient chose to tell them (docs/rules.md). Once the
# facilitator holds it back for them, the author may withdraw it again.
BEFORE_APPROVAL = UNDELIVERED - {S.APPROVED}

_WHILE_OPEN = "Letters can be written only while the exchange is open"
_WHILE_RUNNING = "Letters can be sent for review only while the exchange is open"
_NOT_OPEN = "Nothing is approved while the case is not open"
_NOT_RUNNING = "Nothing is passed on while the case is not active"

A = LetterAction
P = Performer

LETTER_TRANSITIONS: dict[LetterAction, LetterTransition] = {
    A.START: LetterTransition(P.AUTHOR, frozenset(), S.DRAFT, OPEN_CASE, _WHILE_OPEN),
    A.ENTER_FROM_PAPER: LetterTransition(
        P.FACILITATOR,
        frozenset(),
        S.IN_REVIEW,
        RUNNING,
        "Letters can be entered only while the exchange is open",
    ),
    # A draft saved after changes were asked for stays "changes requested".
    A.SAVE_DRAFT: LetterTransition(P.AUTHOR, WRITING, None, OPEN_CASE, _WHILE_OPEN),
    A.SUBMIT: LetterTransition(P.AUTHOR, WRITING, S.IN_REVIEW, RUNNING, _WHILE_RUNNING),
    A.WITHDRAW: LetterTransition(
        P.AUTHOR,
        BEFORE_APPROVAL,
        S.WITHDRAWN,
        OPEN_CASE,
        "The exchange has ended",
        state_refusal="This letter can no longer be withdrawn here. If you want to stop it, "
        "ask your facilitator",
    ),
    A.ACCEPT_REDACTION: LetterTransition(
        P.AUTHOR, frozenset({S.REDACTION_PROPOSED}), S.IN_REVIEW, OPEN_CASE, _NOT_OPEN
    ),
    A.DECLINE_REDACTION: LetterTransition(
        P.AUTHOR, frozenset({S.REDACTION_PROPOSED}), S.CHANGES_REQUESTED, OPEN_CASE, _NOT_OPEN
    ),
    A.REQUEST_CHANGES: LetterTransition(
        P.FACILITATOR, IN_REVIEW, S.CHANGES_REQUESTED, OPEN_CASE, _NOT_OPEN, _writer_can_answer
    ),
    A.REJECT: LetterTransition(
        P.FACILITATOR, IN_REVIEW, S.REJECTED, OPEN_CASE, _NOT_OPEN, _not_the_typist
    ),
    A.PROPOSE_REDACTION: LetterTransition(
        P.FACILITATOR, IN_REVIEW, S.REDACTION_PROPOSED, OPEN_CASE, _NOT_OPEN, _writer_can_answer
    ),
    A.APPROVE: LetterTransition(
        P.FACILITATOR,
        IN_REVIEW,
        S.APPROVED,
        OPEN_CASE,
        _NOT_OPEN,
        _another_pair_of_eyes,
    ),
    A.RELEASE: LetterTransition(
        P.FACILITATOR,
        WAITING,
        S.DELIVERED,
        RUNNING,
        _NOT_RUNNING,
        _released_to_facilitator,
    ),
    A.DELIVER: LetterTransition(P.SERVICE, WAITING, S.DELIVERED, RUNNING, _NOT_RUNNING),
    A.DELIVER_ON_PAPER: LetterTransition(
        P.FACILITATOR, WAITING, S.DELIVERED, RUNNING, _NOT_RUNNING, _to_a_party_on_paper
    ),
    A.CORRECT_TRANSCRIPT: LetterTransition(
        P.FACILITATOR, IN_REVIEW, None, OPEN_CASE, _NOT_OPEN, _typed_from_paper
    ),
    A.STOP: LetterTransition(
        P.SERVICE, UNDELIVERED - NEVER_SENT, S.STOPPED, NOT_CLOSED, "The case has already ended"
    ),
    # A draft is its author's alone: they may delete it, and it does not outlive the
    # exchange. Both remove the letter and every seal of it (to_state None: no row stays).
    A.DELETE_DRAFT: LetterTransition(
        P.AUTHOR, NEVER_SENT, None, OPEN_CASE, "The exchange has ended"
    ),
    A.DESTROY_DRAFT: LetterTransition(
        P.SERVICE, NEVER_SENT, None, NOT_CLOSED, "The case has already ended"
    ),
    # After approval an author asks their facilitator, who can hold back a letter not yet
    # opened: the recipient no longer sees it, and its author may then withdraw it.
    A.HOLD_BACK: LetterTransition(
        P.FACILITATOR,
        NOT_OPENED,
        S.HELD,
        OPEN_CASE,
        _NOT_OPEN,
        state_refusal="Only a letter not yet opened can be held back",
    ),
    A.LET_GO: LetterTransition(
        P.FACILITATOR, frozenset({S.HELD}), S.APPROVED, OPEN_CASE, _NOT_OPEN
    ),
    A.OPEN: LetterTransition(P.RECIPIENT, DELIVERED, S.READ, ANY_CASE, "", _may_open),
    A.HOLD: LetterTransition(P.RECIPIENT, DELIVERED, None, ANY_CASE, "", _shown),
    A.UNHOLD: LetterTransition(P.RECIPIENT, DELIVERED, None, ANY_CASE, "", _held),
    A.DESTROY_COPY: LetterTransition(P.RECIPIENT, DELIVERED, None, ANY_CASE, "", _copy_kept),
}


def refusal(
    action: LetterAction,
    letter_state: LetterState | None,
    case_state: CaseState,
    letter: Letter | None = None,
    actor_id: int | None = None,
) -> str | None:
    """Why the table refuses `action` now, or None. `letter_state` None: a new letter."""
    transition = LETTER_TRANSITIONS[action]
    if letter_state is None:
        if transition.from_states:
            return "There is no such letter yet"
    elif letter_state not in transition.from_states:
        return transition.state_refusal or (
            f"This cannot be done to a letter that is {letter_state.value.replace('_', ' ')}"
        )
    if case_state not in transition.case_states:
        return transition.refusal or (
            f"This cannot be done while the case is {_CASE_STATE_WORDS[case_state]}"
        )
    if transition.condition is not None and letter is not None:
        return transition.condition(letter, actor_id)
    return None


def check(action: LetterAction, letter: Letter, actor_id: int | None = None) -> None:
    """Refuse (InvalidTransition, shown as 409) what the table does not allow now."""
    reason = refusal(action, letter.state, letter.case.state, letter, actor_id)
    if reason is not None:
        raise InvalidTransition(reason)


def check_new(action: LetterAction, case: Case) -> None:
    """For the two moves that make a letter: may the case take one now?"""
    reason = refusal(action, None, case.state)
    if reason is not None:
        raise InvalidTransition(reason)


def move(letter: Letter, action: LetterAction, actor_id: int | None = None) -> None:
    """Change a letter's state, the only way any code does. The caller holds its locks."""
    check(action, letter, actor_id)
    to_state = LETTER_TRANSITIONS[action].to_state
    if to_state is not None:
        letter.state = to_state
    letter.updated_at = utcnow()


def due(letter: Letter, today: date | None = None) -> bool:
    """May Relay itself deliver this approved letter now? The recipient chose to receive,
    they are still in the exchange, and any "not before" date has come."""
    today = today or utcnow().date()
    return (
        refusal(A.DELIVER, letter.state, letter.case.state, letter) is None
        # A party on paper has no account to deliver to: their facilitator posts it.
        and not letter.recipient.on_paper
        and letter.recipient.withdrawn_at is None
        and letter.recipient.receive_preference == ReceivePreference.RECEIVE
        and (letter.deliver_not_before is None or letter.deliver_not_before <= today)
    )


def private_to_author(letter: Letter) -> bool:
    """A letter never sent for review is its author's alone, whatever happened to it since
    (withdrawn, or stopped when the case closed). A paper letter never is one."""
    return letter.submitted_at is None and letter.entered_by_id is None


def unsent_drafts(letter: Letter) -> list[LetterVersion]:
    """The versions its author wrote and has not sent: theirs alone (staff never read them),
    and destroyed when the exchange ends (docs/rules.md)."""
    return [
        version
        for version in letter.versions
        if version.kind == VersionKind.AUTHOR and version.submitted_at is None
    ]


def shown_to_author(letter: Letter) -> LetterState:
    """The recipient decides whether the author learns of delivery and reading. So a
    letter approved, then stopped when the case ended, reads "Approved" too: otherwise the
    approved letters not stopped would be the ones delivered."""
    if letter.recipient.tell_author_when_read:
        return letter.state
    if letter.state in DELIVERED:
        return S.APPROVED
    if letter.state == S.STOPPED and letter.approved_at is not None:
        return S.APPROVED
    return letter.state


def performers(letter: Letter, actor: Actor) -> set[Performer]:
    """What the person is to this letter: its author, its recipient, a facilitator of its case."""
    roles: set[Performer] = set()
    if letter.author.user_id == actor.id:
        roles.add(P.AUTHOR)
    if letter.recipient.user_id == actor.id:
        roles.add(P.RECIPIENT)
    if actor.role == Role.FACILITATOR and any(
        p.user_id == actor.id and p.role == Role.FACILITATOR for p in letter.case.participants
    ):
        roles.add(P.FACILITATOR)
    return roles


def allowed_actions(letter: Letter, actor: Actor) -> frozenset[LetterAction]:
    """What this person may do to this letter now: the only source of a page's buttons."""
    mine = performers(letter, actor)
    return frozenset(
        action
        for action, transition in LETTER_TRANSITIONS.items()
        if transition.by in mine
        and transition.from_states
        and refusal(action, letter.state, letter.case.state, letter, actor.id) is None
    )


# --- cases -------------------------------------------------------------------------


class CaseAction(enum.StrEnum):
    INVITE_PARTY = "invite_party"
    RECORD_GATE = "record_gate"
    ACTIVATE = "activate"
    PAUSE = "pause"
    RESUME = "resume"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    SET_RECEIVING = "set_receiving"
    WRITE_LETTER = "write_letter"
    ENTER_PAPER_LETTER = "enter_paper_letter"
    ADD_FACILITATOR = "add_facilitator"
    REMOVE_FACILITATOR = "remove_facilitator"
    JOIN = "join"
    # A facilitator's own records of the case: notes, and reviews of risk assessments.
    KEEP_RECORDS = "keep_records"
    SHRED = "shred"


@dataclass(frozen=True)
class CaseTransition:
    by: Performer
    from_states: frozenset[CaseState]
    # None: the case's state stays (the action changes something within it).
    to_state: CaseState | None
    refusal: str = ""  # shown when the case's state refuses; a general one otherwise


PREPARING = frozenset({C.REFERRED, C.PREPARING})
K = CaseAction

CASE_ACTIONS: dict[CaseAction, CaseTransition] = {
    K.INVITE_PARTY: CaseTransition(P.FACILITATOR, PREPARING, C.PREPARING),
    K.RECORD_GATE: CaseTransition(P.FACILITATOR, PREPARING, None),
    K.ACTIVATE: CaseTransition(P.FACILITATOR, frozenset({C.PREPARING}), C.ACTIVE),
    K.PAUSE: CaseTransition(P.FACILITATOR, RUNNING, C.PAUSED),
    K.RESUME: CaseTransition(P.FACILITATOR, frozenset({C.PAUSED}), C.ACTIVE),
    K.CLOSE: CaseTransition(P.FACILITATOR, NOT_CLOSED, C.CLOSED),
    K.WITHDRAW: CaseTransition(P.PARTY, NOT_CLOSED, C.CLOSED),
    K.SET_RECEIVING: CaseTransition(P.PARTY, NOT_CLOSED, None),
    # The letter table says when a letter can be started or entered; the case asks it.
    K.WRITE_LETTER: CaseTransition(P.PARTY, LETTER_TRANSITIONS[A.START].case_states, None),
    K.ENTER_PAPER_LETTER: CaseTransition(
        P.FACILITATOR, LETTER_TRANSITIONS[A.ENTER_FROM_PAPER].case_states, None
    ),
    K.ADD_FACILITATOR: CaseTransition(P.FACILITATOR, NOT_CLOSED, None),
    K.REMOVE_FACILITATOR: CaseTransition(P.FACILITATOR, NOT_CLOSED, None),
    K.KEEP_RECORDS: CaseTransition(P.FACILITATOR, NOT_CLOSED, None),
    K.JOIN: CaseTransition(P.ADMINISTRATOR, ANY_CASE, None),
    K.SHRED: CaseTransition(
        P.SERVICE, frozenset({C.CLOSED}), None, "Only a closed case can be shredded"
    ),
}


_CASE_STATE_WORDS = {
    C.REFERRED: "only referred",
    C.PREPARING: "being prepared",
    C.ACTIVE: "active",
    C.PAUSED: "paused",
    C.CLOSED: "closed",
}


def case_refusal(action: CaseAction, case_state: CaseState) -> str | None:
    transition = CASE_ACTIONS[action]
    if case_state not in transition.from_states:
        return transition.refusal or (
            f"This cannot be done while the case is {_CASE_STATE_WORDS[case_state]}"
        )
    return None


def check_case(action: CaseAction, case: Case) -> None:
    reason = case_refusal(action, case.state)
    if reason is not None:
        raise InvalidTransition(reason)


def move_case(case: Case, action: CaseAction) -> None:
    check_case(action, case)
    to_state = CASE_ACTIONS[action].to_state
    if to_state is not None:
        case.state = to_state


def case_performers(case: Case, actor: Actor) -> set[Performer]:
    mine = next((p for p in case.participants if p.user_id == actor.id), None)
    if actor.role == Role.ADMINISTRATOR:
        return {P.ADMINISTRATOR}
    if mine is None:
        return set()
    if mine.role == Role.FACILITATOR and actor.role == Role.FACILITATOR:
        return {P.FACILITATOR}
    if mine.role in (Role.VICTIM, Role.OFFENDER) and mine.withdrawn_at is None:
        return {P.PARTY}
    return set()


def allowed_case_actions(case: Case, actor: Actor) -> frozenset[CaseAction]:
    """What this person may do to this case now: the only source of the case page's buttons."""
    mine = case_performers(case, actor)
    return frozenset(
        action
        for action, transition in CASE_ACTIONS.items()
        if transition.by in mine and case.state in transition.from_states
    )
