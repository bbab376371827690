"""Every list page asks the database the same number of questions however much it lists
(issue "Performance and scale", item 2): counted at 10 and at 1,000 rows.

The rows are bulk-inserted, not made through the services: a thousand letters through
the services (keys, seals, audit) would take most of a minute, and these pages read only
the rows' states, dates and people, never their text. Audit entries are appended by
`audit.record` itself, in one transaction: the audit page checks their hashes.
"""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select

from relay import audit
from relay.database import transaction
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterState
from relay.models import ReceivePreference
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from tests import bulk

SMALL, LARGE = 10, 1_000


@contextmanager
def counted(app):
    """How many SQL statements run inside the block."""
    statements = []

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement)

    engine = app.extensions["relay.engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _cases_in_review(session, world, count: int, start: int) -> None:
    """`count` active cases of the world's facilitator, each with a letter in review."""
    bulk.add_cases_in_review(session, world.facilitator.id, count, start)


def _letters_in_the_case(session, world, count: int, state: LetterState) -> None:
    """`count` letters from the offender to the victim in the world's case."""
    case = session.get(Case, world.case.id)
    author, recipient = (
        next(p for p in case.participants if p.role == role)
        for role in (Role.OFFENDER, Role.VICTIM)
    )
    recipient.receive_preference = ReceivePreference.RECEIVE
    now = utcnow()
    session.add_all(
        Letter(
            case=case,
            author=author,
            recipient=recipient,
            state=state,
            submitted_at=now,
            approved_at=now,
            delivered_at=now,
        )
        for _ in range(count)
    )
    session.commit()


def _staff_accounts(session, _world, count: int, start: int) -> None:
    """`count` staff accounts: facilitators, every tenth an administrator not yet given the
    escrow key and every seventh reset without the recovery code (both wait for access).
    The key columns hold stand-in bytes: the administrator's page never opens them."""
    now = utcnow()
    session.execute(
        insert(User),
        [
            {
                "email": f"staff-{index}@relay.test",
                "name": f"Staff {index:04}",
                "role": Role.ADMINISTRATOR if index % 10 == 9 else Role.FACILITATOR,
                "created_at": now,
                "disabled": False,
                "password_salt": bytes(16),
                "kdf_opslimit": 1,
                "kdf_memlimit": 8192,
                "authenticator_digest": bytes(32),
                "public_key": bytes(32),
                "private_key_under_password": bytes(72),
                "recovery_salt": bytes(16),
                "private_key_under_recovery": bytes(72),
                "keys_replaced_at": now - timedelta(days=1) if index % 7 == 6 else None,
            }
            for index in range(start, start + count)
        ],
    )
    session.commit()


def _audit_entries(session, world, count: int, _start: int) -> None:
    """`count` more entries on the chain, appended as every action appends them."""
    with transaction(session):
        for _ in range(count):
            audit.record(session, "letter.read_by_staff", actor_id=world.facilitator.id)


def _cases_of_the_victim(session, world, count: int, start: int) -> None:
    """`count` more cases the world's victim takes part in."""
    for index in range(start, start + count):
        case = Case(
            reference=f"PARTY-{index}",
            offence_category="theft",
            state=CaseState.ACTIVE,
            created_by_id=world.facilitator.id,
        )
        session.add_all(
            [
                case,
                CaseParticipant(
                    case=case, user_id=world.facilitator.id, role=Role.FACILITATOR, display_name="F"
                ),
                CaseParticipant(
                    case=case, user_id=world.victim.id, role=Role.VICTIM, display_name="V"
                ),
            ]
        )
    session.commit()


def _statements_for(app, client, path: str) -> int:
    with counted(app) as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(statements)


@pytest.mark.parametrize("path", ["/review/", "/cases/"])
def test_the_facilitators_lists_ask_the_same_however_many_cases(
    app, client, auth, session, world, path
):
    auth.sign_in("facilitator")
    _cases_in_review(session, world, SMALL, 0)
    client.get(path)  # the first request of a client warms what every request reuses
    few = _statements_for(app, client, path)
    _cases_in_review(session, world, LARGE - SMALL, SMALL)
    many = _statements_for(app, client, path)
    assert many == few, f"{path}: {few} statements at {SMALL}, {many} at {LARGE}"


@pytest.mark.parametrize(
    ("role", "path", "state"),
    [
        ("facilitator", "/cases/{case}", LetterState.IN_REVIEW),
        ("victim", "/my/cases/{case}", LetterState.DELIVERED),
        ("offender", "/my/cases/{case}", LetterState.DELIVERED),
    ],
)
def test_a_case_page_asks_the_same_however_many_letters(
    app, client, auth, session, world, role, path, state
):
    path = path.format(case=world.case.id)
    auth.sign_in(role)
    _letters_in_the_case(session, world, SMALL, state)
    client.get(path)
    few = _statements_for(app, client, path)
    _letters_in_the_case(session, world, LARGE - SMALL, state)
    many = _statements_for(app, client, path)
    assert many == few, f"{path}: {few} statements at {SMALL}, {many} at {LARGE}"


def test_the_review_queue_is_shown_a_page_at_a_time(client, auth, session, world):
    auth.sign_in("facilitator")
    _cases_in_review(session, world, 30, 0)
    first = client.get("/review/").text
    assert first.count('href="/review/letters/') == 25
    assert "30 letters, oldest first. Page 1 of 2." in first
    assert 'href="/review/?page=2" rel="next"' in first
    assert 'aria-current="page">1<' in first
    second = client.get("/review/?page=2").text
    assert second.count('href="/review/letters/') == 5
    assert 'href="/review/?page=1" rel="prev"' in second
    # A page past the end shows the last one, not an empty list or an error.
    assert client.get("/review/?page=99").text.count('href="/review/letters/') == 5
    assert "30 letters waiting for review" in client.get("/cases/").text


def test_the_caseload_is_shown_a_page_at_a_time(client, auth, session, world):
    auth.sign_in("facilitator")
    _cases_in_review(session, world, 30, 0)  # and the world's own case: 31
    first = client.get("/cases/").text
    assert first.count('href="/cases/') - first.count('href="/cases/new') >= 25
    assert "31 cases, newest first. Page 1 of 2." in first
    second = client.get("/cases/?page=2").text
    assert "BULK-0<" in second or "RJ-" in second
    assert 'href="/cases/?page=1" rel="prev"' in second
    # An administrator sees every case, counted the same way.
    administrator = auth.another_client("administrator")
    assert "31 cases, newest first. Page 1 of 2." in administrator.get("/cases/").text


@pytest.mark.parametrize(
    ("role", "path", "grow"),
    [
        ("administrator", "/admin/", _staff_accounts),
        ("administrator", "/admin/audit", _audit_entries),
        ("victim", "/my/", _cases_of_the_victim),
    ],
)
def test_the_administrators_and_a_partys_pages_ask_the_same_however_much_they_list(
    app, client, auth, session, world, role, path, grow
):
    auth.sign_in(role)
    grow(session, world, SMALL, 0)
    client.get(path)
    few = _statements_for(app, client, path)
    grow(session, world, LARGE - SMALL, SMALL)
    many = _statements_for(app, client, path)
    assert many == few, f"{path}: {few} statements at {SMALL}, {many} at {LARGE}"


def test_the_staff_are_shown_a_page_at_a_time_those_waiting_first(client, auth, session, world):
    auth.sign_in("administrator")
    _staff_accounts(session, world, 30, 0)  # and the world's administrator and facilitator
    first = client.get("/admin/").text
    assert first.count("<tr><td>") == 25
    assert (
        "32 staff accounts, those waiting for access first, then in the order they joined. "
        "Page 1 of 2." in first
    )
    # Administrators 9, 19 and 29 have no escrow key yet; 6, 13, 20 and 27 were reset.
    assert "7 staff member(s) cannot read letters" in first
    assert first.count("Check and restore access") == 7
    assert first.index("Staff 0029") < first.index("Ada Admin") < first.index("Staff 0000")
    assert 'href="/admin/?page=2" rel="next"' in first
    second = client.get("/admin/?page=2").text
    assert second.count("<tr><td>") == 7
    assert "Staff 0028" in second and "Check and restore access" not in second
    assert 'href="/admin/?page=1" rel="prev"' in second


def test_a_partys_cases_are_shown_a_page_at_a_time(client, auth, session, world):
    auth.sign_in("victim")
    _cases_of_the_victim(session, world, 30, 0)  # and the world's own case: 31
    first = client.get("/my/").text
    assert first.count("Open your letters (") == 25
    assert "Open your letters (1)<" in first
    assert 'href="/my/?page=2" rel="next"' in first
    second = client.get("/my/?page=2").text
    assert second.count("Open your letters (") == 6
    assert "Open your letters (31)<" in second
    assert 'href="/my/?page=1" rel="prev"' in second


def test_the_staff_home_counts_the_letters_waiting_without_loading_them(
    client, auth, session, world
):
    auth.sign_in("facilitator")
    _cases_in_review(session, world, 30, 0)
    loaded = []

    def load(letter, _context):
        loaded.append(letter.id)

    event.listen(Letter, "load", load)
    try:
        home = client.get("/cases/").text
    finally:
        event.remove(Letter, "load", load)
    assert "30 letters waiting for review" in home
    assert loaded == []


def _sorted_whole(connection, statement: str, parameters) -> bool:
    """Whether the plan sorts every row it finds rather than reading them in order."""
    if connection.dialect.name == "sqlite":
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        return any("TEMP B-TREE FOR ORDER BY" in row[-1] for row in plan)
    # Sorting priced out: where an index gives the order, the planner reads it instead.
    connection.exec_driver_sql("SET LOCAL enable_sort = off")
    plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
    return any(row[0].lstrip(" ->").startswith("Sort") for row in plan)


@pytest.mark.parametrize("path", ["/review/", "/cases/"])
def test_the_facilitators_lists_are_read_in_order_and_stop_at_a_page(
    app, client, auth, session, world, path
):
    auth.sign_in("facilitator")
    _cases_in_review(session, world, 30, 0)
    statements = []

    def catch(_connection, _cursor, statement, parameters, _context, _many):
        if " LIMIT " in statement:
            statements.append((statement, parameters))

    engine = app.extensions["relay.engine"]
    event.listen(engine, "before_cursor_execute", catch)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    assert statements, path
    with engine.connect() as connection, connection.begin():
        sorted_whole = [s for s, p in statements if _sorted_whole(connection, s, p)]
    assert sorted_whole == [], path


# --- the review queue's filters and orders (issue 9, item 1) ------------------------------

# Each filter and order of the review queue, alone and together, with the letters of
# `_cases_in_review_of_every_kind` it lists, by their case's number.
QUEUE_CHOICES = {
    "/review/?show=mine": lambda index: index % 3 == 0,
    "/review/?show=unclaimed": lambda index: index % 3 != 0,
    "/review/?show=overdue": lambda index: index % 5 == 0,
    "/review/?show=paper": lambda index: index % 4 == 0,
    "/review/?case=BULK-3": lambda index: index == 3,
    "/review/?order=newest": lambda index: True,
    "/review/?show=overdue&case=BULK-0&order=newest": lambda index: index == 0,
    "/review/?show=mine&order=newest&page=2": lambda index: index % 3 == 0,
}
# An administrator's queue holds every case's letters, through no place of their own; they
# hold no claim in these cases, so their "mine" is empty.
QUEUE_VIEWS = [("facilitator", path) for path in QUEUE_CHOICES] + [
    ("administrator", path) for path in QUEUE_CHOICES if "show=mine" not in path
]


def _cases_in_review_of_every_kind(session, world, count: int, start: int) -> None:
    """As `_cases_in_review`, with some letters of each kind the review queue picks out:
    every third reviewed by the world's facilitator now, every fourth typed in from paper
    by the administrator, every fifth sent two months ago (overdue)."""
    _cases_in_review(session, world, count, start)
    now = utcnow()
    wanted = {f"BULK-{index}": index for index in range(start, start + count)}
    found = session.execute(
        select(Letter, Case.reference).join(Case).where(Case.reference.in_(wanted))
    ).all()
    for letter, reference in found:
        index = wanted[reference]
        if index % 3 == 0:
            letter.claimed_by_id = world.facilitator.id
            letter.claimed_at = now
            letter.claimed_until = now + timedelta(minutes=30)
        if index % 4 == 0:
            letter.entered_by_id = world.administrator.id
        if index % 5 == 0:
            letter.submitted_at = now - timedelta(days=60)
    session.commit()


def _assert_listed(page: str, path: str, count: int) -> None:
    """The queue page lists the letters `path` chooses among `count` of every kind: their
    number in all, and a page of them (so each row's loads are among the statements)."""
    expected = sum(1 for index in range(count) if QUEUE_CHOICES[path](index))
    assert f'<p id="queue-summary">{expected} letter' in page, f"{path}: not {expected} listed"
    assert 'href="/review/letters/' in page, path


def _statements_and_page(app, client, path: str) -> tuple[int, str]:
    with counted(app) as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(statements), response.text


@pytest.mark.parametrize(("role", "path"), QUEUE_VIEWS)
def test_the_review_queue_asks_the_same_however_many_letters_whatever_is_chosen(
    app, client, auth, session, world, role, path
):
    auth.sign_in(role)
    _cases_in_review_of_every_kind(session, world, SMALL, 0)
    client.get(path)
    few, page = _statements_and_page(app, client, path)
    _assert_listed(page, path, SMALL)
    _cases_in_review_of_every_kind(session, world, LARGE - SMALL, SMALL)
    many, page = _statements_and_page(app, client, path)
    _assert_listed(page, path, LARGE)
    assert many == few, f"{path}: {few} statements at {SMALL}, {many} at {LARGE}"


def _page_statements(app, client, path: str) -> tuple[list[tuple[str, object]], str]:
    """The statements of one page that read a page of rows (those with a LIMIT), and the
    page."""
    statements = []

    def catch(_connection, _cursor, statement, parameters, _context, _many):
        if " LIMIT " in statement:
            statements.append((statement, parameters))

    engine = app.extensions["relay.engine"]
    event.listen(engine, "before_cursor_execute", catch)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    assert response.status_code == 200, path
    return statements, response.text


@pytest.mark.parametrize(("role", "path"), QUEUE_VIEWS)
def test_the_review_queue_is_read_in_order_and_stops_at_a_page_whatever_is_chosen(
    app, client, auth, session, world, role, path
):
    auth.sign_in(role)
    _cases_in_review_of_every_kind(session, world, 60, 0)
    statements, page = _page_statements(app, client, path)
    _assert_listed(page, path, 60)
    assert statements, path
    engine = app.extensions["relay.engine"]
    with engine.connect() as connection, connection.begin():
        sorted_whole = [s for s, p in statements if _sorted_whole(connection, s, p)]
    assert sorted_whole == [], path


def test_every_staff_page_counts_the_review_queue_for_its_navigation_in_one_statement(
    app, client, auth, session, world
):
    auth.sign_in("facilitator")
    _cases_in_review(session, world, 30, 0)
    client.get("/cases/")
    loaded = []

    def load(letter, _context):
        loaded.append(letter.id)

    event.listen(Letter, "load", load)
    try:
        with counted(app) as statements:
            home = client.get("/cases/").text
    finally:
        event.remove(Letter, "load", load)
    assert ">Review queue (30)</a>" in home
    assert loaded == []
    # The staff home also counts the queue for its own line: the navigation adds one.
    # (The case list's letters waiting in each case of its page are counted apart, grouped
    # by case: that is not the queue.)
    counts = [
        s
        for s in statements
        if "count(" in s.lower() and "letters" in s and "GROUP BY letters.case_id" not in s
    ]
    assert len(counts) == 3, counts  # the navigation, the home's queue and its readings
