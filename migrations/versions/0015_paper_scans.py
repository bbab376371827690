"""paper scans

A letter that came on paper is scanned before it is typed in: the cleaned scan is kept,
encrypted under its own key sealed to the case's key, with the day it was received and
the date on its envelope, and joined to the version typed from it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 21:45:00
"""

import sqlalchemy as sa
from alembic import op

import relay.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_scans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column(
            "author_role",
            sa.Enum(
                "administrator",
                "facilitator",
                "victim",
                "offender",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("envelope_dated", sa.Date(), nullable=True),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("holder", sa.String(40), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(256), nullable=True),
        sa.Column("uploaded_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("uploaded_at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("letter_versions.id"), nullable=True),
        sa.UniqueConstraint("version_id"),
    )
    op.create_index("ix_paper_scans_case_id", "paper_scans", ["case_id", "version_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_paper_scans_case_id", table_name="paper_scans")
    op.drop_table("paper_scans")
