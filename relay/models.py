"""Relay's tables as SQLAlchemy 2 typed models.

Nothing here holds letter text, a password or a key in clear: text is stored
only as ciphertext, and keys only sealed (see keyring.py and docs/security.md).
"""

import enum
from datetime import UTC
from datetime import date
from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import Enum
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import text
from sqlalchemy import types
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(types.TypeDecorator):
    """Timezone-aware UTC on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Role(enum.StrEnum):
    ADMINISTRATOR = "administrator"
    FACILITATOR = "facilitator"
    VICTIM = "victim"
    OFFENDER = "offender"

    @property
    def is_staff(self) -> bool:
        return self in (Role.ADMINISTRATOR, Role.FACILITATOR)

    @property
    def label(self) -> str:
        return {
            Role.ADMINISTRATOR: "administrator",
            Role.FACILITATOR: "facilitator",
            Role.VICTIM: "person harmed",
            Role.OFFENDER: "person responsible",
        }[self]


class NoticePreference(enum.StrEnum):
    NONE = "none"
    STANDARD = "standard"
    DISCREET = "discreet"


class CaseState(enum.StrEnum):
    REFERRED = "referred"
    PREPARING = "preparing"
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {
            CaseState.REFERRED: "Referred",
            CaseState.PREPARING: "Preparing",
            CaseState.ACTIVE: "Letters are being exchanged",
            CaseState.PAUSED: "Paused",
            CaseState.CLOSED: "Closed",
        }[self]


class CaseOutcome(enum.StrEnum):
    COMPLETED = "completed"
    WITHDRAWN_BY_VICTIM = "withdrawn_by_victim"
    WITHDRAWN_BY_OFFENDER = "withdrawn_by_offender"
    ENDED_BY_FACILITATOR = "ended_by_facilitator"

    @property
    def label(self) -> str:
        return {
            CaseOutcome.COMPLETED: "completed",
            CaseOutcome.WITHDRAWN_BY_VICTIM: "the person harmed withdrew",
            CaseOutcome.WITHDRAWN_BY_OFFENDER: "the person responsible withdrew",
            CaseOutcome.ENDED_BY_FACILITATOR: "ended by the facilitator",
        }[self]


class ReceivePreference(enum.StrEnum):
    RECEIVE = "receive"
    WITH_FACILITATOR = "with_facilitator"
    NOT_NOW = "not_now"

    @property
    def label(self) -> str:
        return {
            ReceivePreference.RECEIVE: "as soon as they are approved",
            ReceivePreference.WITH_FACILITATOR: "only with their facilitator",
            ReceivePreference.NOT_NOW: "not now",
        }[self]


class LetterState(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    REDACTION_PROPOSED = "redaction_proposed"
    APPROVED = "approved"
    DELIVERED = "delivered"
    READ = "read"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    # Not delivered because the case ended (a withdrawal or a close), not by its author.
    STOPPED = "stopped"
    # Approved, perhaps delivered, not opened: held back by a facilitator, at the author's
    # request, until they let it go on or its author withdraws it.
    HELD = "held"

    @property
    def label(self) -> str:
        return {
            LetterState.DRAFT: "Draft",
            LetterState.IN_REVIEW: "With your facilitator",
            LetterState.CHANGES_REQUESTED: "Changes asked for",
            LetterState.REDACTION_PROPOSED: "Changes suggested",
            LetterState.APPROVED: "Approved",
            LetterState.DELIVERED: "Delivered",
            LetterState.READ: "Read",
            LetterState.REJECTED: "Not passed on",
            LetterState.WITHDRAWN: "Withdrawn",
            LetterState.STOPPED: "Not passed on: the exchange has ended",
            LetterState.HELD: "Held back by the facilitator",
        }[self]


class PaperDelivery(enum.StrEnum):
    """How a letter reached a party who takes part on paper."""

    POSTED = "posted"
    HANDED_OVER = "handed_over"  # read with them, or given to them, at a meeting

    @property
    def label(self) -> str:
        return {
            PaperDelivery.POSTED: "posted",
            PaperDelivery.HANDED_OVER: "handed over at a reading",
        }[self]


class NoteKind(enum.StrEnum):
    """Free text a person types for someone in a case, besides letters."""

    CHANGES_REQUESTED = "changes_requested"  # facilitator to writer: what to change
    REDACTION = "redaction"  # facilitator to writer: why they suggest a change
    REJECTION = "rejection"  # facilitator to writer: why the letter is not passed on
    CONDITIONS = "conditions"  # a recipient's conditions for letters to them
    PAUSE_REASON = "pause_reason"  # facilitator to both parties
    # For the case's staff only, never a party: the evidence behind each gate, and the
    # facilitators' own notes on the case.
    CONSENT_EVIDENCE = "consent_evidence"
    ADMISSION_EVIDENCE = "admission_evidence"
    RISK_EVIDENCE = "risk_evidence"
    NO_CONTACT_EVIDENCE = "no_contact_evidence"
    CASE_NOTE = "case_note"
    # A party's comment in their survey at closing: for the team, sealed to the case key
    # and to the party who wrote it (so it is in their own data), never the other party.
    SURVEY_COMMENT = "survey_comment"


class RiskLevel(enum.StrEnum):
    """A party's assessed risk (docs/rules.md, "Gates")."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ExtraCare(enum.StrEnum):
    """Why a party needs extra care: any one makes the case one for two approvals."""

    SEXUAL_VIOLENCE = "sexual_violence"
    DOMESTIC_VIOLENCE = "domestic_violence"
    STALKING = "stalking"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class VersionKind(enum.StrEnum):
    AUTHOR = "author"
    REDACTION = "redaction"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(_enum(Role))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    notice_preference: Mapped[NoticePreference] = mapped_column(
        _enum(NoticePreference), default=NoticePreference.STANDARD
    )
    # Key material: see docs/security.md "Keys". Limits are stored per account so
    # that raising them later leaves existing accounts able to sign in.
    password_salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    kdf_opslimit: Mapped[int] = mapped_column(Integer)
    kdf_memlimit: Mapped[int] = mapped_column(Integer)
    authenticator_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    private_key_under_password: Mapped[bytes] = mapped_column(LargeBinary(128))
    recovery_salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    private_key_under_recovery: Mapped[bytes] = mapped_column(LargeBinary(128))
    # Set when a reset without the recovery code gave the account a new key
    # pair: a facilitator must restore access to its letters (docs/security.md).
    keys_replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The TOTP secret, sealed to the user's own public key: it can be checked
    # only while their password has unlocked their private key.
    totp_sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary(256))
    # The last accepted time step: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class Invitation(Base):
    __tablename__ = "invitations"
    # The invitations not yet accepted, those expiring first: read in that order, a page
    # stops at 25 (relay/services/desk.py, invitations.pending_staff_invitations). Partial:
    # PostgreSQL orders by the columns after `used_at` only where it is compared with =.
    __table_args__ = (
        Index(
            "ix_invitations_unused",
            "expires_at",
            "id",
            postgresql_where=text("used_at IS NULL"),
            sqlite_where=text("used_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Only a digest of the token is kept, so a database copy cannot be used
    # to take over an invitation.
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # None for a printed one-time code (a party on paper): they choose their address when
    # they enter it. A link is only ever sent to an address, a code only ever printed.
    email: Mapped[str | None] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(_enum(Role))
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("case_participants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    participant: Mapped["CaseParticipant | None"] = relationship()


class PasswordReset(Base):
    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TeamKey(Base):
    """Legacy: the service-wide key that every staff member held before keys per case.

    Read only by `flask keys migrate`, which re-seals every letter to its case key and
    then deletes these rows (docs/security.md "Keys").
    """

    __tablename__ = "team_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMembership(Base):
    """Legacy: a staff member's seal of the team private key (see TeamKey)."""

    __tablename__ = "team_memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    team_key_id: Mapped[int] = mapped_column(ForeignKey("team_keys.id"))
    sealed_team_private_key: Mapped[bytes] = mapped_column(LargeBinary(256))
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class EscrowKey(Base):
    """The service's escrow key pair: every case key is sealed to it (docs/security.md)."""

    __tablename__ = "escrow_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EscrowSeal(Base):
    """The escrow private key sealed to one administrator, granted by a named person."""

    __tablename__ = "escrow_seals"
    __table_args__ = (UniqueConstraint("escrow_key_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    escrow_key_id: Mapped[int] = mapped_column(ForeignKey("escrow_keys.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary(256))
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseKey(Base):
    """One case's key pair; letter content keys of the case are sealed to it."""

    __tablename__ = "case_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The case private key sealed to the escrow key, so that a supervisor can
    # reassign the case when its facilitator leaves.
    escrow_key_id: Mapped[int] = mapped_column(ForeignKey("escrow_keys.id"))
    sealed_to_escrow: Mapped[bytes | None] = mapped_column(LargeBinary(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseKeySeal(Base):
    """A case private key sealed to one staff member: who can read the case's letters."""

    __tablename__ = "case_key_seals"
    __table_args__ = (UniqueConstraint("case_key_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_key_id: Mapped[int] = mapped_column(ForeignKey("case_keys.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary(256))
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class UserSession(Base):
    """A server-side sign-in: revocable, with idle and absolute limits."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The user's private key, encrypted under the configured session key and
    # bound to this row, so that a stolen cookie alone or a database copy
    # alone does not give the key. Wiped (NULL) the moment the session ends.
    sealed_private_key: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    # A password alone opens a session that can do nothing but finish the
    # second step (or set one up) when the person needs one.
    second_factor_done: Mapped[bool] = mapped_column(Boolean, default=False)
    sealed_pending_totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary(128))

    user: Mapped[User] = relationship()


class SignInThrottle(Base):
    """Failed sign-ins per e-mail address, known or not, so the answer never tells which."""

    __tablename__ = "sign_in_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BackupCode(Base):
    """A single-use code for when the authenticator is not at hand; only its digest is kept."""

    __tablename__ = "backup_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    code_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Case(Base):
    __tablename__ = "cases"
    # The caseload is shown newest first: read in that order, it stops at a page.
    __table_args__ = (Index("ix_cases_created_at", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    offence_category: Mapped[str] = mapped_column(String(80))
    state: Mapped[CaseState] = mapped_column(_enum(CaseState), default=CaseState.REFERRED)
    outcome: Mapped[CaseOutcome | None] = mapped_column(_enum(CaseOutcome))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its letters, scans and notes were crypto-shredded under the retention policy
    # (`cases.shred_case`); None while they are kept.
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    no_contact_checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    no_contact_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    participants: Mapped[list["CaseParticipant"]] = relationship(
        back_populates="case", order_by="CaseParticipant.id"
    )
    letters: Mapped[list["Letter"]] = relationship(back_populates="case", order_by="Letter.id")

    @property
    def offence_label(self) -> str:
        """The kind of offence in words: a new case stores an `OffenceCategory` value (so the
        dashboard counts cases and referrals by the same list); a case opened before that
        keeps the free text it was opened with, shown as typed."""
        return offence_label(self.offence_category)


class CaseParticipant(Base):
    """A person's place in a case: victim, offender or facilitator."""

    __tablename__ = "case_participants"
    __table_args__ = (
        UniqueConstraint("case_id", "user_id"),
        # A person's places in cases, by role: counted from the index alone.
        Index("ix_case_participants_user_id_role", "user_id", "role", "case_id"),
        # Risk reviews coming due, soonest first (`cases.risk_reviews_due`).
        Index("ix_case_participants_risk_review_on", "risk_review_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[Role] = mapped_column(_enum(Role))
    # The only name the other party ever sees (docs/rules.md rule 6).
    display_name: Mapped[str] = mapped_column(String(80))
    receive_preference: Mapped[ReceivePreference] = mapped_column(
        _enum(ReceivePreference), default=ReceivePreference.RECEIVE
    )
    tell_author_when_read: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    consent_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    admission_recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    admission_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    risk_assessed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    risk_assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # True when this party's assessment chose at least one extra-care category
    # (`risk_categories`): a letter in the case then needs two approvals.
    risk_extra_care: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_level: Mapped[RiskLevel | None] = mapped_column(_enum(RiskLevel))
    # The chosen `ExtraCare` values, comma-separated; none chosen is empty or None.
    risk_categories: Mapped[str | None] = mapped_column(String(120))
    risk_review_on: Mapped[date | None] = mapped_column(Date)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Takes part on paper (no e-mail, no account: many people in custody): their gates are
    # recorded from the paper form, and letters to them are printed and posted.
    on_paper: Mapped[bool] = mapped_column(Boolean, default=False)

    case: Mapped[Case] = relationship(back_populates="participants")
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class Letter(Base):
    __tablename__ = "letters"
    # In the order the lists show them, so a page stops at 25 rather than sorting every
    # letter; and a case's letters by state, counted from the index alone.
    __table_args__ = (
        Index("ix_letters_state_submitted_at", "state", "submitted_at", "id"),
        Index("ix_letters_state_approved_at", "state", "approved_at", "id"),
        Index("ix_letters_case_id_state", "case_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed: every list of letters filters by one of these (issue "Performance"); the
    # case and the state together, above.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("case_participants.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("case_participants.id"), index=True)
    # Set when a facilitator typed in a paper letter: a second facilitator
    # must approve it (docs/rules.md rule 4).
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[LetterState] = mapped_column(_enum(LetterState), default=LetterState.DRAFT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("letter_versions.id", use_alter=True)
    )
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "Not before": an anniversary or a court date to avoid.
    deliver_not_before: Mapped[date | None] = mapped_column(Date)
    # The recipient's own choices after reading (docs/rules.md: receiving on their terms).
    hidden_by_recipient: Mapped[bool] = mapped_column(Boolean, default=False)
    recipient_copy_destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The facilitator reviewing the letter, since when and until when
    # (relay/services/claims.py). On the letter's own row, so the row lock every decision
    # takes also guards the claim, and a letter has one claim at most.
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # In a case marked for extra care every letter needs two facilitators' approval
    # (docs/rules.md rule 4): the first, given to one version; a new version needs it again.
    first_approval_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("letter_versions.id", use_alter=True)
    )
    first_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    first_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For a recipient on paper: delivered when their facilitator records it posted or
    # handed over, on which day and by whom.
    paper_delivery: Mapped[PaperDelivery | None] = mapped_column(_enum(PaperDelivery))
    paper_delivered_on: Mapped[date | None] = mapped_column(Date)
    paper_delivered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    case: Mapped[Case] = relationship(back_populates="letters")
    author: Mapped[CaseParticipant] = relationship(foreign_keys=[author_id])
    recipient: Mapped[CaseParticipant] = relationship(foreign_keys=[recipient_id])
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    first_approved_by: Mapped[User | None] = relationship(foreign_keys=[first_approved_by_id])
    versions: Mapped[list["LetterVersion"]] = relationship(
        back_populates="letter",
        foreign_keys="LetterVersion.letter_id",
        order_by="LetterVersion.number",
    )


class LetterVersion(Base):
    __tablename__ = "letter_versions"
    __table_args__ = (UniqueConstraint("letter_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[VersionKind] = mapped_column(_enum(VersionKind), default=VersionKind.AUTHOR)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # XChaCha20-Poly1305 under this version's content key, bound to its id.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # How many review flags the text raised when it was sent for review, for the queue,
    # which never decrypts a letter; None for a version not sent (or sent before this was
    # kept). A count only: what raised them is found again on the review page.
    flag_count: Mapped[int | None] = mapped_column(Integer)

    letter: Mapped[Letter] = relationship(back_populates="versions", foreign_keys=[letter_id])
    seals: Mapped[list["ContentKeySeal"]] = relationship(back_populates="version")


class ContentKeySeal(Base):
    """A version's content key sealed to one holder: a user, or the case key."""

    __tablename__ = "content_key_seals"
    __table_args__ = (UniqueConstraint("version_id", "holder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("letter_versions.id"))
    # "case:<case key id>" or "user:<id>" ("team" before keys per case); also
    # part of the sealed context, so a seal moved
    # to another holder or version fails to open.
    holder: Mapped[str] = mapped_column(String(40))
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    version: Mapped[LetterVersion] = relationship(back_populates="seals")


class PaperScan(Base):
    """A letter that came on paper, as scanned: the pictures only (`relay.services.scans`
    cleaned them), encrypted under the scan's own key, which is sealed to the case's key
    alone. Uploaded before the letter is typed in; joined to the version typed from it,
    and destroyed with the case (docs/security.md, "Paper")."""

    __tablename__ = "paper_scans"
    # A case's scans still to be typed in, oldest first (the paper letter page).
    __table_args__ = (Index("ix_paper_scans_case_id", "case_id", "version_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    # Who wrote it, as the facilitator read it from the letter: the typed version's author.
    author_role: Mapped[Role] = mapped_column(_enum(Role))
    received_on: Mapped[date] = mapped_column(Date)
    envelope_dated: Mapped[date | None] = mapped_column(Date)
    media_type: Mapped[str] = mapped_column(String(40))
    pages: Mapped[int] = mapped_column(Integer)
    # XChaCha20-Poly1305 under the scan key, bound to this row's id; None once shredded.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The scan key sealed to the case key named by `holder` ("case:<case key id>").
    holder: Mapped[str] = mapped_column(String(40))
    sealed_key: Mapped[bytes | None] = mapped_column(LargeBinary(256))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The version typed from this scan; None while it waits to be typed in.
    version_id: Mapped[int | None] = mapped_column(ForeignKey("letter_versions.id"), unique=True)


class SealedNote(Base):
    """A note a person typed, encrypted like a letter: under its own key, sealed to the
    case key and to each person it is for (docs/security.md, "Keys")."""

    __tablename__ = "sealed_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[NoteKind] = mapped_column(_enum(NoteKind))
    # What the note is about: a letter (a review note) or a person (their conditions).
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), index=True)
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_participants.id"), index=True
    )
    written_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # XChaCha20-Poly1305 under the note's key, bound to its id; None once shredded.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)

    seals: Mapped[list["NoteSeal"]] = relationship(back_populates="note")


class NoteSeal(Base):
    """A note's key sealed to one holder: a user, or the case key."""

    __tablename__ = "note_seals"
    __table_args__ = (UniqueConstraint("note_id", "holder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("sealed_notes.id"))
    holder: Mapped[str] = mapped_column(String(40))
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary(256))

    note: Mapped[SealedNote] = relationship(back_populates="seals")


class LetterRead(Base):
    __tablename__ = "letter_reads"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditHead(Base):
    """One row: the chain's newest sequence. Updating it first serialises appends; the
    newest entry's hash is that entry's (`audit.head`)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    # A case's timeline is read from the audit trail by case, newest first
    # (relay/services/timeline.py): without this it would read the whole chain.
    __table_args__ = (Index("ix_audit_entries_case_id", "case_id", "sequence"),)

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(Integer)
    letter_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditVerification(Base):
    """A whole-chain verification by the scheduled command: the administrator's page then
    checks only what was appended since, linked to where this one ended."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    through_sequence: Mapped[int] = mapped_column(Integer)
    through_hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    problems: Mapped[int] = mapped_column(Integer)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(32))
    verify_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class OutboxMessage(Base):
    """A notice committed with the action that caused it, sent after commit."""

    __tablename__ = "outbox_messages"
    # The worker's question: what is unsent and due?
    __table_args__ = (Index("ix_outbox_messages_unsent", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    # Encrypted under a server key: bodies carry single-use links, which a
    # database copy must not hand to a reader. Emptied once sent.
    sealed_body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(200), default="")


class ReferralSource(enum.StrEnum):
    """Where a referral came from."""

    POLICE = "police"
    PROBATION = "probation"
    PRISON = "prison"
    YOUTH_OFFENDING_TEAM = "youth_offending_team"
    VICTIM_SERVICES = "victim_services"
    SELF = "self"

    @property
    def label(self) -> str:
        return {
            ReferralSource.POLICE: "Police",
            ReferralSource.PROBATION: "Probation",
            ReferralSource.PRISON: "Prison",
            ReferralSource.YOUTH_OFFENDING_TEAM: "Youth offending team",
            ReferralSource.VICTIM_SERVICES: "Victim services",
            ReferralSource.SELF: "Self-referral",
        }[self]


class OffenceCategory(enum.StrEnum):
    """The kind of offence, from a fixed list so that referrals can be counted by it."""

    VIOLENCE = "violence"
    SEXUAL = "sexual"
    DOMESTIC_ABUSE = "domestic_abuse"
    STALKING_OR_HARASSMENT = "stalking_or_harassment"
    HOMICIDE = "homicide"
    ROBBERY = "robbery"
    BURGLARY = "burglary"
    THEFT = "theft"
    CRIMINAL_DAMAGE = "criminal_damage"
    FRAUD = "fraud"
    HATE_CRIME = "hate_crime"
    DRIVING = "driving"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            OffenceCategory.VIOLENCE: "Violence against the person",
            OffenceCategory.SEXUAL: "Sexual offence",
            OffenceCategory.DOMESTIC_ABUSE: "Domestic abuse",
            OffenceCategory.STALKING_OR_HARASSMENT: "Stalking or harassment",
            OffenceCategory.HOMICIDE: "Homicide",
            OffenceCategory.ROBBERY: "Robbery",
            OffenceCategory.BURGLARY: "Burglary",
            OffenceCategory.THEFT: "Theft",
            OffenceCategory.CRIMINAL_DAMAGE: "Criminal damage or arson",
            OffenceCategory.FRAUD: "Fraud",
            OffenceCategory.HATE_CRIME: "Hate crime",
            OffenceCategory.DRIVING: "Driving causing death or injury",
            OffenceCategory.OTHER: "Another offence",
        }[self]


def offence_label(value: str) -> str:
    """The label of a known `OffenceCategory` value; any other stored text as it is."""
    try:
        return OffenceCategory(value).label
    except ValueError:
        return value


class ReferralStatus(enum.StrEnum):
    """What came of offering restorative justice to the person harmed."""

    REFERRED = "referred"  # recorded, not yet offered
    OFFERED = "offered"  # offered, no answer yet
    TOOK_PART = "took_part"  # they agreed: a case was opened from the referral
    DECLINED = "declined"
    NOT_CONTACTED = "not_contacted"  # could not be contacted, so never offered

    @property
    def label(self) -> str:
        return {
            ReferralStatus.REFERRED: "Not yet offered",
            ReferralStatus.OFFERED: "Offered, waiting for an answer",
            ReferralStatus.TOOK_PART: "Took part: a case was opened",
            ReferralStatus.DECLINED: "Declined",
            ReferralStatus.NOT_CONTACTED: "Could not be contacted",
        }[self]


class DeclineReason(enum.StrEnum):
    """Why the person harmed said no, as they put it, from a fixed list (no free text)."""

    NOT_READY = "not_ready"
    WANTS_TO_MOVE_ON = "wants_to_move_on"
    NOT_INTERESTED = "not_interested"
    FEELS_UNSAFE = "feels_unsafe"
    DOES_NOT_WANT_CONTACT = "does_not_want_contact"
    DOUBTS_SINCERITY = "doubts_sincerity"
    OTHER_SUPPORT = "other_support"
    NO_REASON_GIVEN = "no_reason_given"

    @property
    def label(self) -> str:
        return {
            DeclineReason.NOT_READY: "Not ready now",
            DeclineReason.WANTS_TO_MOVE_ON: "Wants to put it behind them",
            DeclineReason.NOT_INTERESTED: "Not interested in restorative justice",
            DeclineReason.FEELS_UNSAFE: "Worried about their safety or wellbeing",
            DeclineReason.DOES_NOT_WANT_CONTACT: "Does not want any contact with the person "
            "responsible",
            DeclineReason.DOUBTS_SINCERITY: "Doubts the person responsible would be sincere",
            DeclineReason.OTHER_SUPPORT: "Getting other support instead",
            DeclineReason.NO_REASON_GIVEN: "Gave no reason",
        }[self]


class Referral(Base):
    """A referral for restorative justice, recorded before there is a case: no names and no
    free text, so one that goes no further holds nothing about anyone."""

    __tablename__ = "referrals"
    __table_args__ = (
        # The list, newest first, and the dashboard's counts over a range of dates.
        Index("ix_referrals_received_on", "received_on", "id"),
        # Counted by source over a range of dates, from the index alone.
        Index("ix_referrals_source_received_on", "source", "received_on"),
        # The list narrowed by status, newest first.
        Index("ix_referrals_status_received_on", "status", "received_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_on: Mapped[date] = mapped_column(Date)
    source: Mapped[ReferralSource] = mapped_column(_enum(ReferralSource))
    offence_category: Mapped[OffenceCategory] = mapped_column(_enum(OffenceCategory))
    status: Mapped[ReferralStatus] = mapped_column(
        _enum(ReferralStatus), default=ReferralStatus.REFERRED
    )
    # Only while declined.
    decline_reason: Mapped[DeclineReason | None] = mapped_column(_enum(DeclineReason))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The case it became when the person harmed agreed; a case comes from one referral.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), unique=True)

    case: Mapped[Case | None] = relationship()


class SurveyAnswer(enum.StrEnum):
    """An answer to one of the closing survey's questions; a question left blank is None."""

    YES = "yes"
    PARTLY = "partly"
    NO = "no"

    @property
    def label(self) -> str:
        return {
            SurveyAnswer.YES: "Yes",
            SurveyAnswer.PARTLY: "Partly",
            SurveyAnswer.NO: "No",
        }[self]


class SurveyResponse(Base):
    """A party's answers to the short survey offered when their case closed: in their
    pages, or from the printed form as their facilitator entered it. Every question may be
    left blank. The comment, if any, is a sealed note (`NoteKind.SURVEY_COMMENT`), shredded
    with the case; the answers are kept so the dashboard still adds up."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        # The dashboard's counts over a range of dates, by the party's role.
        Index("ix_survey_responses_answered_at", "answered_at", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # One survey a party: answered once.
    participant_id: Mapped[int] = mapped_column(ForeignKey("case_participants.id"), unique=True)
    # The party's role in the case (victim or offender), kept here so the dashboard counts
    # by it without reading the participants.
    role: Mapped[Role] = mapped_column(_enum(Role))
    satisfied: Mapped[SurveyAnswer | None] = mapped_column(_enum(SurveyAnswer))
    felt_safe: Mapped[SurveyAnswer | None] = mapped_column(_enum(SurveyAnswer))
    felt_heard: Mapped[SurveyAnswer | None] = mapped_column(_enum(SurveyAnswer))
    would_recommend: Mapped[SurveyAnswer | None] = mapped_column(_enum(SurveyAnswer))
    comment_note_id: Mapped[int | None] = mapped_column(ForeignKey("sealed_notes.id"))
    # The party themselves, or the facilitator who entered the printed form.
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_paper: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
