"""Case assignment and access: every grant of a key is an explicit step named as such,
never a side effect of someone signing in (docs/security.md, "Keys")."""

from dataclasses import dataclass

from sqlalchemy import and_
from sqlalchemy import desc
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay.database import transaction
from relay.models import CaseParticipant
from relay.models import EscrowSeal
from relay.models import Role
from relay.models import User
from relay.services import content_keys
from relay.services import keys
from relay.services import states
from relay.services.actor import Actor
from relay.services.cases import case_for_staff
from relay.services.cases import participant_of
from relay.services.cases import parties
from relay.services.delivery import lock_case
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.paging import Page
from relay.services.paging import page_of
from relay.services.states import CaseAction

_STAFF = [role for role in Role if role.is_staff]


def _waiting_for_access():
    """Staff whose access to letters waits for an administrator: an administrator not yet
    given the escrow key, or anyone whose password was reset without their recovery code
    (docs/security.md, "Keys"). A condition, so the database counts and orders by it."""
    return and_(
        User.role.in_(_STAFF),
        User.disabled.is_(False),
        or_(
            and_(User.role == Role.ADMINISTRATOR, User.id.not_in(select(EscrowSeal.user_id))),
            User.keys_replaced_at.is_not(None),
        ),
    )


def staff_member(session: Session, actor: Actor, user_id: int) -> User:
    if actor.role != Role.ADMINISTRATOR:
        raise NotAllowed("Only an administrator can do this")
    user = session.get(User, user_id)
    if user is None or not user.role.is_staff:
        raise NotFound("person")
    return user


def restore_staff_access(
    session: Session, actor: Actor, user_id: int, *, checked_in_person: bool
) -> int:
    """An administrator gives a staff member access again, explicitly, after checking
    with them by other means (a reset link only proves someone read their mailbox).

    Re-seals the key of every case they facilitate, and the escrow key to an
    administrator. Returns how many case keys were sealed.
    """
    with transaction(session):
        user = staff_member(session, actor, user_id)
        if not checked_in_person:
            raise InvalidInput(
                f"Confirm that you have checked with {user.name} by phone or in person", "checked"
            )
        if user.id == actor.id:
            raise NotAllowed("Another administrator must restore your access")
        if user.disabled:
            raise InvalidTransition(f"The account of {user.name} is closed")
        waiting = user.keys_replaced_at is not None or (
            user.role == Role.ADMINISTRATOR and not keys.holds_escrow(session, user)
        )
        if not waiting:
            raise InvalidTransition("This person's access does not need restoring")
        facilitated = session.scalars(
            select(CaseParticipant.case_id).where(
                CaseParticipant.user_id == user.id, CaseParticipant.role == Role.FACILITATOR
            )
        ).all()
        for case_id in sorted(facilitated):
            # Case by case in id order, each locked as every grant and rotation locks it.
            lock_case(session, case_id, exclusive=True)
            keys.grant_case_key(session, actor.user, actor.private_key, case_id, user)
        if user.role == Role.ADMINISTRATOR:
            keys.grant_escrow(session, actor.user, actor.private_key, user)
        replaced_at = user.keys_replaced_at
        user.keys_replaced_at = None
        audit.record(
            session,
            "account.staff_access_restored",
            actor_id=actor.id,
            details={
                "user": user.id,
                "cases": len(facilitated),
                "after_reset": replaced_at is not None,
                "checked_in_person": True,
            },
        )
        return len(facilitated)


