"""invitations in page order

The invitations not yet accepted are listed expiring first, beside the review queue and
on the administrator's page: with an index in that order a page stops at 25 rather than
sorting every invitation ever sent. Checked in tests/web/test_constant_sql.py.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


UNUSED = sa.text("used_at IS NULL")


def upgrade() -> None:
    # Partial: PostgreSQL reads an index in order past its first column only where that
    # column is compared with =, and "IS NULL" is not.
    op.create_index(
        "ix_invitations_unused",
        "invitations",
        ["expires_at", "id"],
        postgresql_where=UNUSED,
        sqlite_where=UNUSED,
    )


def downgrade() -> None:
    op.drop_index("ix_invitations_unused", table_name="invitations")
