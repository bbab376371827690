"""Letters that come on paper: received, scanned and kept, before they are typed in.

A facilitator uploads the scan of a letter that came by post or was handed over, with
the day it came and the date on its envelope. The scan is cleaned (`relay.services.scans`)
and kept encrypted under its own key, sealed to the case's key alone: only the case's
staff ever see it. Relay then proposes a first transcript with OCR, which the facilitator
corrects beside the scan and saves (`letters.enter_paper_letter`, which joins the scan to
the version typed from it). The second facilitator sees the scan beside the transcript
and confirms they match before approving (docs/rules.md, "Paper and custody").

Every step is in the case's audit trail: received (with both dates), scanned, typed in,
checked, printed, posted.
"""

from dataclasses import dataclass
from datetime import date

import pytesseract
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay.database import transaction
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import PaperScan
from relay.models import Role
from relay.models import utcnow
from relay.services import content_keys
from relay.services import keys
from relay.services import scans
from relay.services import states
from relay.services.actor import Actor
from relay.services.cases import PARTY_ROLES
from relay.services.cases import case_for_staff
from relay.services.cases import parties
from relay.services.delivery import lock_case
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.states import LetterAction


@dataclass(frozen=True)
class Draft:
    """Relay's first reading of a scan: always to be corrected against the scan."""

    text: str
    # How many of the scan's pages Tesseract read, in order, in the time it has; 0 when it
    # could not read it (missing, or too slow): the facilitator types what it did not read.
    pages_read: int
    pages: int

    @property
    def read(self) -> bool:
        return self.pages_read > 0


def _check_dates(received_on: date | None, envelope_dated: date | None) -> None:
    today = utcnow().date()
    if received_on is None:
        raise InvalidInput("Enter the day the letter came, for example 27 11 2026", "received_on")
    if received_on > today:
        raise InvalidInput("The day the letter came cannot be in the future", "received_on")
    if envelope_dated is not None and envelope_dated > received_on:
        raise InvalidInput(
            "The date on the envelope cannot be after the day the letter came", "envelope_dated"
        )


def receive_paper_letter(
    session: Session,
    actor: Actor,
    case_id: int,
    *,
    author_role: Role,
    received_on: date | None,
    envelope_dated: date | None,
    upload: bytes,
    filename: str = "",
) -> PaperScan:
    """Keep the scan of a letter that came on paper, to be typed in next. Audited twice:
    the letter received (both dates) and scanned (its pages)."""
    if author_role not in PARTY_ROLES:
        raise InvalidInput("Choose who wrote the letter", "author")
    _check_dates(received_on, envelope_dated)
    # Decoding and re-encoding take a while: done before any lock is taken.
    clean = scans.accept_scan(upload, filename=filename)
    with transaction(session):
        case = case_for_staff(session, actor, case_id)
        if actor.role != Role.FACILITATOR:
            raise NotAllowed("Only a facilitator can enter a letter")
        case = lock_case(session, case.id, exclusive=False)
        states.check_new(LetterAction.ENTER_FROM_PAPER, case)
        if not parties(case, author_role):
            raise InvalidInput("Choose who wrote the letter", "author")
        case_key = keys.case_key_of(session, case.id)
        scan = PaperScan(
            case_id=case.id,
            author_role=author_role,
            received_on=received_on,
            envelope_dated=envelope_dated,
            media_type=clean.media_type,
            pages=clean.pages,
            uploaded_by_id=actor.id,
        )
        content_keys.write_scan(session, scan, clean.data, case_key)
        audit.record(
            session,
            "case.paper_letter_received",
            actor_id=actor.id,
            case_id=case.id,
            details={
                "scan": scan.id,
                "received_on": received_on.isoformat(),
                "envelope_dated": envelope_dated.isoformat() if envelope_dated else None,
            },
        )
        audit.record(
            session,
            "case.paper_letter_scanned",
            actor_id=actor.id,
            case_id=case.id,
            details={"scan": scan.id, "pages": clean.pages, "type": clean.kind},
        )
        return scan


