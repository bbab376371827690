"""The database file: a copy of it is what the encryption defends against, so the service
does not hand one to every local account by creating it world-readable."""

import os
import stat
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from relay.database import make_engine


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give a service: files 0644 and folders 0755 unless told."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _open_once(url: str) -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.commit()
    engine.dispose()


def test_a_new_sqlite_file_and_the_folder_made_for_it_are_private(tmp_path, usual_umask):
    path = tmp_path / "instance" / "relay.sqlite3"

    _open_once(f"sqlite:///{path}")

    assert path.stat().st_size > 0, "SQLite wrote its database into the file"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


def test_an_existing_folder_is_left_as_it_is(tmp_path, usual_umask):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)

    _open_once(f"sqlite:///{folder / 'relay.sqlite3'}")

    assert _mode(folder / "relay.sqlite3") == 0o600
    assert _mode(folder) == 0o750


def test_an_in_memory_database_makes_no_file(tmp_path, usual_umask, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite://", "sqlite:///:memory:"):
        _open_once(url)
    assert list(tmp_path.iterdir()) == []
