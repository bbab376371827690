"""Every filter the services use is answered from an index, not by reading the whole
table (issue "Performance and scale", item 3).

The statements are the services' own, caught as they run, then asked of the database's
planner: EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL with sequential scans
priced out (on tables this small the planner would otherwise rightly prefer them; what
is checked is that an index exists that it can use).
"""

from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import text

from relay.models import OutboxMessage
from relay.models import utcnow
from relay.services import cases
from relay.services import letters
from relay.services import notes
from relay.services import signing_in

# The tables whose every filtered read must use an index.
WATCHED = (
    "letters",
    "letter_reads",
    "case_participants",
    "user_sessions",
    "sealed_notes",
    "outbox_messages",
)


@contextmanager
def caught(session):
    """The SELECT statements (and their parameters) run inside the block."""
    found = []

    def catch(_connection, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            found.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", catch)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", catch)


def _full_scans(session, statement: str, parameters) -> list[str]:
    """The watched tables the plan reads whole."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        lines = [row[-1] for row in plan]
        return [
            line for line in lines if any(line.startswith(f"SCAN {table}") for table in WATCHED)
        ]
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
    lines = [row[0] for row in plan]
    return [
        line for line in lines if any(f"Seq Scan on {table} " in line + " " for table in WATCHED)
    ]


def test_the_services_lists_are_read_through_indexes(session, settings, world):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "Hello")
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.request_changes(session, settings, world.facilitator, letter.id, "More, please")
    mine = cases.case_for_party(session, world.offender, world.case.id)[1]
    session.expire_all()
    with caught(session) as statements:
        letters.review_queue(session, world.facilitator)
        letters.readings_to_arrange(session, world.facilitator)
        letters.letters_written_by(session, mine)
        letters.letters_received_by(session, mine)
        letters.reads_of(session, letter)
        letters.waiting_unseen(session, mine)
        cases.cases_for(session, world.offender)
        notes.letter_note(session, world.offender, letter)
        signing_in.active_sessions(session, settings, world.offender.user)
        session.execute(
            select(OutboxMessage.id).where(
                OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= utcnow()
            )
        ).all()
    assert len(statements) >= 10
    scans = {
        statement: found
        for statement, parameters in statements
        if (found := _full_scans(session, statement, parameters))
    }
    session.rollback()
    assert scans == {}
