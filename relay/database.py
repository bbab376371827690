"""Engine and session factory. Knows nothing of Flask or HTTP."""

import os
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

POOL_RECYCLE_SECONDS = 300


def make_engine(url: str) -> Engine:
    # hide_parameters: a database error's message (and so a logged traceback) names the
    # statement but not its values, which can be passwords' digests, e-mail addresses or
    # sealed letters.
    if url.startswith("sqlite"):
        options: dict = {"connect_args": {"timeout": 15}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            options["poolclass"] = StaticPool
            options["connect_args"]["check_same_thread"] = False
        else:
            parsed = make_url(url)
            if parsed.database and parsed.database != ":memory:" and "uri" not in parsed.query:
                _create_private_file(Path(parsed.database))
        engine = create_engine(url, hide_parameters=True, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No ping before every checkout (a round trip per request): connections are recycled
    # before PostgreSQL or a proxy would drop them idle, and one that still broke fails
    # its request, which the pool then replaces.
    return create_engine(url, pool_recycle=POOL_RECYCLE_SECONDS, hide_parameters=True)


def _create_private_file(path: Path) -> None:
    """Make the SQLite file (and its folder, if missing) readable by this account only.

    SQLite would create it with the umask's mode, often 0644: a copy for any local account.
    Its journal and WAL files take the database file's mode, so they stay private too.
    The mode is given at creation (the umask can only narrow it), never changed afterwards:
    there is no moment when the file is open to others, and an existing file or folder is
    the operator's to set.
    """
    if not path.parent.exists():
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


_DEPTH = "relay.transaction_depth"
_WROTE = "relay.wrote"


def _wrote(session: Session, *_args) -> None:
    session.info[_WROTE] = True


def _wrote_if_changed(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


def _written_away(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def _has_written(session: Session) -> bool:
    return bool(session.new or session.dirty or session.deleted or session.info.get(_WROTE))


# On every session, however made: `transaction` commits only what these saw written.
event.listen(Session, "after_flush", _wrote)
event.listen(Session, "do_orm_execute", _wrote_if_changed)
event.listen(Session, "after_transaction_end", _written_away)
T = TypeVar("T")


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """One action, one commit: everything inside commits together or rolls back whole.

    Every service function that changes state wraps its work in this (docs/architecture.md,
    "One commit per action"); a block that wrote nothing does not commit. A service
    called inside another's transaction joins it: only the outermost block commits, so
    composing two actions (save, then submit) is still one commit. A refusal that must
    leave a trace (a failed sign-in is counted and audited) is raised after its block,
    never from inside it (`refused_after_commit`).
    """
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        yield session
        # An action that only read (a session resumed, a refusal checked) has nothing to
        # commit: its reads join the next action's transaction, or end at teardown.
        if depth == 0 and _has_written(session):
            session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info[_DEPTH] = depth


def refused_after_commit(session: Session, work: Callable[[], T | Exception]) -> T:
    """Run `work` as one action whose refusal must leave a trace: `work` returns the
    refusal (an exception) instead of raising it, so the failed attempt it counted and
    audited is committed first, and only then is the refusal raised."""
    with transaction(session):
        outcome = work()
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
