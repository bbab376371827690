"""One commit per action: `transaction` commits once at the outermost block, joins nested
blocks into it, and rolls back whole on any error."""

import pytest
from sqlalchemy import Column
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import Table
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.database import make_engine
from relay.database import transaction

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True))


@pytest.fixture
def session():
    engine = make_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        commits = []
        event.listen(session, "after_commit", lambda _s: commits.append(1))
        session.info["commits"] = commits
        yield session
    engine.dispose()


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(notes))


def _add(session: Session) -> None:
    with transaction(session):
        session.execute(insert(notes))


def test_nested_actions_commit_once_at_the_outermost_block(session):
    with transaction(session):
        _add(session)
        _add(session)
        assert session.info["commits"] == [], "an inner block must not commit"
    assert session.info["commits"] == [1]
    assert _count(session) == 2


def test_a_failure_anywhere_rolls_back_the_whole_action(session):
    with pytest.raises(RuntimeError), transaction(session):
        _add(session)
        raise RuntimeError("the second half failed")
    assert _count(session) == 0
    assert session.info["commits"] == []


def test_a_failure_in_an_inner_action_undoes_the_outer_work_too(session):
    def failing() -> None:
        with transaction(session):
            session.execute(insert(notes))
            raise ValueError("refused")

    with pytest.raises(ValueError), transaction(session):
        _add(session)
        failing()
    assert _count(session) == 0


def test_after_a_rollback_the_next_action_starts_clean(session):
    with pytest.raises(RuntimeError), transaction(session):
        _add(session)
        raise RuntimeError
    _add(session)
    assert _count(session) == 1
    assert session.info["commits"] == [1]


def test_nothing_in_relay_commits_or_rolls_back_but_the_transaction_helper():
    """Views, commands and services commit only through `transaction` (docs/architecture.md).
    The one other rollback is the 500 page's, for an error that came outside any action."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "relay"
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "database.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.(commit|rollback)\(\)", line)
    ]
    errors = root / "web" / "errors.py"
    assert found == ["web/errors.py:" + str(_server_error_rollback_line(errors))]


def _server_error_rollback_line(path) -> int:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("def _server_error("))
    return next(i for i in range(start, len(lines)) if "rollback()" in lines[i]) + 1


def test_an_action_that_only_read_does_not_commit_and_the_next_one_does(session):
    with transaction(session):
        _count(session)
    assert session.info["commits"] == [], "nothing was written: nothing to commit"
    _add(session)
    assert session.info["commits"] == [1]
    with transaction(session):
        session.execute(notes.update().values(id=notes.c.id + 10))
    assert session.info["commits"] == [1, 1], "a Core UPDATE is a write too"
