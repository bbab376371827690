"""a case's kind of offence as the referrals' value

Cases opened from a referral before 0019 stored the category's label ("Burglary"); new
cases store its value ("burglary"), so the dashboard counts cases and referrals by one
list. The labels are turned into values here, once, rather than matched both ways on
every count. Any other free text stays as typed (counted as another offence).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28 02:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# The labels as they stood when those cases were opened (models.OffenceCategory.label),
# copied so this migration means the same whatever the model later says.
LABELS = {
    "violence": "Violence against the person",
    "sexual": "Sexual offence",
    "domestic_abuse": "Domestic abuse",
    "stalking_or_harassment": "Stalking or harassment",
    "homicide": "Homicide",
    "robbery": "Robbery",
    "burglary": "Burglary",
    "theft": "Theft",
    "criminal_damage": "Criminal damage or arson",
    "fraud": "Fraud",
    "hate_crime": "Hate crime",
    "driving": "Driving causing death or injury",
    "other": "Another offence",
}

cases = sa.table("cases", sa.column("offence_category", sa.String(80)))


def upgrade() -> None:
    for value, label in LABELS.items():
        op.execute(
            cases.update().where(cases.c.offence_category == label).values(offence_category=value)
        )


def downgrade() -> None:
    # A value cannot tell whether it was typed as one or turned from a label: keep it.
    pass
