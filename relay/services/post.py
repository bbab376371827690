"""Posting a letter to a party on paper: the letter as a page to print, and the cover sheet.

A letter to someone who takes part on paper (many people in prison) is printed and posted
once approved. Its facilitator prints it from a page in the browser (`letter_to_print`) or
as a PDF (`print_for_post`), and puts a cover sheet on top for the prison or post
room (`cover_sheet_for`). Each is a reading of the letter, or of what it says about it, and
is audited; the PDFs are made in memory by `relay.services.printing` and never stored.

The address on the cover sheet is typed each time and never kept, in the database or the
audit trail: a person in custody moves from prison to prison, often with little notice, so
an address kept from one letter to the next would send the next one to where they were. It
is also, for a person in prison, their prison number: the most identifying thing about
them, which the service has no other reason to hold.
"""

from sqlalchemy.orm import Session

from relay.database import transaction
from relay.models import Letter
from relay.services import letters
from relay.services import printing
from relay.services import states
from relay.services.actor import Actor
from relay.services.delivery import audit_letter
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.settings import ServiceSettings

# A UK postal address with a prison number fits in a few lines; these keep the cover sheet
# to one page, whatever is typed.
ADDRESS_CHARACTERS = 300
ADDRESS_LINES = 8


def letter_to_post(session: Session, actor: Actor, letter_id: int) -> Letter:
    """An approved letter, in one of the actor's cases, to someone who takes part on paper:
    the rule for every printing. Reads only the letter's row, not its text."""
    letter = letters.letter_to_pass_on(session, actor, letter_id)
    if not letter.recipient.on_paper or letter.state not in states.NOT_OPENED:
        raise InvalidTransition(
            "Only an approved letter to someone who takes part on paper is printed"
        )
    return letter


def _printed(session: Session, actor: Actor, letter: Letter) -> tuple[printing.PrintedLetter, int]:
    """What the recipient may see of the letter as approved, and the version's number."""
    version = next(v for v in letter.versions if v.id == letter.approved_version_id)
    printed = printing.PrintedLetter(
        reference=printing.letter_reference(letter.id),
        author_name=letter.author.display_name,
        recipient_name=letter.recipient.display_name,
        dated=letter.approved_at.date(),
        text=letters.staff_text(session, actor, letter, version),
    )
    return printed, version.number


def letter_to_print(session: Session, actor: Actor, letter_id: int) -> printing.PrintedLetter:
    """The letter as a page for the browser to print: what the PDF holds, no more. Showing
    it reads the letter, so it is audited as the PDF is (`letter.printed`, marked as the
    page, so the trail tells them apart)."""
    with transaction(session):
        letter = letter_to_post(session, actor, letter_id)
        printed, version = _printed(session, actor, letter)
        audit_letter(
            session, letter, "letter.printed", actor.id, {"version": version, "as": "page"}
        )
        return printed


def print_for_post(session: Session, actor: Actor, letter_id: int) -> bytes:
    """The PDF of the letter, to print and post or to read with them: made on request, never
    stored, showing only what its recipient may see (`printing.PrintedLetter`). Printing
    reads the letter, so it is audited as a reading is."""
    with transaction(session):
        letter = letter_to_post(session, actor, letter_id)
        printed, version = _printed(session, actor, letter)
        audit_letter(session, letter, "letter.printed", actor.id, {"version": version})
        return printing.letter_pdf(printed)


def require_return_address(settings: ServiceSettings) -> None:
    """A cover sheet needs somewhere for the post room to send a letter back to."""
    if not settings.return_address.strip():
        raise InvalidTransition(
            "The service has no return address yet, so no cover sheet can be printed. "
            "Ask an administrator to set RETURN_ADDRESS"
        )


def _address(typed: str) -> str:
    """The address as typed, one line per line, without blank lines or trailing spaces."""
    lines = typed.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    address = "\n".join(line.strip() for line in lines if line.strip())
    if not address:
        raise InvalidInput("Enter the address to post the letter to", "addressee")
    if len(address) > ADDRESS_CHARACTERS:
        raise InvalidInput(f"An address is at most {ADDRESS_CHARACTERS} characters", "addressee")
    if address.count("\n") >= ADDRESS_LINES:
        raise InvalidInput(f"An address is at most {ADDRESS_LINES} lines", "addressee")
    return address


def cover_sheet_for(
    session: Session, actor: Actor, letter_id: int, addressee: str, settings: ServiceSettings
) -> bytes:
    """The cover sheet for an approved letter to a party on paper: the address typed, the
    service's return address, the letter's reference and its number of pages; nothing of
    the letter and no name but what the address holds. The pages are counted by laying
    the letter out, as `print_for_post` prints it. Audited without the address."""
    with transaction(session):
        # Whose letter it is first: someone else's is not found, whatever they typed.
        letter = letter_to_post(session, actor, letter_id)
        require_return_address(settings)
        address = _address(addressee)
        printed, version = _printed(session, actor, letter)
        pages = printing.letter_pages(printed)
        sheet = printing.cover_sheet_pdf(
            printing.CoverSheet(
                addressee=address,
                return_address=settings.return_address,
                reference=printed.reference,
                pages=pages,
            )
        )
        audit_letter(
            session,
            letter,
            "letter.cover_sheet_printed",
            actor.id,
            {"version": version, "pages": pages},
        )
        return sheet
