"""`audit verify` at 100k entries (and 1M with BENCH_FULL=1): entries a second, and the
peak memory Python allocates while verifying (tracemalloc, timed apart from the speed,
since tracing slows every allocation).

The baseline is reading the same rows, the same way (plain rows in batches), and doing
nothing with them: the floor a verify on one core cannot go under.

The entries are bulk-inserted with their real hashes, as tests/services/test_audit_scale.py
does: a valid chain, as `audit.record` would write it, without a transaction per entry
(100k audited actions through the services would take far longer than the bench).
"""

import time
import tracemalloc
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from bench.harness import FULL
from bench.harness import Paired
from relay import audit
from relay.models import AuditEntry
from relay.models import AuditHead

SCALES = (100_000, 1_000_000) if FULL else (100_000,)
# A shorter chain, still three batches long, to see whether the peak grows with the chain.
MEMORY_BELOW = 3 * audit.VERIFY_BATCH
ROUNDS = 3  # a verify of 100k entries takes seconds, not milliseconds
INSERT_BATCH = 20_000


@dataclass
class Verified:
    entries: int
    timing: Paired  # seconds per whole verify, Relay's and the plain read's
    peak_bytes: int


def append(session, count: int) -> None:
    """`count` more valid entries on the chain, and its head moved to the last."""
    sequence, prev_hash = audit.head(session)
    rows = []
    for _ in range(count):
        sequence += 1
        fields = {
            "sequence": sequence,
            "at": "2026-11-27T12:00:00.000000Z",
            "actor_id": 1,
            "action": "letter.read",
            "case_id": 1,
            "letter_id": 1,
            "details": audit.canonical_details({"first": False}),
            "prev_hash": prev_hash,
        }
        prev_hash = audit.entry_hash_of(**fields)
        rows.append({**fields, "entry_hash": prev_hash})
        if len(rows) == INSERT_BATCH:
            session.execute(insert(AuditEntry), rows)
            rows = []
    if rows:
        session.execute(insert(AuditEntry), rows)
    session.execute(update(AuditHead).values(sequence=sequence))
    session.commit()


def chain_length(session) -> int:
    return audit.head(session)[0]


def _verify(sessionmaker, key) -> int:
    with sessionmaker() as session:
        result = audit.verify(session, key)
    assert result.problems == [], result.problems[:3]
    return result.entries


def _plain_read(sessionmaker) -> int:
    columns = [column for column in AuditEntry.__table__.columns if column.key != "id"]
    with sessionmaker() as session:
        rows = session.execute(
            select(*columns)
            .order_by(AuditEntry.sequence)
            .execution_options(yield_per=audit.VERIFY_BATCH)
        )
        return sum(1 for _ in rows)


def peak_while_verifying(sessionmaker, key) -> int:
    tracemalloc.start()
    try:
        _verify(sessionmaker, key)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def verify_at_scales(relay) -> tuple[int, list[Verified]]:
    """The peak at a short chain, then speed and peak at each of SCALES."""
    key = audit.load_signing_key(relay.key_path).verify_key
    found = []
    with relay.sessionmaker() as session:
        append(session, max(0, MEMORY_BELOW - chain_length(session)))
    short_peak = peak_while_verifying(relay.sessionmaker, key)
    for scale in SCALES:
        with relay.sessionmaker() as session:
            append(session, scale - chain_length(session))
        timing = Paired()
        for _ in range(ROUNDS):
            start = time.perf_counter()
            entries = _verify(relay.sessionmaker, key)
            timing.relay.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert _plain_read(relay.sessionmaker) == entries
            timing.baseline.append(time.perf_counter() - start)
        found.append(Verified(entries, timing, peak_while_verifying(relay.sessionmaker, key)))
    return short_peak, found
