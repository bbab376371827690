"""Many at once, on PostgreSQL (issue "Performance and scale", item 6): eight processes
appending to the audit chain leave one chain that verifies, and fifty letters sent at the
same moment through gunicorn are all kept, each with its own text."""

import multiprocessing

from sqlalchemy import func
from sqlalchemy import select

from relay import audit
from relay import crypto
from relay.database import make_engine
from relay.database import make_session_factory
from relay.database import transaction
from relay.models import AuditEntry
from relay.models import AuditHead
from relay.models import Letter
from relay.models import LetterState
from relay.services import letters
from tests.concurrency.harness import race
from tests.conftest import PEOPLE

PROCESSES = 8
ACTIONS = 200
SENDERS = 50


def _append_entries(url: str, worker: int, count: int, start) -> None:
    """One process of the service: `count` audited actions, each its own transaction."""
    engine = make_engine(url)
    session = make_session_factory(engine)()
    try:
        start.wait()
        for number in range(count):
            with transaction(session):
                audit.record(session, "test.concurrent", details={"worker": worker, "n": number})
    finally:
        session.close()
        engine.dispose()


def test_eight_processes_appending_leave_one_chain_that_verifies(migrated_database, session):
    before = session.scalar(select(AuditHead.sequence))
    session.rollback()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_append_entries, args=(migrated_database, n, ACTIONS, start))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    session.expire_all()
    result = audit.verify(session, crypto.new_signing_key().verify_key)
    assert result.problems == []
    added = session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "test.concurrent")
    )
    assert added == PROCESSES * ACTIONS
    assert session.scalar(select(AuditHead.sequence)) == before + PROCESSES * ACTIONS


def _sign_in(server, role: str):
    email, _name, password = PEOPLE[role]
    return server.sign_in(email, password)


def test_fifty_letters_sent_at_once_are_all_kept(server, world, session):
    authors = [_sign_in(server, role) for role in ("victim", "offender") for _ in range(5)]
    path = f"/my/cases/{world.case.id}/write"
    texts = [f"Letter number {n}, sent with forty-nine others." for n in range(SENDERS)]
    answers = race(
        *[
            (
                lambda ready, n=n: authors[n % len(authors)].post(
                    path, {"text": texts[n], "send": "1"}, ready=ready
                )
            )
            for n in range(SENDERS)
        ]
    )
    assert [getattr(answer, "status", answer) for answer in answers] == [302] * SENDERS
    session.expire_all()
    sent = session.scalars(select(Letter).where(Letter.state == LetterState.IN_REVIEW)).all()
    assert len(sent) == SENDERS
    read = set()
    for letter in sent:
        _letter, versions = letters.read_for_review(session, world.facilitator, letter.id)
        assert len(versions) == 1
        read.add(versions[0][1])
    assert read == set(texts)
    assert server.unhandled_errors() == 0


NOTICES = 90
OUTBOX_WORKERS = 3


def _run_outbox_worker(url: str, key: bytes, port: int, start) -> None:
    """One `flask outbox send` pass, in its own process, sending through real SMTP."""
    import smtplib
    from email.message import EmailMessage

    from relay.services import outbox

    def send(recipient: str, subject: str, body: str, reference: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "relay@relay.test", recipient, subject
        message["Message-ID"] = f"<{reference}@relay.test>"
        message.set_content(body)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as server:
            server.send_message(message)

    engine = make_engine(url)
    try:
        start.wait()
        outbox.dispatch_due(make_session_factory(engine), key, send, send_timeout=30)
    finally:
        engine.dispose()


def test_three_outbox_workers_send_each_notice_exactly_once(migrated_database, session, settings):
    import email
    from email import policy

    from aiosmtpd.controller import Controller

    from relay.models import OutboxMessage
    from relay.services import outbox
    from tests.conftest import free_port

    class Inbox:
        def __init__(self) -> None:
            self.ids: list[str] = []

        async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd's name
            parsed = email.message_from_bytes(envelope.content, policy=policy.default)
            self.ids.append(parsed["Message-ID"])
            return "250 Message accepted for delivery"

    with transaction(session):
        for number in range(NOTICES):
            outbox.queue_mail(
                session,
                settings.outbox_key,
                recipient=f"person{number}@relay.test",
                subject="Something new",
                body=f"Notice {number}",
            )
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        context = multiprocessing.get_context("spawn")
        start = context.Event()
        workers = [
            context.Process(
                target=_run_outbox_worker,
                args=(migrated_database, settings.outbox_key, port, start),
            )
            for _ in range(OUTBOX_WORKERS)
        ]
        for worker in workers:
            worker.start()
        start.set()
        for worker in workers:
            worker.join(timeout=300)
    finally:
        controller.stop()
    assert [worker.exitcode for worker in workers] == [0] * OUTBOX_WORKERS
    assert len(inbox.ids) == NOTICES
    assert len(set(inbox.ids)) == NOTICES  # none sent twice
    session.expire_all()
    unsent = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    )
    assert unsent == 0
