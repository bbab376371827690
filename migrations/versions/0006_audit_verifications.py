"""audit verifications

The scheduled whole-chain check (`flask audit verify`) records where it ended, so the
administrator's page checks only what was appended since instead of the whole chain on
every view.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 14:00:00
"""

import sqlalchemy as sa
from alembic import op

import relay.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("through_sequence", sa.Integer(), nullable=False),
        sa.Column("through_hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verifications")),
    )


def downgrade() -> None:
    op.drop_table("audit_verifications")
