"""Accounts: making one (an administrator on the command line) and its own settings."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay import audit
from relay import crypto
from relay import keyring
from relay.database import transaction
from relay.models import EscrowKey
from relay.models import NoticePreference
from relay.models import Role
from relay.models import User
from relay.services import keys
from relay.services.actor import Actor
from relay.services.errors import InvalidInput
from relay.services.passwords import check_new_password
from relay.services.settings import ServiceSettings


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class NewAccount:
    user: User
    recovery_code: str


def build_account(
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


def add_account(
    session: Session,
    settings: ServiceSettings,
    *,
    email: str,
    name: str,
    role: Role,
    password: str,
    field: str,
) -> tuple[User, str, bytes]:
    """Build an account and add it, inside the caller's transaction. The unique index
    decides a race for one address; the loser is told on `field`, not with a 500."""
    user, recovery_code, private_key = build_account(
        email=email, name=name, role=role, password=password, limits=settings.kdf_limits
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise InvalidInput("An account with this e-mail address already exists", field) from None
    return user, recovery_code, private_key


def seal_under_password(
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


def create_administrator(
    session: Session, settings: ServiceSettings, *, email: str, name: str, password: str
) -> NewAccount:
    """An administrator made on the command line; the first one also makes the escrow key."""
    with transaction(session):
        email = normalise_email(email)
        user, recovery_code, private_key = add_account(
            session,
            settings,
            email=email,
            name=name.strip(),
            role=Role.ADMINISTRATOR,
            password=password,
            field="email",
        )
        audit.record(
            session,
            "account.created",
            actor_id=None,
            details={"user": user.id, "role": "administrator", "by": "command line"},
        )
        if session.scalar(select(EscrowKey.id)) is None and not keys.legacy_team_key_exists(
            session
        ):
            # The escrow private key must be sealed to someone the moment it exists,
            # or it is lost: so it is born with the first administrator. Later
            # administrators are granted it explicitly by one who holds it. (Before
            # `keys migrate` has run, that command makes it, for the team's administrators.)
            keys.create_escrow_key(session, user)
        del private_key
        return NewAccount(user, recovery_code)


def set_notice_preference(session: Session, actor: Actor, preference: str) -> None:
    with transaction(session):
        try:
            choice = NoticePreference(preference)
        except ValueError:
            raise InvalidInput("Choose how you would like to hear from us", "notices") from None
        actor.user.notice_preference = choice
        audit.record(
            session,
            "account.notices_changed",
            actor_id=actor.id,
            details={"preference": str(choice)},
        )
