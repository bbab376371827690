"""The second step at sign-in: TOTP (pyotp) with single-use backup codes.

Required for facilitators and administrators, optional for parties. The
TOTP secret is sealed to the person's own public key, so it can only be
checked once their password has unlocked their private key; a used time step
is remembered so a code is never accepted twice.
"""

import base64
import secrets
from datetime import datetime
from datetime import timedelta

import pyotp
import segno
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from relay import audit
from relay import crypto
from relay import keyring
from relay.database import refused_after_commit
from relay.models import BackupCode
from relay.models import User
from relay.models import UserSession
from relay.models import utcnow
from relay.services import outbox
from relay.services import signing_in
from relay.services.errors import InvalidInput
from relay.services.errors import NotFound
from relay.services.settings import ServiceSettings

ISSUER = "Relay"
VALID_WINDOW = 1  # one 30-second step either side, for clocks that drift
BACKUP_CODES = 10
PENDING_MINUTES = 10


CHANGED_SUBJECT = "Your Relay sign-in code app was changed"
CHANGED_BODY = (
    "Hello,\n\nThe authenticator app used to sign in to your account was just changed. "
    "If you did this, there is nothing to do.\n\nIf you did not, tell your administrator "
    "straight away: someone may have your password and a code.\n\n{link}\n"
)


def _code_digest(settings: ServiceSettings, user_id: int, code: str) -> bytes:
    compact = code.replace("-", "").replace(" ", "").lower()
    return crypto.keyed_digest(settings.backup_code_key, f"{user_id}:{compact}".encode())


def _new_backup_code() -> str:
    # 80 random bits in base32: beyond guessing even with many tries per account.
    text = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _record(session: Session, token: str, now: datetime) -> UserSession:
    record = signing_in.session_record(session, token)
    if record is None or record.revoked_at is not None or record.user.disabled:
        raise NotFound("session")
    if not record.second_factor_done and now - record.created_at > timedelta(
        minutes=PENDING_MINUTES
    ):
        raise NotFound("session")
    return record


def pending_user(session: Session, token: str) -> User | None:
    """Who is halfway through signing in on this session, if anyone."""
    try:
        record = _record(session, token, utcnow())
    except NotFound:
        return None
    return None if record.second_factor_done else record.user


def may_enrol(session: Session, token: str) -> bool:
    """Whether this browser may set up a second step: halfway through signing in to an
    account that has none, or signed in (changing one then needs a current code)."""
    try:
        record = _record(session, token, utcnow())
    except NotFound:
        return False
    return record.second_factor_done or record.user.totp_sealed_secret is None


def needs_current_code(session: Session, token: str) -> bool:
    record = signing_in.session_record(session, token)
    return record is not None and record.user.totp_sealed_secret is not None


def _check_current_code(
    session: Session, settings: ServiceSettings, record: UserSession, code: str, now: datetime
) -> InvalidInput | None:
    """Replacing an authenticator needs what the owner holds: a current or backup code.
    Returns the refusal, recorded, for the caller to raise once it is committed."""
    _reserve_code_attempt(session, settings, record.user)
    if not _code_accepted(session, settings, record, code, now):
        audit.record(session, "second_factor.change_refused", actor_id=record.user_id)
        return InvalidInput("The code is not right, or it has already been used", "code")
    return None


def begin_enrolment(
    session: Session,
    settings: ServiceSettings,
    token: str,
    current_code: str | None = None,
    secret: str | None = None,
) -> str:
    """A new secret for this session to confirm; returns it (to show as text and QR).

    A password alone may only set up a first second step, from the pending session of
    that same sign-in; replacing one needs a signed-in session and a current code.
    `secret` is for the demo data only, whose known secrets are printed.
    """
    now = utcnow()

    def work() -> str | InvalidInput:
        record = _record(session, token, now)
        if record.user.totp_sealed_secret is not None:
            if not record.second_factor_done:
                raise NotFound("session")
            refused = _check_current_code(session, settings, record, current_code or "", now)
            if refused is not None:
                return refused
        new_secret = secret or pyotp.random_base32()
        record.sealed_pending_totp_secret = crypto.encrypt(
            settings.session_key,
            new_secret.encode(),
            keyring.pending_totp_secret(record.token_digest),
        )
        return new_secret

    return refused_after_commit(session, work)


def pending_secret(session: Session, settings: ServiceSettings, token: str) -> str | None:
    """The secret being set up on this session, to show again after a wrong code."""
    record = _record(session, token, utcnow())
    if record.sealed_pending_totp_secret is None:
        return None
    return crypto.decrypt(
        settings.session_key,
        record.sealed_pending_totp_secret,
        keyring.pending_totp_secret(record.token_digest),
    ).decode()


