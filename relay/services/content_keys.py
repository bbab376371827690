"""Content keys: every letter version's text under its own key, and who holds a seal of it.

A version's text is encrypted under a fresh content key when it is written, and that key
is sealed to the case's key and to the author. The recipient is given a seal only at
approval; a letter that will not be passed on loses it; a shredded case loses them all
(docs/security.md, "Keys"). This module is the only one that writes, opens or deletes a
content key's seal; the letter and case services decide when, under their locks.
"""

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import crypto
from relay import keyring
from relay.models import Case
from relay.models import CaseKey
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import NoteSeal
from relay.models import PaperScan
from relay.models import SealedNote
from relay.models import User
from relay.services.errors import NotFound


def _case_seals(session: Session, case_id: int, holder: str) -> list[ContentKeySeal]:
    return list(
        session.scalars(
            select(ContentKeySeal)
            .join(LetterVersion, ContentKeySeal.version_id == LetterVersion.id)
            .join(Letter, LetterVersion.letter_id == Letter.id)
            .where(Letter.case_id == case_id, ContentKeySeal.holder == holder)
        ).all()
    )


def _seal(session: Session, version: LetterVersion, holder: str, public_key: bytes, key: bytes):
    sealed = crypto.seal_to(public_key, key, keyring.content_key(version.id, holder))
    existing = next((seal for seal in version.seals if seal.holder == holder), None)
    if existing is not None:
        existing.sealed_key = sealed
    else:
        session.add(ContentKeySeal(version=version, holder=holder, sealed_key=sealed))


def write_text(
    session: Session, version: LetterVersion, text: str, case_key: CaseKey, author: User | None
) -> None:
    """Encrypt `text` under a fresh content key sealed to the case key and the author."""
    content_key = crypto.new_symmetric_key()
    version.ciphertext = crypto.encrypt(
        content_key, text.encode("utf-8"), keyring.letter_text(version.id)
    )
    _seal(session, version, keyring.case_holder(case_key.id), case_key.public_key, content_key)
    if author is not None:
        _seal(session, version, keyring.user_holder(author.id), author.public_key, content_key)


def seal_to_recipient(
    session: Session, version: LetterVersion, content_key: bytes, recipient: User
) -> None:
    """At approval, and only then: the recipient is given the approved version's key."""
    _seal(session, version, keyring.user_holder(recipient.id), recipient.public_key, content_key)


def _open(session: Session, version: LetterVersion, holder: str, private_key: bytes) -> bytes:
    # From the version's seals, as `_seal` reads them: approving opens one and adds one.
    seal = next((seal for seal in version.seals if seal.holder == holder), None)
    if seal is None:
        raise NotFound("letter")
    return crypto.open_sealed(private_key, seal.sealed_key, keyring.content_key(version.id, holder))


def open_through_case(
    session: Session, version: LetterVersion, case_key: CaseKey, case_private_key: bytes
) -> bytes:
    """The content key through the case's key, which only the case's key holders open."""
    return _open(session, version, keyring.case_holder(case_key.id), case_private_key)


def open_own(session: Session, version: LetterVersion, user: User, private_key: bytes) -> bytes:
    """The content key through the person's own seal (author or recipient).

    Raises crypto.DecryptionFailed when the seal was made for a key pair the person no
    longer has (after a reset without their recovery code)."""
    return _open(session, version, keyring.user_holder(user.id), private_key)


def decrypt_text(version: LetterVersion, content_key: bytes) -> str:
    if version.ciphertext is None:
        raise NotFound("letter")  # shredded under the retention policy
    return crypto.decrypt(content_key, version.ciphertext, keyring.letter_text(version.id)).decode()


def remove_recipient_seals(session: Session, letter: Letter) -> None:
    """Crypto, not only state: a letter that will not be passed on loses the recipient's key.

    A direct DELETE, not the loaded seal list: called under the letter's row lock, it
    sees every seal committed before it, including one a racing approval just wrote.
    """
    if letter.recipient.user_id is None:
        return
    versions = select(LetterVersion.id).where(LetterVersion.letter_id == letter.id)
    session.execute(
        delete(ContentKeySeal).where(
            ContentKeySeal.holder == keyring.user_holder(letter.recipient.user_id),
            ContentKeySeal.version_id.in_(versions),
        )
    )


def destroy_versions(session: Session, letter: Letter, versions: list[LetterVersion]) -> None:
    """Drafts nobody else may read, destroyed: every seal, the ciphertext and the row."""
    for version in versions:
        session.execute(delete(ContentKeySeal).where(ContentKeySeal.version_id == version.id))
        session.delete(version)
    session.flush()
    session.expire(letter, ["versions"])


