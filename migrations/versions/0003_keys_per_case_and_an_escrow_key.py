"""keys per case and an escrow key

Existing letters stay sealed to the legacy team key until `flask --app wsgi keys
migrate` re-seals them to their case keys in batches (it needs an administrator's
password, so it cannot run inside a migration).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 06:27:36.081243
"""

import sqlalchemy as sa
from alembic import op

import relay.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escrow_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escrow_keys")),
    )
    op.create_table(
        "escrow_seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escrow_key_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(length=256), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["escrow_key_id"],
            ["escrow_keys.id"],
            name=op.f("fk_escrow_seals_escrow_key_id_escrow_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"], ["users.id"], name=op.f("fk_escrow_seals_granted_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_escrow_seals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escrow_seals")),
        sa.UniqueConstraint("escrow_key_id", "user_id", name=op.f("uq_escrow_seals_escrow_key_id")),
    )
    op.create_table(
        "case_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("escrow_key_id", sa.Integer(), nullable=False),
        sa.Column("sealed_to_escrow", sa.LargeBinary(length=256), nullable=True),
        sa.Column("created_at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_keys_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["escrow_key_id"],
            ["escrow_keys.id"],
            name=op.f("fk_case_keys_escrow_key_id_escrow_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_keys")),
        sa.UniqueConstraint("case_id", name=op.f("uq_case_keys_case_id")),
    )
    op.create_table(
        "case_key_seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_key_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(length=256), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_key_id"], ["case_keys.id"], name=op.f("fk_case_key_seals_case_key_id_case_keys")
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"], ["users.id"], name=op.f("fk_case_key_seals_granted_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_case_key_seals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_key_seals")),
        sa.UniqueConstraint("case_key_id", "user_id", name=op.f("uq_case_key_seals_case_key_id")),
    )


def downgrade() -> None:
    op.drop_table("case_key_seals")
    op.drop_table("case_keys")
    op.drop_table("escrow_seals")
    op.drop_table("escrow_keys")
