"""Printing a letter to a party on paper from the browser (issue 10, item 2): from the list
to print and post, the print view, printed by Chromium itself (print media, to a PDF read
back with pypdf) as the letter alone; then the cover sheet's page, refusing an empty
address in its error summary. Every page passes axe at 1280 and 320 px as it opens."""

import io
import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from relay import demo
from relay.models import Role
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from tests.browser.conftest import PEOPLE
from tests.browser.pages import Screen

pytestmark = pytest.mark.slow

HARMED = ("pat@relay.example", "Pat Harmed", "correct horse pat harmed")
TEXT = "Why our house?\n\nI still lock the door twice every night."


class QueuePage(Screen):
    kind = "review-queue"
    heading = "Letters to review"


class PrintViewPage(Screen):
    kind = "print-view"
    heading = "Letter from Pat"


class CoverSheetPage(Screen):
    kind = "cover-sheet"
    heading = re.compile(r"^Print a cover sheet for letter \d+$")


@pytest.fixture
def paper_letter(site, world) -> int:
    """An approved letter from Pat (on Relay) to Lee (in prison, on paper): its id."""
    email, _name, password = PEOPLE["facilitator"]
    with site.session() as session:
        fran = demo.actor_for(session, site.settings, email, password)
        case = cases.open_case(session, fran, reference="RJ-PAPER", offence_category="robbery")
        token = cases.invite_party(
            session,
            site.settings,
            fran,
            case.id,
            role=Role.VICTIM,
            email=HARMED[0],
            name=HARMED[1],
            display_name="Pat",
        )
        invitations.accept_invitation(session, site.settings, token=token, password=HARMED[2])
        cases.add_paper_party(session, fran, case.id, role=Role.OFFENDER, display_name="Lee")
        for gate in cases.GATES:
            cases.record_gate(session, fran, case.id, gate)
        cases.activate_case(session, fran, case.id)
        harmed = demo.actor_for(session, site.settings, HARMED[0], HARMED[2])
        letter = letters.save_draft(session, harmed, case.id, None, TEXT)
        letters.submit_letter(session, site.settings, harmed, letter.id)
        letters.approve_letter(session, site.settings, fran, letter.id)
        return letter.id


def test_the_print_view_prints_as_the_letter_alone_and_the_cover_sheet_asks_for_the_address(
    people, paper_letter
):
    # Given an approved letter to someone in prison, in the list to print and post
    fran = people("facilitator")
    fran.sign_in()
    fran.go("/review/")
    queue = QueuePage(fran)
    to_post = queue.page.locator("ol").filter(has=queue.page.get_by_role("link", name="print it"))

    # When Fran follows "print it"
    queue.ui.follow(to_post.get_by_role("link", name=f"print it (letter {paper_letter})"))
    view = PrintViewPage(fran)
    # Then the screen shows her the way to print, and the letter as Lee will read it
    expect(view.page.locator("#print-guidance")).to_be_visible()
    expect(view.page.locator("article")).to_contain_text("I still lock the door twice")
    expect(view.page.locator("article")).to_contain_text(f"Reference: Relay letter {paper_letter}")

    # When the browser prints it
    view.page.emulate_media(media="print")
    # Then the menu and the guidance are gone, and the letter is all there is
    expect(view.page.locator("header.header")).to_be_hidden()
    expect(view.page.locator("#print-guidance")).to_be_hidden()
    expect(view.page.locator("article")).to_be_visible()
    printed = view.page.pdf(format="A4")
    words = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(printed)).pages)
    for shown in ("Letter from Pat", "To: Lee", "Why our house?", "twice every night"):
        assert shown in words, shown
    for hidden in ("Review queue", "Sign out", "Download", "cover sheet", "RJ-PAPER", "Fran"):
        assert hidden not in words, hidden
    view.page.emulate_media(media="screen")

    # When she goes on to the cover sheet and asks for it with no address
    view.ui.follow(view.link("Make a cover sheet"))
    sheet = CoverSheetPage(fran)
    expect(sheet.page.locator("#address-not-kept")).to_contain_text(
        "Relay does not keep the address"
    )
    sheet.ui.follow(sheet.button("Make the cover sheet (PDF)"))
    sheet = CoverSheetPage(fran)
    # Then the error summary says what to do, and its link leads to the box
    expect(sheet.error_summary()).to_contain_text("Enter the address to post the letter to")
    sheet.error_summary().get_by_role("link").click()
    expect(sheet.field("Address to post the letter to")).to_be_focused()
