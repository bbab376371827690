"""What an attacker with write access to the database does to the audit trail.

Each helper leaves a chain that the plain `audit verify` accepts: hashes recomputed,
the head row (only the newest sequence) moved to match. Only checkpoints kept off the
server can tell.
"""

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from relay import audit
from relay.models import AuditCheckpoint
from relay.models import AuditEntry
from relay.models import AuditHead


def add_entries(session: Session, count: int) -> int:
    """Ordinary activity after a checkpoint; returns the new head's sequence."""
    for number in range(count):
        audit.record(session, "test.activity", details={"n": number})
    session.commit()
    return session.scalar(select(AuditHead.sequence))


def roll_back_to(session: Session, sequence: int) -> None:
    """Restore the chain as it was at `sequence`: later entries and checkpoints go."""
    session.execute(delete(AuditEntry).where(AuditEntry.sequence > sequence))
    session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.sequence > sequence))
    session.execute(
        update(AuditHead).where(AuditHead.id == audit.HEAD_ID).values(sequence=sequence)
    )
    session.commit()
    session.expire_all()


def rewrite_from(session: Session, first: int) -> None:
    """Forge entry `first` and re-chain every entry after it, as the code would have.

    Checkpoints in the database that cover the forged entries cannot be re-signed
    without the key, so the attacker deletes them.
    """
    session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.sequence >= first))
    session.commit()
    session.expire_all()
    prev_hash = audit.GENESIS_HASH
    if first > 1:
        prev_hash = session.get(AuditEntry, first - 1).entry_hash
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.sequence >= first).order_by(AuditEntry.sequence)
    ).all()
    assert entries, "nothing to rewrite"
    entries[0].action = "forged.action"
    entries[0].details = '{"forged":true}'
    for entry in entries:
        entry.prev_hash = prev_hash
        entry.entry_hash = audit.entry_hash_of(
            sequence=entry.sequence,
            at=entry.at,
            actor_id=entry.actor_id,
            action=entry.action,
            case_id=entry.case_id,
            letter_id=entry.letter_id,
            details=entry.details,
            prev_hash=entry.prev_hash,
        )
        prev_hash = entry.entry_hash
    session.commit()
    session.expire_all()


def delete_every_checkpoint(session: Session) -> None:
    session.execute(delete(AuditCheckpoint))
    session.commit()