def add_facilitator(session: Session, actor: Actor, case_id: int, email: str) -> None:
    """Another facilitator on the case (a second pair of eyes for paper letters, or a
    supervisor reassigning the case): the case key is sealed to them now."""
    with transaction(session):
        # Exclusive, like every change to who holds the case key: a grant racing a rotation
        # must not seal the key that is being replaced.
        case = lock_case(session, case_for_staff(session, actor, case_id).id, exclusive=True)
        states.check_case(CaseAction.ADD_FACILITATOR, case)
        # Their row is read shared and afresh: an account being closed at this moment
        # (staff.close_account locks it) is either closed before this reads it, or sees
        # this case among theirs and refuses to close.
        user = session.scalar(
            select(User)
            .where(User.email == email.strip().lower())
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
        if user is None or user.role != Role.FACILITATOR or user.disabled:
            raise InvalidInput("There is no facilitator with this e-mail address", "email")
        if participant_of(case, user.id) is not None:
            raise InvalidInput("This facilitator is already on the case", "email")
        case.participants.append(
            CaseParticipant(user_id=user.id, role=Role.FACILITATOR, display_name=user.name)
        )
        keys.grant_case_key(session, actor.user, actor.private_key, case.id, user)
        audit.record(
            session,
            "case.facilitator_added",
            actor_id=actor.id,
            case_id=case.id,
            details={"user": user.id},
        )


def remove_facilitator(session: Session, actor: Actor, case_id: int, user_id: int) -> None:
    """A facilitator leaves the case (they move on, or a supervisor reassigns it): the
    case's key is rotated, so their account no longer opens any of its letters."""
    with transaction(session):
        case = lock_case(session, case_for_staff(session, actor, case_id).id, exclusive=True)
        states.check_case(CaseAction.REMOVE_FACILITATOR, case)
        leaving = next((p for p in parties(case, Role.FACILITATOR) if p.user_id == user_id), None)
        if leaving is None:
            raise NotFound("person")
        if len(parties(case, Role.FACILITATOR)) == 1:
            raise InvalidTransition("Add another facilitator before this one leaves the case")
        user = leaving.user
        session.delete(leaving)
        session.flush()
        keys.rotate_case_key(session, actor.user, actor.private_key, case.id, leaving=user)
        audit.record(
            session,
            "case.facilitator_removed",
            actor_id=actor.id,
            case_id=case.id,
            details={"user": user.id},
        )


def join_case(session: Session, actor: Actor, case_id: int) -> None:
    """An administrator adds themselves to a case to read its letters: through the escrow
    key, audited, and shown to the case's facilitators on the case page."""
    with transaction(session):
        case = lock_case(session, case_for_staff(session, actor, case_id).id, exclusive=True)
        if actor.role != Role.ADMINISTRATOR:
            raise NotAllowed("Only an administrator can add themselves to a case")
        if keys.holds_case_key(session, actor.user, case.id):
            raise InvalidTransition("You can already read this case's letters")
        keys.grant_case_key(session, actor.user, actor.private_key, case.id, actor.user)
        audit.record(session, "case.administrator_joined", actor_id=actor.id, case_id=case.id)


def restore_party_access(session: Session, actor: Actor, case_id: int, user_id: int) -> int:
    """After a reset without the recovery code: a facilitator who checked with the person
    re-seals, from the case key, every letter version of this case they held a key to.
    Returns how many were restored."""
    with transaction(session):
        case = lock_case(session, case_for_staff(session, actor, case_id).id, exclusive=True)
        user = session.get(User, user_id)
        if user is None or participant_of(case, user_id) is None or user.role.is_staff:
            raise NotFound("person")  # staff access is restored by an administrator
        if user.keys_replaced_at is None:
            raise InvalidTransition("This person's access does not need restoring")
        restored = content_keys.reseal_to_person(
            session,
            case.id,
            user,
            keys.case_key_of(session, case.id),
            actor.case_private_key(session, case.id),
        )
        user.keys_replaced_at = None
        audit.record(
            session,
            "account.access_restored",
            actor_id=actor.id,
            case_id=case.id,
            details={"user": user.id, "versions": restored},
        )
        return restored


@dataclass(frozen=True)
class StaffOverview:
    staff: Page[User]
    waiting: set[int]  # ids of the staff on this page whose access waits for an administrator
    waiting_count: int  # how many wait, on every page
    escrow_holders: int


def staff_overview(session: Session, actor: Actor, page: int = 1) -> StaffOverview:
    """The administrator's list of staff, a page at a time, those waiting for access first
    (an administrator acts on them), then in the order they joined."""
    if actor.role != Role.ADMINISTRATOR:
        raise NotAllowed("Only an administrator can do this")
    waiting = _waiting_for_access()
    staff = page_of(
        session,
        select(User).where(User.role.in_(_STAFF)).order_by(desc(waiting), User.id),
        page,
    )
    shown = [user.id for user in staff.items]
    waiting_here = set(session.scalars(select(User.id).where(User.id.in_(shown), waiting)))
    waiting_count = session.scalar(select(func.count()).select_from(User).where(waiting))
    return StaffOverview(staff, waiting_here, waiting_count, keys.escrow_holders(session))
