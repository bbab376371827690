"""Who holds which key: the escrow key, one key per case, and the seals that grant them.

docs/security.md "Keys": each case has its own X25519 key pair. Letter content keys are
sealed to the case key; the case private key is sealed to each facilitator assigned to
the case and to the service's escrow key; the escrow private key is sealed to each
administrator. So a facilitator's account opens only their own cases, and an
administrator reads a case's letters only after adding themselves to it.

Nothing here grants access on its own initiative: every seal is written by a named,
signed-in person's action, and audited. A mailbox alone never leads to letters.
"""

import html
import re
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay import crypto
from relay import keyring
from relay.database import transaction
from relay.models import Case
from relay.models import CaseKey
from relay.models import CaseKeySeal
from relay.models import ContentKeySeal
from relay.models import EscrowKey
from relay.models import EscrowSeal
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import Role
from relay.models import TeamKey
from relay.models import TeamMembership
from relay.models import User
from relay.models import utcnow
from relay.services import content_keys
from relay.services.errors import AccessPending
from relay.services.errors import NotAllowed

_LEGACY_BREAKS = re.compile(r"<br\s*/?>|</p>|</li>", re.IGNORECASE)
_LEGACY_TAG = re.compile(r"<[^<>]{0,40}>")
_BLANK_LINES = re.compile(r"\n{3,}")


def plain_from_legacy_html(stored: str) -> str:
    """Letters written before they were kept as plain text were stored as bleach's output:
    a few allowlisted tags, everything else escaped. This gives back what was typed."""
    text = _LEGACY_BREAKS.sub("\n", stored.replace("</p>", "</p>\n"))
    text = html.unescape(_LEGACY_TAG.sub("", text))
    return _BLANK_LINES.sub("\n\n", text).strip()


# Data from before keys per case, until `flask keys migrate` has run: a clear page, not a 500.
_NOT_MIGRATED = (
    "Letters are being moved to a key per case. An administrator needs to finish this "
    "with the `keys migrate` command"
)


# --- the escrow key ----------------------------------------------------------------


def current_escrow_key(session: Session) -> EscrowKey:
    escrow = session.scalar(select(EscrowKey).order_by(EscrowKey.id.desc()))
    if escrow is None:
        raise AccessPending(_NOT_MIGRATED)
    return escrow


def create_escrow_key(session: Session, first_administrator: User) -> EscrowKey:
    """Born with the first administrator: a private key must be sealed to someone at once."""
    pair = crypto.generate_keypair()
    escrow = EscrowKey(public_key=pair.public_key)
    session.add(escrow)
    session.flush()
    _seal_escrow(session, escrow, pair.private_key, first_administrator, by=None)
    audit.record(session, "escrow.key_created", actor_id=first_administrator.id)
    return escrow


def _seal_escrow(session: Session, escrow: EscrowKey, private_key: bytes, user: User, by) -> None:
    session.add(
        EscrowSeal(
            escrow_key_id=escrow.id,
            user_id=user.id,
            sealed_private_key=crypto.seal_to(
                user.public_key, private_key, keyring.escrow_seal(escrow.id, user.public_key)
            ),
            granted_by_id=by,
        )
    )
    audit.record(session, "escrow.granted", actor_id=by, details={"user": user.id})


def escrow_holders(session: Session) -> int:
    """How many administrators hold the escrow key: with one, a single lost password and
    recovery code loses every supervisor's way into the cases."""
    escrow = session.scalar(select(EscrowKey).order_by(EscrowKey.id.desc()))
    if escrow is None:
        return 0
    return session.scalar(
        select(func.count(EscrowSeal.id)).where(EscrowSeal.escrow_key_id == escrow.id)
    )


def holds_escrow(session: Session, user: User) -> bool:
    return session.scalar(select(EscrowSeal.id).where(EscrowSeal.user_id == user.id)) is not None


def escrow_private_key(
    session: Session, user: User, private_key: bytes, escrow: EscrowKey | None = None
) -> bytes:
    """The escrow private key through the person's own seal: the current key, or `escrow`
    (an older one that case keys are still sealed to while `rotate-after-leaver` runs)."""
    escrow = escrow or current_escrow_key(session)
    seal = session.scalar(
        select(EscrowSeal).where(
            EscrowSeal.escrow_key_id == escrow.id, EscrowSeal.user_id == user.id
        )
    )
    if seal is None:
        raise AccessPending(
            "You do not hold the key that lets administrators reassign cases yet. "
            "Another administrator can grant it"
        )
    return crypto.open_sealed(
        private_key, seal.sealed_private_key, keyring.escrow_seal(escrow.id, user.public_key)
    )


