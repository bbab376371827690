"""Approved is not delivered: when an approved letter may reach its recipient."""

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterState
from relay.models import ReceivePreference
from relay.models import User
from relay.models import utcnow
from relay.services import outbox
from relay.services.settings import ServiceSettings


def lock_case(session: Session, case_id: int, *, exclusive: bool) -> Case:
    """Lock a case's row and re-read it and its people: the first lock of any transition.

    A letter's transition takes it shared (FOR SHARE), so letters of one case still move
    one by one under their own locks; a case-wide change (a close, a withdrawal, a pause)
    takes it exclusively (FOR NO KEY UPDATE, which still lets rows that refer to the case
    be written), so it waits for every letter transition in flight, and they for it.
    """
    query = select(Case).where(Case.id == case_id)
    if exclusive:
        query = query.with_for_update(key_share=True)
    else:
        query = query.with_for_update(read=True)
    case = session.execute(query.execution_options(populate_existing=True)).scalar_one()
    # The people's choices (receiving, withdrawal) are read fresh under the lock too.
    session.execute(
        select(CaseParticipant)
        .where(CaseParticipant.case_id == case_id)
        .execution_options(populate_existing=True)
    ).all()
    return case


def lock_letters_of(session: Session, case: Case, states: tuple[LetterState, ...]) -> list[Letter]:
    """The case's letters in `states`, locked FOR UPDATE (after the case, in id order)."""
    return list(
        session.execute(
            select(Letter)
            .where(Letter.case_id == case.id, Letter.state.in_(states))
            .order_by(Letter.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )


def may_deliver(letter: Letter, today: date | None = None) -> bool:
    """The recipient chose to receive, the case is running, and any "not before" has passed."""
    today = today or utcnow().date()
    return (
        letter.state == LetterState.APPROVED
        and letter.case.state == CaseState.ACTIVE
        and letter.recipient.withdrawn_at is None
        and letter.recipient.receive_preference == ReceivePreference.RECEIVE
        and (letter.deliver_not_before is None or letter.deliver_not_before <= today)
    )


def deliver(session: Session, settings: ServiceSettings, letter: Letter, actor_id: int | None):
    """Pass an approved letter on; the caller holds the letter's row lock."""
    if letter.state != LetterState.APPROVED:
        raise RuntimeError("only an approved letter, locked by its caller, can be delivered")
    letter.state = LetterState.DELIVERED
    letter.delivered_at = letter.updated_at = utcnow()
    audit.record(
        session, "letter.delivered", actor_id=actor_id, case_id=letter.case_id, letter_id=letter.id
    )
    recipient = session.get(User, letter.recipient.user_id)
    outbox.queue_notice(session, settings.outbox_key, recipient, settings.link("/"))


def deliver_due_letters(
    session: Session, settings: ServiceSettings, case: Case, actor_id: int | None = None
) -> int:
    """Deliver each approved letter in the case whose recipient now accepts it.

    The caller has locked the case; each letter is locked here before it is looked at.
    """
    delivered = 0
    for letter in lock_letters_of(session, case, (LetterState.APPROVED,)):
        if may_deliver(letter):
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
    waiting = session.scalars(
        select(Letter.id)
        .join(Case, Letter.case_id == Case.id)
        .where(Letter.state == LetterState.APPROVED, Case.state == CaseState.ACTIVE)
        .order_by(Letter.id)
    ).all()
    session.rollback()
    delivered = 0
    for letter_id in waiting:
        case_id = session.scalar(select(Letter.case_id).where(Letter.id == letter_id))
        lock_case(session, case_id, exclusive=False)
        letter = session.execute(
            select(Letter)
            .where(Letter.id == letter_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if letter is not None and may_deliver(letter, today):
            deliver(session, settings, letter, None)
            delivered += 1
        session.commit()
    return delivered
