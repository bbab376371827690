"""The audit chain: known answers, verification, and tampering caught by name."""

import dataclasses
import itertools
import json
import multiprocessing
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy import update

from relay import audit
from relay.models import AuditEntry
from relay.models import AuditHead
from tests.audit_tampering import add_entries
from tests.audit_tampering import delete_every_checkpoint
from tests.audit_tampering import rewrite_from
from tests.audit_tampering import roll_back_to


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
def demo_trail(demo_data, signing_key):
    audit.sign_checkpoint(demo_data, signing_key)
    demo_data.commit()
    return demo_data


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
    demo_trail.execute(update(AuditHead).values(sequence=last - 3))
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert not result.ok
    assert last in {p.sequence for p in result.problems}


def test_verify_catches_the_newest_entry_cut_with_the_head_left_alone(demo_trail, signing_key):
    last = demo_trail.scalar(select(AuditHead.sequence))
    demo_trail.execute(delete(AuditEntry).where(AuditEntry.sequence == last))
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert f"entry {last}: the chain head says {last} entries, found {last - 1}" in [
        str(problem) for problem in result.problems
    ]


def test_verify_names_the_newest_entry_changed(demo_trail, signing_key):
    """The head keeps no hash: the newest entry is checked against its own hash."""
    last = demo_trail.scalar(select(AuditHead.sequence))
    demo_trail.execute(
        update(AuditEntry).where(AuditEntry.sequence == last).values(action="forged.action")
    )
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert [str(problem) for problem in result.problems] == [
        f"entry {last}: changed since it was written"
    ]


def test_verify_refuses_a_checkpoint_signed_with_another_key(demo_trail, signing_key):
    audit.sign_checkpoint(demo_trail, SigningKey.generate())
    demo_trail.commit()
    result = _verify(demo_trail, signing_key)
    assert any("another key" in p.message for p in result.problems)


def _statements_of(session, work) -> list[str]:
    statements = []

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return statements


def test_an_append_is_two_statements(session):
    """Issue "Performance and scale", item 4: the head update that takes the lock also
    reads the previous entry's hash, then the entry is inserted; nothing else."""
    add_entries(session, 2)
    statements = _statements_of(session, lambda: audit.record(session, "test.action"))
    session.commit()
    assert len(statements) == 2, statements
    assert statements[0].lstrip().startswith("UPDATE audit_head")
    assert statements[1].lstrip().startswith("INSERT INTO audit_entries")
    newest = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc())).first()
    assert newest.prev_hash == session.get(AuditEntry, newest.sequence - 1).entry_hash


def test_an_append_that_waited_for_another_follows_it(app, session):
    """The second append waits on the head's lock while the first is uncommitted; once it
    goes on, it must link to the entry the first committed (on PostgreSQL that entry is
    newer than the waiting statement's snapshot)."""
    add_entries(session, 1)
    sessions = app.extensions["relay.sessionmaker"]
    with sessions() as first, sessions() as second:
        audit.record(first, "test.first")
        waiting = threading.Thread(
            target=lambda: (audit.record(second, "test.second"), second.commit())
        )
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive(), "the second append should wait for the first's lock"
        first.commit()
        waiting.join(timeout=30)
        assert not waiting.is_alive()
    session.expire_all()
    first_entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "test.first"))
    second_entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "test.second"))
    assert second_entry.sequence == first_entry.sequence + 1
    assert second_entry.prev_hash == first_entry.entry_hash
    assert audit.verify(session, SigningKey.generate().verify_key).problems == []


def test_an_entry_without_its_action_cannot_be_committed(session, settings):
    """Fail closed: if the action's transaction rolls back, its entry goes too."""
    before = session.scalar(select(AuditHead.sequence))
    audit.record(session, "test.action", details={"n": 1})
    session.rollback()
    assert session.scalar(select(AuditHead.sequence)) == before
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "test.action")) is None


# --- checkpoints kept off the server -----------------------------------------------------


def _kept(session, key):
    """What an operator copies off the server: the export, read back as `--checkpoints` does."""
    session.expire_all()
    return audit.read_checkpoints(json.dumps(audit.export(session, key.verify_key)))


def _problems(result) -> set[int | None]:
    return {problem.sequence for problem in result.problems}


@pytest.fixture
def two_checkpoints(demo_trail, signing_key):
    """Checkpoints at `first` and `second`, a tail after them, and an export of it all."""
    first = demo_trail.scalar(select(AuditHead.sequence))
    second = add_entries(demo_trail, 5)
    audit.sign_checkpoint(demo_trail, signing_key)
    demo_trail.commit()
    tail = add_entries(demo_trail, 3)
    return first, second, tail, _kept(demo_trail, signing_key)


