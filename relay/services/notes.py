"""Notes people type for each other in a case, besides letters: a facilitator's note to a
writer, a recipient's conditions, the reason for a pause, and, for the case's staff only,
the evidence behind each gate and the facilitators' case notes.

Each is encrypted as a letter is, sealed to the case key (so the case's facilitators can
read it) and to each person it is for, and shredded with the case (docs/security.md,
"Keys"). A note in a place that already has one replaces it: the old one is destroyed.
The keys themselves are handled by `relay.services.content_keys`.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import crypto
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import Letter
from relay.models import NoteKind
from relay.models import Role
from relay.models import SealedNote
from relay.models import User
from relay.services import content_keys
from relay.services import keys
from relay.services.actor import Actor
from relay.services.errors import AccessPending
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.paging import Page
from relay.services.paging import page_of

# What a facilitator tells a writer about their letter: one at a time, the latest.
LETTER_NOTES = (NoteKind.CHANGES_REQUESTED, NoteKind.REDACTION, NoteKind.REJECTION)

# The evidence behind each gate (cases.GATES): the latest, one per gate and person.
GATE_EVIDENCE = {
    "consent": NoteKind.CONSENT_EVIDENCE,
    "admission": NoteKind.ADMISSION_EVIDENCE,
    "risk": NoteKind.RISK_EVIDENCE,
    "no_contact": NoteKind.NO_CONTACT_EVIDENCE,
}


def _parties(case: Case) -> list[CaseParticipant]:
    return [p for p in case.participants if p.role in (Role.VICTIM, Role.OFFENDER)]


def _where(
    case_id: int, kinds: tuple[NoteKind, ...], letter_id: int | None, participant_id: int | None
):
    return (
        select(SealedNote)
        .where(
            SealedNote.case_id == case_id,
            SealedNote.kind.in_(kinds),
            SealedNote.letter_id.is_(None)
            if letter_id is None
            else SealedNote.letter_id == letter_id,
            SealedNote.participant_id.is_(None)
            if participant_id is None
            else SealedNote.participant_id == participant_id,
        )
        .order_by(SealedNote.id.desc())
    )


def _readers(session: Session, people: list[CaseParticipant]) -> list[User]:
    """The accounts to seal to. Not one whose keys a reset without the recovery code
    replaced: that key pair may be whoever read the reset e-mail's (docs/security.md)."""
    users = [session.get(User, person.user_id) for person in people if person.user_id]
    return [user for user in users if user.keys_replaced_at is None]


def _replace(
    session: Session,
    case_id: int,
    kind: NoteKind,
    text: str,
    people: list[CaseParticipant],
    *,
    kinds: tuple[NoteKind, ...] | None = None,
    letter_id: int | None = None,
    participant_id: int | None = None,
    written_by_id: int | None = None,
) -> None:
    for old in session.scalars(_where(case_id, kinds or (kind,), letter_id, participant_id)):
        content_keys.destroy_note(session, old)
    text = text.strip()
    if not text:
        return
    note = SealedNote(
        case_id=case_id,
        kind=kind,
        letter_id=letter_id,
        participant_id=participant_id,
        written_by_id=written_by_id,
    )
    session.add(note)
    content_keys.write_note(
        session, note, text, keys.case_key_of(session, case_id), _readers(session, people)
    )


def _read(session: Session, actor: Actor, note: SealedNote | None) -> str | None:
    """The note's text for this person: through the case key for its staff, through their
    own seal for anyone else. None when there is none, or none they can open."""
    if note is None:
        return None
    try:
        if actor.role.is_staff:
            return content_keys.open_note_through_case(
                session,
                note,
                keys.case_key_of(session, note.case_id),
                actor.case_private_key(session, note.case_id),
            )
        return content_keys.open_note_own(session, note, actor.user, actor.private_key)
    except crypto.DecryptionFailed:
        # Sealed to a key pair they had before a reset: theirs again once access is restored.
        return None
    except (NotFound, NotAllowed):
        return None  # not for them (an administrator who has not joined), or shredded


# --- a facilitator's note to the writer of a letter -------------------------------------


def set_letter_note(
    session: Session, letter: Letter, kind: NoteKind, text: str, written_by_id: int
) -> None:
    """Inside the caller's transaction, under the letter's lock."""
    _replace(
        session,
        letter.case_id,
        kind,
        text,
        [letter.author],
        kinds=LETTER_NOTES,
        letter_id=letter.id,
        written_by_id=written_by_id,
    )


def letter_note(session: Session, actor: Actor, letter: Letter) -> str | None:
    """The latest note to the writer, for the writer or the case's staff (the caller has
    checked they may see the letter)."""
    note = session.scalars(_where(letter.case_id, LETTER_NOTES, letter.id, None)).first()
    return _read(session, actor, note)


# --- a recipient's conditions for letters to them -----------------------------------------


def set_conditions(session: Session, case: Case, participant: CaseParticipant, text: str) -> None:
    """For the person themselves and whoever writes to them (the case is locked)."""
    others = [p for p in _parties(case) if p.id != participant.id]
    _replace(
        session,
        case.id,
        NoteKind.CONDITIONS,
        text,
        [participant, *others],
        participant_id=participant.id,
        written_by_id=participant.user_id,
    )


def conditions_of(session: Session, actor: Actor, participant: CaseParticipant) -> str | None:
    note = session.scalars(
        _where(participant.case_id, (NoteKind.CONDITIONS,), None, participant.id)
    ).first()
    return _read(session, actor, note)


