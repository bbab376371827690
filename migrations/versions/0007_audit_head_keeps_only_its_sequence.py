"""the audit head keeps only its sequence

An append bumps the head and reads the previous entry's hash in one statement, then
inserts its entry: two statements, not three. The newest entry's hash is that entry's
own, so the head's copy of it goes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("entry_hash")


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
    # The newest entry's hash, as the head kept it before; the genesis hash before any entry.
    op.execute(
        "UPDATE audit_head SET entry_hash = COALESCE((SELECT entry_hash FROM audit_entries "
        "WHERE audit_entries.sequence = audit_head.sequence), "
        "'0000000000000000000000000000000000000000000000000000000000000000')"
    )
    with op.batch_alter_table("audit_head") as batch:
        batch.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
