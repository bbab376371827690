"""The cover sheet and the print view of a letter to a party on paper (issue 10, item 2),
through relay.services.post: only a facilitator of the case, only an approved letter to
someone on paper; the address typed each time and never kept; each printing audited."""

import dataclasses
import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from relay.models import AuditEntry
from relay.services import invitations
from relay.services import letters
from relay.services import post
from relay.services import printing
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from tests import paper
from tests.factories import OTHER
from tests.factories import actor_for
from tests.paper import HARMED

ADDRESS = "Mr J Smith A1234BC\nHMP Nowhere\n1 Prison Road\nNowhere\nZZ99 1AA"
RETURN = "Relay RJ Service\nPO Box 12\nLeeds\nLS1 1AA"
# Long enough for three pages or more of the printed letter.
TEXT = "\n\n".join(f"Paragraph {n}: why our house, and what happened after." * 4 for n in range(40))


def approved_letter_to_paper(session, settings, world, text: str = TEXT) -> int:
    """An approved letter from Pat (on Relay) to Lee (in prison, on paper), in case
    RJ-PAPER of the world's facilitator: its id."""
    fran = world.facilitator
    case_id, _lee = paper.paper_case(session, settings, fran, "RJ-PAPER")
    paper.started(session, fran, case_id)
    harmed = paper.pat_signed_in(session, settings)
    letter = letters.save_draft(session, harmed, case_id, None, text)
    letters.submit_letter(session, settings, harmed, letter.id)
    letters.approve_letter(session, settings, fran, letter.id)
    return letter.id


@pytest.fixture
def paper_letter(session, settings, world):
    return approved_letter_to_paper(session, settings, world)


def _words(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _entries(session, action: str, letter_id: int) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.letter_id == letter_id)
    return session.scalars(query).all()


def other_facilitator(session, settings, world):
    email, name, password = OTHER["other_facilitator"]
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    return actor_for(session, settings, email, password)


def test_the_cover_sheet_carries_the_address_typed_the_return_address_reference_and_pages(
    session, settings, world, paper_letter
):
    settings = dataclasses.replace(settings, return_address=RETURN)
    pdf = post.cover_sheet_for(session, world.facilitator, paper_letter, ADDRESS, settings)

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    words = _words(pdf)
    for line in (*ADDRESS.splitlines(), *RETURN.splitlines()):
        assert line in words
    assert f"Reference: Relay letter {paper_letter}" in words
    printed = printing.letter_pdf(post.letter_to_print(session, world.facilitator, paper_letter))
    pages = len(PdfReader(io.BytesIO(printed)).pages)
    assert pages >= 3
    assert f"Enclosed: {pages} pages" in words
    for hidden in ("why our house", "Paragraph", "Pat", HARMED[1], "RJ-PAPER", "robbery", "Fran"):
        assert hidden not in words


def test_the_cover_sheet_is_audited_with_no_word_of_the_address(
    session, settings, world, paper_letter
):
    post.cover_sheet_for(session, world.facilitator, paper_letter, ADDRESS, settings)

    (entry,) = _entries(session, "letter.cover_sheet_printed", paper_letter)
    assert entry.actor_id == world.facilitator.id
    details = json.loads(entry.details)
    assert set(details) == {"version", "pages"}
    for line in ADDRESS.splitlines():
        assert line not in entry.details
    # Counting the pages is no printing of the letter: only the cover sheet is recorded.
    assert _entries(session, "letter.printed", paper_letter) == []


