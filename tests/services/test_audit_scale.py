"""`audit verify` reads the chain in batches of plain rows: its memory does not grow with
the chain (issue "Performance and scale", item 5). Measured with tracemalloc (bytes
allocated, not time), at two lengths well past one batch.

The entries are bulk-inserted with their real hashes: a valid chain, as `audit.record`
would write it, without a transaction per entry.
"""

import tracemalloc

from sqlalchemy import select

from relay import audit
from relay import crypto
from relay.models import AuditEntry
from tests import bulk


def _peak_while_verifying(session, key) -> tuple[int, audit.Verification]:
    session.expunge_all()
    tracemalloc.start()
    try:
        result = audit.verify(session, key)
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_verifying_a_longer_chain_takes_no_more_memory(session, world, monkeypatch):
    monkeypatch.setattr(audit, "VERIFY_BATCH", 200)
    key = crypto.new_signing_key().verify_key
    bulk.append_audit_entries(session, 2_000)
    short_peak, short = _peak_while_verifying(session, key)
    bulk.append_audit_entries(session, 10_000)
    long_peak, long = _peak_while_verifying(session, key)
    assert short.problems == [] and long.problems == []
    assert long.entries == short.entries + 10_000
    assert long.entries == session.scalar(
        select(AuditEntry.sequence).order_by(AuditEntry.sequence.desc()).limit(1)
    )
    # Six times the entries; the same batches. Loading them all would take ~6x the memory.
    assert long_peak < 1.5 * short_peak, (short_peak, long_peak)
    print(f"verify peak: {short_peak} bytes at {short.entries}, {long_peak} at {long.entries}")
