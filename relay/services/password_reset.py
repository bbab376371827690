"""Password reset: with the recovery code the key pair stays; without it a new pair is
made and access waits for a person who checks (docs/security.md, "Recovery")."""

import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay import crypto
from relay import keyring
from relay.database import refused_after_commit
from relay.database import transaction
from relay.models import BackupCode
from relay.models import CaseParticipant
from relay.models import PasswordReset
from relay.models import Role
from relay.models import User
from relay.models import UserSession
from relay.models import utcnow
from relay.services import keys
from relay.services import outbox
from relay.services.accounts import normalise_email
from relay.services.accounts import seal_under_password
from relay.services.errors import InvalidInput
from relay.services.passwords import check_new_password
from relay.services.settings import ServiceSettings
from relay.services.signing_in import end_session

RESET_SUBJECT = "Resetting your Relay password"


RESET_BODY = (
    "Hello,\n\nSomeone asked to reset the password of this account. If it was you, use this "
    "link within {hours} hours, with your recovery code:\n\n{link}\n\n"
    "If it was not you, you can ignore this e-mail: your password has not changed.\n"
)


def request_password_reset(session: Session, settings: ServiceSettings, *, email: str) -> None:
    """Same answer whether or not the address has an account (nothing leaks)."""
    email = normalise_email(email)
    with transaction(session):
        user = session.scalar(select(User).where(User.email == email))
        if user is None or user.disabled:
            audit.record(session, "password_reset.requested", details={"known": False})
            return
        token = secrets.token_urlsafe(32)
        session.add(
            PasswordReset(
                token_digest=crypto.token_digest(token),
                user_id=user.id,
                expires_at=utcnow() + timedelta(hours=settings.reset_hours),
            )
        )
        link = settings.link(f"/reset/{token}")
        outbox.queue_mail(
            session,
            settings.outbox_key,
            recipient=user.email,
            subject=RESET_SUBJECT,
            body=RESET_BODY.format(hours=settings.reset_hours, link=link),
        )
        audit.record(session, "password_reset.requested", actor_id=user.id, details={"known": True})


def open_password_reset(session: Session, token: str) -> PasswordReset:
    reset = session.scalar(
        select(PasswordReset).where(PasswordReset.token_digest == crypto.token_digest(token))
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
    seal_under_password(user, settings.kdf_limits, private_key, new_password)
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
    """In the caller's transaction: every link and session of the person ends."""
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
        end_session(record, now)
    audit.record(session, action, actor_id=user.id)


def reset_password(
    session: Session,
    settings: ServiceSettings,
    *,
    token: str,
    recovery_code: str,
    new_password: str,
) -> str:
    """Keep the same key pair under a new password; returns a new recovery code. A wrong
    recovery code is audited, and refused once that is committed."""

    def work() -> str | InvalidInput:
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
                session,
                "password_reset.failed",
                actor_id=user.id,
                details={"reason": "recovery code"},
            )
            return InvalidInput("The recovery code is not right", "recovery_code")
        # The old code has now been typed into a web form: replace it too.
        new_code = _set_password_keys(user, settings, private_key, new_password)
        _finish_reset(session, reset, user, "password_reset.completed")
        return new_code

    return refused_after_commit(session, work)


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
    with transaction(session):
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
