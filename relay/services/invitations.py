"""Invitations: who may invite whom, the one-time link, and the account it sets up."""

import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import ColumnElement
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay import crypto
from relay.database import transaction
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Invitation
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from relay.services import delivery
from relay.services import outbox
from relay.services.accounts import NewAccount
from relay.services.accounts import add_account
from relay.services.accounts import normalise_email
from relay.services.actor import Actor
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.paging import Page
from relay.services.paging import page_of
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
    invitation = Invitation(
        email=email, name=name.strip(), role=role, invited_by_id=actor.id, participant=participant
    )
    token = _send(session, settings, invitation)
    audit.record(
        session,
        "invitation.created",
        actor_id=actor.id,
        case_id=participant.case_id if participant else None,
        details={"invitation": invitation.id, "role": str(role)},
    )
    return token


def _send(session: Session, settings: ServiceSettings, invitation: Invitation) -> str:
    """A new one-time link for the invitation, valid from now, and its e-mail in the outbox.
    Only the token's digest is kept, so a link made before this one stops working."""
    token = secrets.token_urlsafe(32)
    invitation.token_digest = crypto.token_digest(token)
    invitation.expires_at = utcnow() + timedelta(days=settings.invitation_days)
    session.add(invitation)
    session.flush()
    outbox.queue_mail(
        session,
        settings.outbox_key,
        recipient=invitation.email,
        subject=INVITATION_SUBJECT,
        body=INVITATION_BODY.format(
            days=settings.invitation_days, link=settings.link(f"/activate/{token}")
        ),
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


def open_invitation(
    session: Session, token: str, now: datetime | None = None, *, lock: bool = False
) -> Invitation:
    """The invitation behind a token, if it can still be used; locked to be used, so an
    administrator's resend or revoke at the same moment gives one outcome."""
    invitation = _usable(session, token, now, lock=lock)
    if invitation is None:
        raise _link_refused()
    return invitation


def _usable(
    session: Session, token: str, now: datetime | None = None, *, lock: bool = False
) -> Invitation | None:
    """A link's invitation: one with an address (a printed code has none, and is entered
    only as a code, `open_code`)."""
    return _usable_by_digest(
        session, crypto.token_digest(token), Invitation.email.is_not(None), now, lock=lock
    )


def _usable_by_digest(
    session: Session,
    digest: bytes,
    kind: ColumnElement[bool],
    now: datetime | None = None,
    *,
    lock: bool = False,
) -> Invitation | None:
    # Found by its digest, in the unique index: the comparison is of digests, never of the
    # secret itself, so how long it takes tells nothing about a code or a link.
    now = now or utcnow()
    query = select(Invitation).where(Invitation.token_digest == digest, kind)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    invitation = session.scalar(query)
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= now:
        return None
    return invitation


def _link_refused() -> InvalidInput:
    return InvalidInput(
        "This invitation link has expired, has been replaced or withdrawn, or has already "
        "been used. Ask the person who invited you for a new one",
        "token",
    )


def accept_invitation(
    session: Session, settings: ServiceSettings, *, token: str, password: str
) -> NewAccount:
    with transaction(session):
        invitation = _usable(session, token, lock=True)
        if invitation is not None:
            return _set_up(session, settings, invitation, invitation.email, password, "token")
    # Refused after the block, which wrote nothing: a rollback would expire the invitation
    # the caller opened to show its page, and when a revocation won the lock its row is
    # gone, so the page could not load it again and answered 500.
    raise _link_refused()


def _set_up(
    session: Session,
    settings: ServiceSettings,
    invitation: Invitation,
    email: str,
    password: str,
    field: str,
    *,
    by_code: bool = False,
) -> NewAccount:
    """The account an invitation sets up, by its link or its code, in the caller's
    transaction with the invitation locked: used once, and a party's place in their case.
    A party on paper who enters their code leaves paper (`_letters_sealed_to_nobody`)."""
    user, recovery_code, _private_key = add_account(
        session,
        settings,
        email=email,
        name=invitation.name,
        role=invitation.role,
        password=password,
        field=field,
    )
    invitation.used_at = utcnow()
    participant = invitation.participant
    extra = {}
    if participant is not None:
        participant.user_id = user.id
        if by_code:
            participant.on_paper = _letters_sealed_to_nobody(session, participant)
            extra = {"by": "code", "on_paper": participant.on_paper}
    audit.record(
        session,
        "account.activated",
        actor_id=user.id,
        case_id=participant.case_id if participant else None,
        details={"invitation": invitation.id, "role": str(user.role), **extra},
    )
    return NewAccount(user, recovery_code)


# Letters that reached, or wait for, their recipient: approved, perhaps held back.
GIVEN_TO_RECIPIENT = frozenset(
    {LetterState.APPROVED, LetterState.DELIVERED, LetterState.READ, LetterState.HELD}
)


def _letters_sealed_to_nobody(session: Session, participant: CaseParticipant) -> bool:
    """Were letters approved to this party while they had no account? Those are sealed to
    the case and their writer only: the new account holds no key to them, and only a
    facilitator, with the case key, can give it one (`cases.set_on_paper`). Until then the
    party stays on paper, so no such letter is passed on to an account that cannot open it."""
    return (
        session.scalar(
            select(Letter.id)
            .where(
                Letter.recipient_id == participant.id,
                Letter.approved_version_id.is_not(None),
                Letter.state.in_(GIVEN_TO_RECIPIENT),
            )
            .limit(1)
        )
        is not None
    )


# --- a printed one-time code, for a party on paper -----------------------------------

# Crockford's base 32: no I, L, O or U, so nothing is misread off paper; read back, an O
# is a 0 and an I or an L is a 1. 20 characters of 32 are 100 random bits, in five groups.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20
CODE_GROUP = 4
# Long enough for a letter to reach a prison, be handed on, and a visit to a computer.
CODE_DAYS = 28

_READ_BACK = str.maketrans({"O": "0", "I": "1", "L": "1"})


@dataclass(frozen=True)
class PrintedCode:
    code: str  # shown once, on the page to print; only its digest is kept
    expires_at: datetime
    name: str  # the party's name in the case (their display name)


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def normalise_code(code: str) -> str | None:
    """The code as issued, from what a person typed (any case, spaces, hyphens, an O for
    a 0); None when it cannot be a code."""
    typed = "".join(code.split()).replace("-", "").upper().translate(_READ_BACK)
    if len(typed) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in typed):
        return None
    return typed


