"""letters' first approval

In a case marked for extra care a letter is passed on only when two facilitators have
approved it (docs/rules.md rule 4). The first approval is kept on the letter's own row,
with the version it was given to, so that a new version needs it again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 19:00:00
"""

import sqlalchemy as sa
from alembic import op

import relay.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KEYS = {
    "first_approval_version_id": (
        "fk_letters_first_approval_version_id_letter_versions",
        "letter_versions",
    ),
    "first_approved_by_id": ("fk_letters_first_approved_by_id_users", "users"),
}


def upgrade() -> None:
    for column, (name, table) in KEYS.items():
        if op.get_bind().dialect.name == "sqlite":
            # SQLite adds a key only inline with its column (see 0008).
            op.execute(
                f"ALTER TABLE letters ADD COLUMN {column} INTEGER "
                f"CONSTRAINT {name} REFERENCES {table} (id)"
            )
        else:
            op.add_column("letters", sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(name, "letters", table, [column], ["id"])
    op.add_column(
        "letters",
        sa.Column("first_approved_at", relay.models.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("letters", "first_approved_at")
    for column, (name, _table) in KEYS.items():
        if op.get_bind().dialect.name != "sqlite":
            op.drop_constraint(name, "letters", type_="foreignkey")
        op.drop_column("letters", column)
