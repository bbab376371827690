"""Letters: writing, review, approval and reading; one function per transition.

Which state allows which move is decided in one table (`relay.services.states`); this
module does the work of each move under the row locks, and the content keys are
handled by `relay.services.content_keys`. The recipient is given a key only at approval
(docs/security.md): before then no key exists that they could open, whatever an access
check gets wrong.
"""

import enum
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from dataclasses import replace
from datetime import date
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased
from sqlalchemy.orm import defaultload
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from relay import crypto
from relay.database import transaction
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterRead
from relay.models import LetterVersion
from relay.models import NoteKind
from relay.models import PaperDelivery
from relay.models import ReceivePreference
from relay.models import Role
from relay.models import User
from relay.models import VersionKind
from relay.models import utcnow
from relay.services import claims
from relay.services import content_keys
from relay.services import flags
from relay.services import keys
from relay.services import limits
from relay.services import notes
from relay.services import outbox
from relay.services import paper_in
from relay.services import reminders
from relay.services import states
from relay.services import text as letter_text
from relay.services.actor import Actor
from relay.services.cases import case_for_party
from relay.services.cases import case_for_staff
from relay.services.cases import parties
from relay.services.delivery import audit_letter as _audit
from relay.services.delivery import deliver
from relay.services.delivery import lock_case
from relay.services.errors import AccessPending
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.paging import Page
from relay.services.paging import count_of
from relay.services.paging import page_of
from relay.services.settings import ServiceSettings
from relay.services.states import LetterAction

A = LetterAction


def lock_letter(session: Session, letter_id: int) -> Letter:
    """Read the letter, its case and its people under row locks, before any decision.

    Every transition reads and changes state atomically (docs/security.md): the case is
    locked FOR SHARE (a case-wide change such as a withdrawal takes it exclusively), then
    the letter FOR UPDATE, always in that order and always before the audit head, so
    two racing requests queue instead of both deciding on what they read. The loser
    then sees the winner's committed state and gets InvalidTransition (409). SQLite has
    no row locks; its single writer serialises the writes instead.
    """
    # Only the case's id before the lock: a letter never moves to another case.
    case_id = session.scalar(select(Letter.case_id).where(Letter.id == letter_id))
    if case_id is None:
        raise NotFound("letter")
    case = lock_case(session, case_id, exclusive=False)
    # One read before the lock (a page's own check) is expired and read again under it,
    # rather than with populate_existing: that option would follow the letter to its
    # case and people and ask for them again, when they are the ones just locked and read.
    earlier = session.identity_map.get(identity_key(Letter, letter_id))
    if earlier is not None:
        session.expire(earlier)
    letter = session.execute(
        select(Letter).where(Letter.id == letter_id).with_for_update()
    ).scalar_one()
    # The session keeps only what something refers to: the letter holds its locked case,
    # and the case its people, for every check that follows to read.
    set_committed_value(letter, "case", case)
    return letter


def _letter(session: Session, letter_id: int, lock: bool) -> Letter:
    """The letter, locked (with its case) when the caller will act on it. The lock comes
    before the audience's check, so the check reads what the action will act on."""
    if lock:
        return lock_letter(session, letter_id)
    letter = session.get(Letter, letter_id)
    if letter is None:
        raise NotFound("letter")
    return letter


def _write_text(
    session: Session, case_id: int, version: LetterVersion, clean: str, author: User | None
):
    if author is not None and author.keys_replaced_at is not None:
        raise InvalidTransition(
            "The writer's password was reset without their recovery code. Restore their "
            "access on the case page, after checking with them, first"
        )
    content_keys.write_text(session, version, clean, keys.case_key_of(session, case_id), author)


def _case_content_key(session: Session, actor: Actor, letter: Letter, version: LetterVersion):
    """The content key through the case key, which only the case's key holders open."""
    return content_keys.open_through_case(
        session,
        version,
        keys.case_key_of(session, letter.case_id),
        actor.case_private_key(session, letter.case_id),
    )


def _own_content_key(session: Session, actor: Actor, version: LetterVersion) -> bytes:
    """The content key through the actor's own seal (author or recipient)."""
    try:
        return content_keys.open_own(session, version, actor.user, actor.private_key)
    except crypto.DecryptionFailed:
        if actor.user.keys_replaced_at is None:
            raise
        # Sealed to the key pair the person had before a reset without their code.
        raise AccessPending(
            "Your password was reset without your recovery code, so your facilitator needs "
            "to restore your access to your letters. They will check with you by phone or "
            "in person first"
        ) from None


def _clean(text: str) -> str:
    if len(text) > limits.LETTER_CHARACTERS:
        raise InvalidInput(f"A letter can be up to {limits.LETTER_CHARACTERS:,} characters", "text")
    return letter_text.sanitise(text)


def _note(note: str) -> str:
    return note.strip()[: limits.NOTE_CHARACTERS]


def _current_version(letter: Letter) -> LetterVersion:
    return letter.versions[-1]


def _new_version(session: Session, letter: Letter, kind: VersionKind, by: int) -> LetterVersion:
    number = len(letter.versions) + 1
    version = LetterVersion(letter=letter, number=number, kind=kind, created_by_id=by)
    session.add(version)
    session.flush()
    # A new version has no seals yet: say so, rather than have the first seal ask.
    set_committed_value(version, "seals", [])
    return version


def _staff_version(
    session: Session, letter: Letter, kind: VersionKind, actor: Actor, text: str, missing: str
) -> tuple[LetterVersion, str]:
    """A version a facilitator wrote (typed in from paper, or a suggested change): its text
    sealed as any version's, to the case and to the writer if they have an account. Returns
    the version and the text as kept."""
    clean = _clean(text)
    if not clean:
        raise InvalidInput(missing, "text")
    version = _new_version(session, letter, kind, actor.id)
    author = session.get(User, letter.author.user_id) if letter.author.user_id else None
    _write_text(session, letter.case_id, version, clean, author)
    return version, clean


