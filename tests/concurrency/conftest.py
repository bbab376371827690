"""Race tests: real concurrent requests to a real gunicorn on the suite's PostgreSQL.

Run them on a PostgreSQL database of your own:

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/relay_races \\
        .venv/bin/python -m pytest -p no:cacheprovider tests/concurrency

On SQLite they are deselected (never skipped): SQLite lets one writer in at a time, so
the races these tests look for cannot happen there, and a pass would prove nothing.

One gunicorn serves the whole module. Its workers open a database session per request,
so the tables that tests/conftest.py empties before each test are all they ever see.
Under pytest-xdist (`make test`) that is the xdist worker's own database (test_gw0, ...)
and a port of the worker's own block (tests/conftest.py).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.concurrency.harness import Server
from tests.concurrency.harness import start_gunicorn
from tests.concurrency.harness import stop
from tests.concurrency.harness import wait_until_ready
from tests.conftest import POSTGRES
from tests.conftest import build_app
from tests.conftest import deselect
from tests.conftest import free_port

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES:
        return
    races = [item for item in items if HERE in item.path.parents]
    if not races:
        return
    deselect(
        config,
        items,
        races,
        [
            f"tests/concurrency: {len(races)} race tests deselected: they need PostgreSQL "
            "(DATABASE_URL=postgresql+psycopg://...); SQLite admits one writer at a time, "
            "so there is no race there to find"
        ],
    )


@pytest.fixture(scope="module")
def server(migrated_database, tmp_path_factory) -> Iterator[Server]:
    """gunicorn with its sync workers on a free local port, for the whole module."""
    folder = tmp_path_factory.mktemp("races")
    # The audit signing key and the chain head, as `flask init` makes them; every worker
    # is given the same key path.
    bootstrap = build_app(migrated_database, folder)
    bootstrap.extensions["relay.engine"].dispose()
    found = Server("127.0.0.1", free_port(), folder / "gunicorn.log")
    process = start_gunicorn(
        found,
        {
            "RELAY_ENV": "test",
            "DATABASE_URL": migrated_database,
            "AUDIT_SIGNING_KEY_PATH": str(folder / "audit-signing.key"),
        },
    )
    try:
        wait_until_ready(found, process)
        yield found
    finally:
        stop(process)
