"""The cover sheet's page (issue 10, item 2): the facilitator types the address each time,
and gets one page for the prison or post room, made on request, kept by no cache, read
back here with pypdf for what it must and must not carry."""

import dataclasses
import io
import re

from pypdf import PdfReader
from sqlalchemy import select

from relay.models import AuditEntry
from relay.services import letters
from tests.factories import OTHER
from tests.paper import HARMED
from tests.services.test_cover_sheet import ADDRESS
from tests.services.test_cover_sheet import approved_letter_to_paper
from tests.services.test_cover_sheet import other_facilitator

TEXT = "Why our house? I still lock the door twice every night."


def _cover_sheets(session, letter_id: int) -> list[AuditEntry]:
    session.expire_all()
    query = select(AuditEntry).where(
        AuditEntry.action == "letter.cover_sheet_printed", AuditEntry.letter_id == letter_id
    )
    return session.scalars(query).all()


def test_the_facilitator_types_the_address_and_gets_a_cover_sheet_without_the_letter(
    app, client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    auth.sign_in("facilitator")

    page = client.get(f"/review/letters/{letter_id}/cover-sheet")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "<h1>Print a cover sheet for letter" in page.text
    # Relay keeps no address: the page says so, and why.
    assert "Relay does not keep the address" in page.text
    assert "moved" in page.text
    assert 'id="addressee" name="addressee"' in page.text
    assert TEXT not in page.text

    sheet = client.post(f"/review/letters/{letter_id}/cover-sheet", data={"addressee": ADDRESS})
    assert sheet.status_code == 200
    assert sheet.mimetype == "application/pdf"
    assert sheet.headers["Cache-Control"] == "no-store"
    assert sheet.headers["Content-Disposition"].startswith("inline")
    reader = PdfReader(io.BytesIO(sheet.data))
    assert len(reader.pages) == 1
    words = reader.pages[0].extract_text()
    for line in ADDRESS.splitlines():
        assert line in words
    for line in app.config["RETURN_ADDRESS"].splitlines():
        assert line in words
    assert f"Reference: Relay letter {letter_id}" in words
    assert "Enclosed: 1 page" in words
    for hidden in ("Why our house", "lock the door", "Pat", "Lee", HARMED[1], "RJ-PAPER"):
        assert hidden not in words, hidden
    for hidden in ("robbery", "Fran", "Facilitator"):
        assert hidden not in words, hidden

    (entry,) = _cover_sheets(session, letter_id)
    assert entry.actor_id == world.facilitator.id
    assert "Nowhere" not in entry.details and "A1234BC" not in entry.details


def test_an_empty_or_too_long_address_is_shown_in_an_error_summary_keeping_what_was_typed(
    client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    auth.sign_in("facilitator")

    empty = client.post(f"/review/letters/{letter_id}/cover-sheet", data={"addressee": "  "})
    assert empty.status_code == 200
    assert empty.mimetype == "text/html"
    assert '<div class="error-summary"' in empty.text
    assert '<a href="#addressee">Enter the address to post the letter to</a>' in empty.text
    assert 'aria-invalid="true"' in empty.text

    typed = "HMP Nowhere\n" + "A very long road name " * 20
    long = client.post(f"/review/letters/{letter_id}/cover-sheet", data={"addressee": typed})
    assert long.status_code == 200
    assert long.mimetype == "text/html"
    assert re.search(r'<a href="#addressee">An address is at most \d+ characters', long.text)
    assert "A very long road name A very long road name" in long.text
    assert _cover_sheets(session, letter_id) == []


def test_nobody_but_a_facilitator_of_the_case_reaches_the_cover_sheet(
    client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    other_facilitator(session, settings, world)
    url = f"/review/letters/{letter_id}/cover-sheet"

    email, _name, password = OTHER["other_facilitator"]
    auth.sign_in_as(email, password)
    assert client.get(url).status_code == 404
    assert client.post(url, data={"addressee": ADDRESS}).status_code == 404
    auth.sign_out()
    for party in ("victim", "offender"):
        auth.sign_in(party)
        assert client.get(url).status_code == 404
        assert client.post(url, data={"addressee": ADDRESS}).status_code == 404
        auth.sign_out()
    auth.sign_in_as(HARMED[0], HARMED[2])  # the letter's own author
    assert client.get(url).status_code == 404
    assert client.post(url, data={"addressee": ADDRESS}).status_code == 404
    assert _cover_sheets(session, letter_id) == []


def test_a_letter_to_someone_using_relay_gets_no_cover_sheet_and_is_told_why(
    client, auth, session, settings, world
):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    auth.sign_in("facilitator")
    url = f"/review/letters/{letter.id}/cover-sheet"
    for refused in (client.get(url), client.post(url, data={"addressee": ADDRESS})):
        assert refused.status_code == 409
        assert "Only an approved letter to someone who takes part on paper" in refused.text
    assert "cover sheet" not in client.get(f"/review/letters/{letter.id}").text
    assert _cover_sheets(session, letter.id) == []


def test_without_a_return_address_the_page_names_the_setting_and_prints_nothing(
    app, client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    app.extensions["relay.settings"] = dataclasses.replace(settings, return_address="")
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter_id}/cover-sheet")
    assert page.status_code == 200
    assert "RETURN_ADDRESS" in page.text
    assert 'id="addressee"' not in page.text
    refused = client.post(f"/review/letters/{letter_id}/cover-sheet", data={"addressee": ADDRESS})
    assert refused.status_code == 409
    assert "RETURN_ADDRESS" in refused.text
    assert _cover_sheets(session, letter_id) == []


def test_the_cover_sheet_is_linked_from_the_list_to_print_and_post_and_the_letters_page(
    client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    auth.sign_in("facilitator")
    link = f'href="/review/letters/{letter_id}/cover-sheet"'
    queue = client.get("/review/").text
    to_post = queue.split('<h2 id="to-post">')[1].split("<h2")[0]
    assert link in to_post
    assert link in client.get(f"/review/letters/{letter_id}").text