def destroy_letter(session: Session, letter: Letter) -> None:
    """A letter never sent, destroyed with every version of it: nothing is left to open."""
    destroy_versions(session, letter, list(letter.versions))
    session.delete(letter)
    session.flush()


def reseal_to_person(
    session: Session, case_id: int, user: User, case_key: CaseKey, case_private_key: bytes
) -> int:
    """After a reset without the recovery code: every seal the person held in this case is
    made again, from the case key, to their new key pair. Returns how many."""
    holder = keyring.user_holder(user.id)
    seals = _case_seals(session, case_id, holder)
    for seal in seals:
        content_key = open_through_case(session, seal.version, case_key, case_private_key)
        seal.sealed_key = crypto.seal_to(
            user.public_key, content_key, keyring.content_key(seal.version_id, holder)
        )
    note_seals = _case_note_seals(session, case_id, holder)
    case_holder = keyring.case_holder(case_key.id)
    for seal in note_seals:
        note_key = _open_note_key(session, seal.note, case_holder, case_private_key)
        seal.sealed_key = crypto.seal_to(
            user.public_key, note_key, keyring.note_key(seal.note_id, holder)
        )
    return len(seals) + len(note_seals)


def reseal_to_new_case_key(
    session: Session, case_key: CaseKey, old_private_key: bytes, new_public_key: bytes
) -> int:
    """When a case's key is rotated: every content key of the case is sealed to the new
    pair in place (the row keeps its id, so the holder and contexts stay). Returns how many."""
    holder = keyring.case_holder(case_key.id)
    seals = _case_seals(session, case_key.case_id, holder)
    for seal in seals:
        context = keyring.content_key(seal.version_id, holder)
        content_key = crypto.open_sealed(old_private_key, seal.sealed_key, context)
        seal.sealed_key = crypto.seal_to(new_public_key, content_key, context)
    note_seals = _case_note_seals(session, case_key.case_id, holder)
    for seal in note_seals:
        context = keyring.note_key(seal.note_id, holder)
        note_key = crypto.open_sealed(old_private_key, seal.sealed_key, context)
        seal.sealed_key = crypto.seal_to(new_public_key, note_key, context)
    scans = _case_scans(session, case_key.case_id, holder)
    for scan in scans:
        context = keyring.paper_scan_key(scan.id, holder)
        scan_key = crypto.open_sealed(old_private_key, scan.sealed_key, context)
        scan.sealed_key = crypto.seal_to(new_public_key, scan_key, context)
    return len(seals) + len(note_seals) + len(scans)


def shred(session: Session, case: Case) -> int:
    """Retention (crypto-shredding): delete every seal and ciphertext of the case's letters
    and notes. Returns how many versions and notes lost their text."""
    shredded = 0
    for letter in case.letters:
        for version in letter.versions:
            for seal in list(version.seals):
                session.delete(seal)
            if version.ciphertext is not None:
                version.ciphertext = None
                shredded += 1
    notes = session.scalars(select(SealedNote).where(SealedNote.case_id == case.id)).all()
    for note in notes:
        session.execute(delete(NoteSeal).where(NoteSeal.note_id == note.id))
        if note.ciphertext is not None:
            note.ciphertext = None
            shredded += 1
    for scan in session.scalars(select(PaperScan).where(PaperScan.case_id == case.id)):
        scan.sealed_key = None
        if scan.ciphertext is not None:
            scan.ciphertext = None
            shredded += 1
    return shredded


# --- paper scans: the pictures of a letter that came on paper, for its staff only ------


def _case_scans(session: Session, case_id: int, holder: str) -> list[PaperScan]:
    return list(
        session.scalars(
            select(PaperScan).where(
                PaperScan.case_id == case_id,
                PaperScan.holder == holder,
                PaperScan.sealed_key.is_not(None),
            )
        ).all()
    )


def write_scan(session: Session, scan: PaperScan, data: bytes, case_key: CaseKey) -> None:
    """Encrypt a cleaned scan under a fresh key sealed to the case key alone: only the
    case's staff ever see a scan (the recipient is given the approved transcript)."""
    scan.holder = keyring.case_holder(case_key.id)
    session.add(scan)
    session.flush()  # the id binds both the pictures and the seal
    scan_key = crypto.new_symmetric_key()
    scan.ciphertext = crypto.encrypt(scan_key, data, keyring.paper_scan(scan.id))
    scan.sealed_key = crypto.seal_to(
        case_key.public_key, scan_key, keyring.paper_scan_key(scan.id, scan.holder)
    )


