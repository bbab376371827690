"""Accounts: invitations, activation, sign-in, sessions, password reset, staff access."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay import audit
from relay import crypto
from relay import keyring
from relay.models import BackupCode
from relay.models import CaseParticipant
from relay.models import EscrowKey
from relay.models import EscrowSeal
from relay.models import Invitation
from relay.models import NoticePreference
from relay.models import PasswordReset
from relay.models import Role
from relay.models import SignInThrottle
from relay.models import User
from relay.models import UserSession
from relay.models import utcnow
from relay.services import keys
from relay.services import outbox
from relay.services.delivery import lock_case
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.passwords import check_new_password
from relay.services.settings import ServiceSettings

# A sign-in for an unknown address still runs one Argon2id derivation on this
# salt, so that the answer takes as long as for a real account.
_DECOY_SALT = b"relay-decoy-salt"
_DECOY_DIGEST = bytes(32)
# Ended session rows are kept a day (for "you were signed out" pages), then deleted.
ENDED_SESSION_ROWS_KEPT = timedelta(days=1)
# Someone halfway through signing in has this long to give their second step.
PENDING_SESSION_MINUTES = 10


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass
class Actor:
    """The signed-in person with their private key, as services need them."""

    user: User
    private_key: bytes

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def role(self) -> Role:
        return self.user.role

    def case_private_key(self, session: Session, case_id: int) -> bytes:
        return keys.case_private_key(session, self.user, self.private_key, case_id)


@dataclass(frozen=True)
class NewAccount:
    user: User
    recovery_code: str


def _build_user(
    *, email: str, name: str, role: Role, password: str, limits: crypto.KdfLimits
) -> tuple[User, str, bytes]:
    check_new_password(password, email=email, name=name)
    salt = crypto.new_salt()
    keys = crypto.derive_password_keys(password, salt, limits)
    pair = crypto.generate_keypair()
    recovery_code = crypto.new_recovery_code()
    recovery_salt = crypto.new_salt()
    recovery_key = crypto.derive_recovery_key(recovery_code, recovery_salt)
    user = User(
        email=email,
        name=name,
        role=role,
        password_salt=salt,
        kdf_opslimit=limits.opslimit,
        kdf_memlimit=limits.memlimit,
        authenticator_digest=crypto.authenticator_digest(keys.authenticator),
        public_key=pair.public_key,
        private_key_under_password=crypto.encrypt(
            keys.encryption_key,
            pair.private_key,
            keyring.user_private_key("password", pair.public_key),
        ),
        recovery_salt=recovery_salt,
        private_key_under_recovery=crypto.encrypt(
            recovery_key, pair.private_key, keyring.user_private_key("recovery", pair.public_key)
        ),
    )
    return user, recovery_code, pair.private_key


def create_administrator(
    session: Session, settings: ServiceSettings, *, email: str, name: str, password: str
) -> NewAccount:
    """An administrator made on the command line; the first one also makes the escrow key."""
    email = normalise_email(email)
    user, recovery_code, private_key = _build_user(
        email=email,
        name=name.strip(),
        role=Role.ADMINISTRATOR,
        password=password,
        limits=settings.kdf_limits,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise InvalidInput("An account with this e-mail address already exists", "email") from None
    audit.record(
        session,
        "account.created",
        actor_id=None,
        details={"user": user.id, "role": "administrator", "by": "command line"},
    )
    if session.scalar(select(EscrowKey.id)) is None and not keys.legacy_team_key_exists(session):
        # The escrow private key must be sealed to someone the moment it exists,
        # or it is lost: so it is born with the first administrator. Later
        # administrators are granted it explicitly by one who holds it. (Before
        # `keys migrate` has run, that command makes it, for the team's administrators.)
        keys.create_escrow_key(session, user)
    session.commit()
    del private_key
    return NewAccount(user, recovery_code)


def administrators_without_escrow(session: Session) -> list[User]:
    """Administrators who cannot yet reassign cases: waiting for an explicit grant."""
    holders = select(EscrowSeal.user_id)
    return list(
        session.scalars(
            select(User)
            .where(
                User.role == Role.ADMINISTRATOR,
                User.disabled.is_(False),
                User.id.not_in(holders),
            )
            .order_by(User.id)
        )
    )


def staff_reset_without_code(session: Session) -> list[User]:
    """Staff whose keys were replaced by a reset: their access waits for an administrator."""
    return list(
        session.scalars(
            select(User)
            .where(
                User.role.in_([Role.ADMINISTRATOR, Role.FACILITATOR]),
                User.keys_replaced_at.is_not(None),
                User.disabled.is_(False),
            )
            .order_by(User.keys_replaced_at)
        )
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
    user = staff_member(session, actor, user_id)
    if not checked_in_person:
        raise InvalidInput(
            f"Confirm that you have checked with {user.name} by phone or in person", "checked"
        )
    if user.id == actor.id:
        raise NotAllowed("Another administrator must restore your access")
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
    session.commit()
    return len(facilitated)


# --- invitations -------------------------------------------------------------

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
        token_digest=_digest(token),
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
    token = create_invitation(
        session, settings, actor, email=email, name=name, role=Role.FACILITATOR
    )
    session.commit()
    return token


def open_invitation(session: Session, token: str, now: datetime | None = None) -> Invitation:
    """The invitation behind a token, if it can still be used."""
    now = now or utcnow()
    invitation = session.scalar(select(Invitation).where(Invitation.token_digest == _digest(token)))
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
    invitation = open_invitation(session, token)
    user, recovery_code, _private_key = _build_user(
        email=invitation.email,
        name=invitation.name,
        role=invitation.role,
        password=password,
        limits=settings.kdf_limits,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise InvalidInput("An account with this e-mail address already exists", "token") from None
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
    session.commit()
    return NewAccount(user, recovery_code)


# --- signing in ----------------------------------------------------------------


class SignInFailed(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The e-mail address or password is not right", "email")


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str
    # None when signed in; "verify" or "enrol" when a second step is still needed.
    next_step: str | None = None


def _unlock(user: User, password: str) -> bytes | None:
    limits = crypto.KdfLimits(user.kdf_opslimit, user.kdf_memlimit)
    keys = crypto.derive_password_keys(password, user.password_salt, limits)
    if not crypto.authenticator_matches(keys.authenticator, user.authenticator_digest):
        return None
    return crypto.decrypt(
        keys.encryption_key,
        user.private_key_under_password,
        keyring.user_private_key("password", user.public_key),
    )


def _seal_under_password(
    user: User, limits: crypto.KdfLimits, private_key: bytes, password: str
) -> None:
    salt = crypto.new_salt()
    keys = crypto.derive_password_keys(password, salt, limits)
    user.password_salt = salt
    user.kdf_opslimit = limits.opslimit
    user.kdf_memlimit = limits.memlimit
    user.authenticator_digest = crypto.authenticator_digest(keys.authenticator)
    user.private_key_under_password = crypto.encrypt(
        keys.encryption_key, private_key, keyring.user_private_key("password", user.public_key)
    )


def _below(limits: crypto.KdfLimits, user: User) -> bool:
    return user.kdf_opslimit < limits.opslimit or user.kdf_memlimit < limits.memlimit


def _raise_limits(session: Session, settings: ServiceSettings, user: User, private_key, password):
    """An account sealed at older, lower limits is re-sealed at the configured ones.

    The sealed key is what an attacker with a database copy guesses against, and an
    account whose sign-in costs less than the decoy's tells a timer that it exists.
    """
    limits = crypto.KdfLimits(
        max(user.kdf_opslimit, settings.kdf_limits.opslimit),
        max(user.kdf_memlimit, settings.kdf_limits.memlimit),
    )
    _seal_under_password(user, limits, private_key, password)
    audit.record(
        session,
        "account.kdf_limits_raised",
        actor_id=user.id,
        details={"opslimit": limits.opslimit, "memlimit": limits.memlimit},
    )


def needs_second_factor(user: User, settings: ServiceSettings) -> bool:
    return user.totp_sealed_secret is not None or (
        user.role.is_staff and settings.staff_second_factor
    )


def _start_session(
    session: Session, settings: ServiceSettings, user: User, private_key: bytes, done: bool
) -> str:
    token = secrets.token_urlsafe(32)
    digest = _digest(token)
    session.add(
        UserSession(
            token_digest=digest,
            user_id=user.id,
            second_factor_done=done,
            sealed_private_key=crypto.encrypt(
                settings.session_key, private_key, keyring.session_private_key(digest)
            ),
        )
    )
    return token


def session_record(session: Session, token: str) -> UserSession | None:
    return session.scalar(select(UserSession).where(UserSession.token_digest == _digest(token)))


def actor_of(settings: ServiceSettings, record: UserSession) -> Actor:
    private_key = crypto.decrypt(
        settings.session_key,
        record.sealed_private_key,
        keyring.session_private_key(record.token_digest),
    )
    return Actor(record.user, private_key)


def on_signed_in(session: Session, actor: Actor) -> None:
    """A completed sign-in is recorded; it never grants anyone access (docs/security.md)."""
    audit.record(session, "sign_in", actor_id=actor.id)
    session.commit()


class TooManyAttempts(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            "There have been too many attempts to sign in to this account. "
            "Wait 15 minutes and try again, or reset your password",
            "email",
        )


def _sign_in_attempts(email: str) -> str:
    """The lockout counter of an e-mail address, known or not (codes have their own)."""
    return "sign-in:" + email


def reserve_attempt(session: Session, settings: ServiceSettings, what: str, now) -> bool:
    """Count this attempt before any password is checked; False while the address is locked.

    One conditional UPDATE both checks the lock and counts the attempt, and it commits
    before the Argon2id run: concurrent guesses queue on the row instead of all reading
    the same count, so no more passwords are checked than the limit allows.
    """
    digest = _digest(what)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(SignInThrottle)
        .values(email_digest=digest, failures=0)
        .on_conflict_do_nothing(index_elements=["email_digest"])
    )
    counted = session.execute(
        update(SignInThrottle)
        .where(
            SignInThrottle.email_digest == digest,
            or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until <= now),
        )
        .values(failures=SignInThrottle.failures + 1)
        .returning(SignInThrottle.failures)
    ).one_or_none()
    if counted is None:
        return False
    beyond = counted.failures - settings.lockout_after_failures
    if beyond >= 0:
        # Progressive, but capped: a stranger typing someone's address can delay
        # them by minutes, never lock them out for long.
        minutes = min(2**beyond, settings.lockout_max_minutes)
        session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.email_digest == digest)
            .values(locked_until=now + timedelta(minutes=minutes))
        )
    session.commit()
    return True


def clear_attempts(session: Session, what: str) -> None:
    session.execute(
        update(SignInThrottle)
        .where(SignInThrottle.email_digest == _digest(what))
        .values(failures=0, locked_until=None)
    )


def sign_in(session: Session, settings: ServiceSettings, *, email: str, password: str) -> SignedIn:
    email = normalise_email(email)
    now = utcnow()
    if not reserve_attempt(session, settings, _sign_in_attempts(email), now):
        audit.record(session, "sign_in.refused", details={"reason": "too many attempts"})
        session.commit()
        raise TooManyAttempts()
    user = session.scalar(select(User).where(User.email == email))
    if user is None or user.disabled:
        # The decoy costs what a real account's check costs: the same limits, a salt of
        # the same length, and the same comparison afterwards.
        keys = crypto.derive_password_keys(password, _DECOY_SALT, settings.kdf_limits)
        crypto.authenticator_matches(keys.authenticator, _DECOY_DIGEST)
        audit.record(session, "sign_in.failed", details={"reason": "unknown account"})
        session.commit()
        raise SignInFailed()
    private_key = _unlock(user, password)
    if private_key is None:
        audit.record(session, "sign_in.failed", actor_id=user.id, details={"reason": "password"})
        session.commit()
        raise SignInFailed()
    clear_attempts(session, _sign_in_attempts(email))
    if _below(settings.kdf_limits, user):
        _raise_limits(session, settings, user, private_key, password)
    end_expired_sessions(session, settings, now)
    if needs_second_factor(user, settings):
        token = _start_session(session, settings, user, private_key, done=False)
        audit.record(session, "sign_in.password_accepted", actor_id=user.id)
        session.commit()
        return SignedIn(user, token, "verify" if user.totp_sealed_secret else "enrol")
    token = _start_session(session, settings, user, private_key, done=True)
    on_signed_in(session, Actor(user, private_key))
    return SignedIn(user, token)


def _end(record: UserSession, now: datetime) -> None:
    """End a session and wipe what it held: an ended row keeps no key (docs/security.md)."""
    if record.revoked_at is None:
        record.revoked_at = now
    record.sealed_private_key = None
    record.sealed_pending_totp_secret = None


def end_expired_sessions(
    session: Session, settings: ServiceSettings, now: datetime | None = None
) -> int:
    """Wipe the keys of sessions past their limits, visited or not; delete old ended rows.

    Runs at every sign-in and from `flask sessions sweep`: a session nobody comes back
    to must not keep a sealed private key until someone does.
    """
    now = now or utcnow()
    parties = select(User.id).where(User.role.in_([Role.VICTIM, Role.OFFENDER]))
    wiped = {"revoked_at": func.coalesce(UserSession.revoked_at, now)}
    ended = session.execute(
        update(UserSession)
        .where(
            or_(
                UserSession.revoked_at.is_not(None),
                UserSession.created_at < now - timedelta(hours=settings.absolute_session_hours),
                UserSession.last_seen_at < now - timedelta(minutes=settings.staff_idle_minutes),
                (UserSession.last_seen_at < now - timedelta(minutes=settings.party_idle_minutes))
                & UserSession.user_id.in_(parties),
                UserSession.second_factor_done.is_(False)
                & (UserSession.created_at < now - timedelta(minutes=PENDING_SESSION_MINUTES)),
                UserSession.user_id.in_(select(User.id).where(User.disabled.is_(True))),
            ),
            or_(
                UserSession.sealed_private_key.is_not(None),
                UserSession.sealed_pending_totp_secret.is_not(None),
            ),
        )
        .values(sealed_private_key=None, sealed_pending_totp_secret=None, **wiped)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(
        delete(UserSession)
        .where(UserSession.revoked_at < now - ENDED_SESSION_ROWS_KEPT)
        .execution_options(synchronize_session=False)
    )
    if ended:
        audit.record(session, "sessions.expired_swept", details={"sessions": ended})
    session.commit()
    return ended


def unlock_for_command(
    session: Session, settings: ServiceSettings, *, email: str, password: str, purpose: str
) -> Actor:
    """An administrator's key for a command run on the server (`flask keys migrate`).

    No session is made. The password is checked under the same lockout as a sign-in;
    the second factor guards the web sign-in, while anyone at this shell already holds
    what the password would protect against (the database and its configuration).
    """
    email = normalise_email(email)
    if not reserve_attempt(session, settings, _sign_in_attempts(email), utcnow()):
        raise TooManyAttempts()
    user = session.scalar(select(User).where(User.email == email))
    private_key = None
    if user is not None and not user.disabled and user.role == Role.ADMINISTRATOR:
        private_key = _unlock(user, password)
    if private_key is None:
        audit.record(session, "command.unlock_failed", details={"purpose": purpose})
        session.commit()
        raise SignInFailed()
    clear_attempts(session, _sign_in_attempts(email))
    audit.record(session, "command.unlocked", actor_id=user.id, details={"purpose": purpose})
    session.commit()
    return Actor(user, private_key)


def _idle_limit(settings: ServiceSettings, role: Role) -> timedelta:
    minutes = settings.staff_idle_minutes if role.is_staff else settings.party_idle_minutes
    return timedelta(minutes=minutes)


def resume_session(
    session: Session, settings: ServiceSettings, token: str, now: datetime | None = None
) -> Actor | None:
    """The signed-in person behind a session token, or None if it ended."""
    now = now or utcnow()
    digest = _digest(token)
    record = session.scalar(select(UserSession).where(UserSession.token_digest == digest))
    if record is None or record.revoked_at is not None or record.user.disabled:
        return None
    if not record.second_factor_done or not hmac.compare_digest(record.token_digest, digest):
        return None
    expired = now - record.last_seen_at > _idle_limit(
        settings, record.user.role
    ) or now - record.created_at > timedelta(hours=settings.absolute_session_hours)
    if expired:
        _end(record, now)
        audit.record(session, "session.expired", actor_id=record.user_id)
        session.commit()
        return None
    try:
        actor = actor_of(settings, record)
    except crypto.DecryptionFailed:
        return None
    if now - record.last_seen_at > timedelta(seconds=30):
        record.last_seen_at = now
        session.commit()
    return actor


def sign_out(session: Session, token: str) -> None:
    record = session.scalar(select(UserSession).where(UserSession.token_digest == _digest(token)))
    if record is None or record.revoked_at is not None:
        return
    _end(record, utcnow())
    audit.record(session, "sign_out", actor_id=record.user_id)
    session.commit()


def set_notice_preference(session: Session, actor: Actor, preference: str) -> None:
    try:
        choice = NoticePreference(preference)
    except ValueError:
        raise InvalidInput("Choose how you would like to hear from us", "notices") from None
    actor.user.notice_preference = choice
    audit.record(
        session, "account.notices_changed", actor_id=actor.id, details={"preference": str(choice)}
    )
    session.commit()


# --- password reset --------------------------------------------------------------

RESET_SUBJECT = "Resetting your Relay password"
RESET_BODY = (
    "Hello,\n\nSomeone asked to reset the password of this account. If it was you, use this "
    "link within {hours} hours, with your recovery code:\n\n{link}\n\n"
    "If it was not you, you can ignore this e-mail: your password has not changed.\n"
)


def request_password_reset(session: Session, settings: ServiceSettings, *, email: str) -> None:
    """Same answer whether or not the address has an account (nothing leaks)."""
    email = normalise_email(email)
    user = session.scalar(select(User).where(User.email == email))
    if user is None or user.disabled:
        audit.record(session, "password_reset.requested", details={"known": False})
        session.commit()
        return
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            token_digest=_digest(token),
            user_id=user.id,
            expires_at=utcnow() + timedelta(hours=settings.reset_hours),
        )
    )
    outbox.queue_mail(
        session,
        settings.outbox_key,
        recipient=user.email,
        subject=RESET_SUBJECT,
        body=RESET_BODY.format(hours=settings.reset_hours, link=settings.link(f"/reset/{token}")),
    )
    audit.record(session, "password_reset.requested", actor_id=user.id, details={"known": True})
    session.commit()


def open_password_reset(session: Session, token: str) -> PasswordReset:
    reset = session.scalar(
        select(PasswordReset).where(PasswordReset.token_digest == _digest(token))
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise InvalidInput(
            "This reset link has expired or has already been used. Ask for a new one", "token"
        )
    return reset


def _set_password_keys(
    user: User, settings: ServiceSettings, private_key: bytes, new_password: str
) -> str:
    """Seal `private_key` under a new password and a new recovery code; return the code."""
    _seal_under_password(user, settings.kdf_limits, private_key, new_password)
    new_code = crypto.new_recovery_code()
    recovery_salt = crypto.new_salt()
    user.recovery_salt = recovery_salt
    user.private_key_under_recovery = crypto.encrypt(
        crypto.derive_recovery_key(new_code, recovery_salt),
        private_key,
        keyring.user_private_key("recovery", user.public_key),
    )
    return new_code


def _finish_reset(session: Session, reset: PasswordReset, user: User, action: str) -> None:
    now = utcnow()
    # Every open link ends with this one: an older e-mail found later must not work.
    for other in session.scalars(
        select(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)
        )
    ):
        other.used_at = now
    reset.used_at = now
    for record in session.scalars(select(UserSession).where(UserSession.user_id == user.id)):
        _end(record, now)
    audit.record(session, action, actor_id=user.id)
    session.commit()


def reset_password(
    session: Session,
    settings: ServiceSettings,
    *,
    token: str,
    recovery_code: str,
    new_password: str,
) -> str:
    """Keep the same key pair under a new password; returns a new recovery code."""
    reset = open_password_reset(session, token)
    user = session.get(User, reset.user_id)
    check_new_password(new_password, email=user.email, name=user.name)
    try:
        recovery_key = crypto.derive_recovery_key(recovery_code, user.recovery_salt)
        private_key = crypto.decrypt(
            recovery_key,
            user.private_key_under_recovery,
            keyring.user_private_key("recovery", user.public_key),
        )
    except crypto.CryptoError:
        audit.record(
            session, "password_reset.failed", actor_id=user.id, details={"reason": "recovery code"}
        )
        session.commit()
        raise InvalidInput("The recovery code is not right", "recovery_code") from None
    # The old code has now been typed into a web form: replace it too.
    new_code = _set_password_keys(user, settings, private_key, new_password)
    _finish_reset(session, reset, user, "password_reset.completed")
    return new_code


KEYS_REPLACED_SUBJECT = "Your Relay password was reset without your recovery code"
KEYS_REPLACED_BODY = (
    "Hello,\n\nThe password of your account was just reset without its recovery code. "
    "Your sign-in code app (if you had one) has been removed: you will set it up again "
    "when you next sign in. Your access to letters must be restored by your facilitator "
    "or administrator, who will check with you first.\n\n"
    "If you did not do this, tell your facilitator or administrator straight away.\n\n"
    "{link}\n"
)


def _tell_who_restores(session: Session, settings: ServiceSettings, user: User) -> None:
    """The people who would restore access hear of the reset too, not only the mailbox
    that may be the attacker's: a party's facilitators, or every other administrator."""
    if user.role.is_staff:
        query = select(User).where(User.role == Role.ADMINISTRATOR, User.id != user.id)
    else:
        cases = select(CaseParticipant.case_id).where(CaseParticipant.user_id == user.id)
        query = (
            select(User)
            .join(CaseParticipant, CaseParticipant.user_id == User.id)
            .where(CaseParticipant.case_id.in_(cases), CaseParticipant.role == Role.FACILITATOR)
        )
    for person in session.scalars(query.where(User.disabled.is_(False))).unique():
        outbox.queue_notice(session, settings.outbox_key, person, settings.link("/"))


def reset_password_without_code(
    session: Session, settings: ServiceSettings, *, token: str, new_password: str
) -> str:
    """A new key pair: the old letters stay sealed until a facilitator restores access."""
    reset = open_password_reset(session, token)
    user = session.get(User, reset.user_id)
    check_new_password(new_password, email=user.email, name=user.name)
    pair = crypto.generate_keypair()
    user.public_key = pair.public_key
    new_code = _set_password_keys(user, settings, pair.private_key, new_password)
    user.keys_replaced_at = utcnow()
    # A reset link proves only that someone read the mailbox: the second factor goes
    # too (the person enrols again), and every key grant to the old key pair is removed,
    # to be restored only by a person who checked with them (docs/security.md).
    user.totp_sealed_secret = None
    user.totp_last_step = None
    session.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    keys.revoke_keys_of(session, user)
    _tell_who_restores(session, settings, user)
    outbox.queue_mail(
        session,
        settings.outbox_key,
        recipient=user.email,
        subject=KEYS_REPLACED_SUBJECT,
        body=KEYS_REPLACED_BODY.format(link=settings.link("/")),
    )
    _finish_reset(session, reset, user, "password_reset.keys_replaced")
    return new_code


# --- the person's own sessions ---------------------------------------------------


def active_sessions(session: Session, settings: ServiceSettings, user: User) -> list[UserSession]:
    oldest = utcnow() - timedelta(hours=settings.absolute_session_hours)
    return list(
        session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user.id,
                UserSession.revoked_at.is_(None),
                UserSession.second_factor_done.is_(True),
                UserSession.created_at > oldest,
            )
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def is_session_of_token(record: UserSession, token: str) -> bool:
    return hmac.compare_digest(record.token_digest, _digest(token))


def end_own_session(session: Session, actor: Actor, session_id: int) -> None:
    """Sign out one of the person's sessions, for example a lost phone."""
    record = session.get(UserSession, session_id)
    if record is None or record.user_id != actor.id:
        raise NotFound("session")
    if record.revoked_at is None:
        _end(record, utcnow())
        audit.record(session, "session.ended_by_owner", actor_id=actor.id)
        session.commit()


def sign_out_everywhere(session: Session, actor: Actor) -> int:
    ended = 0
    for record in session.scalars(
        select(UserSession).where(UserSession.user_id == actor.id, UserSession.revoked_at.is_(None))
    ):
        _end(record, utcnow())
        ended += 1
    audit.record(session, "sign_out.everywhere", actor_id=actor.id, details={"sessions": ended})
    session.commit()
    return ended