def grant_escrow(
    session: Session, granter: User, granter_private_key: bytes, administrator: User
) -> None:
    """An administrator gives another administrator the escrow key, explicitly."""
    escrow = current_escrow_key(session)
    private_key = escrow_private_key(session, granter, granter_private_key)
    for old in session.scalars(select(EscrowSeal).where(EscrowSeal.user_id == administrator.id)):
        session.delete(old)
    session.flush()
    _seal_escrow(session, escrow, private_key, administrator, by=granter.id)


# --- case keys ----------------------------------------------------------------------


def case_key_of(session: Session, case_id: int) -> CaseKey:
    case_key = session.scalar(select(CaseKey).where(CaseKey.case_id == case_id))
    if case_key is None:
        raise AccessPending(_NOT_MIGRATED)
    return case_key


def _new_case_key(session: Session, case_id: int) -> tuple[CaseKey, crypto.KeyPair]:
    """A case key pair, its private key sealed to the escrow key from the start."""
    escrow = current_escrow_key(session)
    pair = crypto.generate_keypair()
    case_key = CaseKey(case_id=case_id, public_key=pair.public_key, escrow_key_id=escrow.id)
    session.add(case_key)
    session.flush()
    case_key.sealed_to_escrow = crypto.seal_to(
        escrow.public_key, pair.private_key, keyring.case_key_to_escrow(case_key.id, escrow.id)
    )
    return case_key, pair


def create_case_key(session: Session, case: Case, facilitator: User) -> CaseKey:
    """A new case's key, sealed to the escrow key and to the facilitator who opened it."""
    case_key, pair = _new_case_key(session, case.id)
    _seal_case_key(session, case_key, pair.private_key, facilitator, by=facilitator.id)
    return case_key


def _seal_case_key(
    session: Session, case_key: CaseKey, private_key: bytes, user: User, by: int | None
) -> None:
    existing = session.scalar(
        select(CaseKeySeal).where(
            CaseKeySeal.case_key_id == case_key.id, CaseKeySeal.user_id == user.id
        )
    )
    sealed = crypto.seal_to(
        user.public_key, private_key, keyring.case_key_to_member(case_key.id, user.public_key)
    )
    if existing is not None:
        existing.sealed_private_key, existing.granted_by_id = sealed, by
        existing.granted_at = utcnow()
    else:
        session.add(
            CaseKeySeal(
                case_key_id=case_key.id,
                user_id=user.id,
                sealed_private_key=sealed,
                granted_by_id=by,
            )
        )
    audit.record(
        session,
        "case.key_granted",
        actor_id=by,
        case_id=case_key.case_id,
        details={"user": user.id},
    )


def holds_case_key(session: Session, user: User, case_id: int) -> bool:
    return (
        session.scalar(
            select(CaseKeySeal.id)
            .join(CaseKey, CaseKeySeal.case_key_id == CaseKey.id)
            .where(CaseKey.case_id == case_id, CaseKeySeal.user_id == user.id)
        )
        is not None
    )


def case_key_holders(session: Session, case_id: int) -> list[CaseKeySeal]:
    """Everyone who can read the case's letters: shown to its facilitators."""
    return list(
        session.scalars(
            select(CaseKeySeal)
            .join(CaseKey, CaseKeySeal.case_key_id == CaseKey.id)
            .where(CaseKey.case_id == case_id)
            .order_by(CaseKeySeal.granted_at, CaseKeySeal.id)
        )
    )


def case_private_key(session: Session, user: User, private_key: bytes, case_id: int) -> bytes:
    """The case's private key through the person's own seal; refused without one."""
    seal = session.scalar(
        select(CaseKeySeal)
        .join(CaseKey, CaseKeySeal.case_key_id == CaseKey.id)
        .where(CaseKey.case_id == case_id, CaseKeySeal.user_id == user.id)
    )
    if seal is None:
        case_key_of(session, case_id)  # a case from before case keys is refused as such
        if user.keys_replaced_at is not None:
            raise AccessPending(
                "Your password was reset without your recovery code, so an administrator "
                "needs to restore your access to your cases. Nothing is restored "
                "automatically: they will check with you by phone or in person first"
            )
        if user.role == Role.ADMINISTRATOR:
            raise NotAllowed(
                "To read this case's letters, add yourself to the case on its page first. "
                "Its facilitators will see that you did"
            )
        raise NotAllowed("You do not hold this case's key. An administrator can add you to it")
    return crypto.open_sealed(
        private_key,
        seal.sealed_private_key,
        keyring.case_key_to_member(seal.case_key_id, user.public_key),
    )


def _case_private_key_for_granting(
    session: Session, granter: User, granter_private_key: bytes, case_id: int
) -> bytes:
    """A facilitator grants from their own seal; an administrator through the escrow key."""
    if holds_case_key(session, granter, case_id):
        return case_private_key(session, granter, granter_private_key, case_id)
    case_key = case_key_of(session, case_id)
    escrow_key = escrow_private_key(
        session, granter, granter_private_key, session.get(EscrowKey, case_key.escrow_key_id)
    )
    return crypto.open_sealed(
        escrow_key,
        case_key.sealed_to_escrow,
        keyring.case_key_to_escrow(case_key.id, case_key.escrow_key_id),
    )