def _notify_user(session: Session, settings: ServiceSettings, user_id: int | None) -> None:
    if user_id is not None:
        user = session.get(User, user_id)
        outbox.queue_notice(session, settings.outbox_key, user, settings.link("/"))


def _notify_facilitators(session: Session, settings: ServiceSettings, case: Case) -> None:
    for facilitator in parties(case, Role.FACILITATOR):
        _notify_user(session, settings, facilitator.user_id)


# --- who may see which letter: one function per audience ------------------------


def letter_for_author(
    session: Session, actor: Actor, letter_id: int, *, lock: bool = False
) -> Letter:
    letter = _letter(session, letter_id, lock)
    if letter.author.user_id != actor.id:
        raise NotFound("letter")
    return letter


def letter_for_staff(
    session: Session, actor: Actor, letter_id: int, *, lock: bool = False
) -> Letter:
    letter = _letter(session, letter_id, lock)
    case_for_staff(session, actor, letter.case_id)
    if states.private_to_author(letter):
        raise NotFound("letter")
    return letter


def letters_for_staff(case: Case) -> list[Letter]:
    return [letter for letter in case.letters if not states.private_to_author(letter)]


def letter_to_pass_on(
    session: Session, actor: Actor, letter_id: int, *, lock: bool = False
) -> Letter:
    """A letter that only a facilitator of its case may pass on (docs/rules.md rule 3)."""
    letter = letter_for_staff(session, actor, letter_id, lock=lock)
    if actor.role != Role.FACILITATOR:
        raise NotAllowed("Only a facilitator of the case can pass a letter on")
    return letter


