"""A member of staff who leaves: their open cases handed to others, their account closed,
and the keys they could open rotated (docs/security.md "Keys", "Granting and removing
access").

In three steps, each an administrator's act and audited:

1. `hand_over_case`, once per open case they are on: another facilitator added (the case
   key sealed to them) and the leaver taken off, which rotates that case's key at once
   (`access.remove_facilitator`). `leaving` lists what is left; it must be empty.
2. `close_account`: refused while that list is not empty. The account is disabled (no
   sign-in), every session ends and loses its key, and every case-key seal of theirs is
   deleted, each deletion audited as `case.key_withdrawn` for its case.
3. `rotate_after_leaving`, one case per transaction, from `flask keys rotate-after-leaver`:
   the cases whose key they held when the account closed (their closed cases) get a new
   key pair (`keys.rotate_case_key`), so a copy of their old seal and their password open
   nothing of those cases any more. The work list is read from the audit trail of their
   cases (a withdrawal with no rotation after it), so a run stopped half way, or run
   twice, rotates each case once.

An administrator who held the escrow key could open every case: closing their account
gives the escrow key a new pair at once (`keys.rotate_escrow_key`, sealed to the other
administrators who held it), and step 3 rotates every case key still sealed to an older
escrow key, then deletes those older keys (`finish_after_leaving`).
"""

import json
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload

from relay import audit
from relay.database import transaction
from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseKey
from relay.models import CaseKeySeal
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import EscrowSeal
from relay.models import Role
from relay.models import User
from relay.models import UserSession
from relay.models import utcnow
from relay.services import access
from relay.services import keys
from relay.services.actor import Actor
from relay.services.delivery import lock_case
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.paging import Page
from relay.services.paging import count_of
from relay.services.paging import page_of
from relay.services.signing_in import end_session

KEY_WITHDRAWN = "case.key_withdrawn"
KEY_ROTATED = "case.key_rotated"  # written by keys.rotate_case_key


@dataclass(frozen=True)
class Leaving:
    """A staff member's page: what stands between them and a closed account."""

    person: User
    open_cases: Page[Case]  # not closed, with them as a facilitator: must be empty to close
    closed_cases: int  # closed cases they were on: no hand-over, their keys rotate after
    others: list[User]  # facilitators a case can be handed to
    to_rotate: list[int]  # once closed: cases whose key they held, not yet rotated


def _their_cases(person: User):
    return (
        select(Case)
        .join(CaseParticipant, CaseParticipant.case_id == Case.id)
        .where(CaseParticipant.user_id == person.id, CaseParticipant.role == Role.FACILITATOR)
    )


def _open_cases(person: User):
    return _their_cases(person).where(Case.state != CaseState.CLOSED)


def leaving(session: Session, actor: Actor, user_id: int, page: int = 1) -> Leaving:
    person = access.staff_member(session, actor, user_id)
    # Each row names the case's facilitators: loaded with the page, not one query a row.
    listed = _open_cases(person).options(
        selectinload(Case.participants).selectinload(CaseParticipant.user)
    )
    open_cases = page_of(session, listed.order_by(Case.reference, Case.id), page)
    closed = count_of(session, _their_cases(person).where(Case.state == CaseState.CLOSED))
    others = session.scalars(
        select(User)
        .where(User.role == Role.FACILITATOR, User.disabled.is_(False), User.id != person.id)
        .order_by(User.name, User.id)
    ).all()
    to_rotate = _cases_to_rotate(session, person) if person.disabled else []
    return Leaving(person, open_cases, closed, list(others), to_rotate)


def hand_over_case(
    session: Session, actor: Actor, user_id: int, case_id: int, to_user_id: int | None
) -> None:
    """Take a leaving facilitator off one case, handing it first to `to_user_id` when given
    (not needed when another facilitator is already on it). One transaction: the case is
    never left without a facilitator, and its key is rotated as the leaver goes."""
    with transaction(session):
        person = access.staff_member(session, actor, user_id)
        if to_user_id is not None:
            to = session.get(User, to_user_id)
            if to is None or to.role != Role.FACILITATOR or to.disabled or to.id == person.id:
                raise InvalidInput("Choose another facilitator", "to")
            case = lock_case(session, case_id, exclusive=True)
            if not any(p.user_id == to.id for p in case.participants):
                access.add_facilitator(session, actor, case_id, to.email)
        access.remove_facilitator(session, actor, case_id, person.id)


