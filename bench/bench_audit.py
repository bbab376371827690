"""`audit verify` at 100k and 500k entries (and 1M with BENCH_FULL=1), run as
`flask audit verify` runs it: with `audit.default_workers()` processes (the CPUs, capped),
which it starts only for a chain of `audit.PARALLEL_FROM` entries or more. So the 100k
figure is one process's, and the 500k and 1M figures are the processes' together, each
verify paying for starting its workers as the command does.

Memory: the peak Python allocates (tracemalloc) while one process verifies the whole chain,
timed apart from the speed, since tracing slows every allocation. Each worker walks its
chunks of the chain the same way, so this bounds every process; the workers' own peak
(their whole resident memory: interpreter, imports and all) is printed beside it when
there were workers. A worker started here also imports the bench's own modules ('spawn'
imports the main module again: about 0.9 s and 80 MiB for bench.run against 0.55 s and
60 MiB for the `flask` command's), so the figures with workers are a little low and their
memory a little high beside the command's.

The baseline is reading the same rows, the same way (plain rows in batches from the
connection), in one process and doing nothing with them: the floor a verify on one core
cannot go under.

The entries are bulk-inserted with their real hashes by tests/bulk.py, as the audit tests
make them: a valid chain, as `audit.record` would write it, without a transaction per entry
(100k audited actions through the services would take far longer than the bench).
"""

import resource
import time
import tracemalloc
from dataclasses import dataclass

from sqlalchemy import select

from bench.harness import FULL
from bench.harness import Paired
from relay import audit
from relay.models import AuditEntry
from tests import bulk

SCALES = (100_000, 500_000, 1_000_000) if FULL else (100_000, 500_000)
WORKERS = audit.default_workers()  # as `flask audit verify` takes by default
# A shorter chain, still three batches long, to see whether the peak grows with the chain.
MEMORY_BELOW = 3 * audit.VERIFY_BATCH
ROUNDS = 3  # a verify of 100k entries takes seconds, not milliseconds


@dataclass
class Verified:
    entries: int
    timing: Paired  # seconds per whole verify, Relay's and the plain read's
    peak_bytes: int  # Python's allocations in one process verifying the whole chain
    processes: int = 1  # that verified it in the timed runs
    worker_peak_rss: int | None = None  # bytes, the largest worker's; None without workers


def append(session, count: int) -> None:
    """`count` more valid entries on the chain (tests/bulk.py, shared with the tests)."""
    bulk.append_audit_entries(session, count)


def chain_length(session) -> int:
    return audit.head(session)[0]


def _verify(sessionmaker, key, workers: int = WORKERS) -> audit.Verification:
    with sessionmaker() as session:
        result = audit.verify(session, key, workers=workers)
    assert result.problems == [], result.problems[:3]
    return result


def _largest_worker_rss() -> int:
    """The peak resident memory of the largest child process ended so far, in bytes: verify
    has ended its workers before it returns."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux


def _plain_read(sessionmaker) -> int:
    """The rows verify reads, as it reads them: tuples from the session's connection."""
    columns = [column for column in AuditEntry.__table__.columns if column.key != "id"]
    with sessionmaker() as session:
        rows = session.connection().execute(
            select(*columns)
            .order_by(AuditEntry.sequence)
            .execution_options(yield_per=audit.VERIFY_BATCH)
        )
        return sum(1 for _ in rows)


def peak_while_verifying(sessionmaker, key) -> int:
    tracemalloc.start()
    try:
        _verify(sessionmaker, key, workers=1)
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
            result = _verify(relay.sessionmaker, key)
            timing.relay.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert _plain_read(relay.sessionmaker) == result.entries
            timing.baseline.append(time.perf_counter() - start)
        verified = Verified(
            result.entries,
            timing,
            peak_while_verifying(relay.sessionmaker, key),
            result.processes,
            _largest_worker_rss() if result.processes > 1 else None,
        )
        print(f"  {_described(verified)}", flush=True)
        found.append(verified)
    return short_peak, found


def _described(verified: Verified) -> str:
    rate = verified.entries / verified.timing.relay_median
    said = f"{verified.entries:,} entries: {rate:,.0f} entries/s in {verified.processes} process"
    if verified.worker_peak_rss is None:
        return said
    return f"{said}es, largest worker {verified.worker_peak_rss / 2**20:.0f} MiB peak resident"
