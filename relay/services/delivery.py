"""Approved is not delivered: when an approved letter may reach its recipient."""

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay.models import Case
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterState
from relay.models import ReceivePreference
from relay.models import User
from relay.models import utcnow
from relay.services import outbox
from relay.services.settings import ServiceSettings


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
    """Deliver each approved letter in the case whose recipient now accepts it."""
    delivered = 0
    for letter in case.letters:
        if may_deliver(letter):
            deliver(session, settings, letter, actor_id)
            delivered += 1
    return delivered


def deliver_due_everywhere(
    session: Session, settings: ServiceSettings, today: date | None = None
) -> int:
    """For the scheduled job: letters whose "not before" date has now come."""
    waiting = session.scalars(
        select(Letter)
        .join(Case, Letter.case_id == Case.id)
        .where(Letter.state == LetterState.APPROVED, Case.state == CaseState.ACTIVE)
        .order_by(Letter.id)
    )
    delivered = 0
    for letter in waiting:
        if may_deliver(letter, today):
            deliver(session, settings, letter, None)
            delivered += 1
    session.commit()
    return delivered
