"""Invitations: who may invite whom, the one-time link, and the account it sets up."""

import secrets
from datetime import datetime
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay import crypto
from relay.database import transaction
from relay.models import CaseParticipant
from relay.models import Invitation
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from relay.services import outbox
from relay.services.accounts import NewAccount
from relay.services.accounts import add_account
from relay.services.accounts import normalise_email
from relay.services.actor import Actor
from relay.services.errors import InvalidInput
from relay.services.errors import NotAllowed
from relay.services.settings import ServiceSettings

_INVITERS = {
    Role.FACILITATOR: {Role.ADMINISTRATOR},
    Role.ADMINISTRATOR: {Role.ADMINISTRATOR},
    Role.VICTIM: {Role.FACILITATOR},
    Role.OFFENDER: {Role.FACILITATOR},
}


INVITATION_SUBJECT = "You have been invited to Relay"


INVITATION_BODY = (
    "Hello,\n\nYou have been invited to set up an account. Use this link within {days} days:\n\n"
    "{link}\n\nThe link works once. If you did not expect this e-mail, you can ignore it.\n"
)


def create_invitation(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    *,
    email: str,
    name: str,
    role: Role,
    participant: CaseParticipant | None = None,
) -> str:
    """Add an invitation and its e-mail to the caller's transaction; return the one-time code.

    The caller commits (so a case's party invitation lands with the case change).
    """
    if actor.role not in _INVITERS[role] or actor.user.keys_replaced_at is not None:
        raise NotAllowed("You cannot invite this kind of account")
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise InvalidInput("Enter an e-mail address in the right format", "email")
    if session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise InvalidInput("An account with this e-mail address already exists", "email")
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        token_digest=crypto.token_digest(token),
        email=email,
        name=name.strip(),
        role=role,
        invited_by_id=actor.id,
        participant=participant,
        expires_at=utcnow() + timedelta(days=settings.invitation_days),
    )
    session.add(invitation)
    session.flush()
    outbox.queue_mail(
        session,
        settings.outbox_key,
        recipient=email,
        subject=INVITATION_SUBJECT,
        body=INVITATION_BODY.format(
            days=settings.invitation_days, link=settings.link(f"/activate/{token}")
        ),
    )
    audit.record(
        session,
        "invitation.created",
        actor_id=actor.id,
        case_id=participant.case_id if participant else None,
        details={"invitation": invitation.id, "role": str(role)},
    )
    return token


def invite_staff(
    session: Session, settings: ServiceSettings, actor: Actor, *, email: str, name: str
) -> str:
    with transaction(session):
        token = create_invitation(
            session, settings, actor, email=email, name=name, role=Role.FACILITATOR
        )
        return token


def open_invitation(session: Session, token: str, now: datetime | None = None) -> Invitation:
    """The invitation behind a token, if it can still be used."""
    now = now or utcnow()
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_digest == crypto.token_digest(token))
    )
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= now:
        raise InvalidInput(
            "This invitation link has expired or has already been used. "
            "Ask the person who invited you for a new one",
            "token",
        )
    return invitation


def accept_invitation(
    session: Session, settings: ServiceSettings, *, token: str, password: str
) -> NewAccount:
    with transaction(session):
        invitation = open_invitation(session, token)
        user, recovery_code, _private_key = add_account(
            session,
            settings,
            email=invitation.email,
            name=invitation.name,
            role=invitation.role,
            password=password,
            field="token",
        )
        invitation.used_at = utcnow()
        if invitation.participant is not None:
            invitation.participant.user_id = user.id
        audit.record(
            session,
            "account.activated",
            actor_id=user.id,
            case_id=invitation.participant.case_id if invitation.participant else None,
            details={"invitation": invitation.id, "role": str(user.role)},
        )
        return NewAccount(user, recovery_code)