def letter_for_recipient(
    session: Session, actor: Actor, letter_id: int, *, lock: bool = False
) -> Letter:
    letter = _letter(session, letter_id, lock)
    if (
        letter.recipient.user_id != actor.id
        or letter.state not in states.DELIVERED
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


def _save(
    session: Session, actor: Actor, case_id: int, letter_id: int | None, text: str
) -> tuple[Letter, LetterVersion, str]:
    """Write the author's working version, under the letter's locks; the caller audits.
    Returns the letter, the version and its text as stored."""
    clean = _clean(text)
    if not clean:
        # An empty save or send makes nothing: no blank drafts to fill the list.
        raise InvalidInput("Write something in your letter first", "text")
    if letter_id is None:
        case, mine = case_for_party(session, actor, case_id, lock=True)
        states.check_new(A.START, case)
        letter = Letter(case=case, author=mine, recipient=_other_party(case, mine))
        session.add(letter)
        session.flush()
        # A new letter has no versions yet: say so, rather than have the first one ask.
        set_committed_value(letter, "versions", [])
        _audit(session, letter, "letter.started", actor.id)
    else:
        letter = letter_for_author(session, actor, letter_id, lock=True)
        case, _mine = case_for_party(session, actor, case_id)
        if letter.case_id != case.id:
            raise NotFound("letter")
        states.move(letter, A.SAVE_DRAFT, actor.id)
    # Every version stays as written: the author's working version is the only one
    # that changes, so after a sent version or a facilitator's suggestion a new one
    # begins (docs/rules.md, "Every version stays as written").
    version = letter.versions[-1] if letter.versions else None
    if version not in states.unsent_drafts(letter):
        version = _new_version(session, letter, VersionKind.AUTHOR, actor.id)
    _write_text(session, case.id, version, clean, actor.user)
    return letter, version, clean


def save_draft(
    session: Session, actor: Actor, case_id: int, letter_id: int | None, text: str
) -> Letter:
    """Create or update the author's working version; it stays private to them."""
    with transaction(session):
        letter, version, _text = _save(session, actor, case_id, letter_id, text)
        letter.updated_at = utcnow()
        _audit(session, letter, "letter.draft_saved", actor.id, details={"version": version.number})
        return letter


def _submit(
    session: Session, settings: ServiceSettings, actor: Actor, letter: Letter, text: str
) -> None:
    """Send the current version, whose `text` is given, for review. The caller holds the
    letter's lock and knows the version has words in it."""
    states.check(A.SUBMIT, letter, actor.id)
    version = _current_version(letter)
    version.flag_count = _flag_count(session, letter, text)
    version.submitted_at = letter.submitted_at = utcnow()
    states.move(letter, A.SUBMIT, actor.id)
    _audit(session, letter, "letter.submitted", actor.id, details={"version": version.number})
    _notify_facilitators(session, settings, letter.case)


def submit_letter(session: Session, settings: ServiceSettings, actor: Actor, letter_id: int):
    """Send a saved draft for review (a draft saved empty by an older release is refused)."""
    with transaction(session):
        letter = letter_for_author(session, actor, letter_id, lock=True)
        states.check(A.SUBMIT, letter, actor.id)
        version = _current_version(letter)
        text = content_keys.decrypt_text(version, _own_content_key(session, actor, version))
        if not text.strip():
            raise InvalidInput("Write your letter before you send it", "text")
        _submit(session, settings, actor, letter, text)


def send_letter(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    case_id: int,
    letter_id: int | None,
    text: str,
) -> Letter:
    """Save what the author typed and send it for review: both happen, or neither, so a
    refused send leaves no half-done draft behind (the page keeps the text). The save has
    locked the letter and refused an empty text, so nothing is read back or decrypted.
    One entry says what was sent (its version); a save on the way is not one of its own."""
    with transaction(session):
        letter, _version, clean = _save(session, actor, case_id, letter_id, text)
        _submit(session, settings, actor, letter, clean)
        return letter


def letter_to_act_on(session: Session, actor: Actor, letter_id: int, action: LetterAction):
    """The author's letter, if `action` is allowed on it now: for a page that asks them to
    confirm, so the question is refused exactly as the answer would be."""
    letter = letter_for_author(session, actor, letter_id)
    states.check(action, letter, actor.id)
    return letter


def delete_draft(session: Session, actor: Actor, letter_id: int) -> int:
    """The author deletes a letter they never sent: it is destroyed, not hidden. Returns
    the case's id, for the page to go back to."""
    with transaction(session):
        letter = letter_for_author(session, actor, letter_id, lock=True)
        states.move(letter, A.DELETE_DRAFT, actor.id)
        _audit(session, letter, "letter.draft_deleted", actor.id)
        content_keys.destroy_letter(session, letter)
        return letter.case_id


def withdraw_letter(session: Session, actor: Actor, letter_id: int) -> None:
    with transaction(session):
        letter = letter_for_author(session, actor, letter_id, lock=True)
        states.move(letter, A.WITHDRAW, actor.id)
        content_keys.remove_recipient_seals(session, letter)
        _audit(session, letter, "letter.withdrawn", actor.id)


def accept_redaction(session: Session, settings: ServiceSettings, actor: Actor, letter_id: int):
    """The author agrees to the facilitator's version; it goes back for approval."""
    with transaction(session):
        letter = letter_for_author(session, actor, letter_id, lock=True)
        states.move(letter, A.ACCEPT_REDACTION, actor.id)
        version = _current_version(letter)
        version.submitted_at = letter.submitted_at = utcnow()
        _audit(
            session,
            letter,
            "letter.redaction_accepted",
            actor.id,
            details={"version": version.number},
        )
        _notify_facilitators(session, settings, letter.case)


def decline_redaction(session: Session, actor: Actor, letter_id: int) -> None:
    """The author does not agree; they can edit their own text instead."""
    with transaction(session):
        letter = letter_for_author(session, actor, letter_id, lock=True)
        states.move(letter, A.DECLINE_REDACTION, actor.id)
        _audit(session, letter, "letter.redaction_declined", actor.id)


def author_text(session: Session, actor: Actor, letter: Letter, version: LetterVersion) -> str:
    """A version's text for its author (who holds a seal for every version of theirs)."""
    if letter.author.user_id != actor.id or version.letter_id != letter.id:
        raise NotFound("letter")
    return content_keys.decrypt_text(version, _own_content_key(session, actor, version))


def read_own_letter(
    session: Session, actor: Actor, letter_id: int
) -> tuple[Letter, dict[int, str]]:
    """The author's own letter: the text of its current version and of their last own
    version (to show a proposed redaction against). The reading is audited, as every
    view of letter text is (docs/security.md)."""
    with transaction(session):
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
        return letter, texts


def last_author_version(letter: Letter) -> LetterVersion | None:
    authored = [v for v in letter.versions if v.kind == VersionKind.AUTHOR]
    return authored[-1] if authored else None


# --- the facilitator's side ---------------------------------------------------------


# The facilitator's own place in a letter's case. Made once: a new alias per request costs
# more to build than the statements it joins cost to run.
_MINE = aliased(CaseParticipant, name="mine")


def in_cases_of(query: Select, actor: Actor, case_id: ColumnElement = Letter.case_id) -> Select:
    """Only rows of the cases the facilitator works on, found by `case_id` (every case for
    an administrator)."""
    if actor.role == Role.ADMINISTRATOR:
        return query
    # A join on their place in the case, not `case_id IN (their cases)`: SQLite builds the
    # whole IN list (thousands of cases for a busy facilitator) before reading one row,
    # where a join lets it walk the rows in the list's order and stop at a page. One
    # place per person per case, so the join repeats no row.
    return query.join(
        _MINE,
        and_(
            _MINE.case_id == case_id,
            _MINE.user_id == actor.id,
            _MINE.role == Role.FACILITATOR,
        ),
    )


# What the staff lists show of each letter, loaded with it rather than a query per row.
_FOR_STAFF_LISTS = (joinedload(Letter.case), joinedload(Letter.author))


def _review_queue(actor: Actor) -> Select:
    """Every letter waiting for review that the person may see, oldest first."""
    query = (
        select(Letter)
        .where(Letter.state.in_(states.IN_REVIEW))
        .options(*_FOR_STAFF_LISTS)
        .order_by(Letter.submitted_at, Letter.id)
    )
    return in_cases_of(query, actor)


class QueueShow(enum.StrEnum):
    """Which of the letters waiting for review the queue lists."""

    ALL = "all"
    MINE = "mine"  # the person looking is reviewing them
    UNCLAIMED = "unclaimed"  # nobody is reviewing them
    OVERDUE = "overdue"  # waiting longer than the review target
    PAPER = "paper"  # typed in from paper: a second facilitator approves them
    # With its first approval, in a case marked for extra care: a second facilitator's next.
    SECOND_APPROVAL = "second"


class QueueOrder(enum.StrEnum):
    OLDEST = "oldest"
    NEWEST = "newest"


@dataclass(frozen=True)
class QueueChoice:
    """What the review queue lists and in which order, as the person chose it."""

    show: QueueShow = QueueShow.ALL
    order: QueueOrder = QueueOrder.OLDEST
    # One case's letters, by its reference exactly as it was given; "" for every case.
    case_reference: str = ""


@dataclass(frozen=True)
class QueueRow:
    """One letter of the review queue, with what the queue says of it."""

    letter: Letter
    # How long it has waited against the target; None when no target was given.
    waited: reminders.ReviewAge | None
    # Whoever holds a live claim on it (`claims.live_holder`), or None.
    holder: User | None
    held_by_you: bool
    # A paper letter the person looking typed in: another facilitator must approve it.
    typed_by_you: bool
    # How many flags the version under review raised when it was sent (None: not known).
    flags: int | None
    # In a case marked for extra care: two facilitators approve; who gave the first, if given.
    extra_care: bool
    first_approved_by: User | None
    approved_first_by_you: bool


# The claim holder's own place in the letter's case. Made once, as `_MINE` is.
_HOLDER = aliased(CaseParticipant, name="holder")


def _claimed(now: datetime) -> ColumnElement[bool]:
    """A live claim, as `claims.live_holder` decides it for one letter, asked of the
    database: someone holds the letter, their time has not run out, and they are still a
    facilitator of its case. Never NULL, so that its negation is "nobody holds it"."""
    return and_(
        Letter.claimed_until.is_not(None),
        Letter.claimed_until > now,
        exists().where(
            _HOLDER.case_id == Letter.case_id,
            _HOLDER.user_id == Letter.claimed_by_id,
            _HOLDER.role == Role.FACILITATOR,
        ),
    )


def _queue_filter(
    show: QueueShow, actor: Actor, now: datetime, overdue_before: datetime | None
) -> ColumnElement[bool] | None:
    if show == QueueShow.MINE:
        return and_(Letter.claimed_by_id == actor.id, _claimed(now))
    if show == QueueShow.UNCLAIMED:
        return not_(_claimed(now))
    if show == QueueShow.OVERDUE:
        if overdue_before is None:
            raise ValueError("overdue letters are found against the settings' review target")
        return Letter.submitted_at < overdue_before
    if show == QueueShow.PAPER:
        return Letter.entered_by_id.is_not(None)
    if show == QueueShow.SECOND_APPROVAL:
        # `states.first_approval_holds`, asked of the database: a version's id is larger
        # than every earlier version's of its letter.
        return Letter.first_approval_version_id == (
            select(func.max(LetterVersion.id))
            .where(LetterVersion.letter_id == Letter.id)
            .scalar_subquery()
        )
    return None


def _chosen_queue(
    actor: Actor, choice: QueueChoice, now: datetime, overdue_before: datetime | None
) -> Select:
    """The review queue as `choice` filters and orders it, with what each row shows loaded
    in the same statements (a fixed number per page). Every filter is a condition on the
    letter's own row or its case, so the database still walks the letters in the order
    shown, by the (state, submitted_at, id) index either way, and stops at a page."""
    query = _review_queue(actor).options(
        joinedload(Letter.recipient),
        # The holder's name only: a user's row also holds their sealed keys.
        joinedload(Letter.claimed_by).load_only(User.id, User.name),
        joinedload(Letter.first_approved_by).load_only(User.id, User.name),
        # Each version's flag count, never its text.
        selectinload(Letter.versions).load_only(
            LetterVersion.id, LetterVersion.number, LetterVersion.flag_count
        ),
        # `claims.live_holder` looks in the case's people for the holder's place.
        defaultload(Letter.case).selectinload(Case.participants),
    )
    shown = _queue_filter(choice.show, actor, now, overdue_before)
    if shown is not None:
        query = query.where(shown)
    if choice.case_reference:
        query = query.where(
            Letter.case_id
            == select(Case.id).where(Case.reference == choice.case_reference).scalar_subquery()
        )
    if choice.order == QueueOrder.NEWEST:
        query = query.order_by(None).order_by(Letter.submitted_at.desc(), Letter.id.desc())
    return query


def _readings_to_arrange(actor: Actor) -> Select:
    query = (
        select(Letter)
        .join(CaseParticipant, Letter.recipient_id == CaseParticipant.id)
        .where(
            Letter.state.in_(states.WAITING),
            CaseParticipant.receive_preference == ReceivePreference.WITH_FACILITATOR,
            # A reading with a party on paper is recorded as the letter handed over.
            CaseParticipant.on_paper.is_(False),
        )
        .options(*_FOR_STAFF_LISTS)
        .order_by(Letter.approved_at, Letter.id)
    )
    return in_cases_of(query, actor)


def _sent_back(actor: Actor) -> Select:
    """Letters back with their writer, for changes asked for or suggested: by state (in the
    (state, submitted_at, id) index's order, so a page is read without a sort), then oldest
    sent first."""
    query = (
        select(Letter)
        .where(Letter.state.in_(states.SENT_BACK))
        .options(*_FOR_STAFF_LISTS)
        .order_by(Letter.state, Letter.submitted_at, Letter.id)
    )
    return in_cases_of(query, actor)


def _to_print_and_post(actor: Actor) -> Select:
    """Approved letters to a party on paper: theirs to print, and post or hand over."""
    query = (
        select(Letter)
        .join(CaseParticipant, Letter.recipient_id == CaseParticipant.id)
        .where(Letter.state.in_(states.WAITING), CaseParticipant.on_paper.is_(True))
        .options(*_FOR_STAFF_LISTS, joinedload(Letter.recipient))
        .order_by(Letter.approved_at, Letter.id)
    )
    return in_cases_of(query, actor)


def to_print_and_post(session: Session, actor: Actor, page: int = 1) -> Page[Letter]:
    """Approved letters to parties on paper in the facilitator's cases, oldest first."""
    return page_of(session, _to_print_and_post(actor), page)


def _approved_not_passed_on(actor: Actor) -> Select:
    """Approved letters waiting for a "not before" date, for the recipient's choice to
    receive, or for a paused case: every approved letter but the readings to arrange and
    those to print and post."""
    query = (
        select(Letter)
        .join(CaseParticipant, Letter.recipient_id == CaseParticipant.id)
        .where(
            Letter.state.in_(states.WAITING),
            CaseParticipant.receive_preference != ReceivePreference.WITH_FACILITATOR,
            CaseParticipant.on_paper.is_(False),
        )
        .options(*_FOR_STAFF_LISTS, joinedload(Letter.recipient))
        .order_by(Letter.approved_at, Letter.id)
    )
    return in_cases_of(query, actor)


def sent_back(session: Session, actor: Actor, page: int = 1) -> Page[Letter]:
    """Letters waiting on their writer in the facilitator's cases, a page at a time."""
    return page_of(session, _sent_back(actor), page)


def approved_not_passed_on(session: Session, actor: Actor, page: int = 1) -> Page[Letter]:
    """Approved letters not yet passed on, and not waiting for a reading, a page at a time:
    `why_not_passed_on` says what each waits for."""
    return page_of(session, _approved_not_passed_on(actor), page)


def why_not_passed_on(letter: Letter, today: date | None = None) -> str:
    """What an approved letter waits for, in words for its facilitator."""
    today = today or utcnow().date()
    if letter.case.state != CaseState.ACTIVE:
        return "the exchange is paused"
    if letter.deliver_not_before is not None and letter.deliver_not_before > today:
        return f"not before {letter.deliver_not_before:%-d %B %Y}"
    if letter.recipient.receive_preference == ReceivePreference.NOT_NOW:
        return "the recipient has not chosen to receive letters"
    return "to be passed on at the next delivery run"


def review_queue(
    session: Session,
    actor: Actor,
    page: int = 1,
    choice: QueueChoice = QueueChoice(),
    settings: ServiceSettings | None = None,
    now: datetime | None = None,
) -> Page[QueueRow]:
    """Letters waiting for review in the facilitator's cases (every case for an
    administrator), filtered and ordered as `choice` says, a page at a time: each with how
    long it has waited against the settings' review target, and who is reviewing it.

    Read from the letters' rows alone, never their text: a row's flags would need its
    letter decrypted, so the queue does not count them (the review page shows them)."""
    now = now or utcnow()
    overdue_before = (
        reminders.overdue_if_submitted_before(settings, now) if settings is not None else None
    )
    found = page_of(session, _chosen_queue(actor, choice, now, overdue_before), page)
    rows = []
    for letter in found.items:
        holder = claims.live_holder(letter, now)
        approved_once = states.first_approval_holds(letter)
        rows.append(
            QueueRow(
                letter=letter,
                waited=(
                    reminders.review_age(letter.submitted_at, settings, now)
                    if settings is not None
                    else None
                ),
                holder=letter.claimed_by if holder is not None else None,
                held_by_you=holder == actor.id,
                typed_by_you=letter.entered_by_id == actor.id,
                flags=letter.versions[-1].flag_count if letter.versions else None,
                extra_care=needs_extra_care(letter.case),
                first_approved_by=letter.first_approved_by if approved_once else None,
                approved_first_by_you=approved_once and letter.first_approved_by_id == actor.id,
            )
        )
    return replace(found, items=rows)


def next_for_review(
    session: Session, actor: Actor, after_letter_id: int, now: datetime | None = None
) -> int | None:
    """After a decision, the letter to offer next: the oldest waiting for review that
    nobody is reviewing, other than the one just decided."""
    query = (
        _review_queue(actor)
        .where(_queue_filter(QueueShow.UNCLAIMED, actor, now or utcnow(), None))
        .where(Letter.id != after_letter_id)
        .with_only_columns(Letter.id)
        .limit(1)
    )
    return session.scalar(query)


def review_count(session: Session, actor: Actor) -> int:
    """How many letters wait for review for this person, for the navigation of every staff
    page: one count, no letter loaded."""
    return count_of(session, _review_queue(actor))


def readings_to_arrange(session: Session, actor: Actor, page: int = 1) -> Page[Letter]:
    """Approved letters whose recipient reads only with their facilitator, in the cases
    the facilitator works on, oldest first: each is a reading for them to arrange
    (`states.waiting_for_reading`, asked of the database)."""
    return page_of(session, _readings_to_arrange(actor), page)


@dataclass(frozen=True)
class WaitingForStaff:
    review: int  # letters waiting for review
    readings: int  # readings to arrange


def waiting_for_staff(session: Session, actor: Actor) -> WaitingForStaff:
    """How many letters wait for the facilitator, for the staff home: counted, not loaded."""
    return WaitingForStaff(
        count_of(session, _review_queue(actor)), count_of(session, _readings_to_arrange(actor))
    )


def staff_text(session: Session, actor: Actor, letter: Letter, version: LetterVersion) -> str:
    if version.letter_id != letter.id:
        raise NotFound("letter")
    return content_keys.decrypt_text(version, _case_content_key(session, actor, letter, version))


def versions_for_staff(letter: Letter) -> list[LetterVersion]:
    """What staff may read: every version sent for review, and their own suggestions. A
    version the author is still writing (after changes were asked for) is theirs alone."""
    unsent = states.unsent_drafts(letter)
    return [version for version in letter.versions if version not in unsent]


def read_for_review(
    session: Session, actor: Actor, letter_id: int
) -> tuple[Letter, list[tuple[LetterVersion, str]]]:
    """Every version's text for the case's staff; the reading itself is audited
    (docs/security.md: who read what, when, for staff as for parties)."""
    with transaction(session):
        letter = letter_for_staff(session, actor, letter_id)
        shown = versions_for_staff(letter)
        texts = [(v, staff_text(session, actor, letter, v)) for v in shown]
        _audit(
            session,
            letter,
            "letter.read_by_staff",
            actor.id,
            details={"versions": [version.number for version in shown]},
        )
        return letter, texts


def flags_for_review(letter: Letter, text: str, conditions: str | None = None) -> list[flags.Flag]:
    """The review flags of a letter's text, with every name Relay holds for the case's
    people (display names, and account names whole and in parts) among them; and, when
    the recipient's `conditions` ask that their surname is not used, that surname."""
    held: set[str] = set()
    for person in letter.case.participants:
        held.add(person.display_name)
        if person.user is not None:
            held.add(person.user.name)
            # Each word of it that could be a name: two letters or more, not a number.
            held.update(
                part
                for part in person.user.name.split()
                if len(part) >= 2 and any(character.isalpha() for character in part)
            )
    withheld: tuple[str, ...] = ()
    recipient = letter.recipient.user
    if recipient is not None and flags.asks_surname_withheld(conditions):
        parts = recipient.name.split()
        # A one-word name has no surname to keep out.
        withheld = (parts[-1],) if len(parts) > 1 else ()
    return flags.review_flags(text, flags.CaseNames(tuple(sorted(held)), withheld))


def _case_accounts(session: Session, case: Case) -> dict[int, User]:
    """The accounts of the case's people in one statement, so that the names the flags
    look for (`flags_for_review`) are not read a statement each."""
    ids = [person.user_id for person in case.participants if person.user_id is not None]
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(ids)))}