def _code_digest(code: str) -> bytes | None:
    typed = normalise_code(code)
    return crypto.token_digest(typed) if typed is not None else None


def issue_code(session: Session, actor: Actor, participant: CaseParticipant) -> PrintedCode:
    """A one-time code for a party on paper, in the caller's transaction (which holds the
    case locked and has checked the party may have one). A new code replaces any earlier
    unused invitation of theirs, in the same row: the earlier code or link stops working."""
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.participant_id == participant.id, Invitation.used_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    replaced = invitation is not None
    if invitation is None:
        invitation = Invitation(participant=participant)
    code = new_code()
    invitation.email = None
    invitation.name = participant.display_name
    invitation.role = participant.role
    invitation.invited_by_id = actor.id
    invitation.token_digest = crypto.token_digest(normalise_code(code))
    invitation.expires_at = utcnow() + timedelta(days=CODE_DAYS)
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        "invitation.code_printed",
        actor_id=actor.id,
        case_id=participant.case_id,
        details={"invitation": invitation.id, "role": str(participant.role), "replaced": replaced},
    )
    return PrintedCode(code, invitation.expires_at, participant.display_name)


def _code_refused() -> InvalidInput:
    # One answer for a code mistyped, made up, expired, replaced, used, or for a case
    # closed: nothing tells a guesser which.
    return InvalidInput(
        "This code is not right, has expired or has been used. Check that you typed it as "
        "it is printed, or ask your facilitator for a new one",
        "code",
    )


def _usable_code(
    session: Session, code: str, *, lock: bool = False, now: datetime | None = None
) -> Invitation | None:
    digest = _code_digest(code)
    if digest is None:
        return None
    invitation = _usable_by_digest(session, digest, Invitation.email.is_(None), now, lock=lock)
    if invitation is None or invitation.participant is None:
        return None
    participant = invitation.participant
    if participant.case.state == CaseState.CLOSED or participant.withdrawn_at is not None:
        return None
    return invitation


def open_code(session: Session, code: str, now: datetime | None = None) -> Invitation:
    """The invitation behind a printed code, if it can still be used."""
    invitation = _usable_code(session, code, now=now)
    if invitation is None:
        raise _code_refused()
    return invitation


