"""Claims: opening a letter for review claims it, so two facilitators never decide on one
letter unawares.

A claim is who holds the letter, since when and until when, on the letter's own row
(`Letter.claimed_by_id`, `claimed_at`, `claimed_until`). It is read and changed only under
the letter's row lock (`letters.lock_letter`: the case, then the letter, then the audit
head), the same lock every decision takes, so a claim and a decision never interleave.

- Opening the review page claims a letter that waits for a decision the facilitator can
  make (`AWAITED`), when nobody holds it, its claim has run out, or it is already theirs (then the
  claim is extended). It shows who holds it and until when.
- Someone else's live claim can be taken over, after a confirmation page; the take-over
  is audited with the previous holder's id.
- Every decision calls `require_claim` in its own transaction, after the lock. It refuses
  when someone else holds a live claim: their page may be in front of them now, and a
  page whose claim was taken over is stale. Without anyone else's live claim the decision
  goes ahead, as a claim and a decision in one: a claim that ran out while nobody else
  came is no collision. The decision ends the claim.

A facilitator who stops reviewing before the claim runs out lets it go (`stop_reviewing`).

Claims are audited (claimed, taken over, let go) with ids only. Extending one's own claim is not
an entry: the reading it comes with already is (`letters.read_for_review`).
"""

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy.orm import Session

from relay.database import transaction
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from relay.services import letters
from relay.services import states
from relay.services.actor import Actor
from relay.services.delivery import audit_letter
from relay.services.errors import InvalidTransition
from relay.services.states import LetterAction

# Long enough to read a long letter and write a note; short enough that a facilitator
# called away does not keep the letter from the rest of the team for the afternoon.
CLAIM_LENGTH = timedelta(minutes=30)

A = LetterAction
# What a facilitator decides on a letter: each checks the claim (`require_claim`).
DECISIONS = frozenset(
    {
        A.APPROVE,
        A.REQUEST_CHANGES,
        A.REJECT,
        A.PROPOSE_REDACTION,
        A.HOLD_BACK,
        A.LET_GO,
        A.RELEASE,
    }
)
# The decisions a letter waits for: opening it claims it when one of these is open to the
# person. A facilitator holds a letter back only when its author asks, so a letter that
# allows nothing else (delivered, not yet opened) waits for nobody and is not claimed.
AWAITED = DECISIONS - {A.HOLD_BACK}


@dataclass(frozen=True)
class ReviewClaim:
    """A live claim, as the review page shows it."""

    holder_id: int
    holder_name: str
    since: datetime
    until: datetime
    mine: bool
    # The person looking may take it over (they could claim it, were it free).
    can_take_over: bool


def live_holder(letter: Letter, now: datetime | None = None) -> int | None:
    """The id of whoever holds a live claim on `letter`, or None. A claim runs out at its
    time, and a facilitator taken off the case holds nothing in it."""
    now = now or utcnow()
    if letter.claimed_by_id is None or letter.claimed_until is None:
        return None
    if letter.claimed_until <= now:
        return None
    if not any(
        p.user_id == letter.claimed_by_id and p.role == Role.FACILITATOR
        for p in letter.case.participants
    ):
        return None
    return letter.claimed_by_id


def _may_claim(letter: Letter, actor: Actor) -> bool:
    """Does the letter wait for a decision this person can make? A paper letter in review
    waits for a second facilitator, and so does one with its first approval in a case
    marked for extra care: its typist, or its first approver, looking at it does not
    claim it."""
    if letter.state in states.IN_REVIEW and (
        letter.entered_by_id == actor.id
        or (states.first_approval_holds(letter) and letter.first_approved_by_id == actor.id)
    ):
        return False
    return bool(states.allowed_actions(letter, actor) & AWAITED)


def _claim(letter: Letter, actor: Actor, now: datetime) -> None:
    letter.claimed_by_id = actor.id
    letter.claimed_at = now
    letter.claimed_until = now + CLAIM_LENGTH


def _end(letter: Letter) -> None:
    letter.claimed_by_id = letter.claimed_at = letter.claimed_until = None