# --- why a case is paused -------------------------------------------------------------------


def set_pause_reason(session: Session, case: Case, text: str, written_by_id: int | None) -> None:
    """For both parties, in the pause's own transaction; an empty reason removes it."""
    people = _parties(case)
    _replace(session, case.id, NoteKind.PAUSE_REASON, text, people, written_by_id=written_by_id)


def pause_reason(session: Session, actor: Actor, case: Case) -> str | None:
    note = session.scalars(_where(case.id, (NoteKind.PAUSE_REASON,), None, None)).first()
    return _read(session, actor, note)


def conditions_in(session: Session, actor: Actor, case: Case) -> dict[int, str]:
    """Every party's conditions, by participant id, for the case's staff."""
    found = {p.id: conditions_of(session, actor, p) for p in _parties(case)}
    return {participant_id: text for participant_id, text in found.items() if text}


# --- for the case's staff only: gate evidence and case notes ----------------------------
# Sealed to the case key alone: its facilitators (and an administrator who joins the case)
# read them; no party ever holds a seal, and they are shredded with the case.


def set_gate_evidence(
    session: Session,
    case: Case,
    gate: str,
    text: str,
    *,
    participant_id: int | None,
    written_by_id: int,
) -> None:
    """In the gate's own transaction; a gate recorded again replaces its evidence."""
    _replace(
        session,
        case.id,
        GATE_EVIDENCE[gate],
        text,
        [],
        participant_id=participant_id,
        written_by_id=written_by_id,
    )


def gate_evidence_in(
    session: Session, actor: Actor, case: Case
) -> dict[tuple[str, int | None], str]:
    """Each gate's evidence, by (gate, participant id or None), for the case's staff."""
    gates = {kind: gate for gate, kind in GATE_EVIDENCE.items()}
    found = list(
        session.scalars(
            select(SealedNote).where(
                SealedNote.case_id == case.id, SealedNote.kind.in_(tuple(gates))
            )
        )
    )
    texts = _open_through_case(session, actor, case.id, found)
    return {
        (gates[note.kind], note.participant_id): texts[note.id]
        for note in found
        if texts.get(note.id)
    }


def add_case_note(session: Session, case: Case, text: str, written_by_id: int) -> SealedNote:
    """A facilitator's note on the case, kept beside the others (none replaces another)."""
    note = SealedNote(case_id=case.id, kind=NoteKind.CASE_NOTE, written_by_id=written_by_id)
    session.add(note)
    content_keys.write_note(session, note, text, keys.case_key_of(session, case.id), [])
    return note


@dataclass(frozen=True)
class CaseNote:
    written_at: datetime
    written_by: str
    text: str | None  # None: not for this reader (an administrator who has not joined)


def case_notes(session: Session, actor: Actor, case: Case, page: int = 1) -> Page[CaseNote]:
    """The case's notes, newest first, a page at a time, with who wrote each."""
    query = (
        select(SealedNote)
        .where(SealedNote.case_id == case.id, SealedNote.kind == NoteKind.CASE_NOTE)
        .order_by(SealedNote.id.desc())
    )
    count = (
        select(func.count())
        .select_from(SealedNote)
        .where(SealedNote.case_id == case.id, SealedNote.kind == NoteKind.CASE_NOTE)
    )
    found = page_of(session, query, page, count)
    writer_ids = {note.written_by_id for note in found.items}
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(writer_ids))).all())
    texts = _open_through_case(session, actor, case.id, found.items)
    shown = [
        CaseNote(note.created_at, names.get(note.written_by_id, "Someone"), texts.get(note.id))
        for note in found.items
    ]
    return Page(shown, found.number, found.total)


def _open_through_case(
    session: Session, actor: Actor, case_id: int, found: list[SealedNote]
) -> dict[int, str]:
    """A page of notes opened through the case key: the key and its seal to the reader
    read once for the page (content_keys.open_notes_through_case). Nothing for a reader
    who cannot open the case key (an administrator who has not joined)."""
    if not found:
        return {}
    try:
        case_key = keys.case_key_of(session, case_id)
        case_private_key = actor.case_private_key(session, case_id)
    except (NotFound, NotAllowed, AccessPending, crypto.DecryptionFailed):
        return {}
    return content_keys.open_notes_through_case(session, found, case_key, case_private_key)


# --- a party's comment in the survey at closing -------------------------------------------


def add_survey_comment(
    session: Session, case: Case, party: CaseParticipant, text: str, written_by_id: int
) -> SealedNote:
    """For the case's team (the case key) and the party who wrote it (their own seal, so it
    is in their own data), never the other party. A party on paper with no account has no
    seal: the team alone reads it."""
    note = SealedNote(
        case_id=case.id,
        kind=NoteKind.SURVEY_COMMENT,
        participant_id=party.id,
        written_by_id=written_by_id,
    )
    session.add(note)
    content_keys.write_note(
        session, note, text, keys.case_key_of(session, case.id), _readers(session, [party])
    )
    return note


def survey_comment(session: Session, actor: Actor, note_id: int | None) -> str | None:
    """The comment for the case's staff (through the case key) or for the party who wrote
    it (their own seal); None when there is none, it was shredded, or it is not for them.
    The caller has checked whose survey it is."""
    if note_id is None:
        return None
    return _read(session, actor, session.get(SealedNote, note_id))