def open_scan(scan: PaperScan, case_key: CaseKey, case_private_key: bytes) -> bytes:
    holder = keyring.case_holder(case_key.id)
    if scan.ciphertext is None or scan.sealed_key is None or scan.holder != holder:
        raise NotFound("scan")  # shredded under the retention policy
    scan_key = crypto.open_sealed(
        case_private_key, scan.sealed_key, keyring.paper_scan_key(scan.id, holder)
    )
    return crypto.decrypt(scan_key, scan.ciphertext, keyring.paper_scan(scan.id))


def destroy_scan(session: Session, scan: PaperScan) -> None:
    """A scan uploaded in error and never typed in: its key, its pictures and its row."""
    session.delete(scan)
    session.flush()


# --- notes: free text a person typed for someone in the case, besides letters ----------


def _case_note_seals(session: Session, case_id: int, holder: str) -> list[NoteSeal]:
    return list(
        session.scalars(
            select(NoteSeal)
            .join(SealedNote, NoteSeal.note_id == SealedNote.id)
            .where(SealedNote.case_id == case_id, NoteSeal.holder == holder)
        ).all()
    )


def write_note(
    session: Session, note: SealedNote, text: str, case_key: CaseKey, readers: list[User]
) -> None:
    """Encrypt a note under a fresh key sealed to the case key and to each of `readers`,
    as a letter is (the note's id binds both, so it is flushed first)."""
    session.flush()
    note_key = crypto.new_symmetric_key()
    note.ciphertext = crypto.encrypt(note_key, text.encode("utf-8"), keyring.note_text(note.id))
    holders = [(keyring.case_holder(case_key.id), case_key.public_key)]
    holders += [(keyring.user_holder(reader.id), reader.public_key) for reader in readers]
    for holder, public_key in holders:
        sealed = crypto.seal_to(public_key, note_key, keyring.note_key(note.id, holder))
        session.add(NoteSeal(note=note, holder=holder, sealed_key=sealed))


def _open_note_key(session: Session, note: SealedNote, holder: str, private_key: bytes) -> bytes:
    seal = session.scalar(
        select(NoteSeal).where(NoteSeal.note_id == note.id, NoteSeal.holder == holder)
    )
    if seal is None:
        raise NotFound("note")
    return crypto.open_sealed(private_key, seal.sealed_key, keyring.note_key(note.id, holder))


def _decrypt_note(note: SealedNote, note_key: bytes) -> str:
    if note.ciphertext is None:
        raise NotFound("note")  # shredded under the retention policy
    return crypto.decrypt(note_key, note.ciphertext, keyring.note_text(note.id)).decode()


def open_note_through_case(
    session: Session, note: SealedNote, case_key: CaseKey, case_private_key: bytes
) -> str:
    holder = keyring.case_holder(case_key.id)
    return _decrypt_note(note, _open_note_key(session, note, holder, case_private_key))


def open_notes_through_case(
    session: Session, notes: list[SealedNote], case_key: CaseKey, case_private_key: bytes
) -> dict[int, str]:
    """A page of notes opened through the case key, {note id: text}: every note's seal
    read in one statement, not one a note. A shredded note, or one with no seal to the
    case key, is left out."""
    if not notes:
        return {}
    holder = keyring.case_holder(case_key.id)
    seals = dict(
        session.execute(
            select(NoteSeal.note_id, NoteSeal.sealed_key).where(
                NoteSeal.note_id.in_([note.id for note in notes]), NoteSeal.holder == holder
            )
        ).all()
    )
    texts = {}
    for note in notes:
        if note.id in seals and note.ciphertext is not None:
            note_key = crypto.open_sealed(
                case_private_key, seals[note.id], keyring.note_key(note.id, holder)
            )
            texts[note.id] = _decrypt_note(note, note_key)
    return texts


def open_note_own(session: Session, note: SealedNote, user: User, private_key: bytes) -> str:
    """Raises crypto.DecryptionFailed for a seal made to a key pair the person no longer has."""
    holder = keyring.user_holder(user.id)
    return _decrypt_note(note, _open_note_key(session, note, holder, private_key))


def destroy_note(session: Session, note: SealedNote) -> None:
    """A note replaced or no longer wanted: every seal, the ciphertext and the row."""
    session.execute(delete(NoteSeal).where(NoteSeal.note_id == note.id))
    session.delete(note)
    session.flush()
