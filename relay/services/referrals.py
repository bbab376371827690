"""Referrals: recorded by a facilitator before there is a case, offered to the person
harmed, and opened as a case when they agree.

A referral holds no names and no free text (the day it came, where from, the kind of
offence, what came of the offer), so one that goes no further holds nothing about anyone.
That is why every facilitator of the service sees every referral: there is no case yet to
decide whose it is, and the team shares out who contacts whom. Administrators see the
counts on the dashboard, not the list; parties never see referrals.
"""

import enum
from datetime import date
from typing import TypeVar

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay.database import transaction
from relay.models import Case
from relay.models import DeclineReason
from relay.models import OffenceCategory
from relay.models import Referral
from relay.models import ReferralSource
from relay.models import ReferralStatus
from relay.models import Role
from relay.models import utcnow
from relay.services import cases
from relay.services.actor import Actor
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.paging import Page
from relay.services.paging import page_of

# What a facilitator may record about the offer, from any status but TOOK_PART: before the
# case, the referral is a record of what happened, and a wrong entry is put right (the
# audit trail keeps each). TOOK_PART comes only with the case (`open_case_from_referral`),
# and is final: a referral that became a case is never made a referral again.
OUTCOMES = (
    ReferralStatus.REFERRED,
    ReferralStatus.OFFERED,
    ReferralStatus.DECLINED,
    ReferralStatus.NOT_CONTACTED,
)
FINAL = ReferralStatus.TOOK_PART


def require_facilitator(actor: Actor) -> None:
    if actor.role != Role.FACILITATOR:
        raise NotAllowed("Only a facilitator can see or record referrals")


Chosen = TypeVar("Chosen", bound=enum.StrEnum)


def _chosen(kind: type[Chosen], value: object, field: str, message: str) -> Chosen:
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(message, field) from None


def record_referral(
    session: Session,
    actor: Actor,
    *,
    received_on: date | None,
    source: str,
    offence_category: str,
    today: date,
) -> Referral:
    """Record a referral as it came: the day, where from, the kind of offence."""
    with transaction(session):
        require_facilitator(actor)
        if received_on is None:
            raise InvalidInput("Enter the day the referral came", "received_on")
        if received_on > today:
            raise InvalidInput("The day the referral came must be today or before", "received_on")
        chosen_source = _chosen(
            ReferralSource, source, "source", "Choose where the referral came from"
        )
        offence = _chosen(
            OffenceCategory, offence_category, "offence_category", "Choose the kind of offence"
        )
        referral = Referral(
            received_on=received_on,
            source=chosen_source,
            offence_category=offence,
            status=ReferralStatus.REFERRED,
            recorded_by_id=actor.id,
        )
        session.add(referral)
        session.flush()
        audit.record(
            session,
            "referral.recorded",
            actor_id=actor.id,
            details={
                "referral_id": referral.id,
                "received_on": received_on.isoformat(),
                "source": chosen_source.value,
                "offence_category": offence.value,
            },
        )
        return referral


def referral_for_staff(session: Session, actor: Actor, referral_id: int) -> Referral:
    require_facilitator(actor)
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise NotFound("referral")
    return referral


def _locked(session: Session, actor: Actor, referral_id: int) -> Referral:
    """The referral for a change: locked and read afresh, so two changes at once give one
    outcome (and one case)."""
    require_facilitator(actor)
    referral = session.scalars(
        select(Referral)
        .where(Referral.id == referral_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if referral is None:
        raise NotFound("referral")
    if referral.status == FINAL:
        raise InvalidTransition("This referral became a case: it cannot be changed")
    return referral


def record_outcome(
    session: Session,
    actor: Actor,
    referral_id: int,
    *,
    status: str,
    decline_reason: str | None = None,
) -> Referral:
    """Record whether the person harmed was offered restorative justice and what they
    said: a decline with its reason from the fixed list, and only a decline with one."""
    with transaction(session):
        referral = _locked(session, actor, referral_id)
        chosen = _chosen(ReferralStatus, status, "status", "Choose what happened")
        if chosen == FINAL:
            raise InvalidInput(
                "When the person harmed agrees, open a case for this referral", "status"
            )
        reason = None
        if chosen == ReferralStatus.DECLINED:
            if not decline_reason:
                raise InvalidInput("Choose why they declined", "decline_reason")
            reason = _chosen(
                DeclineReason, decline_reason, "decline_reason", "Choose why they declined"
            )
        elif decline_reason:
            raise InvalidInput("A reason is given only when they declined", "decline_reason")
        if (chosen, reason) == (referral.status, referral.decline_reason):
            raise InvalidInput("This is already recorded", "status")
        referral.status = chosen
        referral.decline_reason = reason
        referral.updated_at = utcnow()
        details = {"referral_id": referral.id, "status": chosen.value}
        if reason is not None:
            details["decline_reason"] = reason.value
        audit.record(session, "referral.updated", actor_id=actor.id, details=details)
        return referral


def open_case_from_referral(
    session: Session, actor: Actor, referral_id: int, *, reference: str
) -> Case:
    """The person harmed agreed: open the case (the new-case page's own path, with the
    referral's kind of offence) and link the two, in one transaction."""
    with transaction(session):
        referral = _locked(session, actor, referral_id)
        case = cases.open_case(
            session,
            actor,
            reference=reference,
            offence_category=referral.offence_category.value,
        )
        referral.status = FINAL
        referral.decline_reason = None
        referral.case_id = case.id
        referral.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            "case.opened_from_referral",
            actor_id=actor.id,
            case_id=case.id,
            details={"referral_id": referral.id},
        )
        return case


def case_of(session: Session, actor: Actor, referral: Referral) -> Case | None:
    """The case a referral became, for a facilitator of that case; None for anyone else
    (every facilitator sees the referral, only the case's own see which case it is)."""
    if referral.case_id is None:
        return None
    case = session.get(Case, referral.case_id)
    mine = cases.participant_of(case, actor.id) if case is not None else None
    return case if mine is not None and mine.role == Role.FACILITATOR else None


def referral_list(
    session: Session, actor: Actor, *, status: str = "", page: int = 1
) -> Page[Referral]:
    """Every referral, the newest first (by the day it came), a page at a time; narrowed
    to one status when asked."""
    require_facilitator(actor)
    query = select(Referral).order_by(Referral.received_on.desc(), Referral.id.desc())
    count = select(func.count()).select_from(Referral)
    if status:
        chosen = _chosen(ReferralStatus, status, "status", "Choose a status from the list")
        query = query.where(Referral.status == chosen)
        count = count.where(Referral.status == chosen)
    return page_of(session, query, page, count)
