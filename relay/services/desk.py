"""The lists a facilitator acts on beside the review queue (issue 9, item 1): readings to
arrange, letters back with their writer, approved letters not yet passed on, letters to
print and post to parties on paper, and invitations to their cases not yet accepted. Each
is its first page, counted whole, read from rows alone: no letter is decrypted for them."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import contains_eager

from relay.models import CaseParticipant
from relay.models import Invitation
from relay.models import Letter
from relay.models import utcnow
from relay.services import letters
from relay.services.actor import Actor
from relay.services.paging import Page
from relay.services.paging import page_of


@dataclass(frozen=True)
class BesideTheQueue:
    readings: Page[Letter]  # waiting for a reading with their facilitator
    sent_back: Page[Letter]  # changes asked for or suggested: with the writer
    approved: Page[Letter]  # approved, waiting for a date, a choice or the case
    to_post: Page[Letter]  # approved for a party on paper: to print, and post or hand over
    invitations: Page[Invitation]  # to a party of their cases, not yet accepted
    now: datetime  # an invitation whose expires_at is not after this has expired


def _party_invitations(actor: Actor) -> Select:
    """Invitations to the parties of the person's cases (every case for an administrator)
    not yet accepted, those expiring first. A revoked one is deleted, so not listed."""
    query = (
        select(Invitation)
        .join(CaseParticipant, Invitation.participant_id == CaseParticipant.id)
        .where(Invitation.used_at.is_(None))
        .options(contains_eager(Invitation.participant).joinedload(CaseParticipant.case))
        .order_by(Invitation.expires_at, Invitation.id)
    )
    return letters.in_cases_of(query, actor, CaseParticipant.case_id)


def beside_the_queue(session: Session, actor: Actor, now: datetime | None = None) -> BesideTheQueue:
    return BesideTheQueue(
        readings=letters.readings_to_arrange(session, actor),
        sent_back=letters.sent_back(session, actor),
        approved=letters.approved_not_passed_on(session, actor),
        to_post=letters.to_print_and_post(session, actor),
        invitations=page_of(session, _party_invitations(actor), 1),
        now=now or utcnow(),
    )