def test_the_chain_extends_its_own_export(two_checkpoints, demo_trail, signing_key):
    first, second, tail, kept = two_checkpoints
    assert [c.sequence for c in kept.checkpoints] == [first, second]
    assert kept.newest_entry == (tail, demo_trail.get(AuditEntry, tail).entry_hash)
    add_entries(demo_trail, 2)  # the service carries on after the export

    result = audit.verify(demo_trail, signing_key.verify_key, kept=kept)
    assert result.ok, result.problems
    assert result.kept_checkpoints == 2


def test_a_rollback_to_an_earlier_checkpoint_fails_only_against_the_export(
    two_checkpoints, demo_trail, signing_key
):
    first, second, tail, kept = two_checkpoints
    roll_back_to(demo_trail, first)

    assert _verify(demo_trail, signing_key).ok, "the plain check cannot see a rollback"
    result = audit.verify(demo_trail, signing_key.verify_key, kept=kept)
    assert not result.ok
    assert _problems(result) == {second, tail}
    assert any("shorter than an exported checkpoint" in p.message for p in result.problems)


@pytest.mark.parametrize("attack", ["cut", "forged"])
def test_a_tail_changed_after_the_last_checkpoint_fails_against_the_export(
    two_checkpoints, demo_trail, signing_key, attack
):
    _first, second, tail, kept = two_checkpoints
    if attack == "cut":
        roll_back_to(demo_trail, tail - 1)
    else:
        rewrite_from(demo_trail, second + 1)

    assert _verify(demo_trail, signing_key).ok, "the plain check cannot see it"
    result = audit.verify(demo_trail, signing_key.verify_key, kept=kept)
    assert _problems(result) == {tail}


def test_history_rewritten_behind_deleted_checkpoints_fails_against_the_export(
    two_checkpoints, demo_trail, signing_key
):
    first, second, tail, kept = two_checkpoints
    delete_every_checkpoint(demo_trail)
    rewrite_from(demo_trail, 3)

    plain = _verify(demo_trail, signing_key)
    assert plain.ok and plain.checkpoints == 0
    result = audit.verify(demo_trail, signing_key.verify_key, kept=kept)
    assert _problems(result) == {first, second, tail}
    assert sum("differs from the exported checkpoint" in p.message for p in result.problems) == 2


def test_a_forged_checkpoint_in_the_file_fails(two_checkpoints, demo_trail, signing_key):
    first, _second, _tail, kept = two_checkpoints
    forged = dataclasses.replace(kept.checkpoints[0], entry_hash="e" * 64)
    kept = dataclasses.replace(kept, checkpoints=(forged, *kept.checkpoints[1:]))

    result = audit.verify(demo_trail, signing_key.verify_key, kept=kept)
    assert [str(p) for p in result.problems] == [
        f"entry {first}: exported checkpoint signature is wrong"
    ]


def test_a_file_from_another_key_fails(demo_trail, signing_key):
    other = SigningKey.generate()
    audit.sign_checkpoint(demo_trail, other)
    demo_trail.commit()
    kept = audit.read_checkpoints(json.dumps(audit.export(demo_trail, other.verify_key)))
    # Only the other key's checkpoint is taken from the file here.
    kept = dataclasses.replace(kept, checkpoints=kept.checkpoints[-1:])
    delete_every_checkpoint(demo_trail)

    result = audit.verify(demo_trail, signing_key.verify_key, kept=kept)
    messages = [str(p) for p in result.problems]
    assert "checkpoints file: exported with another verify key" in messages
    assert any("exported checkpoint signed with another key" in m for m in messages)


def test_read_checkpoints_takes_an_export_or_checkpoints_only(demo_trail, signing_key):
    exported = audit.export(demo_trail, signing_key.verify_key)
    only = audit.export(demo_trail, signing_key.verify_key, entries=False)
    assert "entries" not in only
    assert only["checkpoints"] == exported["checkpoints"]

    whole = audit.read_checkpoints(json.dumps(exported).encode())
    without_entries = audit.read_checkpoints(json.dumps(only))
    bare_list = audit.read_checkpoints(json.dumps(exported["checkpoints"]))
    assert whole.checkpoints == without_entries.checkpoints == bare_list.checkpoints
    assert whole.verify_key == without_entries.verify_key == exported["verify_key"]
    assert bare_list.verify_key is None
    assert whole.newest_entry == (
        exported["entries"][-1]["sequence"],
        exported["entries"][-1]["entry_hash"],
    )
    assert without_entries.newest_entry is None
    assert audit.verify(demo_trail, signing_key.verify_key, kept=bare_list).ok


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"{}",
        b'{"checkpoints": []}',
        b'{"checkpoints": {"sequence": 1}}',
        b'{"checkpoints": [{"sequence": 1}]}',
        b'[{"sequence": true, "entry_hash": "", "at": "", "verify_key": "", "signature": ""}]',
        b'{"verify_key": 7, "checkpoints": []}',
        b'{"entries": [{"sequence": "x"}], "checkpoints": []}',
        b"[1, 2]",
        b'"a string"',
    ],
)
def test_read_checkpoints_refuses_what_is_not_an_export(raw):
    with pytest.raises(audit.InvalidExport):
        audit.read_checkpoints(raw)


