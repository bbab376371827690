"""letters claimed for review

Opening a letter for review claims it for a while, so two facilitators never decide on
one letter unawares (relay/services/claims.py): who holds it, since when and until when,
on the letter's own row, which every decision already locks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import relay.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_letters_claimed_by_id_users"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a key only inline with its column. Batch mode would copy the table
        # instead, and dropping the old letters table fails while versions, reads and
        # notes refer to it (foreign keys are on: relay/database.py).
        op.execute(
            "ALTER TABLE letters ADD COLUMN claimed_by_id INTEGER "
            f"CONSTRAINT {FOREIGN_KEY} REFERENCES users (id)"
        )
    else:
        op.add_column("letters", sa.Column("claimed_by_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FOREIGN_KEY, "letters", "users", ["claimed_by_id"], ["id"])
    for name in ("claimed_at", "claimed_until"):
        op.add_column(
            "letters", sa.Column(name, relay.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    for name in ("claimed_until", "claimed_at"):
        op.drop_column("letters", name)
    # SQLite drops a column's inline key with the column.
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FOREIGN_KEY, "letters", type_="foreignkey")
    op.drop_column("letters", "claimed_by_id")
