"""indexes in page order

The review queue, the readings to arrange and the caseload read 25 rows in the order
they are shown; with an index in that order the database stops at 25 instead of sorting
every letter or case first. The counts beside them read an index alone: letters of a
case by state, and a person's places in cases by role. Each replaces the narrower
index it starts with. Checked in tests/web/test_constant_sql.py (no whole sort).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 17:00:00
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (new index, table, columns, the index it replaces and that one's columns)
REPLACED = [
    ("ix_letters_state_submitted_at", "letters", ["state", "submitted_at", "id"],
     "ix_letters_state", ["state"]),
    ("ix_letters_case_id_state", "letters", ["case_id", "state"],
     "ix_letters_case_id", ["case_id"]),
    ("ix_case_participants_user_id_role", "case_participants", ["user_id", "role", "case_id"],
     "ix_case_participants_user_id", ["user_id"]),
]  # fmt: skip
ADDED = [
    ("ix_letters_state_approved_at", "letters", ["state", "approved_at", "id"]),
    ("ix_cases_created_at", "cases", ["created_at", "id"]),
]


def upgrade() -> None:
    for name, table, columns, old, _old_columns in REPLACED:
        op.create_index(name, table, columns)
        op.drop_index(old, table_name=table)
    for name, table, columns in ADDED:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(ADDED):
        op.drop_index(name, table_name=table)
    for name, table, _columns, old, old_columns in reversed(REPLACED):
        op.create_index(old, table, old_columns)
        op.drop_index(name, table_name=table)