def _shown(session: Session, letter: Letter, actor: Actor, now: datetime) -> ReviewClaim | None:
    holder = live_holder(letter, now)
    if holder is None:
        return None
    return ReviewClaim(
        holder_id=holder,
        holder_name=session.get(User, holder).name,
        since=letter.claimed_at,
        until=letter.claimed_until,
        mine=holder == actor.id,
        can_take_over=holder != actor.id and _may_claim(letter, actor),
    )


def claim_for_review(
    session: Session, actor: Actor, letter_id: int, now: datetime | None = None
) -> ReviewClaim | None:
    """Opening the review page: claim the letter when it is free or already ours (extending
    our claim), and say who holds it and until when (None: nobody does)."""
    now = now or utcnow()
    with transaction(session):
        letter = letters.letter_for_staff(session, actor, letter_id, lock=True)
        if _may_claim(letter, actor):
            holder = live_holder(letter, now)
            if holder == actor.id:
                letter.claimed_until = now + CLAIM_LENGTH
            elif holder is None:
                _claim(letter, actor, now)
                audit_letter(session, letter, "letter.claimed", actor.id)
        return _shown(session, letter, actor, now)


def open_for_review(
    session: Session, actor: Actor, letter_id: int, now: datetime | None = None
) -> tuple[Letter, list[tuple[LetterVersion, str]], ReviewClaim | None]:
    """The review page: the claim and the audited reading of every version, committed
    together. Returns the letter, each version with its text, and the claim."""
    with transaction(session):
        claim = claim_for_review(session, actor, letter_id, now)
        letter, texts = letters.read_for_review(session, actor, letter_id)
        return letter, texts, claim


def claim_to_take_over(
    session: Session, actor: Actor, letter_id: int, now: datetime | None = None
) -> ReviewClaim | None:
    """For the page that asks to confirm a take-over: the claim as it stands, changing
    nothing. Only a facilitator of the case who could decide may ask."""
    now = now or utcnow()
    letter = letters.letter_to_pass_on(session, actor, letter_id)
    return _shown(session, letter, actor, now)


def take_over(
    session: Session, actor: Actor, letter_id: int, now: datetime | None = None
) -> ReviewClaim:
    """Take the letter from whoever holds it, after the confirmation page. If their claim
    has run out meanwhile, this is a plain claim."""
    now = now or utcnow()
    with transaction(session):
        letter = letters.letter_to_pass_on(session, actor, letter_id, lock=True)
        if not _may_claim(letter, actor):
            raise InvalidTransition(
                "This letter is not waiting for a decision you can make, so there is "
                "nothing to take over"
            )
        holder = live_holder(letter, now)
        if holder == actor.id:
            letter.claimed_until = now + CLAIM_LENGTH
        elif holder is None:
            _claim(letter, actor, now)
            audit_letter(session, letter, "letter.claimed", actor.id)
        else:
            _claim(letter, actor, now)
            audit_letter(
                session,
                letter,
                "letter.claim_taken_over",
                actor.id,
                details={"previous_holder": holder},
            )
        return _shown(session, letter, actor, now)


def stop_reviewing(
    session: Session, actor: Actor, letter_id: int, now: datetime | None = None
) -> None:
    """Let the letter go before the claim runs out, so the next facilitator who opens it
    claims it at once. Only one's own live claim can be let go, by a facilitator of the
    case (who alone can claim); audited."""
    now = now or utcnow()
    with transaction(session):
        letter = letters.letter_to_pass_on(session, actor, letter_id, lock=True)
        if live_holder(letter, now) != actor.id:
            raise InvalidTransition(
                "You are not reviewing this letter, so there is nothing to stop"
            )
        _end(letter)
        audit_letter(session, letter, "letter.claim_released", actor.id)


def require_claim(
    session: Session, actor: Actor, letter: Letter, now: datetime | None = None
) -> None:
    """Inside each decision, after the letter's lock: refuse when someone else holds a live
    claim, and otherwise end the claim, since the decision that follows settles the letter
    for now (a refusal after this rolls the whole transaction back, the claim with it)."""
    holder = live_holder(letter, now)
    if holder is not None and holder != actor.id:
        name = session.get(User, holder).name
        raise InvalidTransition(
            f"{name} took this letter over at {letter.claimed_at:%H:%M} UTC; your decision "
            "was not saved. Open it again to see where it is"
        )
    _end(letter)
