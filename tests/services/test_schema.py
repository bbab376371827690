"""The schema exists only through Alembic: the head matches the models, and every
migration runs up, down and up again."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from relay import schema
from relay.database import make_engine
from relay.models import Base

POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgresql")


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _current_heads(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def _script_heads(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(schema.alembic_config(url)).get_heads())


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'schema.sqlite3'}"


def test_there_is_a_single_head(sqlite_url):
    assert len(_script_heads(sqlite_url)) == 1


def test_the_alembic_head_matches_the_models_on_sqlite(sqlite_url):
    schema.upgrade(sqlite_url)
    assert _diff(sqlite_url) == []


def test_the_alembic_head_matches_the_models_on_this_runs_database(migrated_database):
    """The database the suite runs on (SQLite, or PostgreSQL in CI's second pass).

    Read only: other tests share it; the up-down-up tests below use their own files.
    """
    url = migrated_database if POSTGRES else f"sqlite:///{migrated_database}"
    assert _current_heads(url) == _script_heads(url)
    assert _diff(url) == []


def test_every_migration_runs_up_down_and_up_again(sqlite_url):
    model_tables = {table.name for table in Base.metadata.sorted_tables}

    schema.upgrade(sqlite_url)
    assert _tables(sqlite_url) == model_tables | {"alembic_version"}
    assert _current_heads(sqlite_url) == _script_heads(sqlite_url)

    schema.downgrade(sqlite_url, "base")
    assert _tables(sqlite_url) <= {"alembic_version"}
    assert _current_heads(sqlite_url) == set()

    schema.upgrade(sqlite_url)
    assert _tables(sqlite_url) == model_tables | {"alembic_version"}
    assert _diff(sqlite_url) == []


def test_each_revision_steps_down_and_up_one_at_a_time(sqlite_url):
    script = ScriptDirectory.from_config(schema.alembic_config(sqlite_url))
    revisions = [revision.revision for revision in script.walk_revisions("base", "heads")]
    schema.upgrade(sqlite_url)
    for revision in revisions:  # newest first
        schema.downgrade(sqlite_url, "-1")
        assert revision not in _current_heads(sqlite_url)
    assert _tables(sqlite_url) <= {"alembic_version"}
    for revision in reversed(revisions):
        schema.upgrade(sqlite_url, "+1")
        assert _current_heads(sqlite_url) == {revision}
    assert _diff(sqlite_url) == []


def test_upgrade_is_a_no_op_when_already_at_head(sqlite_url):
    schema.upgrade(sqlite_url)
    schema.upgrade(sqlite_url)
    assert _current_heads(sqlite_url) == _script_heads(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        assert schema.is_current(engine, sqlite_url)
    finally:
        engine.dispose()