def provisioning_qr(secret: str, email: str) -> str:
    """An SVG data URI, made on the server: no third party ever sees the secret."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return segno.make(uri, error="m").svg_data_uri(scale=5)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    code = code.strip().replace(" ", "")
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        if secrets.compare_digest(totp.at(now, counter_offset=offset), code):
            return current + offset
    return None


def _accept_step(session: Session, user: User, step: int | None) -> bool:
    """Spend a time step: one conditional UPDATE, so two requests racing with the same
    code cannot both be accepted."""
    if step is None:
        return False
    spent = session.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent == 1:
        set_committed_value(user, "totp_last_step", step)
    return spent == 1


def _throttle_key(user: User) -> str:
    return f"second-step:{user.id}"


def _reserve_code_attempt(session: Session, settings: ServiceSettings, user: User) -> None:
    """Codes tried are counted per account, across sign-ins, like passwords: a known
    password must not buy unlimited guesses at six digits."""
    if not signing_in.reserve_attempt(session, settings, _throttle_key(user), utcnow()):
        raise InvalidInput(
            "Too many codes have been tried for this account. Wait 15 minutes and try again",
            "code",
        )


def complete_enrolment(
    session: Session, settings: ServiceSettings, token: str, code: str, now: datetime | None = None
) -> list[str]:
    """Confirm the new secret with a code from the app; returns the backup codes, shown once."""
    now = now or utcnow()
    return refused_after_commit(
        session, lambda: _complete_enrolment(session, settings, token, code, now)
    )


def _complete_enrolment(
    session: Session, settings: ServiceSettings, token: str, code: str, now: datetime
) -> list[str] | InvalidInput:
    record = _record(session, token, now)
    if record.sealed_pending_totp_secret is None:
        raise InvalidInput("Start setting up again", "code")
    changing = record.user.totp_sealed_secret is not None
    if changing and not record.second_factor_done:
        raise NotFound("session")
    secret = crypto.decrypt(
        settings.session_key,
        record.sealed_pending_totp_secret,
        keyring.pending_totp_secret(record.token_digest),
    ).decode()
    user = record.user
    # A new secret has no history: its step is checked alone, and the old secret's
    # replay guard stays until this one is confirmed.
    step = _matching_step(secret, code, now)
    if step is None:
        audit.record(session, "second_factor.enrolment_failed", actor_id=user.id)
        return InvalidInput(
            "The code is not right. Check the time on your phone and try again", "code"
        )
    user.totp_sealed_secret = crypto.seal_to(
        user.public_key, secret.encode(), keyring.totp_secret(user.public_key)
    )
    user.totp_last_step = step
    record.sealed_pending_totp_secret = None
    for old in session.scalars(select(BackupCode).where(BackupCode.user_id == user.id)):
        session.delete(old)
    codes = [_new_backup_code() for _ in range(BACKUP_CODES)]
    for code_text in codes:
        session.add(
            BackupCode(user_id=user.id, code_digest=_code_digest(settings, user.id, code_text))
        )
    if changing:
        audit.record(session, "second_factor.changed", actor_id=user.id)
        outbox.queue_mail(
            session,
            settings.outbox_key,
            recipient=user.email,
            subject=CHANGED_SUBJECT,
            body=CHANGED_BODY.format(link=settings.link("/")),
        )
    else:
        audit.record(session, "second_factor.enrolled", actor_id=user.id)
    if not record.second_factor_done:
        signing_in.record_sign_in(session, user)
    record.second_factor_done = True
    return codes


def verify(
    session: Session, settings: ServiceSettings, token: str, code: str, now: datetime | None = None
) -> User:
    """Finish signing in with a TOTP code or an unused backup code. A wrong code is
    counted and audited, and refused once that is committed."""
    now = now or utcnow()

    def work() -> User | InvalidInput:
        record = _record(session, token, now)
        user = record.user
        if record.second_factor_done or user.totp_sealed_secret is None:
            raise NotFound("session")
        _reserve_code_attempt(session, settings, user)
        if not _code_accepted(session, settings, record, code, now):
            audit.record(session, "second_factor.failed", actor_id=user.id)
            return InvalidInput("The code is not right, or it has already been used", "code")
        record.second_factor_done = True
        signing_in.clear_attempts(session, _throttle_key(user))
        signing_in.record_sign_in(session, user)
        return user

    return refused_after_commit(session, work)


def _code_accepted(
    session: Session, settings: ServiceSettings, record: UserSession, code: str, now: datetime
) -> bool:
    """A TOTP code not used before, or an unused backup code (which is then spent)."""
    user = record.user
    private_key = signing_in.actor_of(settings, record).private_key
    secret = crypto.open_sealed(
        private_key, user.totp_sealed_secret, keyring.totp_secret(user.public_key)
    )
    if _accept_step(session, user, _matching_step(secret.decode(), code, now)):
        return True
    backup = session.scalar(
        select(BackupCode).where(
            BackupCode.user_id == user.id,
            BackupCode.code_digest == _code_digest(settings, user.id, code),
            BackupCode.used_at.is_(None),
        )
    )
    if backup is None:
        return False
    spent = session.execute(
        update(BackupCode)
        .where(BackupCode.id == backup.id, BackupCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent != 1:
        return False
    audit.record(session, "second_factor.backup_code_used", actor_id=user.id)
    return True


def backup_codes_left(session: Session, user: User) -> int:
    return len(
        session.scalars(
            select(BackupCode.id).where(BackupCode.user_id == user.id, BackupCode.used_at.is_(None))
        ).all()
    )
