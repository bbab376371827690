"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL when
DATABASE_URL says so), the app, the worlds of tests/factories.py, and one way to sign in.

A test that asks for `world`, `two_cases` or `demo_data` (itself or through another
fixture) starts from a copy of that world, built once per run: on SQLite a copy of the
file, on PostgreSQL a copy of the rows from the schema the world was built in. The audit
signing key the world was built with comes along.
"""

import copy
import itertools
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import jinja2.bccache
import nacl.pwhash.argon2id
import pytest
from sqlalchemy import column as sql_column
from sqlalchemy import create_engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import make_url
from sqlalchemy import null
from sqlalchemy import select
from sqlalchemy import table as sql_table
from sqlalchemy import text
from sqlalchemy import update

from relay import create_app
from relay import schema
from relay.cli import initialise
from relay.models import Base
from relay.services import access
from relay.services import invitations
from relay.services.actor import Actor
from tests import factories

POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgresql")

# `make test` runs the suite in two processes (pytest-xdist): "gw0", "gw1", ...; "" when
# pytest runs alone. Whatever a test or fixture holds outside its tmp_path (a PostgreSQL
# database, a port) is the worker's own, so that two workers never meet.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def worker_database_url(url: str, worker: str = WORKER) -> str:
    """The worker's own PostgreSQL database beside the run's: `.../test` becomes
    `.../test_gw0`. The same URL when pytest runs alone, or when it is already the
    worker's (a process the worker starts imports this module again)."""
    parsed = make_url(url)
    if not worker or parsed.database.endswith(f"_{worker}"):
        return url
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


if POSTGRES:
    # In the environment too, so that every app and process of this worker (gunicorn's in
    # tests/concurrency, anything that reads DATABASE_URL) lands on the worker's database.
    os.environ["DATABASE_URL"] = worker_database_url(os.environ["DATABASE_URL"])


def create_database_from_scratch(url: str) -> None:
    """Drop the database of `url` if it is there and create it empty, from the server's
    maintenance database (the run's own may not exist)."""
    parsed = make_url(url)
    server = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            name = connection.dialect.identifier_preparer.quote(parsed.database)
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        server.dispose()


def pytest_configure(config: pytest.Config) -> None:
    """The controller of an xdist run, before it starts the workers: one hash seed for all
    of them. Each worker collects the tests itself, and xdist stops the run if two collect
    them in another order, as two processes do when a test is parametrized from a set of
    strings. Random for each run still, and shown in the header to repeat one."""
    if not WORKER and getattr(config.option, "numprocesses", None):
        os.environ.setdefault("PYTHONHASHSEED", str(secrets.randbelow(2**32)))


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = os.environ.get("PYTHONHASHSEED")
    return f"PYTHONHASHSEED={seed} (the workers' string hashing)" if seed else None


# Under pytest-xdist every worker collects and deselects, but only the controller reports:
# a worker hands what it deselected, and why, back in its workeroutput (see below).
DESELECTED = "relay_deselected"
_DESELECTED_SAID = pytest.StashKey[bool]()