def test_a_checkpoint_older_than_its_schedule_is_a_warning(demo_trail, signing_key):
    now = datetime.now(UTC)
    delete_every_checkpoint(demo_trail)
    audit.sign_checkpoint(demo_trail, signing_key, now=now - timedelta(hours=26, minutes=5))
    demo_trail.commit()

    result = audit.verify(demo_trail, signing_key.verify_key, now=now)
    assert result.ok and result.stale
    assert "newest checkpoint is 26 hours old (schedule: every 24 hours)" in result.warnings

    hourly = audit.verify(
        demo_trail, signing_key.verify_key, now=now, max_checkpoint_age=timedelta(hours=30)
    )
    assert not hourly.stale
    assert not any("hours old" in warning for warning in hourly.warnings)


def test_a_checkpoint_in_the_file_counts_for_freshness(two_checkpoints, demo_trail, signing_key):
    *_, kept = two_checkpoints
    delete_every_checkpoint(demo_trail)
    assert audit.verify(demo_trail, signing_key.verify_key).stale
    result = audit.verify(demo_trail, signing_key.verify_key, kept=kept)
    assert not result.stale


def test_entries_after_the_newest_checkpoint_are_counted(demo_trail, signing_key):
    assert not any("not covered" in w for w in _verify(demo_trail, signing_key).warnings)
    checkpointed = demo_trail.scalar(select(AuditHead.sequence))
    add_entries(demo_trail, 4)
    result = _verify(demo_trail, signing_key)
    assert result.ok
    assert (
        f"4 entries after the newest checkpoint (entry {checkpointed}) are not covered "
        "by a signed checkpoint yet"
    ) in result.warnings


def test_a_chain_with_no_checkpoint_at_all_is_stale(demo_trail, signing_key):
    delete_every_checkpoint(demo_trail)
    result = _verify(demo_trail, signing_key)
    assert result.ok and result.stale
    assert f"no signed checkpoint: none of the {result.entries} entries is covered" in (
        result.warnings
    )


# --- verifying in several processes ------------------------------------------------------
# (issue "Performance and scale", item 5: verify uses both cores)

CHUNK = 10  # entries per chunk here, so that the demo's chain is several chunks long


@pytest.fixture
def in_processes(monkeypatch):
    """verify(..., workers=N) splits even the demo's chain into chunks of CHUNK, and this
    process, after its first chunk, waits until a worker has taken one: chunks are surely
    checked in other processes, not all by this one while the workers start."""
    monkeypatch.setattr(audit, "PARALLEL_FROM", 0)
    monkeypatch.setattr(audit, "VERIFY_CHUNK", CHUNK)
    claim = audit._claim

    def claim_then_let_a_worker_take_one(counter, count):
        index = claim(counter, count)
        deadline = time.monotonic() + 60
        while index == 0 and count > 1 and counter.value == 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        return index

    monkeypatch.setattr(audit, "_claim", claim_then_let_a_worker_take_one)


def _swap(session, first: int, second: int) -> None:
    columns = ["at", "actor_id", "action", "case_id", "letter_id", "details"]
    columns += ["prev_hash", "entry_hash"]
    a, b = session.get(AuditEntry, first), session.get(AuditEntry, second)
    values = {c: getattr(a, c) for c in columns}, {c: getattr(b, c) for c in columns}
    session.execute(update(AuditEntry).where(AuditEntry.sequence == first).values(values[1]))
    session.execute(update(AuditEntry).where(AuditEntry.sequence == second).values(values[0]))


def _remove(session, *sequences: int) -> None:
    session.execute(delete(AuditEntry).where(AuditEntry.sequence.in_(sequences)))


def _change(session, sequence: int, **values) -> None:
    session.execute(update(AuditEntry).where(AuditEntry.sequence == sequence).values(values))


def _add_past_the_head(session, last: int) -> None:
    """An entry no append wrote: past the head, which is left alone."""
    newest = session.get(AuditEntry, last)
    fields = {key: value for key, value in audit._fields(newest).items() if key != "sequence"}
    fields.update(sequence=last + 1, prev_hash=newest.entry_hash, action="forged.action")
    session.add(AuditEntry(**fields, entry_hash=audit.entry_hash_of(**fields)))