def _flag_count(session: Session, letter: Letter, text: str) -> int:
    """How many flags the text raises, kept for the queue. Without the recipient's
    conditions, which the author cannot read: a surname they asked not to be used is a
    name Relay holds for the case, so it counts the same."""
    # Held while the flags are found: the session keeps loaded rows only while something
    # refers to them, and the names are read from the people's accounts.
    accounts = _case_accounts(session, letter.case)
    found = flags_for_review(letter, text)
    del accounts
    return len(found)


def needs_extra_care(case: Case) -> bool:
    """A case whose risk assessment marked someone for extra care (sexual or domestic
    violence, stalking): every letter needs two facilitators' approval (docs/rules.md
    rule 4), and approving asks to confirm."""
    return any(person.risk_extra_care for person in case.participants)


def waits_for_second_approval(letter: Letter) -> bool:
    """In review, with its first approval given to the version under review."""
    return letter.state in states.IN_REVIEW and states.first_approval_holds(letter)


def _require_flags_checked(found: list[flags.Flag], checked: Collection[str]) -> None:
    unchecked = [flag for flag in found if flag.key not in checked]
    if unchecked:
        raise InvalidInput(
            f"Mark each flag as checked before you approve: {len(unchecked)} of "
            f"{len(found)} {'is' if len(unchecked) == 1 else 'are'} not marked",
            "checked_flags",
        )


