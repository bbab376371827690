"""Notices by e-mail through a transactional outbox.

A message row is added in the transaction of the action that caused it, so
it exists exactly when the action does. Sending happens only in the worker
(`flask outbox send`, every minute), never inside a request: a request that
talked to the mail server would answer later for a known address than for an
unknown one, and the timing would tell who has an account. Each message is
claimed by a conditional update, sent, then marked sent; a failure is retried
with backoff and nothing is lost while the mail server is down.

No notice carries letter text, names or case details (docs/rules.md rule 7).
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Protocol

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from relay import crypto
from relay import keyring
from relay.database import transaction
from relay.models import NoticePreference
from relay.models import OutboxMessage
from relay.models import User
from relay.models import utcnow

MAX_BACKOFF = timedelta(hours=1)
# smtplib's timeout bounds each socket operation, not a whole send. One send with STARTTLS
# and AUTH LOGIN is about 14 of them (connect, greeting, EHLO, STARTTLS, the TLS handshake,
# EHLO again, three for AUTH, MAIL, RCPT, DATA, the message, QUIT), and a slow server may
# take just under the timeout at each: a claim shorter than all of them lets a second
# worker send the message again while the first is still talking to the server. (A server
# that trickles bytes could outlast even this; the stable Message-ID covers that case.)
SEND_STEPS = 16
# The database work around a send, and clocks that differ a little between workers.
CLAIM_MARGIN = timedelta(seconds=30)

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


class Sender(Protocol):
    """Hands one message to the mail server; raises if it was not accepted.

    `reference` is the same on every attempt at the same message (the mailer makes the
    Message-ID of it), so a message resent after a lost answer reads as one message.
    """

    def __call__(self, recipient: str, subject: str, body: str, reference: str) -> None: ...


def _seal_context(message_id: int) -> bytes:
    # The row's id in the context: a body copied onto another row (another recipient)
    # does not open there, so nobody is sent someone else's reset link.
    return keyring.outbox_body(message_id)


def queue_mail(session: Session, key: bytes, *, recipient: str, subject: str, body: str) -> None:
    message = OutboxMessage(recipient=recipient, subject=subject, sealed_body=b"")
    session.add(message)
    # The id is the database's: flush for it, then seal the body to it. Both happen in the
    # caller's transaction, so the row never commits without its body.
    session.flush()
    message.sealed_body = crypto.encrypt(key, body.encode("utf-8"), _seal_context(message.id))


def read_body(key: bytes, message: OutboxMessage) -> str:
    """The message's text; raises crypto.DecryptionFailed if the body is not this row's."""
    return crypto.decrypt(key, message.sealed_body, _seal_context(message.id)).decode("utf-8")


def message_reference(key: bytes, message_id: int) -> str:
    """A stable, unguessable name for one message, for its Message-ID.

    Keyed, and without the row id in clear, so it tells a reader nothing (not even how
    much mail the service sends); the same key and row give the same name on every retry.
    """
    label = b"relay-outbox-message-id:%d" % message_id
    return hmac.new(key, label, hashlib.sha256).hexdigest()[:32]


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


def claim_duration(send_timeout: float) -> timedelta:
    """How long a worker holds a message it is sending: longer than any send can last."""
    return timedelta(seconds=send_timeout * SEND_STEPS) + CLAIM_MARGIN


def _claim(session: Session, message_id: int, now: datetime, until: datetime) -> bool:
    """The claim is its own transaction, committed before the send it guards."""
    with transaction(session):
        claimed = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.sent_at.is_(None),
                # Another worker may have tried it since the list was read, and backed off.
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .values(claimed_until=until)
        )
    return claimed.rowcount == 1


def dispatch_due(
    sessions: sessionmaker[Session],
    key: bytes,
    send: Sender,
    *,
    send_timeout: float,
    now: datetime | None = None,
    limit: int = 100,
) -> Dispatch:
    """Send every message that is due, each claimed just before it is sent.

    `send_timeout` is the mailer's per-operation timeout; the claim outlasts a whole send
    at that timeout, so two workers running at once never both send a message (a worker
    that dies mid-send leaves its claim to expire, and the message goes again: only a
    crash duplicates, and the stable Message-ID lets mail software see it as one).
    `now` fixes the clock (tests move it on); otherwise the clock is read at each claim,
    since a long batch outlasts the moment it started.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    hold = claim_duration(send_timeout)
    result = Dispatch()
    with sessions() as session:
        due = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= clock())
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
    for message_id in due:
        with sessions() as session:
            claimed_at = clock()
            if not _claim(session, message_id, claimed_at, claimed_at + hold):
                continue
            message = session.get(OutboxMessage, message_id)
            try:
                body = read_body(key, message)
                send(message.recipient, message.subject, body, message_reference(key, message.id))
            except Exception as error:  # noqa: BLE001 - any failure means "try again later"
                with transaction(session):
                    message.attempts += 1
                    message.next_attempt_at = clock() + backoff(message.attempts)
                    message.claimed_until = None
                    message.last_error = type(error).__name__[:200]
                result.failed += 1
                continue
            with transaction(session):
                message.attempts += 1
                message.sent_at = utcnow()
                message.claimed_until = None
                message.last_error = ""
                # The body may hold a single-use link: keep nothing once it is sent.
                message.sealed_body = b""
            result.sent += 1
    return result
