"""invitations in page order

The invitations not yet accepted are listed expiring first, beside the review queue and
on the administrator's page: with an index in that order a page stops at 25 rather than
sorting every invitation ever sent. Checked in tests/web/test_constant_sql.py.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 19:30:00
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_invitations_used_at", "invitations", ["used_at", "expires_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_invitations_used_at", table_name="invitations")
