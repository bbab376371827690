"""The audit chain: known answers, verification, and tampering caught by name."""

import pytest
from nacl.signing import SigningKey
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update

from relay import audit
from relay import demo
from relay.models import AuditEntry
from relay.models import AuditHead


def test_canonical_encoding_is_pinned_by_a_known_answer():
    fields = dict(
        sequence=1,
        at="2026-01-02T03:04:05.000006Z",
        actor_id=7,
        action="letter.approved",
        case_id=3,
        letter_id=9,
        details='{"version":2}',
        prev_hash=audit.GENESIS_HASH,
    )
    assert audit.canonical_encoding(**fields) == (
        b'{"action":"letter.approved","actor":7,"at":"2026-01-02T03:04:05.000006Z","case":3,'
        b'"details":"{\\"version\\":2}","letter":9,"prev":"' + b"0" * 64 + b'","seq":1}'
    )
    assert audit.entry_hash_of(**fields) == (
        "f269575232408e154992ea60c6b2bf1ded135902059e302c46823d736bef940c"
    )


@pytest.fixture
def signing_key(app):
    return audit.load_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"])


@pytest.fixture
def demo_trail(session, settings, signing_key):
    demo.load(session, settings)
    audit.sign_checkpoint(session, signing_key)
    session.commit()
    return session


def _verify(session, key):
    session.expire_all()
    return audit.verify(session, key.verify_key)


def test_verify_passes_on_the_demo_data(demo_trail, signing_key):
    result = _verify(demo_trail, signing_key)
    assert result.ok, result.problems
    assert result.entries > 40
    assert result.checkpoints == 1


def test_entries_are_chained_in_order(demo_trail):
    entries = demo_trail.scalars(select(AuditEntry).order_by(AuditEntry.sequence)).all()
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.entry_hash


@pytest.mark.parametrize(
    "field",
    ["at", "actor_id", "action", "case_id", "letter_id", "details", "prev_hash", "entry_hash"],
)
def test_verify_names_an_entry_changed_in_any_field(demo_trail, signing_key, field):
    entry = demo_trail.get(AuditEntry, 10)
    value = getattr(entry, field)
    if isinstance(value, int) or value is None:
        changed = (value or 0) + 1
    else:
        # One changed character, kept in the same alphabet.
        changed = value[:-1] + ("1" if value[-1] != "1" else "2")
    demo_trail.execute(update(AuditEntry).where(AuditEntry.sequence == 10).values({field: changed}))
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert not result.ok
    assert any(problem.sequence in (10, 11) for problem in result.problems), result.problems
    assert 10 in {p.sequence for p in result.problems} or field == "entry_hash"


def test_verify_names_a_deleted_entry(demo_trail, signing_key):
    demo_trail.execute(delete(AuditEntry).where(AuditEntry.sequence == 5))
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert not result.ok
    assert 5 in {p.sequence for p in result.problems}


def test_verify_catches_two_entries_swapped(demo_trail, signing_key):
    first, second = demo_trail.get(AuditEntry, 7), demo_trail.get(AuditEntry, 8)
    columns = [
        "at",
        "actor_id",
        "action",
        "case_id",
        "letter_id",
        "details",
        "prev_hash",
        "entry_hash",
    ]
    a = {c: getattr(first, c) for c in columns}
    b = {c: getattr(second, c) for c in columns}
    demo_trail.execute(update(AuditEntry).where(AuditEntry.sequence == 7).values(b))
    demo_trail.execute(update(AuditEntry).where(AuditEntry.sequence == 8).values(a))
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert not result.ok
    assert {7, 8} & {p.sequence for p in result.problems}


def test_verify_catches_a_truncated_tail_behind_a_checkpoint(demo_trail, signing_key):
    last = demo_trail.scalar(select(AuditHead.sequence))
    demo_trail.execute(delete(AuditEntry).where(AuditEntry.sequence >= last - 2))
    # A careful attacker also rewinds the head; the signed checkpoint still knows.
    kept = demo_trail.get(AuditEntry, last - 3)
    demo_trail.execute(update(AuditHead).values(sequence=kept.sequence, entry_hash=kept.entry_hash))
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert not result.ok
    assert last in {p.sequence for p in result.problems}


def test_verify_refuses_a_checkpoint_signed_with_another_key(demo_trail, signing_key):
    audit.sign_checkpoint(demo_trail, SigningKey.generate())
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert any("another key" in p.message for p in result.problems)


def test_an_entry_without_its_action_cannot_be_committed(session, settings):
    """Fail closed: if the action's transaction rolls back, its entry goes too."""
    before = session.scalar(select(AuditHead.sequence))
    audit.record(session, "test.action", details={"n": 1})
    session.rollback()
    assert session.scalar(select(AuditHead.sequence)) == before
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "test.action")) is None
