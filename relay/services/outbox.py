"""Notices by e-mail through a transactional outbox.

A message row is added in the transaction of the action that caused it, so
it exists exactly when the action does. Sending happens only in the worker
(`flask outbox send`, every minute), never inside a request: a request that
talked to the mail server would answer later for a known address than for an
unknown one, and the timing would tell who has an account. Each message is
claimed by a conditional update, sent, then marked sent; a failure is retried
with backoff and nothing is lost while the mail server is down.

No notice carries letter text, names or case details (PRODUCT rule 7).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from relay import crypto
from relay.models import NoticePreference
from relay.models import OutboxMessage
from relay.models import User
from relay.models import utcnow

CLAIM_SECONDS = 120
MAX_BACKOFF = timedelta(hours=1)
SEAL_CONTEXT = b"outbox-message"

# Each notice a person may get about their own account. Subjects and bodies
# are fixed text: nothing from a case or a letter is ever put into them.
NOTICE_SUBJECTS = {
    NoticePreference.STANDARD: "Relay: there is something new for you",
    NoticePreference.DISCREET: "A new message in your account",
}
NOTICE_BODY = (
    "Hello,\n\nThere is something new for you. Please sign in to see it:\n\n{link}\n\n"
    "This e-mail does not contain any message. If you did not expect it, you can ignore it.\n"
)

Sender = Callable[[str, str, str], None]


def queue_mail(session: Session, key: bytes, *, recipient: str, subject: str, body: str) -> None:
    session.add(
        OutboxMessage(
            recipient=recipient,
            subject=subject,
            sealed_body=crypto.encrypt(key, body.encode("utf-8"), SEAL_CONTEXT),
        )
    )


def queue_notice(session: Session, key: bytes, user: User, sign_in_link: str) -> bool:
    """Tell `user` there is something new, as they chose; False if they chose no e-mail."""
    if user.notice_preference == NoticePreference.NONE:
        return False
    queue_mail(
        session,
        key,
        recipient=user.email,
        subject=NOTICE_SUBJECTS[user.notice_preference],
        body=NOTICE_BODY.format(link=sign_in_link),
    )
    return True


@dataclass
class Dispatch:
    sent: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _claim(session: Session, message_id: int, now: datetime) -> bool:
    claimed = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.sent_at.is_(None),
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    session.commit()
    return claimed.rowcount == 1


def dispatch_due(
    sessions: sessionmaker[Session],
    key: bytes,
    send: Sender,
    *,
    now: datetime | None = None,
    limit: int = 100,
) -> Dispatch:
    """Send every message that is due; each in its own transactions."""
    now = now or utcnow()
    result = Dispatch()
    with sessions() as session:
        due = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
    for message_id in due:
        with sessions() as session:
            if not _claim(session, message_id, now):
                continue
            message = session.get(OutboxMessage, message_id)
            try:
                body = crypto.decrypt(key, message.sealed_body, SEAL_CONTEXT).decode("utf-8")
                send(message.recipient, message.subject, body)
            except Exception as error:  # noqa: BLE001 - any failure means "try again later"
                message.attempts += 1
                message.next_attempt_at = now + backoff(message.attempts)
                message.claimed_until = None
                message.last_error = type(error).__name__[:200]
                session.commit()
                result.failed += 1
                continue
            message.attempts += 1
            message.sent_at = utcnow()
            message.claimed_until = None
            message.last_error = ""
            # The body may hold a single-use link: keep nothing once it is sent.
            message.sealed_body = b""
            session.commit()
            result.sent += 1
    return result
