"""Each step does its work once (issue "Performance and scale", item 4): sending a letter
does not read back or decrypt what it has just written."""

from sqlalchemy import event
from sqlalchemy import select

from relay.models import Letter
from tests import factories
from tests.web.test_constant_sql import counted


def test_sending_a_letter_reads_nothing_back(app, client, auth, world):
    auth.sign_in("offender")
    client.get(f"/my/cases/{world.case.id}/write")
    with counted(app) as statements:
        sent = client.post(
            f"/my/cases/{world.case.id}/write", data={"text": "Hello there", "send": "1"}
        )
    assert sent.status_code == 302
    selects = [s for s in statements if s.lstrip().startswith("SELECT")]
    # The seal just written is never read back to decrypt the text just sealed, and the
    # letter row just inserted is never selected again.
    assert not [s for s in selects if "FROM content_key_seals" in s]
    assert not [s for s in selects if "FROM letters" in s]
    assert len(statements) <= 30, len(statements)


def test_a_signed_in_page_resumes_the_session_in_one_query(app, client, auth, world):
    auth.sign_in("victim")
    client.get("/my/")
    with counted(app) as statements:
        assert client.get("/my/").status_code == 200
    resumed = [s for s in statements if "FROM user_sessions" in s or "FROM users" in s]
    assert len(resumed) == 1, resumed
    assert "JOIN users" in resumed[0]


def _step_statements(app, client, auth, path: str, data: dict, role: str) -> list[str]:
    """The SQL of one POST by `role`, with a COMMIT marker where the database committed."""
    auth.sign_in(role)
    engine = app.extensions["relay.engine"]
    with counted(app) as statements:
        marks = []

        def commit(_connection) -> None:
            marks.append(len(statements))

        event.listen(engine, "commit", commit)
        try:
            response = client.post(path, data=data)
        finally:
            event.remove(engine, "commit", commit)
    assert response.status_code in (200, 302), response.text
    for at in reversed(marks):
        statements.insert(at, "COMMIT")
    return statements


def _asked_twice(statements: list[str]) -> list[str]:
    reads = [" ".join(s.split()) for s in statements if s.lstrip().startswith("SELECT")]
    return sorted({s[:120] for s in reads if reads.count(s) > 1})


def test_each_step_is_one_transaction_that_asks_for_nothing_twice(
    app, client, auth, session, settings, world
):
    """Submit, approve and deliver, open: each commits once (a resumed session that only
    read does not commit on its own) and asks for no row it already has (the case and its
    people once, under the lock, not again before and after it)."""
    factories.receive_letters(session, settings, world.victim, world.case.id)
    sent = _step_statements(
        app,
        client,
        auth,
        f"/my/cases/{world.case.id}/write",
        {"text": "I am sorry for what I did", "send": "1"},
        "offender",
    )
    letter_id = session.scalar(select(Letter.id).order_by(Letter.id.desc()))
    auth.sign_out()
    approved = _step_statements(
        app,
        client,
        auth,
        f"/review/letters/{letter_id}/approve",
        {"not_before": ""},
        "facilitator",
    )
    auth.sign_out()
    opened = _step_statements(app, client, auth, f"/my/received/{letter_id}/open", {}, "victim")
    for name, statements in (("submit", sent), ("approve", approved), ("open", opened)):
        assert statements.count("COMMIT") == 1, (name, statements)
        assert statements[-1] == "COMMIT", (name, statements[-1])
        assert _asked_twice(statements) == [], name