def grant_case_key(
    session: Session, granter: User, granter_private_key: bytes, case_id: int, user: User
) -> None:
    """Seal the case key to `user` (a facilitator added to the case, or an administrator
    adding themselves); the caller checks who may do this and commits."""
    private_key = _case_private_key_for_granting(session, granter, granter_private_key, case_id)
    _seal_case_key(session, case_key_of(session, case_id), private_key, user, by=granter.id)


def rotate_case_key(
    session: Session, granter: User, granter_private_key: bytes, case_id: int, *, leaving: User
) -> int:
    """A new key pair for the case when someone leaves it (docs/security.md): every content key
    of the case is re-sealed to it, and it is sealed to the escrow key and to everyone who
    stays; the old seals are overwritten. What `leaving` kept (their password and an old
    copy of the database) opens nothing written or re-sealed from now on. The caller holds
    the case lock and commits. Returns how many content keys were re-sealed.

    The row keeps its id, so holder names and contexts stay the same; one transaction per
    case is enough at the size of a case.
    """
    old_private = _case_private_key_for_granting(session, granter, granter_private_key, case_id)
    case_key = case_key_of(session, case_id)
    pair = crypto.generate_keypair()
    resealed = content_keys.reseal_to_new_case_key(session, case_key, old_private, pair.public_key)
    escrow = current_escrow_key(session)
    case_key.public_key = pair.public_key
    case_key.escrow_key_id = escrow.id
    case_key.sealed_to_escrow = crypto.seal_to(
        escrow.public_key, pair.private_key, keyring.case_key_to_escrow(case_key.id, escrow.id)
    )
    for seal in session.scalars(
        select(CaseKeySeal).where(CaseKeySeal.case_key_id == case_key.id)
    ).all():
        if seal.user_id == leaving.id:
            session.delete(seal)
            continue
        seal.sealed_private_key = crypto.seal_to(
            seal.user.public_key,
            pair.private_key,
            keyring.case_key_to_member(case_key.id, seal.user.public_key),
        )
    audit.record(
        session,
        "case.key_rotated",
        actor_id=granter.id,
        case_id=case_id,
        details={"left": leaving.id, "versions": resealed},
    )
    return resealed


def rotate_escrow_key(
    session: Session, granter: User, granter_private_key: bytes, *, leaving: User
) -> EscrowKey:
    """A new escrow key pair when an administrator who held it leaves (docs/security.md):
    sealed at once to every other administrator who held the old one. Case keys move to it
    as `rotate-after-leaver` rotates each case; until then the old key and its seals stay,
    except the leaver's. The caller commits."""
    old = current_escrow_key(session)
    escrow_private_key(session, granter, granter_private_key)  # the granter must hold it
    pair = crypto.generate_keypair()
    escrow = EscrowKey(public_key=pair.public_key)
    session.add(escrow)
    session.flush()
    holders = session.scalars(
        select(User)
        .join(EscrowSeal, EscrowSeal.user_id == User.id)
        .where(
            EscrowSeal.escrow_key_id == old.id,
            User.id != leaving.id,
            User.disabled.is_(False),
        )
        .order_by(User.id)
    ).all()
    for holder in holders:
        _seal_escrow(session, escrow, pair.private_key, holder, by=granter.id)
    audit.record(
        session,
        "escrow.rotated",
        actor_id=granter.id,
        details={"left": leaving.id, "holders": len(holders)},
    )
    return escrow


def cases_on_older_escrow(session: Session) -> list[int]:
    """Cases whose key is still sealed to an escrow key older than the current one."""
    current = session.scalar(select(func.max(EscrowKey.id)))
    return list(
        session.scalars(
            select(CaseKey.case_id)
            .where(CaseKey.escrow_key_id != current)
            .order_by(CaseKey.case_id)
        )
    )


def retire_older_escrow_keys(session: Session, actor_id: int) -> int:
    """Delete every escrow key older than the current one that no case key is sealed to
    any more, with its seals. Returns how many were deleted. The caller commits."""
    current = session.scalar(select(func.max(EscrowKey.id)))
    retired = session.scalars(
        select(EscrowKey.id).where(
            EscrowKey.id != current, EscrowKey.id.not_in(select(CaseKey.escrow_key_id))
        )
    ).all()
    if retired:
        session.execute(delete(EscrowSeal).where(EscrowSeal.escrow_key_id.in_(retired)))
        session.execute(delete(EscrowKey).where(EscrowKey.id.in_(retired)))
        audit.record(
            session, "escrow.retired", actor_id=actor_id, details={"escrow_keys": len(retired)}
        )
    return len(retired)


