"""indexes for every list

Every filter the services use has an index: letters by case, author, recipient and
state; a person's cases and sessions; a letter's reads; a case's and a letter's notes;
the outbox worker's "unsent and due". Checked with EXPLAIN in tests/services/test_indexes.py.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 13:55:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_letters_case_id", "letters", ["case_id"]),
    ("ix_letters_author_id", "letters", ["author_id"]),
    ("ix_letters_recipient_id", "letters", ["recipient_id"]),
    ("ix_letters_state", "letters", ["state"]),
    ("ix_case_participants_user_id", "case_participants", ["user_id"]),
    ("ix_user_sessions_user_id", "user_sessions", ["user_id"]),
    ("ix_letter_reads_letter_id", "letter_reads", ["letter_id"]),
    ("ix_sealed_notes_case_id", "sealed_notes", ["case_id"]),
    ("ix_sealed_notes_letter_id", "sealed_notes", ["letter_id"]),
    ("ix_sealed_notes_participant_id", "sealed_notes", ["participant_id"]),
    ("ix_outbox_messages_unsent", "outbox_messages", ["sent_at", "next_attempt_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(op.f(name), table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(op.f(name), table_name=table)
