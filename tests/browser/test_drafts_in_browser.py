"""No one loses a letter they wrote, in a real browser (issue "Nothing lost, nothing
leaked", items 1 and 3): the draft saves itself as it is written, and nothing that cannot
be undone happens without a question first."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from relay import demo
from relay.models import Letter
from relay.models import LetterState
from relay.services import letters
from tests.browser.conftest import PEOPLE

pytestmark = pytest.mark.slow

TEXT = "Dear Jo, I have thought about that night every day since."


def _write_page(offender, world):
    offender.sign_in()
    offender.go(f"/my/cases/{world.case.id}/write")
    return offender.page.get_by_label("Your letter")


def test_a_draft_saves_itself_and_is_there_after_a_reload(people, world, site):
    offender = people("offender")
    box = _write_page(offender, world)
    status = offender.page.locator("#save-status")
    expect(status).to_have_attribute("role", "status")
    box.fill(TEXT)
    # Leaving the field saves at once; the status says when, politely, for screen readers.
    box.press("Tab")
    expect(status).to_have_text(re.compile(r"^Saved at \d\d:\d\d"))
    expect(offender.page).to_have_url(re.compile(r"/my/letters/\d+/edit$"))
    offender.page.reload()
    expect(offender.page.get_by_label("Your letter")).to_have_value(TEXT)
    with site.session() as session:
        drafts = session.scalars(select(Letter).where(Letter.state == LetterState.DRAFT)).all()
        assert len(drafts) == 1  # the later saves went to the same draft


def test_a_draft_is_saved_before_a_timeout_signs_the_person_out(people, world, site):
    offender = people("offender")
    box = _write_page(offender, world)
    box.fill(TEXT)
    # What the timeout warning does when time is up: the draft is saved before leaving.
    saved = offender.page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener("relay:saved", () => resolve(true), {once: true});
            document.dispatchEvent(new CustomEvent("relay:before-timeout"));
        })"""
    )
    assert saved is True
    email, _name, password = PEOPLE["offender"]
    with site.session() as session:
        author = demo.actor_for(session, site.settings, email, password)
        (draft,) = session.scalars(select(Letter).where(Letter.state == LetterState.DRAFT)).all()
        _letter, texts = letters.read_own_letter(session, author, draft.id)
        assert list(texts.values()) == [TEXT]


def test_withdrawing_and_deleting_ask_first(people, world, send_letter, site):
    send_letter("offender", TEXT)
    offender = people("offender")
    offender.sign_in()
    with site.session() as session:
        sent = session.scalars(select(Letter)).one()
        sent_id = sent.id
    offender.go(f"/my/letters/{sent_id}")
    offender.page.get_by_role("link", name="Withdraw this letter").click()
    expect(offender.page.get_by_role("heading", name="Withdraw this letter?")).to_be_visible()
    offender.page.get_by_role("link", name="No, go back to the letter").click()
    expect(offender.page.locator("#letter-state")).to_have_text("With your facilitator")
    offender.page.get_by_role("link", name="Withdraw this letter").click()
    offender.page.get_by_role("button", name="Yes, withdraw this letter").click()
    expect(offender.page.locator("#letter-state")).to_have_text("Withdrawn")

    # A draft can be deleted, after the same kind of question.
    box = offender.page
    offender.go(f"/my/cases/{world.case.id}/write")
    box.get_by_label("Your letter").fill("not this one")
    box.get_by_role("button", name="Save draft").click()
    box.get_by_role("link", name="Delete this draft").click()
    expect(box.get_by_role("heading", name="Delete this draft?")).to_be_visible()
    box.get_by_role("button", name="Yes, delete the draft").click()
    expect(box.get_by_text("Your draft has been deleted")).to_be_visible()
    with site.session() as session:
        assert session.scalars(select(Letter).where(Letter.state == LetterState.DRAFT)).all() == []