def _flag_counts(found: list[flags.Flag]) -> dict[str, int]:
    """For the audit trail: how many flags of each rule were checked, never their words."""
    return dict(Counter(flag.kind for flag in found))


_TYPE_IT = "Type the letter before you save it"


def enter_paper_letter(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    scan_id: int,
    text: str,
) -> Letter:
    """A facilitator types in a letter that came on paper from its scan (`paper_in`); a
    second facilitator checks the two side by side and approves it."""
    with transaction(session):
        scan = paper_in.scan_for_staff(session, actor, scan_id)
        if actor.role != Role.FACILITATOR:
            raise NotAllowed("Only a facilitator can enter a letter")
        case = lock_case(session, scan.case_id, exclusive=False)
        states.check_new(A.ENTER_FROM_PAPER, case)
        scan = paper_in.lock_scan_to_type(session, case.id, scan_id)
        if not parties(case, scan.author_role):
            raise InvalidInput("Choose who wrote the letter", "author")
        author = parties(case, scan.author_role)[0]
        letter = Letter(
            case=case,
            author=author,
            recipient=_other_party(case, author),
            entered_by_id=actor.id,
            state=states.LETTER_TRANSITIONS[A.ENTER_FROM_PAPER].to_state,
        )
        session.add(letter)
        session.flush()
        version, clean = _staff_version(session, letter, VersionKind.AUTHOR, actor, text, _TYPE_IT)
        version.flag_count = _flag_count(session, letter, clean)
        version.submitted_at = letter.submitted_at = utcnow()
        scan.version_id = version.id
        _audit(
            session,
            letter,
            "letter.entered_from_paper",
            actor.id,
            details={"version": 1, "scan": scan.id},
        )
        return letter


