"""ended sessions keep no sealed private key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_sessions") as batch:
        batch.alter_column(
            "sealed_private_key", existing_type=sa.LargeBinary(length=128), nullable=True
        )
    # Sessions that ended before this release kept their sealed key: wipe them now.
    op.execute(
        "UPDATE user_sessions SET sealed_private_key = NULL, sealed_pending_totp_secret = NULL "
        "WHERE revoked_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DELETE FROM user_sessions WHERE sealed_private_key IS NULL")
    with op.batch_alter_table("user_sessions") as batch:
        batch.alter_column(
            "sealed_private_key", existing_type=sa.LargeBinary(length=128), nullable=False
        )
