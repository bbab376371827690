"""parties on paper

A party may take part on paper only (no e-mail, no account): they are marked so, and a
letter to them is delivered when their facilitator records it posted or handed over, on
which day and by whom.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_letters_paper_delivered_by_id_users"


def upgrade() -> None:
    op.add_column(
        "case_participants",
        sa.Column("on_paper", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("letters", sa.Column("paper_delivery", sa.String(32), nullable=True))
    op.add_column("letters", sa.Column("paper_delivered_on", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a key only inline with its column (see 0008).
        op.execute(
            "ALTER TABLE letters ADD COLUMN paper_delivered_by_id INTEGER "
            f"CONSTRAINT {FOREIGN_KEY} REFERENCES users (id)"
        )
    else:
        op.add_column("letters", sa.Column("paper_delivered_by_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FOREIGN_KEY, "letters", "users", ["paper_delivered_by_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FOREIGN_KEY, "letters", type_="foreignkey")
    op.drop_column("letters", "paper_delivered_by_id")
    op.drop_column("letters", "paper_delivered_on")
    op.drop_column("letters", "paper_delivery")
    op.drop_column("case_participants", "on_paper")
