"""invitations by printed code

A party on paper who later wants the portal is given a one-time code on paper rather than
a link by e-mail: the same invitation, with no address until they choose one when they
enter the code. So an invitation's address may be empty.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 21:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.alter_column("email", existing_type=sa.String(254), nullable=True)


def downgrade() -> None:
    # A code not yet used cannot become a link without an address: it stops working. A
    # used one keeps its row, with an empty address.
    op.execute("DELETE FROM invitations WHERE email IS NULL AND used_at IS NULL")
    op.execute("UPDATE invitations SET email = '' WHERE email IS NULL")
    with op.batch_alter_table("invitations") as batch:
        batch.alter_column("email", existing_type=sa.String(254), nullable=False)
