"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL when
DATABASE_URL says so), the app, and a world built through the services."""

import os
import shutil

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text

from relay import create_app
from relay import schema
from relay.cli import initialise
from relay.models import Base

POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgresql")


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """Migrate once; each test then gets a copy (SQLite) or emptied tables (PostgreSQL)."""
    if POSTGRES:
        url = os.environ["DATABASE_URL"]
        schema.upgrade(url)
        return url
    path = tmp_path_factory.mktemp("template") / "relay.sqlite3"
    schema.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(migrated_database, tmp_path):
    if POSTGRES:
        engine = create_engine(migrated_database)
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return migrated_database
    path = tmp_path / "relay.sqlite3"
    shutil.copy(migrated_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(
        {
            "RELAY_ENV": "test",
            "DATABASE_URL": database_url,
            "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "audit-signing.key"),
            "WTF_CSRF_ENABLED": False,
        }
    )
    initialise(app)
    yield app
    app.extensions["relay.engine"].dispose()


@pytest.fixture
def session(app):
    with app.extensions["relay.sessionmaker"]() as session:
        yield session


@pytest.fixture
def settings(app):
    return app.extensions["relay.settings"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
