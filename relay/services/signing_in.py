"""Signing in and sessions: the lockout counter, the password check, the session that
holds the person's private key, and its end (docs/security.md, "Sessions")."""

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
from sqlalchemy.orm import Session
from sqlalchemy.orm import joinedload

from relay import audit
from relay import crypto
from relay import keyring
from relay.database import refused_after_commit
from relay.database import transaction
from relay.models import Role
from relay.models import SignInThrottle
from relay.models import User
from relay.models import UserSession
from relay.models import utcnow
from relay.services.accounts import normalise_email
from relay.services.accounts import seal_under_password
from relay.services.actor import Actor
from relay.services.errors import DomainError
from relay.services.errors import NotFound
from relay.services.errors import SignInFailed
from relay.services.errors import TooManyAttempts
from relay.services.settings import ServiceSettings

# A sign-in for an unknown address still runs one Argon2id derivation on this
# salt, so that the answer takes as long as for a real account.
_DECOY_SALT = b"relay-decoy-salt"


_DECOY_DIGEST = bytes(32)


# Ended session rows are kept a day (for "you were signed out" pages), then deleted.
ENDED_SESSION_ROWS_KEPT = timedelta(days=1)


# Someone halfway through signing in has this long to give their second step.
PENDING_SESSION_MINUTES = 10


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
    seal_under_password(user, limits, private_key, password)
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
    digest = crypto.token_digest(token)
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
    return session.scalar(
        select(UserSession).where(UserSession.token_digest == crypto.token_digest(token))
    )


def actor_of(settings: ServiceSettings, record: UserSession) -> Actor:
    private_key = crypto.decrypt(
        settings.session_key,
        record.sealed_private_key,
        keyring.session_private_key(record.token_digest),
    )
    return Actor(record.user, private_key, record)


def record_sign_in(session: Session, user: User) -> None:
    """In the caller's transaction: a completed sign-in is recorded. It never grants anyone
    access (docs/security.md)."""
    audit.record(session, "sign_in", actor_id=user.id)


def _sign_in_attempts(email: str) -> str:
    """The lockout counter of an e-mail address, known or not (codes have their own)."""
    return "sign-in:" + email


def reserve_attempt(session: Session, settings: ServiceSettings, what: str, now) -> bool:
    """Count this attempt before any password is checked; False while the address is locked.

    One conditional UPDATE both checks the lock and counts the attempt, before the
    Argon2id run. Its row lock is held until the sign-in's one commit: concurrent guesses
    for one address queue on the row instead of all reading the same count, so no more
    passwords are checked than the limit allows.
    """
    with transaction(session):
        digest = crypto.token_digest(what)
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
        return True


def clear_attempts(session: Session, what: str) -> None:
    session.execute(
        update(SignInThrottle)
        .where(SignInThrottle.email_digest == crypto.token_digest(what))
        .values(failures=0, locked_until=None)
    )


def sign_in(session: Session, settings: ServiceSettings, *, email: str, password: str) -> SignedIn:
    """One transaction: the attempt is counted, the password checked, and the outcome
    recorded together. A refusal is raised only once it is committed, so every failed
    guess counts and is audited."""
    email = normalise_email(email)
    return refused_after_commit(
        session, lambda: _sign_in(session, settings, email, password, utcnow())
    )


def _sign_in(
    session: Session, settings: ServiceSettings, email: str, password: str, now: datetime
) -> SignedIn | DomainError:
    if not reserve_attempt(session, settings, _sign_in_attempts(email), now):
        audit.record(session, "sign_in.refused", details={"reason": "too many attempts"})
        return TooManyAttempts()
    user = session.scalar(select(User).where(User.email == email))
    if user is None or user.disabled:
        # The decoy costs what a real account's check costs: the same limits, a salt of
        # the same length, and the same comparison afterwards.
        keys = crypto.derive_password_keys(password, _DECOY_SALT, settings.kdf_limits)
        crypto.authenticator_matches(keys.authenticator, _DECOY_DIGEST)
        audit.record(session, "sign_in.failed", details={"reason": "unknown account"})
        return SignInFailed()
    private_key = _unlock(user, password)
    if private_key is None:
        audit.record(session, "sign_in.failed", actor_id=user.id, details={"reason": "password"})
        return SignInFailed()
    clear_attempts(session, _sign_in_attempts(email))
    if _below(settings.kdf_limits, user):
        _raise_limits(session, settings, user, private_key, password)
    end_expired_sessions(session, settings, now)
    if needs_second_factor(user, settings):
        token = _start_session(session, settings, user, private_key, done=False)
        audit.record(session, "sign_in.password_accepted", actor_id=user.id)
        return SignedIn(user, token, "verify" if user.totp_sealed_secret else "enrol")
    token = _start_session(session, settings, user, private_key, done=True)
    record_sign_in(session, user)
    return SignedIn(user, token)


def end_session(record: UserSession, now: datetime) -> None:
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
    with transaction(session):
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
                    (
                        UserSession.last_seen_at
                        < now - timedelta(minutes=settings.party_idle_minutes)
                    )
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
    return refused_after_commit(
        session, lambda: _unlock_for_command(session, settings, email, password, purpose)
    )


