"""referrals

A referral for restorative justice is recorded before there is a case: the day it came,
where from, the kind of offence, and what came of offering it to the person harmed (a
decline's reason from a fixed list), with no names and no free text; and the case it
became when they agreed.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 22:30:00
"""

import sqlalchemy as sa
from alembic import op

import relay.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


SOURCES = (
    "police",
    "probation",
    "prison",
    "youth_offending_team",
    "victim_services",
    "self",
)
OFFENCES = (
    "violence",
    "sexual",
    "domestic_abuse",
    "stalking_or_harassment",
    "homicide",
    "robbery",
    "burglary",
    "theft",
    "criminal_damage",
    "fraud",
    "hate_crime",
    "driving",
    "other",
)
STATUSES = ("referred", "offered", "took_part", "declined", "not_contacted")
REASONS = (
    "not_ready",
    "wants_to_move_on",
    "not_interested",
    "feels_unsafe",
    "does_not_want_contact",
    "doubts_sincerity",
    "other_support",
    "no_reason_given",
)


def _listed(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("source", _listed("referralsource", SOURCES), nullable=False),
        sa.Column("offence_category", _listed("offencecategory", OFFENCES), nullable=False),
        sa.Column("status", _listed("referralstatus", STATUSES), nullable=False),
        sa.Column("decline_reason", _listed("declinereason", REASONS), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("recorded_at", relay.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", relay.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True),
        sa.UniqueConstraint("case_id"),
    )
    op.create_index("ix_referrals_received_on", "referrals", ["received_on", "id"])
    op.create_index("ix_referrals_source_received_on", "referrals", ["source", "received_on"])
    op.create_index("ix_referrals_status_received_on", "referrals", ["status", "received_on", "id"])


def downgrade() -> None:
    op.drop_index("ix_referrals_status_received_on", table_name="referrals")
    op.drop_index("ix_referrals_source_received_on", table_name="referrals")
    op.drop_index("ix_referrals_received_on", table_name="referrals")
    op.drop_table("referrals")
