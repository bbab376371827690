"""The audit trail: an append-only hash chain with signed checkpoints.

Every entry is written in the transaction of the action it records (the
caller commits both or neither). Appends bump the single `audit_head` row
first; that row lock (PostgreSQL) or the database write lock (SQLite)
serialises appends so concurrent requests never fork the chain. The head holds
only the newest sequence number: the newest entry's hash is that entry's own.

Details never carry letter text, passwords, keys or codes: only ids, states
and short reasons chosen from fixed lists.

Checkpoints kept off the server are what make a rollback or a rewrite visible:
an attacker with the database can re-chain every hash and delete the checkpoint
rows, but cannot sign. `verify(..., kept=read_checkpoints(file))` checks that
the database's chain still extends each checkpoint in such a file.
"""

import hashlib
import json
import multiprocessing
import os
import queue
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from collections.abc import Set
from contextlib import AbstractContextManager
from contextlib import contextmanager
from contextlib import nullcontext
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from json.encoder import encode_basestring_ascii as _json_string
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy import Integer
from sqlalchemy import literal_column
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from relay import crypto
from relay.database import make_engine
from relay.database import transaction
from relay.models import AuditCheckpoint
from relay.models import AuditEntry
from relay.models import AuditHead
from relay.models import AuditVerification

GENESIS_HASH = "0" * 64
HEAD_ID = 1
# How often a checkpoint is expected; an older newest checkpoint is reported.
CHECKPOINT_SCHEDULE = timedelta(hours=24)
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _timestamp(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def _parse_timestamp(at: str) -> datetime:
    return datetime.strptime(at, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def canonical_details(details: dict | None) -> str:
    return json.dumps(details or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_encoding(
    *,
    sequence: int,
    at: str,
    actor_id: int | None,
    action: str,
    case_id: int | None,
    letter_id: int | None,
    details: str,
    prev_hash: str,
) -> bytes:
    """The exact bytes an entry's hash covers; pinned by known-answer tests."""
    record = {
        "action": action,
        "actor": actor_id,
        "at": at,
        "case": case_id,
        "details": details,
        "letter": letter_id,
        "prev": prev_hash,
        "seq": sequence,
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash_of(**fields: object) -> str:
    return hashlib.blake2b(canonical_encoding(**fields), digest_size=32).hexdigest()


# `canonical_encoding`'s output with its keys in their sorted order; see `_hash_of_row`.
_ENCODED_ROW = (
    '{"action":%s,"actor":%s,"at":%s,"case":%s,"details":%s,"letter":%s,"prev":%s,"seq":%s}'
)


def _hash_of_row(
    sequence: int,
    at: str,
    actor_id: int | None,
    action: str,
    case_id: int | None,
    letter_id: int | None,
    details: str,
    prev_hash: str,
) -> str:
    """`entry_hash_of` for a row as the database gives it, several times faster: verify
    calls it once per entry. It writes the bytes of `canonical_encoding` (the definition)
    without a dict or a json.dumps per entry: strings through json's own escaping
    (`encode_basestring_ascii`, what json.dumps uses with ensure_ascii), whole numbers
    through `int.__repr__` as json does, None as null. A value of any other type (a bool,
    which json writes as true; a float or text where SQLite was given one) goes to the
    definition. tests/pure/test_audit_encoding.py proves the bytes equal."""
    try:
        if type(sequence) is bool or bool in (type(actor_id), type(case_id), type(letter_id)):
            raise TypeError
        encoded = _ENCODED_ROW % (
            _json_string(action),
            "null" if actor_id is None else int.__repr__(actor_id),
            _json_string(at),
            "null" if case_id is None else int.__repr__(case_id),
            _json_string(details),
            "null" if letter_id is None else int.__repr__(letter_id),
            _json_string(prev_hash),
            int.__repr__(sequence),
        )
    except TypeError:
        return entry_hash_of(
            sequence=sequence,
            at=at,
            actor_id=actor_id,
            action=action,
            case_id=case_id,
            letter_id=letter_id,
            details=details,
            prev_hash=prev_hash,
        )
    return hashlib.blake2b(encoded.encode(), digest_size=32).hexdigest()


# The columns an entry's hash covers, in the order `canonical_encoding` takes them.
_HASHED_COLUMNS = (
    AuditEntry.sequence,
    AuditEntry.at,
    AuditEntry.actor_id,
    AuditEntry.action,
    AuditEntry.case_id,
    AuditEntry.letter_id,
    AuditEntry.details,
    AuditEntry.prev_hash,
)
# Rows fetched at a time while verifying: a server-side cursor on PostgreSQL.
VERIFY_BATCH = 10_000
# A long chain is verified by several processes (`verify(..., workers=N)`), each taking the
# next chunk of this many sequence numbers until none is left; this one takes chunks too.
VERIFY_CHUNK = 25_000
# Below this many entries, verify stays in one process: starting another Python costs
# 0.6-0.9 s on a 2-core machine (most of it importing Flask through relay/__init__.py),
# which a shorter chain does not win back. Measured there: two processes break even near
# 300k entries and are 1.4-1.6 times as fast from 500k (bench/bench_audit.py).
PARALLEL_FROM = 300_000
MAX_WORKERS = 8


def _fields(entry: AuditEntry) -> dict:
    return {
        "sequence": entry.sequence,
        "at": entry.at,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "case_id": entry.case_id,
        "letter_id": entry.letter_id,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }


def ensure_head(session: Session) -> None:
    """Start the chain (at `flask init`); nothing if it has started."""
    with transaction(session):
        if session.get(AuditHead, HEAD_ID) is None:
            session.add(AuditHead(id=HEAD_ID, sequence=0))


def head(session: Session) -> tuple[int, str | None]:
    """The chain's head: its sequence and the hash of the entry there (GENESIS_HASH
    before the first entry; None if that entry is missing). One statement, so on
    PostgreSQL both come from the same snapshot: the head and its entry commit together."""
    found = session.execute(
        select(AuditHead.sequence, AuditEntry.entry_hash)
        .outerjoin(AuditEntry, AuditEntry.sequence == AuditHead.sequence)
        .where(AuditHead.id == HEAD_ID)
    ).one_or_none()
    if found is None:
        raise RuntimeError("the audit chain has no head; run `flask --app wsgi init`")
    sequence, entry_hash = found
    return sequence, GENESIS_HASH if sequence == 0 else entry_hash


# The previous entry's hash, read by the statement that bumps the head. The head's column
# is named in full: SQLAlchemy writes RETURNING's columns without their table on SQLite,
# subqueries included, and a bare `sequence` there would be audit_entries' own.
_PREVIOUS_HASH = (
    select(AuditEntry.entry_hash)
    .where(AuditEntry.sequence == literal_column("audit_head.sequence", Integer) - 1)
    .scalar_subquery()
)


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None = None,
    case_id: int | None = None,
    letter_id: int | None = None,
    details: dict | None = None,
) -> AuditEntry:
    """Append one entry to the chain inside the caller's transaction: two statements."""
    # The UPDATE comes first so that the lock is held before the chain is read; it returns
    # the new sequence and the hash of the entry before it.
    bumped = session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(sequence=AuditHead.sequence + 1)
        .returning(AuditHead.sequence, _PREVIOUS_HASH)
    ).one_or_none()
    if bumped is None:
        raise RuntimeError("the audit chain has no head; run `flask --app wsgi init`")
    sequence, prev_hash = bumped
    if prev_hash is None and sequence > 1:
        # On PostgreSQL an UPDATE that waited for another append's lock goes on with the
        # head as that append committed it, but its subquery still reads the snapshot taken
        # before the wait, where that append's entry is not yet. Read it again, with the
        # lock held: a statement of its own sees it. Only an append that waited pays this.
        prev_hash = session.scalar(
            select(AuditEntry.entry_hash).where(AuditEntry.sequence == sequence - 1)
        )
    if prev_hash is None:
        # The first entry, or the entry before was removed (verify names it): the chain
        # goes on from the start, and cannot be made to look whole.
        prev_hash = GENESIS_HASH
    entry = AuditEntry(
        sequence=sequence,
        at=_timestamp(),
        actor_id=actor_id,
        action=action,
        case_id=case_id,
        letter_id=letter_id,
        details=canonical_details(details),
        prev_hash=prev_hash,
    )
    entry.entry_hash = entry_hash_of(**_fields(entry))
    session.add(entry)
    session.flush()
    return entry


# --- signing key and checkpoints -------------------------------------------


def create_signing_key(path: str | Path) -> bool:
    """Make the signing key file if it is missing; True if one was made."""
    path = Path(path)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = crypto.new_signing_key()
    # O_EXCL: two `init` runs at once must not overwrite each other's key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(key).hex().encode())
    return True


def load_signing_key(path: str | Path) -> crypto.SigningKey:
    return crypto.signing_key_from_bytes(bytes.fromhex(Path(path).read_text().strip()))


def _checkpoint_message(sequence: int, entry_hash: str, at: str) -> bytes:
    return json.dumps(
        {"at": at, "entry_hash": entry_hash, "sequence": sequence},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def sign_checkpoint(
    session: Session, signing_key: crypto.SigningKey, *, now: datetime | None = None
) -> AuditCheckpoint:
    with transaction(session):
        sequence, entry_hash = head(session)
        if entry_hash is None:
            # A checkpoint vouches for an entry: never sign one that is not there.
            raise RuntimeError(
                f"the audit chain's newest entry ({sequence}) is missing; run `audit verify`"
            )
        at = _timestamp(now)
        signature = crypto.sign(signing_key, _checkpoint_message(sequence, entry_hash, at))
        checkpoint = AuditCheckpoint(
            sequence=sequence,
            entry_hash=entry_hash,
            at=at,
            verify_key=bytes(signing_key.verify_key).hex(),
            signature=signature.hex(),
        )
        session.add(checkpoint)
        return checkpoint


# --- checkpoints kept off the server -----------------------------------------


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint as exported: the fields of an `audit_checkpoints` row."""

    sequence: int
    entry_hash: str
    at: str
    verify_key: str
    signature: str


@dataclass(frozen=True)
class CheckpointFile:
    """What a file kept off the server says the chain was.

    `newest_entry` is the (sequence, entry hash) of the last entry in a full export.
    It is not signed, so it can only add failures, never hide one: it protects the
    tail written after the last checkpoint and before the export.
    """

    checkpoints: tuple[SignedCheckpoint, ...]
    verify_key: str | None = None
    newest_entry: tuple[int, str] | None = None


class InvalidExport(ValueError):
    """The file is not an audit export; the message says why and is safe to show."""


_CHECKPOINT_TEXT_FIELDS = ("entry_hash", "at", "verify_key", "signature")


def read_checkpoints(raw: bytes | str) -> CheckpointFile:
    """Read the checkpoints from a file kept off the server. Two shapes are accepted:

    - the JSON that `audit export PATH` writes: an object with `verify_key`,
      `checkpoints` (a list) and `entries` (a list; only the newest is used);
    - a checkpoints-only file, as `audit export --checkpoints-only PATH` writes: the
      same object without `entries` (`verify_key` optional), or a bare JSON list of
      checkpoints.

    Each checkpoint is an object with `sequence` (an integer), `entry_hash`, `at`,
    `verify_key` and `signature` (strings), as in the `audit_checkpoints` table.
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidExport("The file is not JSON") from None
    if isinstance(data, list):
        listed, verify_key, entries = data, None, None
    elif isinstance(data, dict) and "checkpoints" in data:
        listed, verify_key, entries = (
            data["checkpoints"],
            data.get("verify_key"),
            data.get("entries"),
        )
    else:
        raise InvalidExport("The file is not an audit export: it has no checkpoints")
    if not isinstance(listed, list):
        raise InvalidExport("The file is not an audit export: its checkpoints are not a list")
    if not listed:
        raise InvalidExport("The file holds no checkpoints")
    if verify_key is not None and not isinstance(verify_key, str):
        raise InvalidExport("The file is not an audit export: its verify key is not text")
    checkpoints = tuple(_read_checkpoint(item, number) for number, item in enumerate(listed, 1))
    newest_entry = None if entries is None else _read_newest_entry(entries)
    return CheckpointFile(checkpoints, verify_key, newest_entry)


def _read_checkpoint(item: object, number: int) -> SignedCheckpoint:
    if not isinstance(item, dict):
        raise InvalidExport(f"Checkpoint {number} in the file is not a checkpoint")
    sequence = item.get("sequence")
    texts = [item.get(name) for name in _CHECKPOINT_TEXT_FIELDS]
    # bool is an int in Python; a JSON `true` is not a sequence number.
    if type(sequence) is not int or sequence < 0 or not all(isinstance(t, str) for t in texts):
        raise InvalidExport(f"Checkpoint {number} in the file is not a checkpoint")
    return SignedCheckpoint(sequence, *texts)


def _read_newest_entry(entries: object) -> tuple[int, str] | None:
    if not isinstance(entries, list):
        raise InvalidExport("The file is not an audit export: its entries are not a list")
    newest = None
    for number, entry in enumerate(entries, 1):
        sequence = entry.get("sequence") if isinstance(entry, dict) else None
        entry_hash = entry.get("entry_hash") if isinstance(entry, dict) else None
        if type(sequence) is not int or not isinstance(entry_hash, str):
            raise InvalidExport(f"Entry {number} in the file is not an audit entry")
        if newest is None or sequence > newest[0]:
            newest = (sequence, entry_hash)
    return newest


# --- verification ------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    sequence: int | None
    message: str
    where: str | None = None  # for a problem with no entry, e.g. "checkpoints file"

    def __str__(self) -> str:
        where = self.where or (f"entry {self.sequence}" if self.sequence is not None else "chain")
        return f"{where}: {self.message}"


@dataclass
class Verification:
    entries: int = 0
    checkpoints: int = 0
    kept_checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Not tampering, but protection lapsing: a late checkpoint, an unsigned tail.
    warnings: list[str] = field(default_factory=list)
    stale: bool = False
    # Where the chain read ended: the last entry's sequence and hash.
    through_sequence: int = 0
    through_hash: str = GENESIS_HASH
    processes: int = 1  # that read the chain: this one, and any workers

    @property
    def ok(self) -> bool:
        return not self.problems


_IN_DATABASE = {
    "key": "checkpoint signed with another key",
    "signature": "checkpoint signature is wrong",
    "missing": "missing: the chain is shorter than a checkpoint",
    "differs": "differs from the signed checkpoint",
}
_IN_FILE = {
    "key": "exported checkpoint signed with another key",
    "signature": "exported checkpoint signature is wrong",
    "missing": "missing: the chain is shorter than an exported checkpoint (rolled back or cut)",
    "differs": "differs from the exported checkpoint (history rewritten)",
}


def _checkpoint_problem(
    checkpoint: AuditCheckpoint | SignedCheckpoint,
    verify_key: crypto.VerifyKey,
    hashes: dict[int, str],
    messages: dict[str, str],
    covered: int = 0,
) -> str | None:
    """Why `checkpoint` does not hold for this chain, or None if it does. One at or before
    `covered` was compared with the chain by the whole-chain check; only its signature is."""
    if checkpoint.verify_key != bytes(verify_key).hex():
        return messages["key"]
    try:
        signature = bytes.fromhex(checkpoint.signature)
    except ValueError:
        return messages["signature"]
    message = _checkpoint_message(checkpoint.sequence, checkpoint.entry_hash, checkpoint.at)
    if not crypto.signature_valid(verify_key, message, signature):
        return messages["signature"]
    if checkpoint.sequence == 0 or checkpoint.sequence <= covered:
        return None
    if checkpoint.sequence not in hashes:
        return messages["missing"]
    if hashes[checkpoint.sequence] != checkpoint.entry_hash:
        return messages["differs"]
    return None


@dataclass
class _Stretch:
    """A run of entries checked on its own. Its first entry's link to the entry before is
    left to `_join`, which knows where the run before ended."""

    entries: int = 0
    first: tuple[int, str] | None = None  # the first entry's sequence and prev_hash
    last: tuple[int, str] | None = None  # the last entry's sequence and entry_hash
    problems: list[Problem] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)  # only those wanted


def _link_problems(
    expected_sequence: int, prev_hash: str, sequence: int, entry_prev_hash: str
) -> list[Problem]:
    """What is wrong with an entry's place, after the entry (`expected_sequence` - 1) whose
    hash is `prev_hash`."""
    problems = []
    if sequence != expected_sequence:
        problems.append(Problem(expected_sequence, f"missing (next entry found is {sequence})"))
    if entry_prev_hash != prev_hash:
        problems.append(
            Problem(
                sequence,
                "does not follow the entry before it (entries removed, inserted or reordered)",
            )
        )
    return problems


def _check_stretch(rows: Iterable[Sequence], wanted: Set[int]) -> _Stretch:
    """Check entries given in sequence order as plain rows: _HASHED_COLUMNS, entry_hash."""
    stretch = _Stretch()
    problems, hashes = stretch.problems, stretch.hashes
    expected_sequence = prev_hash = None
    entries = 0
    for sequence, at, actor_id, action, case_id, letter_id, details, entry_prev, entry_hash in rows:
        if sequence != expected_sequence or entry_prev != prev_hash:
            if expected_sequence is None:
                stretch.first = (sequence, entry_prev)
            else:
                problems += _link_problems(expected_sequence, prev_hash, sequence, entry_prev)
        if (
            _hash_of_row(sequence, at, actor_id, action, case_id, letter_id, details, entry_prev)
            != entry_hash
        ):
            problems.append(Problem(sequence, "changed since it was written"))
        if sequence in wanted:
            hashes[sequence] = entry_hash
        expected_sequence, prev_hash = sequence + 1, entry_hash
        entries += 1
    stretch.entries = entries
    if expected_sequence is not None:
        stretch.last = (expected_sequence - 1, prev_hash)
    return stretch


def _read_stretch(
    connection: Connection, after: int, through: int | None, wanted: Set[int], batch: int
) -> _Stretch:
    """Check the entries numbered after `after`, up to `through` (to the end if None)."""
    query = (
        select(*_HASHED_COLUMNS, AuditEntry.entry_hash)
        .where(AuditEntry.sequence > after)
        .order_by(AuditEntry.sequence)
    )
    if through is not None:
        query = query.where(AuditEntry.sequence <= through)
    # Plain rows straight from the connection: the ORM's row handling would cost more
    # than the check itself.
    return _check_stretch(connection.execute(query.execution_options(yield_per=batch)), wanted)


def _join(
    start: tuple[int, str], stretches: Iterable[_Stretch], result: Verification
) -> dict[int, str]:
    """Link each stretch to where the one before ended, in order, as one walk of the
    chain from `start` (the entry it follows on from) would have; problems in order.
    Returns the wanted hashes; the result says where the chain ended."""
    hashes: dict[int, str] = {}
    (covered, prev_hash) = start
    expected_sequence = covered + 1
    for stretch in stretches:
        if stretch.first is None:
            continue
        result.problems += _link_problems(expected_sequence, prev_hash, *stretch.first)
        result.problems += stretch.problems
        result.entries += stretch.entries
        hashes.update(stretch.hashes)
        expected_sequence, prev_hash = stretch.last[0] + 1, stretch.last[1]
    result.through_sequence, result.through_hash = expected_sequence - 1, prev_hash
    return hashes


def chain_chunks(after: int, through: int, size: int) -> list[tuple[int, int | None]]:
    """The sequence numbers after `after` up to `through`, as (after, through) ranges of
    `size`; the last has no end, so that entries past `through` are read too."""
    starts = list(range(after, through, size)) or [after]
    return [(start, start + size) for start in starts[:-1]] + [(starts[-1], None)]


def default_workers() -> int:
    """The processes `audit verify` uses unless told: one per CPU it may run on, capped."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def _claim(counter: Synchronized, count: int) -> int | None:
    """The next chunk no process has taken, or None when all are taken."""
    with counter.get_lock():
        index = counter.value
        if index >= count:
            return None
        counter.value = index + 1
        return index


def _check_claimed(
    connect: Callable[[], AbstractContextManager[Connection]],
    chunks: list[tuple[int, int | None]],
    counter: Synchronized,
    wanted: Set[int],
    batch: int,
) -> Iterator[tuple[int, _Stretch]]:
    """Check chunks, each as it is claimed, while some are left; connect only if one is."""
    index = _claim(counter, len(chunks))
    if index is None:
        return
    with connect() as connection:
        while index is not None:
            yield index, _read_stretch(connection, *chunks[index], wanted, batch)
            index = _claim(counter, len(chunks))


@contextmanager
def _connection_to(url: str) -> Iterator[Connection]:
    # A connection of this process's own: none is ever shared across processes.
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _check_claimed_apart(
    url: str,
    chunks: list[tuple[int, int | None]],
    counter: Synchronized,
    wanted: Set[int],
    batch: int,
    results: multiprocessing.Queue,
) -> None:
    """A worker process: each chunk's result is sent as it is done; a failure is sent too,
    for the process that waits for the results to raise rather than wait on."""
    try:
        for done in _check_claimed(lambda: _connection_to(url), chunks, counter, wanted, batch):
            results.put(done)
    except Exception as error:  # noqa: BLE001 - sent on, and raised there
        results.put((None, f"{type(error).__name__}: {error}"))


def _next_result(
    results: multiprocessing.Queue, workers: list[multiprocessing.Process]
) -> tuple[int, _Stretch]:
    while True:
        try:
            index, found = results.get(timeout=1)
        except queue.Empty:
            if any(worker.exitcode not in (None, 0) for worker in workers):
                raise RuntimeError("a process verifying the audit chain ended abruptly") from None
            continue
        if index is None:
            raise RuntimeError(f"a process verifying the audit chain failed: {found}")
        return index, found


def _can_be_opened_elsewhere(url: URL) -> bool:
    return url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:")


def _read_chain(
    session: Session, covered: int, said: int | None, wanted: Set[int], workers: int
) -> tuple[list[_Stretch], int]:
    """The chain after `covered`, checked in stretches, in order, and how many processes
    checked it: this one alone, or with `workers` - 1 more when it is long enough."""
    url = session.get_bind().url
    if (
        workers < 2
        or said is None
        or said - covered < PARALLEL_FROM
        or not _can_be_opened_elsewhere(url)
    ):
        return [_read_stretch(session.connection(), covered, None, wanted, VERIFY_BATCH)], 1
    return _read_in_processes(session, url, covered, said, wanted, workers), workers


def _read_in_processes(
    session: Session, url: URL, covered: int, said: int, wanted: Set[int], workers: int
) -> list[_Stretch]:
    chunks = chain_chunks(covered, said, VERIFY_CHUNK)
    # 'spawn': each worker is a fresh Python that opens its own engine from the URL.
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)  # the chunks claimed so far, by any process
    results = context.Queue()
    address = url.render_as_string(hide_password=False)
    helping = [
        context.Process(
            target=_check_claimed_apart,
            args=(address, chunks, counter, frozenset(wanted), VERIFY_BATCH, results),
            daemon=True,
        )
        for _ in range(workers - 1)
    ]
    for worker in helping:
        worker.start()
    try:
        # This process checks chunks too while the workers start, which takes a while.
        done = dict(
            _check_claimed(
                lambda: nullcontext(session.connection()), chunks, counter, wanted, VERIFY_BATCH
            )
        )
        while len(done) < len(chunks):
            index, stretch = _next_result(results, helping)
            done[index] = stretch
    finally:
        # Every chunk is checked (or verify failed): a worker still starting would find
        # none left, and one still running has nothing left to tell.
        for worker in helping:
            worker.terminate()
        for worker in helping:
            worker.join()
    return [done[index] for index in range(len(chunks))]


def verify(
    session: Session,
    verify_key: crypto.VerifyKey,
    *,
    kept: CheckpointFile | None = None,
    max_checkpoint_age: timedelta = CHECKPOINT_SCHEDULE,
    now: datetime | None = None,
    after: AuditVerification | None = None,
    workers: int = 1,
) -> Verification:
    """Recompute the chain and check every checkpoint against `verify_key`.

    With `kept` (checkpoints kept off the server), the chain must also extend each
    of those: they count even when the checkpoint table has been emptied. A newest
    checkpoint older than `max_checkpoint_age`, and entries after it, are warnings.
    With `after` (an earlier whole-chain verification), only the entries appended since,
    which must follow on from where that one ended. With `workers` above 1, a chain of
    PARALLEL_FROM entries or more is checked by that many processes, this one included;
    the problems found, and their order, are the same.
    """
    result = Verification()
    stored = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).all()
    # Only the hashes a checkpoint will be compared with are kept: the chain itself is
    # read as plain rows in batches, so memory stays the same however long it grows.
    wanted = {checkpoint.sequence for checkpoint in stored}
    if kept is not None:
        wanted |= {checkpoint.sequence for checkpoint in kept.checkpoints}
        if kept.newest_entry is not None:
            wanted.add(kept.newest_entry[0])
    start = (0, GENESIS_HASH) if after is None else (after.through_sequence, after.through_hash)
    covered = start[0]  # entries a whole-chain verification already checked
    said_before = _head_sequence(session)
    stretches, result.processes = _read_chain(session, covered, said_before, wanted, workers)
    hashes = _join(start, stretches, result)

    # The newest entry's hash was checked with the rest: the head adds the chain's length,
    # which a cut tail (or entries added behind its back) no longer matches. Entries
    # appended while the chain was read are not a problem: it must end between the head
    # read before and the head read after.
    said_after = _head_sequence(session)
    last = result.through_sequence
    if said_before is not None and not said_before <= last <= said_after:
        said = said_before if last < said_before else said_after
        result.problems.append(Problem(said, f"the chain head says {said} entries, found {last}"))

    good: list[AuditCheckpoint | SignedCheckpoint] = []
    for checkpoint in stored:
        result.checkpoints += 1
        problem = _checkpoint_problem(checkpoint, verify_key, hashes, _IN_DATABASE, covered)
        if problem:
            result.problems.append(Problem(checkpoint.sequence, problem))
        else:
            good.append(checkpoint)
    if kept is not None:
        good += _check_kept(kept, verify_key, hashes, result)
    _check_freshness(good, last, now or datetime.now(UTC), max_checkpoint_age, result)
    return result


def _head_sequence(session: Session) -> int | None:
    return session.scalar(select(AuditHead.sequence).where(AuditHead.id == HEAD_ID))


def record_verification(session: Session, result: Verification) -> AuditVerification:
    """Keep the outcome of a whole-chain verification (the scheduled command's), with
    where the chain then ended, for the administrator's page to start from."""
    with transaction(session):
        done = AuditVerification(
            through_sequence=result.through_sequence,
            through_hash=result.through_hash,
            entries=result.entries,
            problems=len(result.problems),
        )
        session.add(done)
        return done


def last_clean_verification(session: Session) -> AuditVerification | None:
    """The newest whole-chain verification that found nothing wrong."""
    return session.scalars(
        select(AuditVerification)
        .where(AuditVerification.problems == 0)
        .order_by(AuditVerification.id.desc())
        .limit(1)
    ).first()


def _check_kept(
    kept: CheckpointFile, verify_key: crypto.VerifyKey, hashes: dict[int, str], result: Verification
) -> list[SignedCheckpoint]:
    """Check the chain extends a file kept off the server; returns its good checkpoints."""
    if kept.verify_key is not None and kept.verify_key != bytes(verify_key).hex():
        result.problems.append(
            Problem(None, "exported with another verify key", where="checkpoints file")
        )
    good = []
    for checkpoint in kept.checkpoints:
        result.kept_checkpoints += 1
        problem = _checkpoint_problem(checkpoint, verify_key, hashes, _IN_FILE)
        if problem:
            result.problems.append(Problem(checkpoint.sequence, problem))
        else:
            good.append(checkpoint)
    if kept.newest_entry is not None:
        sequence, entry_hash = kept.newest_entry
        if sequence not in hashes:
            result.problems.append(
                Problem(
                    sequence, "missing: the chain is shorter than the export (rolled back or cut)"
                )
            )
        elif hashes[sequence] != entry_hash:
            result.problems.append(
                Problem(sequence, "differs from the export (rewritten since it was exported)")
            )
    return good


def _check_freshness(
    good: list[AuditCheckpoint | SignedCheckpoint],
    last: int,
    now: datetime,
    max_age: timedelta,
    result: Verification,
) -> None:
    """Warn when protection lapses: only entries up to a signed checkpoint are safe."""
    if not good:
        if result.entries:
            result.stale = True
            result.warnings.append(
                f"no signed checkpoint: none of the {result.entries} entries is covered"
            )
        return
    newest_at = max(_parse_timestamp(checkpoint.at) for checkpoint in good)
    age = now - newest_at
    if age > max_age:
        result.stale = True
        result.warnings.append(
            f"newest checkpoint is {_span(_floor(age))} old (schedule: every {_span(max_age)})"
        )
    covered = max(checkpoint.sequence for checkpoint in good)
    if last > covered:
        result.warnings.append(
            f"{last - covered} entries after the newest checkpoint (entry {covered}) "
            "are not covered by a signed checkpoint yet"
        )


def _floor(span: timedelta) -> timedelta:
    unit = timedelta(hours=1) if span >= timedelta(hours=1) else timedelta(minutes=1)
    return unit * (span // unit)


def _span(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    if hours >= 1:
        return f"{hours:.10g} hour{'' if hours == 1 else 's'}"
    minutes = span / timedelta(minutes=1)
    return f"{minutes:.10g} minute{'' if minutes == 1 else 's'}"


def export(session: Session, verify_key: crypto.VerifyKey, *, entries: bool = True) -> dict:
    """Metadata only: what a third party needs to re-check the chain.

    With `entries=False`, only the verify key and the signed checkpoints: a small
    file that `read_checkpoints` takes as well.
    """
    exported: dict = {"verify_key": bytes(verify_key).hex()}
    if entries:
        exported["hash"] = "blake2b-256 over canonical JSON (see relay/audit.py canonical_encoding)"
        exported["entries"] = [
            dict(_fields(e), entry_hash=e.entry_hash)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.sequence))
        ]
    exported["checkpoints"] = [
        {
            "sequence": c.sequence,
            "entry_hash": c.entry_hash,
            "at": c.at,
            "verify_key": c.verify_key,
            "signature": c.signature,
        }
        for c in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id))
    ]
    return exported
