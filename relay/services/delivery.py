"""The two moves Relay makes on its own: delivering an approved letter when it is due, and
stopping every letter not yet passed on when a case ends. Both go through the one table
in `relay.services.states`, under the same locks as a person's action."""

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload

from relay import audit
from relay.database import transaction
from relay.models import Case
from relay.models import CaseOutcome
from relay.models import CaseParticipant
from relay.models import Letter
from relay.models import LetterState
from relay.models import User
from relay.services import content_keys
from relay.services import outbox
from relay.services import states
from relay.services.errors import NotFound
from relay.services.settings import ServiceSettings
from relay.services.states import LetterAction


def lock_case(session: Session, case_id: int, *, exclusive: bool) -> Case:
    """Lock a case's row and re-read it and its people: the first lock of any transition.

    A letter's transition takes it shared (FOR SHARE), so letters of one case still move
    one by one under their own locks; a case-wide change (a close, a withdrawal, a pause)
    takes it exclusively (FOR NO KEY UPDATE, which still lets rows that refer to the case
    be written), so it waits for every letter transition in flight, and they for it.
    """
    lock = {"key_share": True} if exclusive else {"read": True}
    case = session.get(
        Case,
        case_id,
        with_for_update=lock,
        populate_existing=True,
        # The people's choices (receiving, withdrawal) are read fresh under the lock too.
        options=[selectinload(Case.participants)],
    )
    if case is None:
        raise NotFound("case")
    return case


def lock_letters_of(session: Session, case: Case, among: frozenset[LetterState]) -> list[Letter]:
    """The case's letters in the states `among`, locked FOR UPDATE (after the case, by id)."""
    return list(
        session.execute(
            select(Letter)
            .where(Letter.case_id == case.id, Letter.state.in_(among))
            .order_by(Letter.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )


def deliver(
    session: Session,
    settings: ServiceSettings,
    letter: Letter,
    actor_id: int | None,
    action: LetterAction = LetterAction.DELIVER,
) -> None:
    """Pass an approved letter on (or, with RELEASE, let a facilitator pass it on for a
    reading they arranged); the caller holds the letter's row lock."""
    states.move(letter, action, actor_id)
    letter.delivered_at = letter.updated_at
    audit_letter(session, letter, "letter.delivered", actor_id)
    recipient = session.get(User, letter.recipient.user_id)
    outbox.queue_notice(session, settings.outbox_key, recipient, settings.link("/"))


def drafts_lost_at_end(case: Case, author: CaseParticipant | None = None) -> int:
    """How many letters (of `author`, or of anyone) lose an unsent draft if the case ends
    now: the pages that ask a person to end it say so first."""
    return sum(
        1
        for letter in case.letters
        if states.unsent_drafts(letter) and author in (None, letter.author)
    )


def stop_letters(session: Session, case: Case, outcome: CaseOutcome, actor_id: int | None) -> None:
    """The case is ending, in the same transaction as the end (the caller holds the case
    lock): every letter not yet passed on is stopped and loses the recipient's seal, and
    every draft not sent is destroyed, so nothing the author kept to themselves outlives
    the exchange."""
    stopping = states.LETTER_TRANSITIONS[LetterAction.STOP].from_states
    never_sent = states.LETTER_TRANSITIONS[LetterAction.DESTROY_DRAFT].from_states
    for letter in lock_letters_of(session, case, frozenset(LetterState)):
        details = {"reason": str(outcome)}
        if letter.state in never_sent:
            states.move(letter, LetterAction.DESTROY_DRAFT, actor_id)
            audit_letter(session, letter, "letter.draft_destroyed", actor_id, details)
            content_keys.destroy_letter(session, letter)
            continue
        unsent = states.unsent_drafts(letter)
        if unsent:
            details["drafts_destroyed"] = len(unsent)
            content_keys.destroy_versions(session, letter, unsent)
        if letter.state in stopping:
            states.move(letter, LetterAction.STOP, actor_id)
            content_keys.remove_recipient_seals(session, letter)
            audit_letter(session, letter, "letter.stopped", actor_id, details)
        elif unsent:
            audit_letter(session, letter, "letter.draft_destroyed", actor_id, details)


def audit_letter(
    session: Session, letter: Letter, action: str, actor_id: int | None, details: dict | None = None
) -> None:
    """The one audit call for a letter's transitions, in the transition's transaction."""
    audit.record(
        session,
        action,
        actor_id=actor_id,
        case_id=letter.case_id,
        letter_id=letter.id,
        details=details,
    )


def deliver_due_letters(
    session: Session, settings: ServiceSettings, case: Case, actor_id: int | None = None
) -> int:
    """Deliver each approved letter in the case whose recipient now accepts it.

    The caller has locked the case; each letter is locked here before it is looked at.
    """
    delivered = 0
    for letter in lock_letters_of(session, case, states.WAITING):
        if states.due(letter):
            deliver(session, settings, letter, actor_id)
            delivered += 1
    return delivered


def deliver_due_everywhere(
    session: Session, settings: ServiceSettings, today: date | None = None
) -> int:
    """For the scheduled job: letters whose "not before" date has now come.

    One letter per transaction, each under the same locks as a person's action; a letter
    someone is acting on right now is skipped (SKIP LOCKED) and left to that action or
    to the job's next run.
    """
    with transaction(session):
        waiting = session.scalars(
            select(Letter.id)
            .join(Case, Letter.case_id == Case.id)
            .where(
                Letter.state.in_(states.WAITING),
                Case.state.in_(states.LETTER_TRANSITIONS[LetterAction.DELIVER].case_states),
            )
            .order_by(Letter.id)
        ).all()
    delivered = 0
    for letter_id in waiting:
        with transaction(session):
            case_id = session.scalar(select(Letter.case_id).where(Letter.id == letter_id))
            lock_case(session, case_id, exclusive=False)
            letter = session.execute(
                select(Letter)
                .where(Letter.id == letter_id)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            ).scalar_one_or_none()
            if letter is not None and states.due(letter, today):
                deliver(session, settings, letter, None)
                delivered += 1
    return delivered
