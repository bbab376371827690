"""What every benchmark row shares: the machine, a database of its own, a SQL counter and
interleaved timing against a baseline measured in the same run.

Relay and its baseline take turns round by round (Relay, baseline, Relay, baseline, ...),
so that a slow moment of the machine (another process, a cold cache) lands on both sides
instead of on one; each figure is the median of the rounds' means.
"""

import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import nacl.pwhash.argon2id
import sqlalchemy
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy import text

# The same cheap Argon2id limits as the tests (tests/conftest.py): a bench sign-in is setup,
# not what is measured (bench/bench_kdf.py measures the real cost). Through the environment
# before any app is made, so that the world is built and signed into at one cost.
os.environ.setdefault("ARGON2_OPSLIMIT", str(nacl.pwhash.argon2id.OPSLIMIT_MIN))
os.environ.setdefault("ARGON2_MEMLIMIT", str(nacl.pwhash.argon2id.MEMLIMIT_MIN))

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
FULL = os.environ.get("BENCH_FULL") == "1"
# PostgreSQL when DATABASE_URL names one; the bench makes and drops its own database there.
SERVER_URL = os.environ.get("DATABASE_URL", "")
POSTGRES = SERVER_URL.startswith("postgresql")
BENCH_DATABASE = "relay_bench"


def machine(database: str) -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "sqlalchemy": sqlalchemy.__version__,
        "database": database,
        "date": time.strftime("%Y-%m-%d"),
        "commit": _commit(),
        "rounds": ROUNDS,
    }


def _commit() -> str:
    """The commit measured (the working tree may hold more: see `git status`)."""
    found = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "unknown"


class Databases:
    """Empty databases for one run: SQLite files in a temporary folder, or (with
    DATABASE_URL) PostgreSQL databases named relay_bench_<name>, dropped at the end."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="relay-bench-"))
        self.made: list[str] = []
        self.server = None
        if POSTGRES:
            self.server = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")

    def kind(self) -> str:
        if not POSTGRES:
            return f"SQLite {sqlite_version()} (a file)"
        with self.server.connect() as connection:
            version = connection.scalar(text("SHOW server_version"))
        return f"PostgreSQL {version}"

    def new(self, name: str) -> str:
        if not POSTGRES:
            return f"sqlite:///{self.folder / name}.sqlite3"
        database = f"{BENCH_DATABASE}_{name}"
        with self.server.connect() as connection:
            # The name is ours, made of letters and underscores: never the tests' `test`.
            connection.execute(text(f"DROP DATABASE IF EXISTS {database}"))
            connection.execute(text(f"CREATE DATABASE {database}"))
        self.made.append(database)
        return make_url(SERVER_URL).set(database=database).render_as_string(hide_password=False)

    def close(self) -> None:
        if self.server is not None:
            with self.server.connect() as connection:
                for database in self.made:
                    connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            self.server.dispose()
        shutil.rmtree(self.folder)


def sqlite_version() -> str:
    return sqlite3.sqlite_version


@dataclass
class Counter:
    """SQL statements and commits on an engine, counted while `counting` is on."""

    statements: int = 0
    commits: int = 0
    on: bool = False

    def attach(self, engine) -> "Counter":
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        return self

    def _statement(self, *_args) -> None:
        if self.on:
            self.statements += 1

    def _commit(self, *_args) -> None:
        if self.on:
            self.commits += 1

    @contextmanager
    def counting(self):
        self.statements = self.commits = 0
        self.on = True
        try:
            yield self
        finally:
            self.on = False


def mean_seconds(call: Callable[[], object], times: int) -> float:
    start = time.perf_counter()
    for _ in range(times):
        call()
    return (time.perf_counter() - start) / times


@dataclass
class Paired:
    """Relay's and the baseline's seconds per call, one pair per round."""

    relay: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)

    @property
    def relay_median(self) -> float:
        return statistics.median(self.relay)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def ratio(self) -> float:
        return self.relay_median / self.baseline_median


def interleaved(
    relay: Callable[[], object],
    baseline: Callable[[], object],
    *,
    per_round: int,
    rounds: int = ROUNDS,
    before_round: Callable[[], object] | None = None,
) -> Paired:
    """`rounds` rounds of `per_round` calls each, Relay then the baseline."""
    paired = Paired()
    for _ in range(rounds):
        if before_round is not None:
            before_round()
        paired.relay.append(mean_seconds(relay, per_round))
        paired.baseline.append(mean_seconds(baseline, per_round))
    return paired


@dataclass
class Row:
    """One line of the table: what, Relay's figure, the baseline's, their ratio, a target."""

    what: str
    relay: str
    baseline: str
    ratio: str
    target: str
    met: bool | None
    data: dict = field(default_factory=dict)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def table(rows: list[Row]) -> str:
    headers = ("what", "Relay", "baseline", "ratio", "target", "met")
    cells = [headers] + [
        (
            row.what,
            row.relay,
            row.baseline,
            row.ratio,
            row.target,
            {True: "yes", False: "no", None: "-"}[row.met],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]

    def line(values) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])