def accept_code(
    session: Session, settings: ServiceSettings, *, code: str, email: str, password: str
) -> NewAccount:
    """A party on paper sets up their account with their printed code, choosing the
    address they will sign in with. The case is locked first (the lock order), then the
    invitation, so two people typing one code at once make one account, and a case
    closing at that moment either comes first (the code is refused) or after."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise InvalidInput("Enter an e-mail address in the right format", "email")
    with transaction(session):
        found = _usable_code(session, code)
        if found is not None:
            delivery.lock_case(session, found.participant.case_id, exclusive=True)
            invitation = _usable_code(session, code, lock=True)
            if invitation is not None:
                return _set_up(
                    session, settings, invitation, email, password, "email", by_code=True
                )
    # Refused after the block, which wrote nothing (as `accept_invitation`).
    raise _code_refused()


def resend_party_invitation(
    session: Session, settings: ServiceSettings, actor: Actor, invitation_id: int
) -> Invitation:
    """A case's facilitator sends a party's invitation again, while the case is open: a new
    link with a fresh expiry, mailed like the first; the old link stops working. Without
    it, a party whose link ran out could never join, since a case has one of each party."""
    with transaction(session):
        invitation = session.scalar(
            select(Invitation)
            .where(
                Invitation.id == invitation_id,
                Invitation.used_at.is_(None),
                Invitation.participant_id.is_not(None),
                # A printed code is printed again on the case page, never mailed.
                Invitation.email.is_not(None),
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        case = invitation.participant.case if invitation is not None else None
        if case is None or not any(
            place.user_id == actor.id and place.role == Role.FACILITATOR
            for place in case.participants
        ):
            raise NotFound("invitation")
        if actor.role != Role.FACILITATOR or actor.user.keys_replaced_at is not None:
            raise NotAllowed("You cannot invite this kind of account")
        if case.state == CaseState.CLOSED or invitation.participant.withdrawn_at is not None:
            raise InvalidTransition("The case is closed: nobody more can join it")
        if session.scalar(select(User.id).where(func.lower(User.email) == invitation.email)):
            raise InvalidTransition(
                "An account with this e-mail address exists now, so this invitation cannot be "
                "used: ask an administrator"
            )
        _send(session, settings, invitation)
        audit.record(
            session,
            "invitation.resent",
            actor_id=actor.id,
            case_id=case.id,
            details={"invitation": invitation.id, "role": str(invitation.role)},
        )
        return invitation


# --- staff invitations not yet accepted: the administrator's list -------------------

_STAFF = [role for role in Role if role.is_staff]


@dataclass(frozen=True)
class PendingInvitations:
    invitations: Page[Invitation]
    now: datetime  # an invitation whose expires_at is not after this has expired


def _pending_staff():
    return select(Invitation).where(Invitation.used_at.is_(None), Invitation.role.in_(_STAFF))


def pending_staff_invitations(
    session: Session, actor: Actor, page: int = 1, now: datetime | None = None
) -> PendingInvitations:
    """Invitations to staff accounts not yet accepted, those expiring first; expired ones
    stay listed (and marked) until an administrator sends them again or revokes them."""
    _require_administrator(actor)
    query = _pending_staff().order_by(Invitation.expires_at, Invitation.id)
    return PendingInvitations(page_of(session, query, page), now or utcnow())


def pending_staff_invitation(session: Session, actor: Actor, invitation_id: int) -> Invitation:
    _require_administrator(actor)
    invitation = session.scalar(_pending_staff().where(Invitation.id == invitation_id))
    if invitation is None:
        raise NotFound("invitation")
    return invitation


def resend_invitation(
    session: Session, settings: ServiceSettings, actor: Actor, invitation_id: int
) -> Invitation:
    """A new link with a fresh expiry, mailed like the first; the old link stops working."""
    with transaction(session):
        invitation = _lock_pending(session, actor, invitation_id)
        if session.scalar(select(User.id).where(func.lower(User.email) == invitation.email)):
            raise InvalidTransition(
                "An account with this e-mail address exists now: revoke this invitation"
            )
        _send(session, settings, invitation)
        audit.record(
            session,
            "invitation.resent",
            actor_id=actor.id,
            details={"invitation": invitation.id, "role": str(invitation.role)},
        )
        return invitation


def revoke_invitation(session: Session, actor: Actor, invitation_id: int) -> Invitation:
    """The link stops working at once: the invitation is deleted (the audit trail keeps
    that it was made and revoked, by whom and when). Returns it, for the confirmation."""
    with transaction(session):
        invitation = _lock_pending(session, actor, invitation_id)
        session.delete(invitation)
        audit.record(
            session,
            "invitation.revoked",
            actor_id=actor.id,
            details={"invitation": invitation.id, "role": str(invitation.role)},
        )
        return invitation


def _require_administrator(actor: Actor) -> None:
    if actor.role != Role.ADMINISTRATOR:
        raise NotAllowed("Only an administrator can do this")


def _lock_pending(session: Session, actor: Actor, invitation_id: int) -> Invitation:
    """The pending invitation, locked and read afresh: one accepted meanwhile is not pending,
    so a resend or revoke racing its acceptance finds nothing to change."""
    _require_administrator(actor)
    invitation = session.scalar(
        _pending_staff()
        .where(Invitation.id == invitation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if invitation is None:
        raise NotFound("invitation")
    return invitation