def _unlock_for_command(
    session: Session, settings: ServiceSettings, email: str, password: str, purpose: str
) -> Actor | DomainError:
    if not reserve_attempt(session, settings, _sign_in_attempts(email), utcnow()):
        return TooManyAttempts()
    user = session.scalar(select(User).where(User.email == email))
    private_key = None
    if user is not None and not user.disabled and user.role == Role.ADMINISTRATOR:
        private_key = _unlock(user, password)
    if private_key is None:
        audit.record(session, "command.unlock_failed", details={"purpose": purpose})
        return SignInFailed()
    clear_attempts(session, _sign_in_attempts(email))
    audit.record(session, "command.unlocked", actor_id=user.id, details={"purpose": purpose})
    return Actor(user, private_key)


def _idle_limit(settings: ServiceSettings, role: Role) -> timedelta:
    minutes = settings.staff_idle_minutes if role.is_staff else settings.party_idle_minutes
    return timedelta(minutes=minutes)


def resume_session(
    session: Session, settings: ServiceSettings, token: str, now: datetime | None = None
) -> Actor | None:
    """The signed-in person behind a session token, or None if it ended."""
    now = now or utcnow()
    digest = crypto.token_digest(token)
    with transaction(session):
        # One query: the session with its person, on every request.
        record = session.scalar(
            select(UserSession)
            .where(UserSession.token_digest == digest)
            .options(joinedload(UserSession.user))
        )
        if record is None or record.revoked_at is not None or record.user.disabled:
            return None
        if not record.second_factor_done or not hmac.compare_digest(record.token_digest, digest):
            return None
        expired = now - record.last_seen_at > _idle_limit(
            settings, record.user.role
        ) or now - record.created_at > timedelta(hours=settings.absolute_session_hours)
        if expired:
            end_session(record, now)
            audit.record(session, "session.expired", actor_id=record.user_id)
            return None
        try:
            actor = actor_of(settings, record)
        except crypto.DecryptionFailed:
            return None
        if now - record.last_seen_at > timedelta(seconds=30):
            record.last_seen_at = now
        return actor


def sign_out(session: Session, token: str, *, left_the_site: bool = False) -> None:
    """End the session behind `token`. Leaving the site ("Leave this site", Escape three
    times) is a sign-out too, recorded as one: the entry only notes the way it came."""
    with transaction(session):
        record = session.scalar(
            select(UserSession).where(UserSession.token_digest == crypto.token_digest(token))
        )
        if record is None or record.revoked_at is not None:
            return
        end_session(record, utcnow())
        details = {"way": "left the site"} if left_the_site else None
        audit.record(session, "sign_out", actor_id=record.user_id, details=details)


@dataclass(frozen=True)
class TimeLeft:
    """How long a session has before the server ends it, for the page's warning."""

    idle_limit: int  # seconds of idleness the person's role is allowed
    idle_left: int  # seconds until the idle limit, counted from the last request
    absolute_left: int  # seconds until the absolute limit, however active


def time_left(
    settings: ServiceSettings, record: UserSession, now: datetime | None = None
) -> TimeLeft:
    now = now or utcnow()
    limit = _idle_limit(settings, record.user.role)
    absolute = timedelta(hours=settings.absolute_session_hours)
    return TimeLeft(
        idle_limit=int(limit.total_seconds()),
        idle_left=max(0, int((record.last_seen_at + limit - now).total_seconds())),
        absolute_left=max(0, int((record.created_at + absolute - now).total_seconds())),
    )


def keep_alive(
    session: Session, settings: ServiceSettings, token: str, now: datetime | None = None
) -> bool:
    """The person pressed "Stay signed in": the idle time starts again now. `resume_session` moves
    last_seen_at only every 30 seconds; this moves it at once, so that the page's countdown,
    started from the full limit, never outlasts the server's. False if the session ended."""
    now = now or utcnow()
    with transaction(session):
        if resume_session(session, settings, token, now) is None:
            return False
        session_record(session, token).last_seen_at = now
        return True


def time_out(session: Session, token: str) -> None:
    """The page's countdown ran out (after it had the draft saved): end the session as the
    idle limit would. The page asks instead of waiting for the server's limit because
    saving the draft was a request, which would have kept the session alive."""
    with transaction(session):
        record = session_record(session, token)
        if record is None or record.revoked_at is not None or not record.second_factor_done:
            return
        end_session(record, utcnow())
        audit.record(session, "session.expired", actor_id=record.user_id)


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
    return hmac.compare_digest(record.token_digest, crypto.token_digest(token))


def end_own_session(session: Session, actor: Actor, session_id: int) -> None:
    """Sign out one of the person's sessions, for example a lost phone."""
    with transaction(session):
        record = session.get(UserSession, session_id)
        if record is None or record.user_id != actor.id:
            raise NotFound("session")
        if record.revoked_at is None:
            end_session(record, utcnow())
            audit.record(session, "session.ended_by_owner", actor_id=actor.id)


def sign_out_everywhere(session: Session, actor: Actor) -> int:
    with transaction(session):
        ended = 0
        for record in session.scalars(
            select(UserSession).where(
                UserSession.user_id == actor.id, UserSession.revoked_at.is_(None)
            )
        ):
            end_session(record, utcnow())
            ended += 1
        audit.record(session, "sign_out.everywhere", actor_id=actor.id, details={"sessions": ended})
        return ended