# Each tampers with a chain `last` entries long and says which entries must be named.
# Chunks end at 10, 20, 30 and so on.
TAMPERING = {
    "nothing": lambda session, last: set(),
    "an entry changed": lambda session, last: _change(session, 15, action="forged") or {15},
    "an entry removed": lambda session, last: _remove(session, 5) or {5, 6},
    "a pair reordered": lambda session, last: _swap(session, 7, 8) or {7, 8},
    "the last entry of a chunk removed": lambda session, last: _remove(session, 20) or {20, 21},
    "the first entry of a chunk removed": lambda session, last: _remove(session, 21) or {21, 22},
    "a pair across a chunk boundary reordered": lambda s, last: _swap(s, 20, 21) or {20, 21},
    "a whole chunk removed": lambda s, last: _remove(s, *range(21, 31)) or {21, 31},
    "a chunk's first entry linked elsewhere": (
        lambda session, last: _change(session, 31, prev_hash="e" * 64) or {31}
    ),
    "the newest entry removed": lambda session, last: _remove(session, last) or {last},
    "an entry added past the head": lambda s, last: _add_past_the_head(s, last) or {last},
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_several_processes_find_what_one_finds(demo_trail, signing_key, in_processes, tampering):
    last = demo_trail.scalar(select(AuditHead.sequence))
    assert last > 4 * CHUNK, "the demo's chain spans several chunks"
    named = TAMPERING[tampering](demo_trail, last)
    demo_trail.commit()

    one = audit.verify(demo_trail, signing_key.verify_key)
    two = audit.verify(demo_trail, signing_key.verify_key, workers=2)
    assert two.problems == one.problems
    assert (two.entries, two.through_sequence, two.through_hash) == (
        one.entries,
        one.through_sequence,
        one.through_hash,
    )
    assert (two.checkpoints, two.warnings) == (one.checkpoints, one.warnings)
    assert named <= _problems(one)
    assert one.ok == (tampering == "nothing")


@pytest.mark.parametrize("attack", ["rolled back", "rewritten"])
def test_several_processes_hold_the_chain_to_a_kept_export_as_one_does(
    two_checkpoints, demo_trail, signing_key, in_processes, attack
):
    first, second, tail, kept = two_checkpoints
    if attack == "rolled back":
        roll_back_to(demo_trail, first)
    else:
        delete_every_checkpoint(demo_trail)
        rewrite_from(demo_trail, 3)

    one = audit.verify(demo_trail, signing_key.verify_key, kept=kept)
    three = audit.verify(demo_trail, signing_key.verify_key, kept=kept, workers=3)
    assert three.problems == one.problems
    assert _problems(one) == ({second, tail} if attack == "rolled back" else {first, second, tail})


def test_audit_verify_takes_the_number_of_processes(app, demo_trail, in_processes):
    runner = app.test_cli_runner()
    passed = runner.invoke(args=["audit", "verify", "--workers", "2"])
    assert passed.exit_code == 0, passed.output
    assert "OK: " in passed.output

    _remove(demo_trail, 2 * CHUNK + 1)
    demo_trail.commit()
    failed = runner.invoke(args=["audit", "verify", "--workers", "2"])
    assert failed.exit_code == 1
    assert f"FAIL entry {2 * CHUNK + 1}: missing (next entry found is {2 * CHUNK + 2})" in (
        failed.output
    )
    refused = runner.invoke(args=["audit", "verify", "--workers", "0"])
    assert refused.exit_code == 2


@pytest.mark.parametrize(("after", "through"), [(0, 0), (0, 1), (0, 10), (0, 25), (7, 30)])
def test_the_chunks_cover_the_chain_once_and_run_on_past_its_head(after, through):
    chunks = audit.chain_chunks(after, through, 10)
    assert chunks[0][0] == after and chunks[-1][1] is None
    for (_start, end), (start, _end) in itertools.pairwise(chunks):
        assert end == start and end - _start == 10
    assert len(chunks) == max(1, -(-(through - after) // 10))


def test_a_short_chain_is_verified_in_this_process(demo_trail, signing_key, monkeypatch):
    def no_processes(*_args):
        raise AssertionError("no worker process for a short chain")

    monkeypatch.setattr(audit, "_read_in_processes", no_processes)
    assert audit.verify(demo_trail, signing_key.verify_key, workers=8).ok


@pytest.mark.only_on("sqlite", "takes the SQLite file away from the workers")
def test_a_worker_that_fails_fails_verify_and_leaves_no_process(
    app, demo_trail, signing_key, in_processes
):
    # This process keeps its open connection; a worker opening the database by its name
    # finds a new, empty file.
    demo_trail.scalar(select(AuditHead.sequence))
    Path(make_url(app.config["DATABASE_URL"]).database).unlink()

    with pytest.raises(RuntimeError, match="a process verifying the audit chain failed: "):
        audit.verify(demo_trail, signing_key.verify_key, workers=2)
    assert multiprocessing.active_children() == []
