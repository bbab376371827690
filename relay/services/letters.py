"""Letters: writing, review, approval, delivery and reading; one function per transition.

Every version's text is encrypted under its own content key. That key is
sealed to the author and to the case's key when the version is written, and to
the recipient only at approval (docs/security.md): before then no key exists that the
recipient could open, whatever an access check gets wrong.
"""

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay import crypto
from relay import keyring
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterRead
from relay.models import LetterState
from relay.models import LetterVersion
from relay.models import ReceivePreference
from relay.models import Role
from relay.models import User
from relay.models import VersionKind
from relay.models import utcnow
from relay.services import keys
from relay.services import outbox
from relay.services import text as letter_text
from relay.services.accounts import Actor
from relay.services.cases import PARTY_ROLES
from relay.services.cases import case_for_party
from relay.services.cases import case_for_staff
from relay.services.cases import parties
from relay.services.delivery import deliver
from relay.services.delivery import lock_case
from relay.services.delivery import may_deliver
from relay.services.errors import AccessPending
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.settings import ServiceSettings

S = LetterState

# The states each transition may start from: the one table to read.
TRANSITIONS: dict[str, frozenset[LetterState]] = {
    "save_draft": frozenset({S.DRAFT, S.CHANGES_REQUESTED}),
    "submit": frozenset({S.DRAFT, S.CHANGES_REQUESTED}),
    "request_changes": frozenset({S.IN_REVIEW}),
    "reject": frozenset({S.IN_REVIEW}),
    "propose_redaction": frozenset({S.IN_REVIEW}),
    "accept_redaction": frozenset({S.REDACTION_PROPOSED}),
    "decline_redaction": frozenset({S.REDACTION_PROPOSED}),
    "approve": frozenset({S.IN_REVIEW}),
    "release": frozenset({S.APPROVED}),
    "open": frozenset({S.DELIVERED, S.READ}),
    "withdraw": frozenset(
        {S.DRAFT, S.IN_REVIEW, S.CHANGES_REQUESTED, S.REDACTION_PROPOSED, S.APPROVED}
    ),
}


def _audit(
    session: Session, letter: Letter, action: str, actor_id: int | None, details: dict | None = None
) -> None:
    """The one audit call for a letter's transitions, in the transition's transaction."""
    audit.record(
        session,
        action,
        actor_id=actor_id,
        case_id=letter.case_id,
        letter_id=letter.id,
        details=details,
    )