def close_account(session: Session, actor: Actor, user_id: int) -> list[int]:
    """Close a leaving facilitator's account, once no open case has them on it. Returns the
    cases whose key they held: `flask keys rotate-after-leaver` rotates them."""
    with transaction(session):
        person = access.staff_member(session, actor, user_id)
        session.refresh(person, with_for_update=True)
        if person.id == actor.id:
            raise NotAllowed("Another administrator must close your account")
        if person.disabled:
            raise InvalidTransition(f"The account of {person.name} is already closed")
        if person.role == Role.ADMINISTRATOR and keys.holds_escrow(session, person):
            # docs/security.md: the escrow key they held is replaced, sealed to the others.
            if not _other_escrow_holders(session, person):
                raise InvalidTransition(
                    f"{person.name} is the only administrator who can reassign cases. Grant "
                    "another administrator that access before closing this account"
                )
            keys.rotate_escrow_key(session, actor.user, actor.private_key, leaving=person)
            session.execute(delete(EscrowSeal).where(EscrowSeal.user_id == person.id))
            audit.record(
                session, "escrow.key_withdrawn", actor_id=actor.id, details={"user": person.id}
            )
        remaining = session.scalar(
            select(CaseParticipant.id)
            .join(Case, Case.id == CaseParticipant.case_id)
            .where(
                CaseParticipant.user_id == person.id,
                CaseParticipant.role == Role.FACILITATOR,
                Case.state != CaseState.CLOSED,
            )
            .limit(1)
        )
        if remaining is not None:
            raise InvalidTransition(
                f"{person.name} is still on open cases. Hand each one to another "
                "facilitator, or take them off it, before closing the account"
            )
        person.disabled = True
        now = utcnow()
        sessions = session.scalars(
            select(UserSession).where(
                UserSession.user_id == person.id,
                (UserSession.revoked_at.is_(None))
                | UserSession.sealed_private_key.is_not(None)
                | UserSession.sealed_pending_totp_secret.is_not(None),
            )
        ).all()
        for record in sessions:
            end_session(record, now)
        seals = session.execute(
            select(CaseKeySeal, CaseKey.case_id)
            .join(CaseKey, CaseKeySeal.case_key_id == CaseKey.id)
            .where(CaseKeySeal.user_id == person.id)
            .order_by(CaseKey.case_id)
        ).all()
        for seal, case_id in seals:
            session.delete(seal)
            audit.record(
                session,
                KEY_WITHDRAWN,
                actor_id=actor.id,
                case_id=case_id,
                details={"user": person.id},
            )
        audit.record(
            session,
            "account.closed",
            actor_id=actor.id,
            details={"user": person.id, "sessions": len(sessions), "case_keys": len(seals)},
        )
        session.flush()
        return _cases_to_rotate(session, person)


def _other_escrow_holders(session: Session, person: User) -> list[int]:
    escrow = keys.current_escrow_key(session)
    return list(
        session.scalars(
            select(EscrowSeal.user_id)
            .join(User, User.id == EscrowSeal.user_id)
            .where(
                EscrowSeal.escrow_key_id == escrow.id,
                EscrowSeal.user_id != person.id,
                User.disabled.is_(False),
            )
        )
    )


def _cases_to_rotate(session: Session, person: User, case_id: int | None = None) -> list[int]:
    """The cases whose key `person` could open and that are not rotated yet (only `case_id`
    when given). An administrator who held the escrow key could open every case: those
    still sealed to an older escrow key. A facilitator: their cases with a key withdrawn
    from them and no rotation for their leaving since, read from the audit trail of their
    cases only (indexed by case)."""
    if person.role == Role.ADMINISTRATOR:
        older = keys.cases_on_older_escrow(session)
        return older if case_id is None else [c for c in older if c == case_id]
    case_ids = select(CaseParticipant.case_id).where(CaseParticipant.user_id == person.id)
    if case_id is not None:
        case_ids = case_ids.where(CaseParticipant.case_id == case_id)
    entries = session.execute(
        select(AuditEntry.case_id, AuditEntry.action, AuditEntry.details)
        .where(
            AuditEntry.case_id.in_(case_ids),
            AuditEntry.action.in_([KEY_WITHDRAWN, KEY_ROTATED]),
        )
        .order_by(AuditEntry.sequence)
    ).all()
    pending: set[int] = set()
    for entry_case, action, details in entries:
        said = json.loads(details)
        if action == KEY_WITHDRAWN and said.get("user") == person.id:
            pending.add(entry_case)
        elif action == KEY_ROTATED and said.get("left") == person.id:
            pending.discard(entry_case)
    return sorted(pending)


def cases_to_rotate(session: Session, actor: Actor, user_id: int) -> list[int]:
    person = access.staff_member(session, actor, user_id)
    if not person.disabled:
        raise InvalidTransition(f"Close the account of {person.name} first")
    return _cases_to_rotate(session, person)


def rotate_after_leaving(session: Session, actor: Actor, user_id: int, case_id: int) -> int | None:
    """Rotate one case's key after `user_id` left the service, in its own transaction.
    Returns how many content and note keys were re-sealed, or None when the case needed
    no rotation (already done by an earlier run)."""
    with transaction(session):
        person = access.staff_member(session, actor, user_id)
        if not person.disabled:
            raise InvalidTransition(f"Close the account of {person.name} first")
        # Exclusive, as every change to who holds the case key; the check is read after it.
        lock_case(session, case_id, exclusive=True)
        if not _cases_to_rotate(session, person, case_id):
            return None
        return keys.rotate_case_key(session, actor.user, actor.private_key, case_id, leaving=person)


def finish_after_leaving(session: Session, actor: Actor, user_id: int) -> int:
    """Once no case key is sealed to an escrow key older than the current one, delete
    those older keys and their seals. Returns how many were deleted."""
    with transaction(session):
        person = access.staff_member(session, actor, user_id)
        if not person.disabled:
            raise InvalidTransition(f"Close the account of {person.name} first")
        return keys.retire_older_escrow_keys(session, actor.id)
