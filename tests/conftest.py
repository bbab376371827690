"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL when
DATABASE_URL says so), the app, and a world built through the services."""

import os
import shutil
import socket

import jinja2
import jinja2.bccache
import nacl.pwhash.argon2id
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text

from relay import create_app
from relay import schema
from relay.cli import initialise
from relay.models import Base

POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgresql")

# Argon2id's cost is tested where it is the subject (tests/unit/test_crypto.py,
# tests/unit/test_settings.py, bench/bench_kdf.py). Every other test signs in at
# libsodium's smallest limits: a sign-in then costs microseconds, not a third of a second.
# Through the environment, as an operator sets them, so that every app of the run agrees
# (the test app, the mail tests' app, the browser's, gunicorn's workers in
# tests/concurrency): a world built at one cost and signed into at another would be
# re-sealed on its first sign-in.
os.environ.setdefault("ARGON2_OPSLIMIT", str(nacl.pwhash.argon2id.OPSLIMIT_MIN))
os.environ.setdefault("ARGON2_MEMLIMIT", str(nacl.pwhash.argon2id.MEMLIMIT_MIN))


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


def free_port() -> int:
    """A local port nothing listens on (for a server to take, or to find closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CompiledTemplates(jinja2.BytecodeCache):
    """Each test's app has a Jinja environment of its own, which would compile every
    template it renders again: they share what was compiled (Jinja checks the source's
    checksum before using it)."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def build_app(database_url: str, tmp_path, **config):
    """The test app on `database_url`, initialised as `flask init` does; `config` on top."""
    app = create_app(
        {
            "RELAY_ENV": "test",
            "DATABASE_URL": database_url,
            "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "audit-signing.key"),
            "WTF_CSRF_ENABLED": False,
            **config,
        }
    )
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    initialise(app)
    return app


@pytest.fixture
def app(database_url, tmp_path):
    app = build_app(database_url, tmp_path)
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


PEOPLE = {
    "administrator": ("admin@relay.test", "Ada Admin", "correct horse admin"),
    "facilitator": ("facilitator@relay.test", "Fran Facilitator", "correct horse facilitator"),
    "victim": ("victim@relay.test", "Vic Harmed", "correct horse victim"),
    "offender": ("offender@relay.test", "Olly Responsible", "correct horse offender"),
}


@pytest.fixture
def world(session, settings):
    """An active case with an administrator, a facilitator and both parties signed up."""
    from relay import demo

    return demo.build_active_case(session, settings, PEOPLE)


class Auth:
    """Signs a test client in and out the way a person does: through the pages."""

    def __init__(self, client):
        self.client = client

    def sign_in(self, role: str):
        email, _name, password = PEOPLE[role]
        return self.sign_in_as(email, password)

    def sign_in_as(self, email: str, password: str):
        response = self.client.post("/sign-in", data={"email": email, "password": password})
        assert response.status_code == 302, response.text
        return response

    def sign_out(self):
        return self.client.post("/sign-out")


@pytest.fixture
def auth(client):
    return Auth(client)


def receive_letters(session, settings, victim, case_id: int, conditions: str = "") -> None:
    """The victim chooses to receive letters as soon as they are approved."""
    from relay.services import cases

    cases.set_receiving(
        session,
        settings,
        victim,
        case_id,
        preference="receive",
        tell_author_when_read=False,
        conditions=conditions,
    )