def lock_letter(session: Session, letter: Letter) -> Letter:
    """Re-read the letter, its case and its people under row locks, before any decision.

    Every transition reads and changes state atomically (docs/security.md): the case is
    locked FOR SHARE (a case-wide change such as a withdrawal takes it exclusively), then
    the letter FOR UPDATE, always in that order and always before the audit head, so
    two racing requests queue instead of both deciding on what they read. The loser
    then sees the winner's committed state and gets InvalidTransition (409). SQLite has
    no row locks; its single writer serialises the writes instead.
    """
    lock_case(session, letter.case_id, exclusive=False)
    locked = session.execute(
        select(Letter)
        .where(Letter.id == letter.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    session.expire(locked, ["versions"])
    return locked


def _check(letter: Letter, transition: str) -> None:
    if letter.state not in TRANSITIONS[transition]:
        raise InvalidTransition(f"This cannot be done to a letter that is {letter.state}")


def _write_text(
    session: Session, case_id: int, version: LetterVersion, clean: str, author: User | None
):
    """Encrypt `clean` under a fresh content key sealed to the case key and the author."""
    if author is not None and author.keys_replaced_at is not None:
        raise InvalidTransition(
            "The writer's password was reset without their recovery code. Restore their "
            "access on the case page, after checking with them, first"
        )
    case_key = keys.case_key_of(session, case_id)
    holders = {keys.case_holder(case_key): case_key.public_key}
    if author is not None:
        holders[keyring.user_holder(author.id)] = author.public_key
    content_key = crypto.new_symmetric_key()
    version.ciphertext = crypto.encrypt(
        content_key, clean.encode("utf-8"), keyring.letter_text(version.id)
    )
    existing = {seal.holder: seal for seal in version.seals}
    for holder, public_key in holders.items():
        sealed = crypto.seal_to(public_key, content_key, keyring.content_key(version.id, holder))
        if holder in existing:
            existing[holder].sealed_key = sealed
        else:
            session.add(ContentKeySeal(version=version, holder=holder, sealed_key=sealed))


def _case_content_key(session: Session, actor: Actor, letter: Letter, version: LetterVersion):
    """The content key through the case key, which only the case's key holders open."""
    case_private_key = actor.case_private_key(session, letter.case_id)
    holder = keys.case_holder(keys.case_key_of(session, letter.case_id))
    return _content_key(session, version, holder, case_private_key)


def _content_key(session: Session, version: LetterVersion, holder: str, private_key: bytes):
    seal = session.scalar(
        select(ContentKeySeal).where(
            ContentKeySeal.version_id == version.id, ContentKeySeal.holder == holder
        )
    )
    if seal is None:
        raise NotFound("letter")
    return crypto.open_sealed(private_key, seal.sealed_key, keyring.content_key(version.id, holder))


def _own_content_key(session: Session, actor: Actor, version: LetterVersion) -> bytes:
    """The content key through the actor's own seal (author or recipient)."""
    try:
        return _content_key(session, version, keyring.user_holder(actor.id), actor.private_key)
    except crypto.DecryptionFailed:
        if actor.user.keys_replaced_at is None:
            raise
        # Sealed to the key pair the person had before a reset without their code.
        raise AccessPending(
            "Your password was reset without your recovery code, so your facilitator needs "
            "to restore your access to your letters. They will check with you by phone or "
            "in person first"
        ) from None


def _decrypt(version: LetterVersion, content_key: bytes) -> str:
    if version.ciphertext is None:
        raise NotFound("letter")  # shredded under the retention policy
    return crypto.decrypt(content_key, version.ciphertext, keyring.letter_text(version.id)).decode()


def _clean(text: str) -> str:
    if len(text) > letter_text.MAX_LETTER_CHARACTERS:
        raise InvalidInput(
            f"A letter can be up to {letter_text.MAX_LETTER_CHARACTERS:,} characters", "text"
        )
    return letter_text.sanitise(text)


def _current_version(letter: Letter) -> LetterVersion:
    return letter.versions[-1]


def _new_version(session: Session, letter: Letter, kind: VersionKind, by: int) -> LetterVersion:
    number = len(letter.versions) + 1
    version = LetterVersion(letter=letter, number=number, kind=kind, created_by_id=by)
    session.add(version)
    session.flush()
    return version


def _touch(letter: Letter, state: LetterState) -> None:
    letter.state = state
    letter.updated_at = utcnow()


def _notify_user(session: Session, settings: ServiceSettings, user_id: int | None) -> None:
    if user_id is not None:
        user = session.get(User, user_id)
        outbox.queue_notice(session, settings.outbox_key, user, settings.link("/"))


def _notify_facilitators(session: Session, settings: ServiceSettings, case: Case) -> None:
    for facilitator in parties(case, Role.FACILITATOR):
        _notify_user(session, settings, facilitator.user_id)


# --- who may see which letter: one function per audience ------------------------


def letter_for_author(session: Session, actor: Actor, letter_id: int) -> Letter:
    letter = session.get(Letter, letter_id)
    if letter is None or letter.author.user_id != actor.id:
        raise NotFound("letter")
    return letter


def letter_for_staff(session: Session, actor: Actor, letter_id: int) -> Letter:
    letter = session.get(Letter, letter_id)
    if letter is None:
        raise NotFound("letter")
    case_for_staff(session, actor, letter.case_id)
    # A draft belongs to its author until it is submitted.
    if letter.state == S.DRAFT and letter.entered_by_id is None:
        raise NotFound("letter")
    return letter


def letter_to_pass_on(session: Session, actor: Actor, letter_id: int) -> Letter:
    """A letter that only a facilitator of its case may pass on (docs/rules.md rule 3)."""
    letter = letter_for_staff(session, actor, letter_id)
    if actor.role != Role.FACILITATOR:
        raise NotAllowed("Only a facilitator of the case can pass a letter on")
    return letter


def letter_for_recipient(session: Session, actor: Actor, letter_id: int) -> Letter:
    letter = session.get(Letter, letter_id)
    if (
        letter is None
        or letter.recipient.user_id != actor.id
        or letter.state not in (S.DELIVERED, S.READ)
        or letter.recipient_copy_destroyed_at is not None
    ):
        raise NotFound("letter")
    return letter


def _other_party(case: Case, mine: CaseParticipant) -> CaseParticipant:
    other_role = Role.OFFENDER if mine.role == Role.VICTIM else Role.VICTIM
    others = parties(case, other_role)
    if not others:
        raise InvalidTransition("There is nobody to write to in this case yet")
    return others[0]


# --- the author's side ------------------------------------------------------------


def save_draft(
    session: Session, actor: Actor, case_id: int, letter_id: int | None, text: str
) -> Letter:
    """Create or update the author's working version; it stays private to them."""
    case, mine = case_for_party(session, actor, case_id)
    clean = _clean(text)
    case = lock_case(session, case.id, exclusive=False)
    if case.state not in (CaseState.ACTIVE, CaseState.PAUSED):
        raise InvalidTransition("Letters can be written only while the exchange is open")
    if letter_id is None:
        letter = Letter(case=case, author=mine, recipient=_other_party(case, mine))
        session.add(letter)
        session.flush()
        _audit(session, letter, "letter.started", actor.id)
    else:
        letter = letter_for_author(session, actor, letter_id)
        if letter.case_id != case.id:
            raise NotFound("letter")
        letter = lock_letter(session, letter)
        _check(letter, "save_draft")
    version = letter.versions[-1] if letter.versions else None
    if version is None or version.submitted_at is not None:
        version = _new_version(session, letter, VersionKind.AUTHOR, actor.id)
    _write_text(session, case.id, version, clean, actor.user)
    letter.updated_at = utcnow()
    _audit(session, letter, "letter.draft_saved", actor.id, details={"version": version.number})
    session.commit()
    return letter


def submit_letter(session: Session, settings: ServiceSettings, actor: Actor, letter_id: int):
    letter = lock_letter(session, letter_for_author(session, actor, letter_id))
    _check(letter, "submit")
    if letter.case.state != CaseState.ACTIVE:
        raise InvalidTransition("Letters can be sent for review only while the exchange is open")
    version = _current_version(letter)
    if not _decrypt(version, _own_content_key(session, actor, version)).strip():
        raise InvalidInput("Write your letter before you send it", "text")
    now = utcnow()
    version.submitted_at = letter.submitted_at = now
    _touch(letter, S.IN_REVIEW)
    _audit(session, letter, "letter.submitted", actor.id, details={"version": version.number})
    _notify_facilitators(session, settings, letter.case)
    session.commit()


def withdraw_letter(session: Session, actor: Actor, letter_id: int) -> None:
    letter = lock_letter(session, letter_for_author(session, actor, letter_id))
    _check(letter, "withdraw")
    keys.remove_recipient_seals(session, letter)
    _touch(letter, S.WITHDRAWN)
    _audit(session, letter, "letter.withdrawn", actor.id)
    session.commit()


def accept_redaction(session: Session, settings: ServiceSettings, actor: Actor, letter_id: int):
    """The author agrees to the facilitator's version; it goes back for approval."""
    letter = lock_letter(session, letter_for_author(session, actor, letter_id))
    _check(letter, "accept_redaction")
    version = _current_version(letter)
    version.submitted_at = letter.submitted_at = utcnow()
    _touch(letter, S.IN_REVIEW)
    _audit(
        session, letter, "letter.redaction_accepted", actor.id, details={"version": version.number}
    )
    _notify_facilitators(session, settings, letter.case)
    session.commit()


def decline_redaction(session: Session, actor: Actor, letter_id: int) -> None:
    """The author does not agree; they can edit their own text instead."""
    letter = lock_letter(session, letter_for_author(session, actor, letter_id))
    _check(letter, "decline_redaction")
    _touch(letter, S.CHANGES_REQUESTED)
    _audit(session, letter, "letter.redaction_declined", actor.id)
    session.commit()


def author_text(session: Session, actor: Actor, letter: Letter, version: LetterVersion) -> str:
    """A version's text for its author (who holds a seal for every version of theirs)."""
    if letter.author.user_id != actor.id or version.letter_id != letter.id:
        raise NotFound("letter")
    return _decrypt(version, _own_content_key(session, actor, version))


def read_own_letter(
    session: Session, actor: Actor, letter_id: int
) -> tuple[Letter, dict[int, str]]:
    """The author's own letter: the text of its current version and of their last own
    version (to show a proposed redaction against). The reading is audited, as every
    view of letter text is (docs/security.md)."""
    letter = letter_for_author(session, actor, letter_id)
    wanted = {letter.versions[-1], last_author_version(letter) or letter.versions[-1]}
    texts = {v.id: author_text(session, actor, letter, v) for v in wanted}
    _audit(
        session,
        letter,
        "letter.read_by_author",
        actor.id,
        details={"versions": sorted(v.number for v in wanted)},
    )
    session.commit()
    return letter, texts


def last_author_version(letter: Letter) -> LetterVersion | None:
    authored = [v for v in letter.versions if v.kind == VersionKind.AUTHOR]
    return authored[-1] if authored else None


# --- the facilitator's side ---------------------------------------------------------


def review_queue(session: Session, actor: Actor) -> list[Letter]:
    """Letters waiting for review in the facilitator's cases, oldest first."""
    query = (
        select(Letter).where(Letter.state == S.IN_REVIEW).order_by(Letter.submitted_at, Letter.id)
    )
    if actor.role != Role.ADMINISTRATOR:
        mine = select(CaseParticipant.case_id).where(
            CaseParticipant.user_id == actor.id, CaseParticipant.role == Role.FACILITATOR
        )
        query = query.where(Letter.case_id.in_(mine))
    return list(session.scalars(query))


def staff_text(session: Session, actor: Actor, letter: Letter, version: LetterVersion) -> str:
    if version.letter_id != letter.id:
        raise NotFound("letter")
    return _decrypt(version, _case_content_key(session, actor, letter, version))


def read_for_review(
    session: Session, actor: Actor, letter_id: int
) -> tuple[Letter, list[tuple[LetterVersion, str]]]:
    """Every version's text for the case's staff; the reading itself is audited
    (docs/security.md: who read what, when, for staff as for parties)."""
    letter = letter_for_staff(session, actor, letter_id)
    texts = [(version, staff_text(session, actor, letter, version)) for version in letter.versions]
    _audit(
        session,
        letter,
        "letter.read_by_staff",
        actor.id,
        details={"versions": [version.number for version in letter.versions]},
    )
    session.commit()
    return letter, texts


def enter_paper_letter(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    case_id: int,
    author_role: Role,
    text: str,
) -> Letter:
    """A facilitator types in a letter that came on paper; a second facilitator approves it."""
    case = case_for_staff(session, actor, case_id)
    if actor.role != Role.FACILITATOR:
        raise NotAllowed("Only a facilitator can enter a letter")
    case = lock_case(session, case.id, exclusive=False)
    if case.state != CaseState.ACTIVE:
        raise InvalidTransition("Letters can be entered only while the exchange is open")
    if author_role not in PARTY_ROLES or not parties(case, author_role):
        raise InvalidInput("Choose who wrote the letter", "author")
    clean = _clean(text)
    if not clean:
        raise InvalidInput("Type the letter before you save it", "text")
    author = parties(case, author_role)[0]
    letter = Letter(
        case=case, author=author, recipient=_other_party(case, author), entered_by_id=actor.id
    )
    session.add(letter)
    session.flush()
    version = _new_version(session, letter, VersionKind.AUTHOR, actor.id)
    author_user = session.get(User, author.user_id) if author.user_id else None
    _write_text(session, case.id, version, clean, author_user)
    now = utcnow()
    version.submitted_at = letter.submitted_at = now
    _touch(letter, S.IN_REVIEW)
    _audit(session, letter, "letter.entered_from_paper", actor.id, details={"version": 1})
    session.commit()
    return letter


def request_changes(
    session: Session, settings: ServiceSettings, actor: Actor, letter_id: int, note: str
) -> None:
    letter = lock_letter(session, letter_to_pass_on(session, actor, letter_id))
    _check(letter, "request_changes")
    if not note.strip():
        raise InvalidInput("Tell the writer what to change", "note")
    letter.review_note = note.strip()[:2000]
    _touch(letter, S.CHANGES_REQUESTED)
    _audit(session, letter, "letter.changes_requested", actor.id)
    _notify_user(session, settings, letter.author.user_id)
    session.commit()


def reject_letter(
    session: Session, settings: ServiceSettings, actor: Actor, letter_id: int, reason: str
) -> None:
    letter = lock_letter(session, letter_to_pass_on(session, actor, letter_id))
    _check(letter, "reject")
    if not reason.strip():
        raise InvalidInput("Give the writer a reason", "reason")
    letter.review_note = reason.strip()[:2000]
    _touch(letter, S.REJECTED)
    _audit(session, letter, "letter.rejected", actor.id)
    _notify_user(session, settings, letter.author.user_id)
    session.commit()


def propose_redaction(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    letter_id: int,
    text: str,
    note: str,
) -> None:
    letter = lock_letter(session, letter_to_pass_on(session, actor, letter_id))
    _check(letter, "propose_redaction")
    if letter.author.user_id is None:
        raise InvalidTransition("The writer has no account to accept a change; enter it again")
    clean = _clean(text)
    if not clean:
        raise InvalidInput("Enter the changed letter", "text")
    version = _new_version(session, letter, VersionKind.REDACTION, actor.id)
    _write_text(session, letter.case_id, version, clean, session.get(User, letter.author.user_id))
    letter.review_note = note.strip()[:2000]
    _touch(letter, S.REDACTION_PROPOSED)
    _audit(
        session, letter, "letter.redaction_proposed", actor.id, details={"version": version.number}
    )
    _notify_user(session, settings, letter.author.user_id)
    session.commit()


def approve_letter(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    letter_id: int,
    not_before: date | None = None,
) -> None:
    """Approve the version under review: only now is the recipient given its key."""
    letter = lock_letter(session, letter_to_pass_on(session, actor, letter_id))
    _check(letter, "approve")
    if not_before is not None and not_before <= utcnow().date():
        raise InvalidInput("The date must be in the future", "not_before")
    if letter.entered_by_id == actor.id:
        raise NotAllowed("A letter you typed in from paper needs another facilitator to approve it")
    if letter.case.state not in (CaseState.ACTIVE, CaseState.PAUSED):
        raise InvalidTransition("Nothing is approved while the case is not open")
    recipient = session.get(User, letter.recipient.user_id) if letter.recipient.user_id else None
    if recipient is None:
        raise InvalidTransition("The recipient has not set up their account yet")
    if recipient.keys_replaced_at is not None:
        # Sealing to the key pair a reset link made would hand the letter to whoever
        # read that mailbox: approve once their facilitator has restored their access.
        raise InvalidTransition(
            "The recipient's password was reset without their recovery code. Restore their "
            "access on the case page, after checking with them, then approve the letter"
        )
    version = _current_version(letter)
    content_key = _case_content_key(session, actor, letter, version)
    holder = keyring.user_holder(recipient.id)
    session.add(
        ContentKeySeal(
            version=version,
            holder=holder,
            sealed_key=crypto.seal_to(
                recipient.public_key, content_key, keyring.content_key(version.id, holder)
            ),
        )
    )
    letter.approved_version_id = version.id
    letter.deliver_not_before = not_before
    letter.approved_by_id = actor.id
    letter.approved_at = utcnow()
    _touch(letter, S.APPROVED)
    _audit(session, letter, "letter.approved", actor.id, details={"version": version.number})
    if may_deliver(letter):
        deliver(session, settings, letter, actor.id)
    session.commit()


def release_for_reading(
    session: Session, settings: ServiceSettings, actor: Actor, letter_id: int
) -> None:
    """For a recipient who reads only with their facilitator: the reading is arranged."""
    letter = lock_letter(session, letter_to_pass_on(session, actor, letter_id))
    _check(letter, "release")
    if letter.recipient.receive_preference != ReceivePreference.WITH_FACILITATOR:
        raise InvalidTransition("The recipient has not asked to read with their facilitator")
    if letter.case.state != CaseState.ACTIVE:
        raise InvalidTransition("Nothing is passed on while the case is not active")
    deliver(session, settings, letter, actor.id)
    session.commit()


# --- the recipient's side --------------------------------------------------------------


def open_letter(session: Session, settings: ServiceSettings, actor: Actor, letter_id: int) -> str:
    """The recipient's deliberate act of opening a letter; every read is recorded."""
    letter = lock_letter(session, letter_for_recipient(session, actor, letter_id))
    _check(letter, "open")
    version = session.get(LetterVersion, letter.approved_version_id)
    body = _decrypt(version, _own_content_key(session, actor, version))
    session.add(LetterRead(letter_id=letter.id, user_id=actor.id))
    first_read = letter.state == S.DELIVERED
    if first_read:
        letter.read_at = utcnow()
        _touch(letter, S.READ)
    _audit(session, letter, "letter.read", actor.id, details={"first": first_read})
    if first_read and letter.recipient.tell_author_when_read:
        _notify_user(session, settings, letter.author.user_id)
    session.commit()
    return body


def letters_written_by(session: Session, participant: CaseParticipant) -> list[Letter]:
    return list(
        session.scalars(
            select(Letter).where(Letter.author_id == participant.id).order_by(Letter.id.desc())
        )
    )


def letters_received_by(session: Session, participant: CaseParticipant) -> list[Letter]:
    """Only what has reached the recipient: approved-but-waiting letters stay invisible."""
    return list(
        session.scalars(
            select(Letter)
            .where(
                Letter.recipient_id == participant.id,
                Letter.state.in_([S.DELIVERED, S.READ]),
                Letter.recipient_copy_destroyed_at.is_(None),
            )
            .order_by(Letter.id.desc())
        )
    )


def reads_of(session: Session, letter: Letter) -> list[LetterRead]:
    """Every time the recipient opened the letter: for the facilitator and the audit."""
    return list(
        session.scalars(
            select(LetterRead).where(LetterRead.letter_id == letter.id).order_by(LetterRead.id)
        )
    )


def state_for_author(letter: Letter) -> LetterState:
    """The recipient decides whether the author learns of delivery and reading."""
    if letter.state in (S.DELIVERED, S.READ) and not letter.recipient.tell_author_when_read:
        return S.APPROVED
    return letter.state


def other_party_or_none(case: Case, mine: CaseParticipant) -> CaseParticipant | None:
    try:
        return _other_party(case, mine)
    except InvalidTransition:
        return None


def set_held_out_of_sight(session: Session, actor: Actor, letter_id: int, held: bool) -> None:
    """After reading, the recipient may ask for a letter to be kept out of sight, and back."""
    letter = lock_letter(session, letter_for_recipient(session, actor, letter_id))
    letter.hidden_by_recipient = held
    _audit(session, letter, "letter.held" if held else "letter.unheld", actor.id)
    session.commit()


def destroy_my_copy(session: Session, actor: Actor, letter_id: int) -> None:
    """The recipient's seal is deleted: they can never open this letter again."""
    letter = lock_letter(session, letter_for_recipient(session, actor, letter_id))
    keys.remove_recipient_seals(session, letter)
    letter.recipient_copy_destroyed_at = utcnow()
    _audit(session, letter, "letter.recipient_copy_destroyed", actor.id)
    session.commit()


def restore_access(session: Session, actor: Actor, case_id: int, user_id: int) -> int:
    """After a reset without the recovery code: re-seal, from the case key, every letter
    version of this case the person held a key to. Returns how many were restored."""
    case = lock_case(session, case_for_staff(session, actor, case_id).id, exclusive=True)
    user = session.get(User, user_id)
    if user is None or not any(p.user_id == user_id for p in case.participants):
        raise NotFound("person")
    if user.role.is_staff:
        raise NotFound("person")  # staff access is restored by an administrator
    if user.keys_replaced_at is None:
        raise InvalidTransition("This person's access does not need restoring")
    case_private_key = actor.case_private_key(session, case.id)
    case_holder = keys.case_holder(keys.case_key_of(session, case.id))
    holder = keyring.user_holder(user.id)
    restored = 0
    seals = session.scalars(
        select(ContentKeySeal)
        .join(LetterVersion, ContentKeySeal.version_id == LetterVersion.id)
        .join(Letter, LetterVersion.letter_id == Letter.id)
        .where(Letter.case_id == case.id, ContentKeySeal.holder == holder)
    )
    for seal in seals:
        content_key = _content_key(session, seal.version, case_holder, case_private_key)
        seal.sealed_key = crypto.seal_to(
            user.public_key, content_key, keyring.content_key(seal.version_id, holder)
        )
        restored += 1
    user.keys_replaced_at = None
    audit.record(
        session,
        "account.access_restored",
        actor_id=actor.id,
        case_id=case.id,
        details={"user": user.id, "versions": restored},
    )
    session.commit()
    return restored
