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