def revoke_keys_of(session: Session, user: User) -> None:
    """After a reset without the recovery code every seal to the old key pair is useless;
    deleting them makes the loss of access plain, and restoring it an explicit act."""
    for seal in session.scalars(select(CaseKeySeal).where(CaseKeySeal.user_id == user.id)):
        session.delete(seal)
    for seal in session.scalars(select(EscrowSeal).where(EscrowSeal.user_id == user.id)):
        session.delete(seal)


# --- from the legacy team key ------------------------------------------------------


@dataclass
class Migration:
    cases: int = 0
    versions: int = 0
    remaining_cases: int = 0
    finished: bool = False


def legacy_team_key_exists(session: Session) -> bool:
    return session.scalar(select(TeamKey.id)) is not None


def migrate_team_key(
    session: Session, administrator: User, private_key: bytes, batch_size: int = 50
) -> Migration:
    """Re-seal every letter from the legacy team key to its case key, one batch of cases
    per transaction, then delete the team key and every seal of it.

    Safe to stop and run again: each batch is one transaction, and cases that already have
    a key are skipped. Staff who held the team key keep access to what they had: an
    administrator gets the escrow key, a facilitator the keys of the cases they are on.
    """
    with transaction(session):
        result = Migration()
        team = session.scalar(select(TeamKey))
        if team is None:
            result.finished = True
            return result
        membership = session.scalar(
            select(TeamMembership).where(TeamMembership.user_id == administrator.id)
        )
        if membership is None or administrator.role != Role.ADMINISTRATOR:
            raise NotAllowed("Run this as an administrator who holds the team key")
        team_private_key = crypto.open_sealed(
            private_key,
            membership.sealed_team_private_key,
            keyring.legacy_team_membership(team.id, administrator.public_key),
        )
        members = {
            m.user_id
            for m in session.scalars(select(TeamMembership))
            if m.user.keys_replaced_at is None and not m.user.disabled
        }
        if session.scalar(select(EscrowKey.id)) is None:
            escrow = create_escrow_key(session, administrator)
            escrow_private = escrow_private_key(session, administrator, private_key)
            for user in session.scalars(
                select(User).where(User.role == Role.ADMINISTRATOR, User.id.in_(members))
            ):
                if user.id != administrator.id:
                    _seal_escrow(session, escrow, escrow_private, user, by=administrator.id)
        keyless = (
            select(Case)
            .where(Case.id.not_in(select(CaseKey.case_id)))
            .order_by(Case.id)
            .limit(batch_size)
        )
        for case in session.scalars(keyless).all():
            facilitators = [
                p.user
                for p in case.participants
                if p.role == Role.FACILITATOR and p.user_id in members
            ]
            case_key, pair = _new_case_key(session, case.id)
            for user in facilitators:
                _seal_case_key(session, case_key, pair.private_key, user, by=administrator.id)
            holder = keyring.case_holder(case_key.id)
            for seal in session.scalars(
                select(ContentKeySeal)
                .join(LetterVersion, ContentKeySeal.version_id == LetterVersion.id)
                .join(Letter, LetterVersion.letter_id == Letter.id)
                .where(
                    Letter.case_id == case.id, ContentKeySeal.holder == keyring.LEGACY_TEAM_HOLDER
                )
            ).all():
                content_key = crypto.open_sealed(
                    team_private_key,
                    seal.sealed_key,
                    keyring.content_key(seal.version_id, keyring.LEGACY_TEAM_HOLDER),
                )
                version = session.get(LetterVersion, seal.version_id)
                if version.ciphertext is not None:
                    context = keyring.letter_text(version.id)
                    stored = crypto.decrypt(content_key, version.ciphertext, context).decode()
                    version.ciphertext = crypto.encrypt(
                        content_key, plain_from_legacy_html(stored).encode(), context
                    )
                session.add(
                    ContentKeySeal(
                        version_id=seal.version_id,
                        holder=holder,
                        sealed_key=crypto.seal_to(
                            pair.public_key,
                            content_key,
                            keyring.content_key(seal.version_id, holder),
                        ),
                    )
                )
                session.delete(seal)
                result.versions += 1
            result.cases += 1
        audit.record(
            session,
            "keys.migrated_batch",
            actor_id=administrator.id,
            details={"cases": result.cases, "versions": result.versions},
        )
        session.flush()
        result.remaining_cases = session.scalar(
            select(func.count(Case.id)).where(Case.id.not_in(select(CaseKey.case_id)))
        )
        if result.remaining_cases == 0:
            session.execute(delete(TeamMembership))
            session.execute(delete(TeamKey))
            audit.record(session, "keys.team_key_destroyed", actor_id=administrator.id)
            result.finished = True
        return result