def deselect(config: pytest.Config, items: list[pytest.Item], chosen, lines) -> None:
    """Take `chosen` out of the run, which says why in `lines`: deselected, never skipped."""
    leaving = set(chosen)
    items[:] = [item for item in items if item not in leaving]
    config.hook.pytest_deselected(items=list(chosen))
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        found = workeroutput.setdefault(DESELECTED, {"ids": [], "lines": []})
        found["ids"].extend(item.nodeid for item in chosen)
        found["lines"].extend(lines)
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for line in lines:
            reporter.write_line(line)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """The controller of an xdist run: say once what the workers deselected, and why, and
    count it in the summary. Each worker collects the same tests, so the first suffices."""
    config = node.config
    found = getattr(node, "workeroutput", {}).get(DESELECTED)
    if not found or config.stash.get(_DESELECTED_SAID, False):
        return
    config.stash[_DESELECTED_SAID] = True
    config.hook.pytest_deselected(items=found["ids"])
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        for line in found["lines"]:
            reporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `only_on(database, reason)` is deselected on the other database, and
    the run says why: CI runs the suite on both, so it is never a skip that hides it."""
    here = "postgresql" if POSTGRES else "sqlite"
    elsewhere = [
        item
        for item in items
        if (marker := item.get_closest_marker("only_on")) is not None and marker.args[0] != here
    ]
    if not elsewhere:
        return
    lines = []
    for item in elsewhere:
        database, reason = item.get_closest_marker("only_on").args
        lines.append(f"{item.nodeid}: deselected on {here}, runs on {database}: {reason}")
    deselect(config, items, elsewhere, lines)


# Argon2id's cost is tested where it is the subject (tests/pure/test_crypto.py,
# tests/pure/test_settings.py, bench/bench_kdf.py). Every other test signs in at
# libsodium's smallest limits: a sign-in then costs microseconds, not a third of a second.
# Through the environment, as an operator sets them, so that every app of the run agrees
# (the test app, the mail tests' app, the browser's, gunicorn's workers in
# tests/concurrency): a world built at one cost and signed into at another would be
# re-sealed on its first sign-in.
os.environ.setdefault("ARGON2_OPSLIMIT", str(nacl.pwhash.argon2id.OPSLIMIT_MIN))
os.environ.setdefault("ARGON2_MEMLIMIT", str(nacl.pwhash.argon2id.MEMLIMIT_MIN))

# Tests import these from here.
PEOPLE = factories.PEOPLE
receive_letters = factories.receive_letters

# The worlds a test can start from, by the fixture that asks for them, most specific first
# (`two_cases` holds the world's case too).
WORLDS = {
    "two_cases": factories.build_two_cases,
    "world": factories.build_world,
    "demo_data": factories.load_demo,
}
# A world's people are signed in when it is built, and a party's session ends after 15
# idle minutes: an older world is built again rather than handed out with ended sessions.
FRESH_FOR_SECONDS = 10 * 60


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """Migrate once; each test then gets a copy (SQLite) or emptied tables (PostgreSQL)."""
    if POSTGRES:
        url = os.environ["DATABASE_URL"]
        if WORKER:
            # Each worker's database starts from nothing, as .ci/reset_postgres.py leaves
            # the run's; alone, pytest takes the database it is given as it is.
            create_database_from_scratch(url)
        schema.upgrade(url)
        return url
    path = tmp_path_factory.mktemp("template") / "relay.sqlite3"
    schema.upgrade(f"sqlite:///{path}")
    return path


@dataclass
class Template:
    """A world built once: where its database is, its audit signing key, what was built."""

    name: str
    database: str  # SQLite: the file; PostgreSQL: the schema holding the tables
    key: Path
    built: factories.Built
    built_at: float


class Worlds:
    """Builds each world of WORLDS when first asked for, and copies it for each test."""

    def __init__(self, migrated_database, folder: Path) -> None:
        self.migrated_database = migrated_database
        self.folder = folder
        self.templates: dict[str, Template] = {}
        self.engine = create_engine(migrated_database) if POSTGRES else None

    def get(self, name: str) -> Template:
        found = self.templates.get(name)
        if found is None or time.monotonic() - found.built_at > FRESH_FOR_SECONDS:
            found = self.templates[name] = self._build(name)
        return found

    def _build(self, name: str) -> Template:
        folder = self.folder / f"{name}-{time.monotonic_ns()}"
        folder.mkdir()
        if POSTGRES:
            database = f"relay_world_{name}"
            with self.engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {database} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {database}"))
            url = (
                make_url(self.migrated_database)
                .update_query_dict({"options": f"-csearch_path={database}"})
                .render_as_string(hide_password=False)
            )
        else:
            database = str(folder / "relay.sqlite3")
            shutil.copy(self.migrated_database, database)
            url = f"sqlite:///{database}"
        app = build_app(url, folder)
        try:
            with app.extensions["relay.sessionmaker"]() as session:
                built = WORLDS[name](session, app.extensions["relay.settings"])
        finally:
            app.extensions["relay.engine"].dispose()
        return Template(name, database, folder / "audit-signing.key", built, time.monotonic())

    def empty(self) -> None:
        """PostgreSQL: every table emptied, its ids starting again from 1."""
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with self.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))

    def copy_into(self, template: Template) -> None:
        """PostgreSQL: the template's rows in place of the tables' own."""
        self.empty()
        copied, waiting = set(), []
        with self.engine.begin() as connection:
            for table in Base.metadata.sorted_tables:  # parents before children
                names = [column.name for column in table.columns]
                source = sql_table(
                    table.name, *(sql_column(name) for name in names), schema=template.database
                ).alias("template")
                # A key into a table not copied yet (letters and their versions point at
                # each other) is filled in once every row is there.
                later = {
                    key.parent.name
                    for key in table.foreign_keys
                    if key.column.table is not table and key.column.table.name not in copied
                }
                values = [null() if name in later else source.c[name] for name in names]
                connection.execute(insert(table).from_select(names, select(*values)))
                copied.add(table.name)
                if later:
                    waiting.append((table, source, later))
                for column in table.primary_key.columns:
                    # The next id follows the copied rows (a key without a sequence: a no-op).
                    following = select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()
                    sequence = func.pg_get_serial_sequence(table.name, column.name)
                    connection.execute(select(func.setval(sequence, following, False)))
            for table, source, later in waiting:
                same_row = [table.c[key.name] == source.c[key.name] for key in table.primary_key]
                connection.execute(
                    update(table).where(*same_row).values({name: source.c[name] for name in later})
                )

    def close(self) -> None:
        if self.engine is None:
            return
        with self.engine.begin() as connection:
            for template in self.templates.values():
                connection.execute(text(f"DROP SCHEMA IF EXISTS {template.database} CASCADE"))
        self.engine.dispose()


@pytest.fixture(scope="session")
def worlds(migrated_database, tmp_path_factory):
    found = Worlds(migrated_database, tmp_path_factory.mktemp("worlds"))
    yield found
    found.close()


@pytest.fixture
def template(request, worlds) -> Template | None:
    """The world this test starts from: the first of WORLDS it asks for, or none."""
    wanted = [name for name in WORLDS if name in request.fixturenames]
    if "demo_data" in wanted and len(wanted) > 1:
        pytest.fail("the demo and the test world are two worlds: a test starts from one")
    return worlds.get(wanted[0]) if wanted else None


@pytest.fixture
def database_url(migrated_database, tmp_path, template, worlds):
    if template is not None:
        shutil.copy(template.key, tmp_path / "audit-signing.key")
    if POSTGRES:
        if template is None:
            worlds.empty()
        else:
            worlds.copy_into(template)
        return migrated_database
    path = tmp_path / "relay.sqlite3"
    shutil.copy(migrated_database if template is None else template.database, path)
    return f"sqlite:///{path}"


# The ports the servers of a test take: a block of its own for each xdist worker (the
# first for pytest alone), below the range Linux hands out to outgoing connections
# (32768 and up), so that neither the other worker nor a client socket of this machine
# takes a port between its pick and the server's bind. Each process starts at a random
# place in its block, so two runs at once rarely meet either. A port is free when a server
# can bind it as gunicorn and aiosmtpd do (SO_REUSEADDR): nothing listens there, though
# connections to an earlier server may still be closing (TIME_WAIT, a minute).
PORT_BLOCK = 1000
FIRST_PORT = 20_000
_PORT_SLOT = int(WORKER.removeprefix("gw")) + 1 if WORKER.startswith("gw") else 0
_PORT_BASE = FIRST_PORT + _PORT_SLOT * PORT_BLOCK
_port_turns = itertools.count(secrets.randbelow(PORT_BLOCK))


def free_port() -> int:
    """A local port nothing listens on (for a server to take, or to find closed)."""
    if _PORT_BASE + PORT_BLOCK > 32768:  # more workers than blocks: the kernel's choice
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
    for _ in range(PORT_BLOCK):
        port = _PORT_BASE + next(_port_turns) % PORT_BLOCK
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: by a server still running, or by another program
            return port
    raise RuntimeError(f"no free port in {_PORT_BASE}-{_PORT_BASE + PORT_BLOCK - 1}")


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
def build_app_with(database_url, tmp_path):
    """Builds the test app with other settings, `build_app_with(SIGN_IN_RATE_LIMIT=...)`,
    as often as a test asks (each app counts its rate limits on its own); each disposed
    of after."""
    built = []

    def build(**config):
        built.append(build_app(database_url, tmp_path, **config))
        return built[-1]

    yield build
    for app in built:
        app.extensions["relay.engine"].dispose()


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


@pytest.fixture
def world(session, settings, template) -> factories.World:
    """An active case with an administrator, a facilitator and both parties signed up."""
    return factories.world_of(session, settings, template.built)


@pytest.fixture
def two_cases(template) -> tuple[factories.Resources, factories.Resources]:
    """Case A (the world's) and case B, run by another facilitator with other parties."""
    case_a, case_b = copy.deepcopy(template.built.resources)
    return case_a, case_b


@pytest.fixture
def demo_data(session):
    """The demo, as `flask demo` loads it: a case with letters in every state."""
    return session


def asked_to_sign_in(response) -> bool:
    """A gated page asked for by someone not signed in (or no longer): the sign-in page,
    to come back to that page after (relay/views/__init__.py `require_roles`)."""
    location = response.headers.get("Location", "")
    return response.status_code == 302 and location.startswith("/sign-in?next=")


class Auth:
    """Signs a test client in and out the way a person does: through the pages."""

    def __init__(self, client, people: factories.People = PEOPLE):
        self.client = client
        self.people = people

    def sign_in(self, role: str):
        """Sign in as `role` of the test's world; "anonymous" stays signed out."""
        if role == "anonymous":
            return None
        email, _name, password = self.people[role]
        return self.sign_in_as(email, password)

    def sign_in_as(self, email: str, password: str):
        response = self.client.post("/sign-in", data={"email": email, "password": password})
        assert response.status_code == 302, response.text
        return response

    def sign_out(self):
        return self.client.post("/sign-out")

    def another_client(self, role: str):
        """A second browser, signed in as `role`: for two people acting at once."""
        other = Auth(self.client.application.test_client(), self.people)
        other.sign_in(role)
        return other.client


@pytest.fixture
def auth(client, template):
    """Signs in the people of the test's world (PEOPLE when it starts from none)."""
    return Auth(client, PEOPLE if template is None else template.built.people)


# Sam, a second facilitator on the world's case (the `sam` and `sam_client` fixtures).
SAM = ("sam@relay.test", "Sam Jones", "correct horse sam jones")


def _sam_joins_the_case(session, settings, world: factories.World) -> None:
    """Sam invited as staff, their account set up, and added to the world's case by its
    facilitator, as the staff and case pages do."""
    email, name, password = SAM
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    access.add_facilitator(session, world.facilitator, world.case.id, email)


@pytest.fixture
def sam(session, settings, world) -> Actor:
    """Sam (SAM), a second facilitator on the world's case: as an actor of the services."""
    _sam_joins_the_case(session, settings, world)
    return factories.actor_for(session, settings, SAM[0], SAM[2])


@pytest.fixture
def sam_client(app, session, settings, world):
    """Sam (SAM), a second facilitator on the world's case, signed in in a browser of their
    own: its test client (the test's `client` stays whoever `auth` signs in)."""
    _sam_joins_the_case(session, settings, world)
    browser = Auth(app.test_client())
    browser.sign_in_as(SAM[0], SAM[2])
    return browser.client
