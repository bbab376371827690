"""The restore drill of docs/deploy.md, as a test: back the database up the way an operator
would (pg_dump, or SQLite's online backup), restore it into a fresh database, and check
that the audit chain verifies and a delivered letter still opens for its recipient
(issue "Performance and scale", item 7)."""

import sqlite3
import subprocess

from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text

from relay import audit
from relay import crypto
from relay import schema
from relay.database import make_engine
from relay.database import make_session_factory
from relay.services import letters
from tests.conftest import PEOPLE
from tests.factories import actor_for
from tests.factories import receive_letters

TEXT = "Restored intact, and still only for you."
# Named after the run's own database (one per worker, tests/conftest.py), so that two
# runs on one server never restore into the same database.
DRILL_SUFFIX = "_restore_drill"


def _libpq(url) -> str:
    """The address pg_dump and pg_restore take (no driver name, no options)."""
    return url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)


def _backup_and_restore(source_url: str, tmp_path) -> str:
    """A backup of `source_url` restored into a fresh database; returns its URL."""
    url = make_url(source_url)
    if url.get_backend_name() == "sqlite":
        restored = tmp_path / "restored.sqlite3"
        with sqlite3.connect(url.database) as live, sqlite3.connect(restored) as copy:
            live.backup(copy)
        return f"sqlite:///{restored}"
    dump = tmp_path / "relay.dump"
    subprocess.run(  # noqa: S603 - fixed arguments, the test's own database
        ["pg_dump", "--format=custom", "--schema=public", f"--file={dump}", _libpq(url)],
        check=True,
    )
    drill = f"{url.database}{DRILL_SUFFIX}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{drill}"'))
        connection.execute(text(f'CREATE DATABASE "{drill}"'))
    admin.dispose()
    target = url.set(database=drill)
    subprocess.run(  # noqa: S603 - fixed arguments, the drill's own database
        [
            "pg_restore",
            "--no-owner",
            "--clean",
            "--if-exists",
            f"--dbname={_libpq(target)}",
            str(dump),
        ],
        check=True,
    )
    return target.render_as_string(hide_password=False)


def test_a_restored_backup_verifies_and_its_letters_open(app, session, settings, world, tmp_path):
    receive_letters(session, settings, world.victim, world.case.id)
    letter = letters.save_draft(session, world.offender, world.case.id, None, TEXT)
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    letter_id = letter.id
    session.close()

    restored_url = _backup_and_restore(app.config["DATABASE_URL"], tmp_path)
    engine = make_engine(restored_url)
    try:
        assert schema.is_current(engine, restored_url)
        with make_session_factory(engine)() as restored:
            result = audit.verify(restored, crypto.new_signing_key().verify_key)
            assert result.problems == [] and result.entries > 0
            email, _name, password = PEOPLE["victim"]
            victim = actor_for(restored, settings, email, password)
            assert letters.open_letter(restored, settings, victim, letter_id)[1] == TEXT
    finally:
        engine.dispose()
