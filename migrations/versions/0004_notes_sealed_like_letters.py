"""notes sealed like letters

Facilitators' notes to writers and recipients' conditions were stored in clear
(`letters.review_note`, `case_participants.conditions`). They move into `sealed_notes`,
each under its own key sealed to the case key and to the people it is for, and the clear
columns are dropped. Sealing needs only public keys, so this runs inside the migration;
it needs every case with such a note to have its case key (`keys migrate` first).

A downgrade cannot decrypt the notes without the people's keys: it puts the columns back
empty and the notes are lost.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 12:50:00
"""

import sqlalchemy as sa
from alembic import op

import relay.models
from relay import crypto
from relay import keyring

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOTE_KINDS = ("changes_requested", "redaction", "rejection", "conditions", "pause_reason")
# The kind of an old review note, from the state its letter is in.
KIND_BY_LETTER_STATE = {"redaction_proposed": "redaction", "rejected": "rejection"}


def upgrade() -> None:
    op.create_table(
        "sealed_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*NOTE_KINDS, name="notekind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("written_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_sealed_notes_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_sealed_notes_letter_id_letters")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["case_participants.id"],
            name=op.f("fk_sealed_notes_participant_id_case_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["written_by_id"], ["users.id"], name=op.f("fk_sealed_notes_written_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sealed_notes")),
    )
    op.create_table(
        "note_seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=40), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["note_id"], ["sealed_notes.id"], name=op.f("fk_note_seals_note_id_sealed_notes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_seals")),
        sa.UniqueConstraint("note_id", "holder", name=op.f("uq_note_seals_note_id")),
    )
    _seal_existing_notes(op.get_bind())
    for table, column in (("letters", "review_note"), ("case_participants", "conditions")):
        if op.get_bind().dialect.name == "sqlite":
            # SQLite's own DROP COLUMN (3.35+): a batch copy would drop and re-create the
            # table, which its foreign keys refuse once rows refer to it.
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)


# Typed, so the timestamp is stored as the models store it.
SEALED_NOTES = sa.table(
    "sealed_notes",
    sa.column("id", sa.Integer()),
    sa.column("case_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("letter_id", sa.Integer()),
    sa.column("participant_id", sa.Integer()),
    sa.column("created_at", relay.models.UTCDateTime()),
)


def _seal_existing_notes(connection) -> None:
    t = sa.text
    notes = []  # (case id, kind, letter id, participant id, text, reader user ids)
    for letter_id, case_id, state, note, author_user in connection.execute(
        t(
            "SELECT l.id, l.case_id, l.state, l.review_note, p.user_id FROM letters l "
            "JOIN case_participants p ON p.id = l.author_id WHERE l.review_note <> ''"
        )
    ):
        kind = KIND_BY_LETTER_STATE.get(state, "changes_requested")
        notes.append((case_id, kind, letter_id, None, note, [author_user]))
    for participant_id, case_id, conditions, user_id in connection.execute(
        t("SELECT id, case_id, conditions, user_id FROM case_participants WHERE conditions <> ''")
    ):
        others = connection.execute(
            t(
                "SELECT user_id FROM case_participants WHERE case_id = :case AND id <> :me "
                "AND role IN ('victim', 'offender')"
            ),
            {"case": case_id, "me": participant_id},
        ).scalars()
        notes.append((case_id, "conditions", None, participant_id, conditions, [user_id, *others]))
    for case_id, kind, letter_id, participant_id, text, readers in notes:
        case_key = connection.execute(
            t("SELECT id, public_key FROM case_keys WHERE case_id = :case"), {"case": case_id}
        ).first()
        if case_key is None:
            raise RuntimeError(
                f"case {case_id} has no case key yet: run `flask --app wsgi keys migrate` "
                "on the previous release, then upgrade again"
            )
        note_id = connection.execute(
            sa.insert(SEALED_NOTES)
            .values(
                case_id=case_id,
                kind=kind,
                letter_id=letter_id,
                participant_id=participant_id,
                created_at=relay.models.utcnow(),
            )
            .returning(SEALED_NOTES.c.id)
        ).scalar_one()
        note_key = crypto.new_symmetric_key()
        connection.execute(
            t("UPDATE sealed_notes SET ciphertext = :blob WHERE id = :id"),
            {
                "blob": crypto.encrypt(note_key, text.encode(), keyring.note_text(note_id)),
                "id": note_id,
            },
        )
        holders = [(keyring.case_holder(case_key.id), bytes(case_key.public_key))]
        for user_id in readers:
            if user_id is None:
                continue
            public_key = connection.execute(
                t("SELECT public_key FROM users WHERE id = :id"), {"id": user_id}
            ).scalar_one()
            holders.append((keyring.user_holder(user_id), bytes(public_key)))
        for holder, public_key in holders:
            connection.execute(
                t("INSERT INTO note_seals (note_id, holder, sealed_key) VALUES (:n, :h, :k)"),
                {
                    "n": note_id,
                    "h": holder,
                    "k": crypto.seal_to(public_key, note_key, keyring.note_key(note_id, holder)),
                },
            )


def downgrade() -> None:
    with op.batch_alter_table("case_participants") as batch:
        batch.add_column(sa.Column("conditions", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("letters") as batch:
        batch.add_column(sa.Column("review_note", sa.Text(), nullable=False, server_default=""))
    op.drop_table("note_seals")
    op.drop_table("sealed_notes")