def correct_transcript(
    session: Session, settings: ServiceSettings, actor: Actor, letter_id: int, text: str
) -> LetterVersion:
    """A paper letter whose typing does not match its scan, typed again: a new version, and
    whoever typed it is now its typist, so another facilitator checks it against the scan
    (the writer on paper cannot be asked to change a transcript)."""
    with transaction(session):
        letter = letter_to_pass_on(session, actor, letter_id, lock=True)
        if actor.role != Role.FACILITATOR:
            raise NotAllowed("Only a facilitator can type a letter in")
        states.check(A.CORRECT_TRANSCRIPT, letter, actor.id)
        claims.require_claim(session, actor, letter)
        version, clean = _staff_version(session, letter, VersionKind.AUTHOR, actor, text, _TYPE_IT)
        version.flag_count = _flag_count(session, letter, clean)
        version.submitted_at = utcnow()
        letter.entered_by_id = actor.id
        _audit(
            session,
            letter,
            "letter.transcript_corrected",
            actor.id,
            details={"version": version.number},
        )
        return version


@dataclass(frozen=True)
class _SendBack:
    """A decision that returns a letter to its writer with a note saying why."""

    action: LetterAction
    note_kind: NoteKind
    audited_as: str
    missing_note: str  # what to say when the note is empty
    note_field: str
    # Refused to the typist of a paper letter, as a person (docs/rules.md rule 4).
    needs_other_eyes: bool = False


_CHANGES = _SendBack(
    A.REQUEST_CHANGES,
    NoteKind.CHANGES_REQUESTED,
    "letter.changes_requested",
    "Tell the writer what to change",
    "note",
)
_REJECTION = _SendBack(
    A.REJECT,
    NoteKind.REJECTION,
    "letter.rejected",
    "Give the writer a reason",
    "reason",
    needs_other_eyes=True,
)


def _require_other_eyes(letter: Letter, action: LetterAction, actor: Actor) -> None:
    """Four eyes (docs/rules.md rule 4): the typist of a paper letter, or the first approver
    in a case marked for extra care, is refused as not allowed, whatever the state."""
    condition = states.LETTER_TRANSITIONS[action].condition
    refusal = condition(letter, actor.id) if condition is not None else None
    if refusal is not None:
        raise NotAllowed(refusal)


