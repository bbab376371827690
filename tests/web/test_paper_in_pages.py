"""The paper letter pages (issue 10, items 3 and 4): the scan uploaded with the days it came,
Relay's first reading of it typed over beside it, and the second facilitator's check of the
two side by side before they approve. Through the pages, as a facilitator's browser sends
them (the scan as a multipart file)."""

import difflib
import html
import io
import re

from PIL import Image
from sqlalchemy import select

from relay.models import Letter
from relay.models import LetterState
from relay.models import PaperScan
from relay.services import letters
from tests.paper import scan_of
from tests.paper import typed_in_on_pages
from tests.paper import upload_on_page

LINES = [
    "I have thought about that evening every day since.",
    "I would like to answer any question you have.",
]
TEXT = "\n".join(LINES)


def _textarea(page: str) -> str:
    found = re.search(r'<textarea[^>]*name="text"[^>]*>(.*?)</textarea>', page, re.S)
    return html.unescape(found.group(1)).strip()


def test_a_scan_uploaded_is_read_back_as_a_draft_beside_it(client, auth, session, world):
    auth.sign_in("facilitator")
    uploaded = upload_on_page(client, world.case.id, "offender", LINES)
    assert uploaded.status_code == 302
    step_two = client.get(uploaded.headers["Location"])
    page = step_two.text
    assert "<h1>Type in the letter from its scan</h1>" in page
    assert "This is a draft." in page
    draft = " ".join(_textarea(page).split())
    assert difflib.SequenceMatcher(None, draft, " ".join(LINES)).ratio() > 0.9, draft
    picture = re.search(r'<img class="scan-page" src="([^"]+)" alt="Page 1 of 1 ', page)
    assert picture is not None
    shown = client.get(picture.group(1))
    assert shown.headers["Cache-Control"] == "no-store"
    assert shown.mimetype == "image/png"
    assert Image.open(io.BytesIO(shown.data)).size == Image.open(io.BytesIO(scan_of(LINES))).size


def test_a_file_that_is_not_a_scan_is_refused_next_to_the_field_keeping_the_rest(
    client, auth, session, world
):
    auth.sign_in("facilitator")
    answer = client.post(
        f"/cases/{world.case.id}/paper-letter",
        data={
            "author": "victim",
            "received_on": "2026-11-20",
            "envelope_dated": "2026-11-18",
            "scan": (io.BytesIO(b"<html><script>alert(1)</script>"), "letter.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200  # the form again, with its errors
    page = answer.text
    assert 'class="error-summary"' in page
    assert "“letter.pdf” is not a PDF, JPEG or PNG" in page
    assert 'id="scan-error"' in page
    assert 'value="2026-11-20"' in page and 'value="2026-11-18"' in page
    assert re.search(r'value="victim"[^>]*checked|checked[^>]*value="victim"', page)
    assert session.scalars(select(PaperScan)).all() == []


def test_no_scan_and_no_day_are_each_asked_for(client, auth, world):
    auth.sign_in("facilitator")
    answer = client.post(
        f"/cases/{world.case.id}/paper-letter",
        data={"author": "offender"},
        content_type="multipart/form-data",
    )
    assert "Choose the scan of the letter" in answer.text
    assert "Enter the day the letter came" in answer.text


def test_the_letter_typed_in_waits_for_another_facilitator_who_compares_it_with_the_scan(
    client, auth, session, world, sam_client
):
    auth.sign_in("facilitator")
    letter_id = typed_in_on_pages(client, session, world.case.id, "offender", TEXT)
    assert session.get(Letter, letter_id).state == LetterState.IN_REVIEW
    # Its typist sees no decision to make on it.
    mine = client.get(f"/review/letters/{letter_id}").text
    assert "Approve and pass on" not in mine
    page = sam_client.get(f"/review/letters/{letter_id}").text
    assert '<h2 id="scan-heading">The scan it was typed from</h2>' in page
    assert "I have compared the typed letter with the scan, word for word" in page
    refused = sam_client.post(f"/review/letters/{letter_id}/approve", data={})
    assert refused.status_code == 200  # the page again, with its errors
    assert 'id="scan_checked-error"' in refused.text
    assert "Confirm that you have compared the typed letter with the scan" in refused.text
    session.expire_all()
    assert session.get(Letter, letter_id).state == LetterState.IN_REVIEW
    approved = sam_client.post(f"/review/letters/{letter_id}/approve", data={"scan_checked": "y"})
    assert approved.status_code == 302
    session.expire_all()
    assert session.get(Letter, letter_id).state != LetterState.IN_REVIEW


def test_the_timeline_shows_each_paper_step(client, auth, session, world, sam_client):
    auth.sign_in("facilitator")
    upload_on_page(
        client,
        world.case.id,
        "offender",
        LINES,
        received_on="2026-11-25",
        envelope_dated="2026-11-20",
    )
    scan = session.scalars(select(PaperScan)).one()
    client.post(f"/cases/{world.case.id}/paper-letter/{scan.id}", data={"text": TEXT})
    letter_id = session.scalar(select(Letter.id).where(Letter.entered_by_id.is_not(None)))
    sam_client.post(f"/review/letters/{letter_id}/approve", data={"scan_checked": "y"})
    page = client.get(f"/cases/{world.case.id}/timeline").text
    for words in (
        "Received a letter on paper (envelope dated 20 November 2026, came 25 November 2026)",
        "Scanned a letter that came on paper",
        "Typed in a paper letter from its scan",
        "Checked a typed letter against its scan",
    ):
        assert words in page


def test_a_scan_uploaded_in_error_is_discarded_from_the_list_waiting(client, auth, session, world):
    auth.sign_in("facilitator")
    upload_on_page(client, world.case.id, "offender", LINES)
    waiting = client.get(f"/cases/{world.case.id}/paper-letter").text
    assert "Scans waiting to be typed in" in waiting
    scan = session.scalars(select(PaperScan)).one()
    discarded = client.post(f"/cases/{world.case.id}/paper-letter/{scan.id}/discard")
    assert discarded.status_code == 302
    assert "Scans waiting to be typed in" not in client.get(discarded.headers["Location"]).text
    assert session.scalars(select(PaperScan)).all() == []


def test_the_checker_types_a_mismatched_letter_again_from_its_page(
    client, auth, session, world, sam_client
):
    auth.sign_in("facilitator")
    letter_id = typed_in_on_pages(client, session, world.case.id, "offender", "I am sory.")
    page = sam_client.get(f"/review/letters/{letter_id}").text
    assert "If the typing does not match the scan" in page
    empty = sam_client.post(
        f"/review/letters/{letter_id}/correct-transcript", data={"retype-text": ""}
    )
    assert "Type the letter" in empty.text and 'id="retype-text-error"' in empty.text
    typed = sam_client.post(
        f"/review/letters/{letter_id}/correct-transcript", data={"retype-text": "I am sorry."}
    )
    assert typed.status_code == 302
    again = sam_client.get(f"/review/letters/{letter_id}").text
    assert "Another facilitator must check it against the scan" in again
    # Sam is its typist now: the decision is Fran's.
    assert "Approve and pass on" not in again
    assert "Approve and pass on" in client.get(f"/review/letters/{letter_id}").text
    session.expire_all()
    assert session.get(Letter, letter_id).entered_by_id != world.facilitator.id


def test_a_letter_written_in_relay_has_no_typing_to_correct(client, auth, session, settings, world):
    written = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, written.id)
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{written.id}").text
    assert "If the typing does not match the scan" not in page
    assert 'id="scan-heading"' not in page
