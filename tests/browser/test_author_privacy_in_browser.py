"""The author learns of delivery only if the recipient allows it, in a real browser too
(issue "Nothing lost, nothing leaked", item 3): what the author's browser shows for a
letter approved and waiting, and for one delivered and unread, is the same."""

import re

import pytest
from playwright.sync_api import expect

from relay import demo
from relay.models import LetterState
from relay.services import cases
from relay.services import letters
from tests.browser.conftest import PEOPLE

pytestmark = pytest.mark.slow


def _approve(site, world, preference: str, text: str) -> int:
    with site.session() as session:
        actors = {
            role: demo.actor_for(session, site.settings, PEOPLE[role][0], PEOPLE[role][2])
            for role in ("victim", "offender", "facilitator")
        }
        cases.set_receiving(
            session, site.settings, actors["victim"], world.case.id, preference=preference
        )
        letter = letters.save_draft(session, actors["offender"], world.case.id, None, text)
        letters.submit_letter(session, site.settings, actors["offender"], letter.id)
        letters.approve_letter(session, site.settings, actors["facilitator"], letter.id)
        expected = LetterState.DELIVERED if preference == "receive" else LetterState.APPROVED
        assert letter.state == expected
        return letter.id


def _seen(page) -> str:
    """What the page shows and holds, with the letter's own ids, text and tokens taken out."""
    html = page.content()
    html = re.sub(r'name="csrf_token" value="[^"]*"', "", html)
    html = re.sub(r"Letter (one|two)\.", "Letter #.", html)
    return re.sub(r"\d+", "#", html)


def test_the_authors_browser_shows_the_same_for_waiting_and_delivered(people, world, site):
    delivered = _approve(site, world, "receive", "Letter one.")
    waiting = _approve(site, world, "not_now", "Letter two.")
    offender = people("offender")
    offender.sign_in()
    seen = {}
    for name, letter_id in (("delivered", delivered), ("waiting", waiting)):
        offender.go(f"/my/letters/{letter_id}")
        expect(offender.page.locator("#letter-state")).to_have_text("Approved")
        expect(offender.page.get_by_role("link", name="Withdraw this letter")).to_have_count(0)
        letter_page = _seen(offender.page)
        response = offender.page.goto(f"/my/letters/{letter_id}/withdraw")
        seen[name] = (letter_page, response.status, _seen(offender.page))
    assert seen["delivered"] == seen["waiting"]
    # On the list of their letters, the two read the same too.
    offender.go(f"/my/cases/{world.case.id}")
    items = offender.page.locator("#main li").all_inner_texts()
    started = [item for item in items if "Letter started" in item]
    states = [item.splitlines()[0].split(":")[-1].strip() for item in started]
    assert states == ["Approved", "Approved"]
    # And what happens next is worded the same for both.
    assert len({re.sub(r"\d+", "#", item) for item in started}) == 1