def _send_back(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    letter_id: int,
    note: str,
    decision: _SendBack,
) -> None:
    with transaction(session):
        letter = letter_to_pass_on(session, actor, letter_id, lock=True)
        if decision.needs_other_eyes:
            _require_other_eyes(letter, decision.action, actor)
        states.check(decision.action, letter, actor.id)
        claims.require_claim(session, actor, letter)
        if not note.strip():
            raise InvalidInput(decision.missing_note, decision.note_field)
        notes.set_letter_note(session, letter, decision.note_kind, _note(note), actor.id)
        states.move(letter, decision.action, actor.id)
        _audit(session, letter, decision.audited_as, actor.id)
        _notify_user(session, settings, letter.author.user_id)


def request_changes(
    session: Session, settings: ServiceSettings, actor: Actor, letter_id: int, note: str
) -> None:
    _send_back(session, settings, actor, letter_id, note, _CHANGES)


def reject_letter(
    session: Session, settings: ServiceSettings, actor: Actor, letter_id: int, reason: str
) -> None:
    _send_back(session, settings, actor, letter_id, reason, _REJECTION)


def propose_redaction(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    letter_id: int,
    text: str,
    note: str,
) -> None:
    with transaction(session):
        letter = letter_to_pass_on(session, actor, letter_id, lock=True)
        states.check(A.PROPOSE_REDACTION, letter, actor.id)
        claims.require_claim(session, actor, letter)
        version, _ = _staff_version(
            session, letter, VersionKind.REDACTION, actor, text, "Enter the changed letter"
        )
        notes.set_letter_note(session, letter, NoteKind.REDACTION, _note(note), actor.id)
        states.move(letter, A.PROPOSE_REDACTION, actor.id)
        _audit(
            session,
            letter,
            "letter.redaction_proposed",
            actor.id,
            details={"version": version.number},
        )
        _notify_user(session, settings, letter.author.user_id)


def approve_letter(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    letter_id: int,
    not_before: date | None = None,
    *,
    checked_flags: Collection[str] = (),
    confirmed: bool = False,
    scan_checked: bool = False,
) -> bool:
    """Approve the version under review: only now is the recipient given its key.

    Every flag on the version (`flags_for_review`) must be in `checked_flags`, by its key,
    and a letter with flags, or in a case marked for extra care, must be `confirmed`. A
    letter typed in from paper needs `scan_checked`: the approver compared the transcript
    with the scan. In a case marked for extra care the first approval only records itself;
    a second facilitator's passes the letter on. Returns whether the letter was passed on."""
    with transaction(session):
        letter = letter_to_pass_on(session, actor, letter_id, lock=True)
        _require_other_eyes(letter, A.APPROVE, actor)
        states.check(A.APPROVE, letter, actor.id)
        claims.require_claim(session, actor, letter)
        if not_before is not None and not_before <= utcnow().date():
            raise InvalidInput("The date must be in the future", "not_before")
        # Held until the flags are found, below (as in `_flag_count`).
        accounts = _case_accounts(session, letter.case)
        recipient = accounts.get(letter.recipient.user_id)
        if recipient is None and not letter.recipient.on_paper:
            raise InvalidTransition("The recipient has not set up their account yet")
        if recipient is not None and recipient.keys_replaced_at is not None:
            # Sealing to the key pair a reset link made would hand the letter to whoever
            # read that mailbox: approve once their facilitator has restored their access.
            raise InvalidTransition(
                "The recipient's password was reset without their recovery code. Restore "
                "their access on the case page, after checking with them, then approve the letter"
            )
        version = _current_version(letter)
        content_key = _case_content_key(session, actor, letter, version)
        # The flags as the review page showed them, found again on the text being approved.
        found = flags_for_review(
            letter,
            content_keys.decrypt_text(version, content_key),
            notes.conditions_of(session, actor, letter.recipient),
        )
        _require_flags_checked(found, checked_flags)
        extra_care = needs_extra_care(letter.case)
        if (found or extra_care) and not confirmed:
            raise InvalidInput(
                "Confirm that you have read the whole letter and it can be passed on",
                "confirmed",
            )
        scan = paper_in.scan_of_letter(session, letter)
        if scan is not None and not scan_checked:
            raise InvalidInput(
                "Confirm that you have compared the typed letter with the scan, word for word",
                "scan_checked",
            )
        checked = {"version": version.number, "flags_checked": _flag_counts(found)}
        if scan is not None:
            # Four eyes on the typing (docs/rules.md rule 4): its own step in the trail.
            _audit(
                session,
                letter,
                "letter.transcript_checked",
                actor.id,
                details={"version": version.number, "scan": scan.id},
            )
        if extra_care and not states.first_approval_holds(letter):
            letter.first_approval_version_id = version.id
            letter.first_approved_by_id = actor.id
            letter.first_approved_at = utcnow()
            # Kept for the second approver, whose form starts with it (views/review.py).
            letter.deliver_not_before = not_before
            _audit(session, letter, "letter.first_approval", actor.id, details=checked)
            return False
        if recipient is not None:
            # A party on paper without an account is given the letter on paper instead.
            content_keys.seal_to_recipient(session, version, content_key, recipient)
        letter.approved_version_id = version.id
        letter.deliver_not_before = not_before
        letter.approved_by_id = actor.id
        letter.approved_at = utcnow()
        states.move(letter, A.APPROVE, actor.id)
        _audit(
            session,
            letter,
            "letter.approved",
            actor.id,
            details={**checked, "second_approval": extra_care},
        )
        if states.due(letter):
            deliver(session, settings, letter, actor.id)
        elif states.waiting_for_reading(letter):
            _notify_facilitators(session, settings, letter.case)
        return True


