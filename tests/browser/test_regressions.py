"""Faults the browser suite found once, kept as tests so they stay fixed."""

import pytest
from playwright.sync_api import expect

from tests.browser.checks import duplicate_ids
from tests.browser.journeys import FIRST
from tests.browser.pages import CasesPage

pytestmark = pytest.mark.slow


def test_each_field_on_the_review_page_has_its_own_label(people, send_letter):
    # Given a letter waiting for review
    send_letter("victim", FIRST)

    # When the facilitator opens it
    facilitator = people("facilitator")
    facilitator.sign_in()
    review = CasesPage(facilitator).letters_to_review().open_first()

    # Then the note's label leads to the note of the form that suggests changes
    expect(review.redaction_note()).to_have_count(1)
    assert review.redaction_note().evaluate("el => el.form.action").endswith("/redact")
    # And no id that a label or link points at is used twice
    assert duplicate_ids(review.page, known=True) == []
