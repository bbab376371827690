"""Review that helps, as a facilitator works it (issue 9, item 4): the flags of the letter
from the issue marked in the text and listed, Approve refused until each is ticked as
checked and the approval confirmed, then the decision confirmed and the next letter
offered. Every page is checked with axe at both widths as it is reached."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.journeys import FIRST
from tests.browser.pages import CasesPage

pytestmark = pytest.mark.slow

# The letter the issue says raised no flag at all.
FROM_THE_ISSUE = (
    "I was off my head and my mate Darren talked me into it, so it wasn't all down to me. "
    "Honestly you shouldn't have left the back door unlocked. Please forgive me. "
    "I hope this helps with my parole."
)


def test_flags_are_checked_one_by_one_before_approving_then_the_next_letter(
    world, send_letter, people
):
    # Given the letter from the issue, and another after it, waiting for review
    send_letter("offender", FROM_THE_ISSUE)
    send_letter("victim", FIRST)
    fran = people("facilitator")
    fran.sign_in()

    # When Fran opens the oldest from the queue
    review = CasesPage(fran).letters_to_review().open_first()
    # Then each flag is marked in the text, numbered, with its reason in a list
    flagged = review.page.locator("#review-flags li")
    expect(flagged).to_have_count(7)
    expect(review.page.locator("mark.flag")).to_have_count(7)
    expect(flagged.first).to_contain_text("off my head")
    boxes = review.flag_boxes()
    expect(boxes).to_have_count(7)

    # When she approves having ticked none
    review.confirm()
    review = review.approve()
    # Then she is told what is missing, the letter stays in review, and her tick is kept
    expect(review.error_summary()).to_contain_text(
        "Mark each flag as checked before you approve: 7 of 7"
    )
    expect(review.state()).to_have_text("With your facilitator")
    expect(review.field("I have read the whole letter, and it can be passed on")).to_be_checked()

    # When she ticks each one, confirms and approves
    review.mark_flags_checked()
    review = review.approve()
    # Then the decision is confirmed, and the next letter offered
    expect(review.notice().filter(has_text="Your decision is saved")).to_contain_text(
        "This letter is now: approved."
    )
    following = review.next_letter()
    expect(following.version(1)).to_contain_text(FIRST)
    expect(following.flag_boxes()).to_have_count(0)
    expect(following.page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Letter \d+"))
