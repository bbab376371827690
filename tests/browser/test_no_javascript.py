"""Relay without JavaScript: the same letter exchange, and the quick exit as a plain link."""

import pytest
from playwright.sync_api import expect

from tests.browser.journeys import exchange_letters
from tests.browser.pages import PartyHomePage

pytestmark = pytest.mark.slow


def test_letter_exchange_without_javascript(people, world):
    victim = people("victim", javascript=False)
    facilitator = people("facilitator", javascript=False)
    offender = people("offender", javascript=False)

    exchange_letters(victim, facilitator, offender)


def test_quick_exit_works_without_javascript(people, world):
    victim = people("victim", javascript=False)
    # Given the person harmed is signed in, with scripts turned off
    victim.sign_in()
    home = PartyHomePage(victim)
    # When they choose "Leave this site"
    home.leave_this_site()
    # Then the plain link has taken them away
    expect(victim.page.get_by_role("heading", name="Weather")).to_be_visible()
