"""The print view of a letter to a party on paper (issue 10, item 2): the letter as its
recipient may see it, as a page the browser prints cleanly (static/relay.css, @media
print), with nothing of the case, of its staff or of anyone's real name; audited as a
printing, for the case's facilitators only."""

import json
import re

from sqlalchemy import select

from relay.models import AuditEntry
from relay.services import letters
from tests.factories import OTHER
from tests.factories import PEOPLE
from tests.paper import HARMED
from tests.services.test_cover_sheet import approved_letter_to_paper
from tests.services.test_cover_sheet import other_facilitator

TEXT = (
    "Why our house?\n\nI still lock the door twice <b>every</b> night.\nThe neighbour's dog barks."
)


def _printings(session, letter_id: int) -> list[AuditEntry]:
    session.expire_all()
    query = select(AuditEntry).where(
        AuditEntry.action == "letter.printed", AuditEntry.letter_id == letter_id
    )
    return session.scalars(query).all()


def _printed_part(page: str) -> str:
    """What is printed: the page's letter, without the screen-only guidance around it."""
    return page[page.index('<article class="printed-letter"') : page.index("</article>")]


def test_the_print_view_shows_the_letter_as_its_recipient_may_see_it(
    client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    auth.sign_in("facilitator")

    page = client.get(f"/review/letters/{letter_id}/print")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.text
    printed = _printed_part(html)
    assert ">Letter from Pat</h1>" in printed
    assert "To: Lee" in printed
    assert f"Reference: Relay letter {letter_id}" in printed
    assert re.search(r"Date: \d{1,2} [A-Z][a-z]+ \d{4}", printed)
    # The text as typed, escaped: "<b>" is three characters, not bold.
    assert "<p>Why our house?</p>" in printed
    assert "I still lock the door twice &lt;b&gt;every&lt;/b&gt; night.<br>" in printed
    assert "The neighbour&#39;s dog barks." in printed

    # Nothing of the case, its staff or anyone's real name, anywhere on the page.
    for hidden in ("RJ-PAPER", "robbery", HARMED[1], HARMED[0]):
        assert hidden not in html, hidden
    for name in (PEOPLE["facilitator"][1], PEOPLE["administrator"][1]):
        assert name not in html and name.split()[0] not in html, name

    # Printed from the browser: the stylesheet's print rules leave out the header, its
    # navigation and the guidance, which the page marks as for the screen only.
    assert '<div class="screen-only' in html
    assert _printed_part(html).count("screen-only") == 0
    with client.get("/static/relay.css") as stylesheet:
        css = stylesheet.text
    print_rules = css[css.index("@media print") :]
    for hidden in (".header", ".skip-link", ".screen-only", ".timeout"):
        assert hidden in print_rules

    (entry,) = _printings(session, letter_id)
    assert entry.actor_id == world.facilitator.id
    assert json.loads(entry.details) == {"version": 1, "as": "page"}


def test_the_print_view_offers_the_pdf_and_the_cover_sheet_on_screen(
    client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    auth.sign_in("facilitator")
    html = client.get(f"/review/letters/{letter_id}/print").text
    guidance = html[: html.index('<article class="printed-letter"')]
    assert f'href="/review/letters/{letter_id}/printed.pdf"' in guidance
    assert f'href="/review/letters/{letter_id}/cover-sheet"' in guidance
    assert f'href="/review/letters/{letter_id}"' in guidance


def test_nobody_but_a_facilitator_of_the_case_sees_the_print_view(
    client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    other_facilitator(session, settings, world)
    url = f"/review/letters/{letter_id}/print"

    email, _name, password = OTHER["other_facilitator"]
    auth.sign_in_as(email, password)
    assert client.get(url).status_code == 404
    auth.sign_out()
    for party in ("victim", "offender"):
        auth.sign_in(party)
        assert client.get(url).status_code == 404
        auth.sign_out()
    auth.sign_in_as(HARMED[0], HARMED[2])  # the letter's own author
    page = client.get(url)
    assert page.status_code == 404
    assert "Why our house" not in page.text
    auth.sign_out()
    auth.sign_in("administrator")  # not on the case
    assert client.get(url).status_code in (403, 404)
    assert _printings(session, letter_id) == []


def test_a_letter_to_someone_using_relay_has_no_print_view_and_is_told_why(
    client, auth, session, settings, world
):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    auth.sign_in("facilitator")
    refused = client.get(f"/review/letters/{letter.id}/print")
    assert refused.status_code == 409
    assert "Only an approved letter to someone who takes part on paper" in refused.text
    assert "I am sorry." not in refused.text
    assert (
        f'href="/review/letters/{letter.id}/print"'
        not in client.get(f"/review/letters/{letter.id}").text
    )
    assert _printings(session, letter.id) == []


def test_the_print_view_is_linked_from_the_list_to_print_and_post_and_the_letters_page(
    client, auth, session, settings, world
):
    letter_id = approved_letter_to_paper(session, settings, world, TEXT)
    auth.sign_in("facilitator")
    link = f'href="/review/letters/{letter_id}/print"'
    queue = client.get("/review/").text
    to_post = queue.split('<h2 id="to-post">')[1].split("<h2")[0]
    assert link in to_post
    assert link in client.get(f"/review/letters/{letter_id}").text
