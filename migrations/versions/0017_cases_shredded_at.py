"""cases shredded at

A closed case keeps the moment its letters, scans and notes were crypto-shredded, so the
retention run knows which cases are done without opening any of them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 22:20:00
"""

import sqlalchemy as sa
from alembic import op

import relay.models

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "cases", sa.Column("shredded_at", relay.models.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("cases", "shredded_at")
