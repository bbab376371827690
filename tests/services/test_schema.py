"""The schema exists only through Alembic: the head matches the models, and every
migration runs up, down and up again."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from relay import schema
from relay.database import make_engine
from relay.models import Base

POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgresql")


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _current_heads(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def _script_heads(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(schema.alembic_config(url)).get_heads())


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'schema.sqlite3'}"


def test_there_is_a_single_head(sqlite_url):
    assert len(_script_heads(sqlite_url)) == 1


def test_the_alembic_head_matches_the_models_on_sqlite(sqlite_url):
    schema.upgrade(sqlite_url)
    assert _diff(sqlite_url) == []


def test_the_alembic_head_matches_the_models_on_this_runs_database(migrated_database):
    """The database the suite runs on (SQLite, or PostgreSQL in CI's second pass).

    Read only: other tests share it; the up-down-up tests below use their own files.
    """
    url = migrated_database if POSTGRES else f"sqlite:///{migrated_database}"
    assert _current_heads(url) == _script_heads(url)
    assert _diff(url) == []


def test_every_migration_runs_up_down_and_up_again(sqlite_url):
    model_tables = {table.name for table in Base.metadata.sorted_tables}

    schema.upgrade(sqlite_url)
    assert _tables(sqlite_url) == model_tables | {"alembic_version"}
    assert _current_heads(sqlite_url) == _script_heads(sqlite_url)

    schema.downgrade(sqlite_url, "base")
    assert _tables(sqlite_url) <= {"alembic_version"}
    assert _current_heads(sqlite_url) == set()

    schema.upgrade(sqlite_url)
    assert _tables(sqlite_url) == model_tables | {"alembic_version"}
    assert _diff(sqlite_url) == []


def test_each_revision_steps_down_and_up_one_at_a_time(sqlite_url):
    script = ScriptDirectory.from_config(schema.alembic_config(sqlite_url))
    revisions = [revision.revision for revision in script.walk_revisions("base", "heads")]
    schema.upgrade(sqlite_url)
    for revision in revisions:  # newest first
        schema.downgrade(sqlite_url, "-1")
        assert revision not in _current_heads(sqlite_url)
    assert _tables(sqlite_url) <= {"alembic_version"}
    for revision in reversed(revisions):
        schema.upgrade(sqlite_url, "+1")
        assert _current_heads(sqlite_url) == {revision}
    assert _diff(sqlite_url) == []


def test_upgrade_is_a_no_op_when_already_at_head(sqlite_url):
    schema.upgrade(sqlite_url)
    schema.upgrade(sqlite_url)
    assert _current_heads(sqlite_url) == _script_heads(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        assert schema.is_current(engine, sqlite_url)
    finally:
        engine.dispose()


def test_notes_kept_in_clear_are_sealed_by_the_migration_that_drops_them(sqlite_url):
    """Migration 0004 (issue "Nothing lost, nothing leaked", item 7): a facilitator's note
    and a recipient's conditions stored in clear come out sealed to the case key and to the
    people they are for, and the clear columns are gone."""
    from datetime import UTC
    from datetime import datetime

    from sqlalchemy import text

    from relay import crypto
    from relay import keyring

    schema.upgrade(sqlite_url, "0003")
    case_pair, writer_pair, reader_pair = (crypto.generate_keypair() for _ in range(3))
    now = datetime.now(UTC)
    engine = make_engine(sqlite_url)
    with engine.begin() as db:

        def insert(table: str, **values) -> None:
            names = ", ".join(values)
            marks = ", ".join(f":{name}" for name in values)
            db.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)  # noqa: S608

        for user_id, role, pair in ((1, "offender", writer_pair), (2, "victim", reader_pair)):
            insert(
                "users",
                id=user_id,
                email=f"{role}@relay.test",
                name=role,
                role=role,
                created_at=now,
                disabled=False,
                password_salt=b"s" * 16,
                kdf_opslimit=1,
                kdf_memlimit=8192,
                authenticator_digest=b"d" * 32,
                public_key=pair.public_key,
                private_key_under_password=b"p",
                recovery_salt=b"r" * 16,
                private_key_under_recovery=b"r",
                notice_preference="standard",
            )
        insert(
            "cases",
            id=1,
            reference="RJ-1",
            offence_category="theft",
            state="active",
            created_by_id=1,
            created_at=now,
        )
        insert("escrow_keys", id=1, public_key=case_pair.public_key, created_at=now)
        insert(
            "case_keys",
            id=7,
            case_id=1,
            public_key=case_pair.public_key,
            escrow_key_id=1,
            created_at=now,
        )
        for participant_id, user_id, role, conditions in (
            (1, 1, "offender", ""),
            (2, 2, "victim", "Do not use my first name."),
        ):
            insert(
                "case_participants",
                id=participant_id,
                case_id=1,
                user_id=user_id,
                role=role,
                display_name=role,
                receive_preference="receive",
                tell_author_when_read=False,
                conditions=conditions,
                risk_extra_care=False,
            )
        insert(
            "letters",
            id=1,
            case_id=1,
            author_id=1,
            recipient_id=2,
            state="rejected",
            created_at=now,
            updated_at=now,
            review_note="It blames others.",
            hidden_by_recipient=False,
        )
    engine.dispose()

    schema.upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.connect() as db:
        notes = db.execute(
            text("SELECT id, kind, letter_id, participant_id, ciphertext FROM sealed_notes")
        ).all()
        seals = {
            (note_id, holder): sealed
            for note_id, holder, sealed in db.execute(
                text("SELECT note_id, holder, sealed_key FROM note_seals")
            )
        }
        columns = {c["name"] for c in inspect(db).get_columns("letters")}
        columns |= {c["name"] for c in inspect(db).get_columns("case_participants")}
    engine.dispose()
    assert "review_note" not in columns and "conditions" not in columns

    def opened(note, holder: str, private_key: bytes) -> str:
        key = crypto.open_sealed(
            private_key, seals[(note.id, holder)], keyring.note_key(note.id, holder)
        )
        return crypto.decrypt(key, note.ciphertext, keyring.note_text(note.id)).decode()

    by_kind = {note.kind: note for note in notes}
    assert set(by_kind) == {"rejection", "conditions"}
    rejection, conditions = by_kind["rejection"], by_kind["conditions"]
    assert (rejection.letter_id, conditions.participant_id) == (1, 2)
    case_holder = keyring.case_holder(7)
    assert opened(rejection, case_holder, case_pair.private_key) == "It blames others."
    assert opened(rejection, "user:1", writer_pair.private_key) == "It blames others."
    assert (rejection.id, "user:2") not in seals  # not for the recipient
    for holder, pair in (
        (case_holder, case_pair),
        ("user:2", reader_pair),
        ("user:1", writer_pair),
    ):
        assert opened(conditions, holder, pair.private_key) == "Do not use my first name."


def test_cases_opened_from_a_referral_hold_the_kinds_value_after_0020(sqlite_url):
    """Before 0019 a case opened from a referral stored the kind's label; 0020 turns each
    label into its value, so the dashboard matches cases by value alone, and leaves other
    free text as typed."""
    from datetime import UTC
    from datetime import datetime

    from sqlalchemy import text

    schema.upgrade(sqlite_url, "0019")
    engine = make_engine(sqlite_url)
    typed = ("Burglary", "Criminal damage or arson", "burglary", "a shed was broken into")
    with engine.begin() as db:
        # The case rows alone: their creator does not matter to this migration.
        db.execute(text("PRAGMA foreign_keys=OFF"))
        for number, offence in enumerate(typed, start=1):
            db.execute(
                text(
                    "INSERT INTO cases (id, reference, offence_category, state, created_by_id,"
                    " created_at) VALUES (:id, :reference, :offence, 'active', 1, :now)"
                ),
                {
                    "id": number,
                    "reference": f"RJ-{number}",
                    "offence": offence,
                    "now": datetime.now(UTC),
                },
            )
    engine.dispose()

    schema.upgrade(sqlite_url)

    engine = make_engine(sqlite_url)
    with engine.connect() as db:
        stored = db.execute(text("SELECT offence_category FROM cases ORDER BY id")).scalars()
        assert list(stored) == ["burglary", "criminal_damage", "burglary", "a shed was broken into"]
    engine.dispose()
