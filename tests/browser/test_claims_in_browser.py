"""Two facilitators contending for one letter, each in their own browser
(relay/services/claims.py): the one who opens it first holds it, the other sees who does
and takes it over after a question, and a decision from the page that was taken over is
refused with the reason."""

import re
from dataclasses import replace

import pytest
from playwright.sync_api import Locator
from playwright.sync_api import expect

from relay import demo
from relay.services import access
from relay.services import invitations
from tests.browser.conftest import PEOPLE
from tests.browser.journeys import FIRST
from tests.browser.pages import CasesPage
from tests.browser.pages import Person
from tests.browser.pages import ReviewPage
from tests.browser.pages import Screen

pytestmark = pytest.mark.slow

SAM = ("sam@relay.example", "Sam Jones", "correct horse sam jones")


class ClaimedReviewPage(ReviewPage):
    """The review page, with what it says about who is reviewing the letter."""

    def claim(self) -> Locator:
        return self.page.locator("#review-claim")

    def take_over(self) -> "TakeOverPage":
        self.ui.follow(self.link(re.compile(r"^Take over")))
        return TakeOverPage(self.person)

    def approve(self) -> "ClaimedReviewPage":
        self.ui.follow(self.button("Approve and pass on"))
        return ClaimedReviewPage(self.person)

    def approve_too_late(self) -> "RefusedPage":
        self.ui.follow(self.button("Approve and pass on"))
        return RefusedPage(self.person)


class TakeOverPage(Screen):
    kind = "review-take-over"
    heading = re.compile(r"^Take over this letter from .+\?$")

    def warning(self) -> Locator:
        return self.page.locator("#take-over-warning")

    def go_on(self) -> ClaimedReviewPage:
        self.ui.follow(self.button("Continue"))
        return ClaimedReviewPage(self.person)


class RefusedPage(Screen):
    kind = "refused"
    heading = "This cannot be done now"


def _second_facilitator(site, world: demo.World) -> None:
    """Sam Jones joins the case as a second facilitator, as the case page adds one."""
    email, name, password = SAM
    with site.session() as session:
        administrator = demo.actor_for(session, site.settings, *PEOPLE["administrator"][::2])
        token = invitations.invite_staff(
            session, site.settings, administrator, email=email, name=name
        )
        invitations.accept_invitation(session, site.settings, token=token, password=password)
        facilitator = demo.actor_for(session, site.settings, *PEOPLE["facilitator"][::2])
        access.add_facilitator(session, facilitator, world.case.id, email)


def _open_first(person: Person) -> ClaimedReviewPage:
    CasesPage(person).letters_to_review().open_first()
    return ClaimedReviewPage(person)


def test_two_facilitators_contend_for_one_letter(site, world, send_letter, people):
    # Given a second facilitator on the case and a letter waiting for review
    _second_facilitator(site, world)
    send_letter("victim", FIRST)
    fran = people("facilitator")
    sam = replace(people("facilitator"), email=SAM[0], password=SAM[2])

    # When Fran opens it
    fran.sign_in()
    frans_page = _open_first(fran)
    # Then she is told she is reviewing it, and until when
    expect(frans_page.claim()).to_contain_text(
        re.compile(r"You are reviewing this letter until \d\d:\d\d UTC")
    )

    # When Sam opens it
    sam.sign_in()
    review = _open_first(sam)
    # Then he sees that Fran is reviewing it, and has no decision to make but to take over
    expect(review.claim()).to_contain_text(
        re.compile(r"Fran Facilitator is reviewing this letter until \d\d:\d\d UTC")
    )
    expect(review.button("Approve and pass on")).to_have_count(0)

    # When he takes it over, after the question that warns him
    question = review.take_over()
    expect(question.page.get_by_role("heading", level=1)).to_have_text(
        "Take over this letter from Fran Facilitator?"
    )
    expect(question.warning()).to_contain_text("the decision they are writing will not be saved")
    review = question.go_on()
    # Then the letter is his to review
    expect(review.claim()).to_contain_text("You are reviewing this letter until")

    # When Fran approves from the page she still has open
    refused = frans_page.approve_too_late()
    # Then she is told Sam took it over, and nothing was saved
    expect(refused.page.get_by_role("main")).to_contain_text(
        re.compile(
            r"Sam Jones took this letter over at \d\d:\d\d UTC; your decision was not saved\. "
            r"Open it again to see where it is"
        )
    )
    # And when she opens it again she sees Sam is reviewing it
    fran.go("/")
    expect(_open_first(fran).claim()).to_contain_text("Sam Jones is reviewing this letter until")

    # When Sam approves it
    review = review.approve()
    # Then it is passed on, and nobody holds it any more
    expect(review.state()).to_have_text("Delivered")
    expect(review.claim()).to_have_count(0)
