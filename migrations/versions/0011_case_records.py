"""case records: a risk assessment per party, and the case timeline's index

Each party's risk assessment keeps its level, its extra-care categories and the date it
is to be reviewed (docs/rules.md, "Gates"). The evidence behind each gate and the
facilitators' case notes are sealed notes (new kinds, no new table). A case's timeline
is read from the audit trail by case, so the trail gets an index on its case.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "case_participants",
        sa.Column(
            "risk_level",
            sa.Enum("low", "medium", "high", name="risklevel", native_enum=False, length=32),
            nullable=True,
        ),
    )
    op.add_column("case_participants", sa.Column("risk_categories", sa.String(120), nullable=True))
    op.add_column("case_participants", sa.Column("risk_review_on", sa.Date(), nullable=True))
    op.create_index(
        "ix_case_participants_risk_review_on",
        "case_participants",
        ["risk_review_on", "id"],
    )
    op.create_index("ix_audit_entries_case_id", "audit_entries", ["case_id", "sequence"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_case_id", table_name="audit_entries")
    op.drop_index("ix_case_participants_risk_review_on", table_name="case_participants")
    for column in ("risk_review_on", "risk_categories", "risk_level"):
        op.drop_column("case_participants", column)