def deliver_on_paper(
    session: Session, actor: Actor, letter_id: int, *, how: str, on: date | None
) -> None:
    """A letter to a party on paper reaches them when their facilitator records it posted,
    or handed over at a reading: the day, and who did it. Its author learns of it only as
    the recipient's choice allows, as for any delivery (`states.shown_to_author`)."""
    with transaction(session):
        letter = letter_to_pass_on(session, actor, letter_id, lock=True)
        try:
            kind = PaperDelivery(how)
        except ValueError:
            raise InvalidInput("Choose how the letter reached them", "how") from None
        if on is None:
            raise InvalidInput("Enter the day, for example 27 11 2026", "on")
        if on > utcnow().date():
            raise InvalidInput("The day cannot be in the future", "on")
        if letter.approved_at is not None and on < letter.approved_at.date():
            raise InvalidInput("The day cannot be before the letter was approved", "on")
        if letter.deliver_not_before is not None and on < letter.deliver_not_before:
            waits_for = f"{letter.deliver_not_before:%-d %B %Y}"
            raise InvalidInput(
                f'This letter waits for its "not before" date, {waits_for}: it can reach '
                "them from that day",
                "on",
            )
        states.move(letter, A.DELIVER_ON_PAPER, actor.id)
        letter.delivered_at = letter.updated_at
        letter.paper_delivery = kind
        letter.paper_delivered_on = on
        letter.paper_delivered_by_id = actor.id
        _audit(
            session,
            letter,
            "letter.delivered_on_paper",
            actor.id,
            details={"how": str(kind), "on": on.isoformat()},
        )


def hold_back(session: Session, actor: Actor, letter_id: int) -> None:
    """At its author's request, a facilitator holds back a letter not yet opened: the
    recipient no longer sees it (their seal stays, for if it goes on)."""
    with transaction(session):
        letter = letter_to_pass_on(session, actor, letter_id, lock=True)
        claims.require_claim(session, actor, letter)
        states.move(letter, A.HOLD_BACK, actor.id)
        _audit(session, letter, "letter.held_back", actor.id)


def let_go(session: Session, settings: ServiceSettings, actor: Actor, letter_id: int) -> None:
    """A held letter goes on as an approved one: delivered now if it is due."""
    with transaction(session):
        letter = letter_to_pass_on(session, actor, letter_id, lock=True)
        claims.require_claim(session, actor, letter)
        states.move(letter, A.LET_GO, actor.id)
        _audit(session, letter, "letter.let_go", actor.id)
        if states.due(letter):
            deliver(session, settings, letter, actor.id)


def release_for_reading(
    session: Session, settings: ServiceSettings, actor: Actor, letter_id: int
) -> None:
    """For a recipient who reads only with their facilitator: the reading is arranged."""
    with transaction(session):
        letter = letter_to_pass_on(session, actor, letter_id, lock=True)
        claims.require_claim(session, actor, letter)
        deliver(session, settings, letter, actor.id, action=A.RELEASE)


# --- the recipient's side --------------------------------------------------------------


def open_letter(
    session: Session, settings: ServiceSettings, actor: Actor, letter_id: int
) -> tuple[Letter, str]:
    """The recipient's deliberate act of opening a letter; every read is recorded.
    Returns the letter and its text."""
    with transaction(session):
        letter = letter_for_recipient(session, actor, letter_id, lock=True)
        states.check(A.OPEN, letter, actor.id)
        version = session.get(LetterVersion, letter.approved_version_id)
        body = content_keys.decrypt_text(version, _own_content_key(session, actor, version))
        session.add(LetterRead(letter_id=letter.id, user_id=actor.id))
        first_read = letter.read_at is None
        if first_read:
            letter.read_at = utcnow()
        states.move(letter, A.OPEN, actor.id)
        _audit(session, letter, "letter.read", actor.id, details={"first": first_read})
        if first_read and letter.recipient.tell_author_when_read:
            _notify_user(session, settings, letter.author.user_id)
        return letter, body


def letters_written_by(session: Session, participant: CaseParticipant) -> list[Letter]:
    return list(
        session.scalars(
            select(Letter).where(Letter.author_id == participant.id).order_by(Letter.id.desc())
        )
    )


def waiting_unseen(session: Session, participant: CaseParticipant) -> bool:
    """Is an approved letter waiting because the recipient chose "not now"? They are told
    that something waits, never who or what (docs/rules.md, receiving on their terms)."""
    if participant.receive_preference != ReceivePreference.NOT_NOW:
        return False
    waiting = select(Letter.id).where(
        Letter.recipient_id == participant.id, Letter.state.in_(states.WAITING)
    )
    return session.scalar(waiting.limit(1)) is not None


def letters_received_by(session: Session, participant: CaseParticipant) -> list[Letter]:
    """Only what has reached the recipient: approved-but-waiting letters stay invisible."""
    return list(
        session.scalars(
            select(Letter)
            .where(
                Letter.recipient_id == participant.id,
                Letter.state.in_(states.DELIVERED),
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


def other_party_or_none(case: Case, mine: CaseParticipant) -> CaseParticipant | None:
    try:
        return _other_party(case, mine)
    except InvalidTransition:
        return None


def set_held_out_of_sight(session: Session, actor: Actor, letter_id: int, held: bool) -> None:
    """After reading, the recipient may ask for a letter to be kept out of sight, and back."""
    with transaction(session):
        letter = letter_for_recipient(session, actor, letter_id, lock=True)
        states.move(letter, A.HOLD if held else A.UNHOLD, actor.id)
        letter.hidden_by_recipient = held
        _audit(session, letter, "letter.held" if held else "letter.unheld", actor.id)


def destroy_my_copy(session: Session, actor: Actor, letter_id: int) -> None:
    """The recipient's seal is deleted: they can never open this letter again."""
    with transaction(session):
        letter = letter_for_recipient(session, actor, letter_id, lock=True)
        states.move(letter, A.DESTROY_COPY, actor.id)
        content_keys.remove_recipient_seals(session, letter)
        letter.recipient_copy_destroyed_at = utcnow()
        _audit(session, letter, "letter.recipient_copy_destroyed", actor.id)
