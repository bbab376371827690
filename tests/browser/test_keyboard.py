"""The letter exchange by keyboard alone: Tab to every control, Enter on links, Space on
buttons, checkboxes and radios, arrows within a radio group; at every stop the focus must
be visible (an outline or a shadow, on screen). Pages are checked as in every journey."""

import pytest
from playwright.sync_api import expect

from tests.browser.journeys import exchange_letters
from tests.browser.pages import SignInPage

pytestmark = pytest.mark.slow


def test_letter_exchange_by_keyboard_alone(people, world):
    victim = people("victim", keyboard=True)
    facilitator = people("facilitator", keyboard=True)
    offender = people("offender", keyboard=True)

    exchange_letters(victim, facilitator, offender)

    # (Each person's Keyboard counts its presses: a run that clicked would count none.)
    for person in (victim, facilitator, offender):
        assert person.ui.presses > 0


def test_the_first_tab_shows_the_skip_link_which_moves_focus_to_the_main_content(people):
    visitor = people("victim", keyboard=True)
    # Given someone on the sign-in page, using a keyboard
    visitor.go("/sign-in")
    page = SignInPage(visitor).page

    # When they press Tab once
    page.keyboard.press("Tab")
    # Then the skip link appears, focused
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()

    # When they press Enter
    page.keyboard.press("Enter")
    # Then focus moves to the main content, and the next Tab reaches its first field
    expect(page.get_by_role("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email address", exact=True)).to_be_focused()