def test_an_address_empty_too_long_or_of_too_many_lines_is_refused_and_nothing_audited(
    session, settings, world, paper_letter
):
    fran = world.facilitator
    too_long = "x" * (post.ADDRESS_CHARACTERS + 1)
    too_many_lines = "\n".join(f"Line {n}" for n in range(post.ADDRESS_LINES + 1))
    for typed, message in (
        ("", "Enter the address"),
        ("  \n \n", "Enter the address"),
        (too_long, f"at most {post.ADDRESS_CHARACTERS} characters"),
        (too_many_lines, f"at most {post.ADDRESS_LINES} lines"),
    ):
        with pytest.raises(InvalidInput, match=message) as refused:
            post.cover_sheet_for(session, fran, paper_letter, typed, settings)
        assert refused.value.field == "addressee"
    assert _entries(session, "letter.cover_sheet_printed", paper_letter) == []


def test_the_longest_address_allowed_fits_the_one_page(session, settings, world, paper_letter):
    # Every line as long as the limit allows, in the widest letter: still one page.
    width = post.ADDRESS_CHARACTERS // post.ADDRESS_LINES - 1
    longest = "\n".join("W" * width for _ in range(post.ADDRESS_LINES))
    pdf = post.cover_sheet_for(session, world.facilitator, paper_letter, longest, settings)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_without_a_return_address_no_cover_sheet_is_printed(session, settings, world, paper_letter):
    unset = dataclasses.replace(settings, return_address="")
    with pytest.raises(InvalidTransition, match="RETURN_ADDRESS"):
        post.cover_sheet_for(session, world.facilitator, paper_letter, ADDRESS, unset)
    assert _entries(session, "letter.cover_sheet_printed", paper_letter) == []


def test_only_a_facilitator_of_the_case_gets_the_cover_sheet_or_the_print_view(
    session, settings, world, paper_letter
):
    other = other_facilitator(session, settings, world)
    harmed = paper.pat_signed_in(session, settings)
    for actor in (other, world.victim, world.offender, harmed):
        with pytest.raises(NotFound):
            post.cover_sheet_for(session, actor, paper_letter, ADDRESS, settings)
        with pytest.raises(NotFound):
            post.letter_to_print(session, actor, paper_letter)
    # An administrator not on the case does not find it either.
    with pytest.raises((NotFound, NotAllowed)):
        post.cover_sheet_for(session, world.administrator, paper_letter, ADDRESS, settings)
    assert _entries(session, "letter.cover_sheet_printed", paper_letter) == []
    assert _entries(session, "letter.printed", paper_letter) == []


def test_a_letter_to_someone_using_relay_is_refused_with_a_clear_message(session, settings, world):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    fran = world.facilitator
    message = "Only an approved letter to someone who takes part on paper"
    with pytest.raises(InvalidTransition, match=message):
        post.cover_sheet_for(session, fran, letter.id, ADDRESS, settings)
    with pytest.raises(InvalidTransition, match=message):
        post.letter_to_print(session, fran, letter.id)
    with pytest.raises(InvalidTransition, match=message):
        post.letter_to_post(session, fran, letter.id)


def test_a_letter_not_yet_approved_is_not_printed(session, settings, world, paper_letter):
    harmed = paper.pat_signed_in(session, settings)
    case_id = letters.letter_for_author(session, harmed, paper_letter).case_id
    draft = letters.save_draft(session, harmed, case_id, None, "A second letter.")
    letters.submit_letter(session, settings, harmed, draft.id)
    with pytest.raises(InvalidTransition):
        post.cover_sheet_for(session, world.facilitator, draft.id, ADDRESS, settings)
    with pytest.raises(InvalidTransition):
        post.letter_to_print(session, world.facilitator, draft.id)


def test_the_print_view_holds_what_the_recipient_may_see_and_is_audited_as_a_printing(
    session, settings, world, paper_letter
):
    printed = post.letter_to_print(session, world.facilitator, paper_letter)
    assert printed.author_name == "Pat"
    assert printed.recipient_name == "Lee"
    assert printed.reference == f"Relay letter {paper_letter}"
    assert printed.text == TEXT
    (entry,) = _entries(session, "letter.printed", paper_letter)
    assert entry.actor_id == world.facilitator.id
    assert json.loads(entry.details) == {"version": 1, "as": "page"}
