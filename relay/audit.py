"""The audit trail: an append-only hash chain with signed checkpoints.

Every entry is written in the transaction of the action it records (the
caller commits both or neither). Appends bump the single `audit_head` row
first; that row lock (PostgreSQL) or the database write lock (SQLite)
serialises appends so concurrent requests never fork the chain.

Details never carry letter text, passwords, keys or codes: only ids, states
and short reasons chosen from fixed lists.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey
from nacl.signing import VerifyKey
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from relay.models import AuditCheckpoint
from relay.models import AuditEntry
from relay.models import AuditHead

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def _timestamp(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    if session.get(AuditHead, HEAD_ID) is None:
        session.add(AuditHead(id=HEAD_ID, sequence=0, entry_hash=GENESIS_HASH))
        session.flush()


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None = None,
    case_id: int | None = None,
    letter_id: int | None = None,
    details: dict | None = None,
) -> AuditEntry:
    """Append one entry to the chain inside the caller's transaction."""
    # The UPDATE comes first so that the lock is held before the head is read.
    bumped = session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(sequence=AuditHead.sequence + 1)
        .returning(AuditHead.sequence, AuditHead.entry_hash)
    ).one_or_none()
    if bumped is None:
        raise RuntimeError("the audit chain has no head; run `flask --app wsgi init`")
    sequence, prev_hash = bumped
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
    session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(entry_hash=entry.entry_hash)
    )
    session.flush()
    return entry


# --- signing key and checkpoints -------------------------------------------


def create_signing_key(path: str | Path) -> bool:
    """Make the signing key file if it is missing; True if one was made."""
    path = Path(path)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    # O_EXCL: two `init` runs at once must not overwrite each other's key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(key).hex().encode())
    return True


def load_signing_key(path: str | Path) -> SigningKey:
    return SigningKey(bytes.fromhex(Path(path).read_text().strip()))


def _checkpoint_message(sequence: int, entry_hash: str, at: str) -> bytes:
    return json.dumps(
        {"at": at, "entry_hash": entry_hash, "sequence": sequence},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def sign_checkpoint(session: Session, signing_key: SigningKey) -> AuditCheckpoint:
    head = session.get(AuditHead, HEAD_ID)
    if head is None:
        raise RuntimeError("the audit chain has no head; run `flask --app wsgi init`")
    at = _timestamp()
    signature = signing_key.sign(_checkpoint_message(head.sequence, head.entry_hash, at))
    checkpoint = AuditCheckpoint(
        sequence=head.sequence,
        entry_hash=head.entry_hash,
        at=at,
        verify_key=bytes(signing_key.verify_key).hex(),
        signature=signature.signature.hex(),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


# --- verification ------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    sequence: int | None
    message: str

    def __str__(self) -> str:
        where = f"entry {self.sequence}" if self.sequence is not None else "chain"
        return f"{where}: {self.message}"


@dataclass
class Verification:
    entries: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, verify_key: VerifyKey) -> Verification:
    """Recompute the chain and check every checkpoint against `verify_key`."""
    result = Verification()
    hashes: dict[int, str] = {}
    expected_sequence, prev_hash = 1, GENESIS_HASH
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.sequence)):
        result.entries += 1
        if entry.sequence != expected_sequence:
            result.problems.append(
                Problem(expected_sequence, f"missing (next entry found is {entry.sequence})")
            )
        if entry.prev_hash != prev_hash:
            result.problems.append(
                Problem(
                    entry.sequence,
                    "does not follow the entry before it (entries removed, inserted or reordered)",
                )
            )
        recomputed = entry_hash_of(**_fields(entry))
        if recomputed != entry.entry_hash:
            result.problems.append(Problem(entry.sequence, "changed since it was written"))
        hashes[entry.sequence] = entry.entry_hash
        expected_sequence, prev_hash = entry.sequence + 1, entry.entry_hash

    head = session.get(AuditHead, HEAD_ID)
    last = expected_sequence - 1
    if head is not None and (head.sequence != last or head.entry_hash != prev_hash):
        result.problems.append(
            Problem(head.sequence, f"the chain head says {head.sequence} entries, found {last}")
        )

    our_key = bytes(verify_key).hex()
    for checkpoint in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)):
        result.checkpoints += 1
        if checkpoint.verify_key != our_key:
            result.problems.append(
                Problem(checkpoint.sequence, "checkpoint signed with another key")
            )
            continue
        try:
            verify_key.verify(
                _checkpoint_message(checkpoint.sequence, checkpoint.entry_hash, checkpoint.at),
                bytes.fromhex(checkpoint.signature),
            )
        except (BadSignatureError, ValueError):
            result.problems.append(Problem(checkpoint.sequence, "checkpoint signature is wrong"))
            continue
        if checkpoint.sequence == 0:
            continue
        if checkpoint.sequence not in hashes:
            result.problems.append(
                Problem(checkpoint.sequence, "missing: the chain is shorter than a checkpoint")
            )
        elif hashes[checkpoint.sequence] != checkpoint.entry_hash:
            result.problems.append(
                Problem(checkpoint.sequence, "differs from the signed checkpoint")
            )
    return result


def export(session: Session, verify_key: VerifyKey) -> dict:
    """Metadata only: what a third party needs to re-check the chain."""
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence))
    checkpoints = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id))
    return {
        "verify_key": bytes(verify_key).hex(),
        "hash": "blake2b-256 over canonical JSON (see relay/audit.py canonical_encoding)",
        "entries": [dict(_fields(e), entry_hash=e.entry_hash) for e in entries],
        "checkpoints": [
            {
                "sequence": c.sequence,
                "entry_hash": c.entry_hash,
                "at": c.at,
                "verify_key": c.verify_key,
                "signature": c.signature,
            }
            for c in checkpoints
        ],
    }