def scan_for_staff(session: Session, actor: Actor, scan_id: int) -> PaperScan:
    """A scan of one of the actor's cases; 404 for anyone else, or once shredded."""
    scan = session.get(PaperScan, scan_id)
    if scan is None:
        raise NotFound("scan")
    case_for_staff(session, actor, scan.case_id)
    return scan


def scan_to_type(session: Session, actor: Actor, case_id: int, scan_id: int) -> PaperScan:
    """A scan of this case still waiting to be typed in."""
    scan = scan_for_staff(session, actor, scan_id)
    if scan.case_id != case_id:
        raise NotFound("scan")
    if scan.version_id is not None:
        raise InvalidTransition("This scan has already been typed in")
    return scan


def scan_of_letter(session: Session, letter: Letter) -> PaperScan | None:
    """The scan a paper letter was typed from, or None for a letter written in Relay."""
    return session.scalar(
        select(PaperScan)
        .join(LetterVersion, PaperScan.version_id == LetterVersion.id)
        .where(LetterVersion.letter_id == letter.id)
    )


def waiting_to_be_typed(session: Session, actor: Actor, case_id: int) -> list[PaperScan]:
    """The case's scans not yet typed in, oldest first."""
    case = case_for_staff(session, actor, case_id)
    return list(
        session.scalars(
            select(PaperScan)
            .where(PaperScan.case_id == case.id, PaperScan.version_id.is_(None))
            .order_by(PaperScan.id)
        )
    )


def _clean_scan(session: Session, actor: Actor, scan: PaperScan) -> scans.CleanScan:
    data = content_keys.open_scan(
        scan,
        keys.case_key_of(session, scan.case_id),
        actor.case_private_key(session, scan.case_id),
    )
    return scans.stored_scan(data, scan.media_type, scan.pages)


def page_picture(session: Session, actor: Actor, scan_id: int, number: int) -> tuple[bytes, str]:
    """One page of a scan as a picture, for its case's staff: (bytes, media type)."""
    scan = scan_for_staff(session, actor, scan_id)
    return scans.page_picture(_clean_scan(session, actor, scan), number)


def draft_transcript(session: Session, actor: Actor, case_id: int, scan_id: int) -> Draft:
    """Relay's first reading of a scan waiting to be typed in (Tesseract, English)."""
    scan = scan_to_type(session, actor, case_id, scan_id)
    try:
        read = scans.ocr_draft(_clean_scan(session, actor, scan))
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, RuntimeError):
        return Draft("", 0, scan.pages)
    return Draft(read.text, read.pages_read, scan.pages)


def discard_scan(session: Session, actor: Actor, case_id: int, scan_id: int) -> None:
    """A scan uploaded in error (the wrong letter, a page missing), never typed in."""
    with transaction(session):
        scan = scan_to_type(session, actor, case_id, scan_id)
        if actor.role != Role.FACILITATOR:
            raise NotAllowed("Only a facilitator can discard a scan")
        lock_case(session, scan.case_id, exclusive=False)
        scan = session.get(PaperScan, scan_id, with_for_update=True, populate_existing=True)
        if scan is None or scan.version_id is not None:
            raise InvalidTransition("This scan has already been typed in")
        audit.record(
            session,
            "case.paper_scan_discarded",
            actor_id=actor.id,
            case_id=scan.case_id,
            details={"scan": scan.id},
        )
        content_keys.destroy_scan(session, scan)


def lock_scan_to_type(session: Session, case_id: int, scan_id: int) -> PaperScan:
    """Under the case's lock: the scan, locked, so two facilitators cannot both type it in."""
    scan = session.get(PaperScan, scan_id, with_for_update=True, populate_existing=True)
    if scan is None or scan.case_id != case_id:
        raise NotFound("scan")
    if scan.version_id is not None:
        raise InvalidTransition("This scan has already been typed in")
    return scan
