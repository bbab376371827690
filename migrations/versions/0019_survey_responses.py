"""survey responses

The short survey each party is offered when their case closes: four questions, each
answered yes, partly or no or left blank, and a comment kept as a sealed note.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28 00:45:00
"""

import sqlalchemy as sa
from alembic import op

import relay.models

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


ANSWERS = ("yes", "partly", "no")
ROLES = ("administrator", "facilitator", "victim", "offender")


def _answer(name: str) -> sa.Column:
    return sa.Column(
        name, sa.Enum(*ANSWERS, name="surveyanswer", native_enum=False, length=32), nullable=True
    )


def upgrade() -> None:
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column(
            "participant_id", sa.Integer(), sa.ForeignKey("case_participants.id"), nullable=False
        ),
        sa.Column(
            "role", sa.Enum(*ROLES, name="role", native_enum=False, length=32), nullable=False
        ),
        _answer("satisfied"),
        _answer("felt_safe"),
        _answer("felt_heard"),
        _answer("would_recommend"),
        sa.Column("comment_note_id", sa.Integer(), sa.ForeignKey("sealed_notes.id"), nullable=True),
        sa.Column("entered_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("from_paper", sa.Boolean(), nullable=False),
        sa.Column("answered_at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("participant_id"),
    )
    op.create_index("ix_survey_responses_case_id", "survey_responses", ["case_id"])
    op.create_index("ix_survey_responses_answered_at", "survey_responses", ["answered_at", "role"])


def downgrade() -> None:
    op.drop_index("ix_survey_responses_answered_at", table_name="survey_responses")
    op.drop_index("ix_survey_responses_case_id", table_name="survey_responses")
    op.drop_table("survey_responses")
