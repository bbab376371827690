"""letter versions' flag count

The review queue shows how many review flags each letter raised, and it never decrypts a
letter: the count is kept on the version when it is sent for review.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("letter_versions", sa.Column("flag_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("letter_versions", "flag_count")
