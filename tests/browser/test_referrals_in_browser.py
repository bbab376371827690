"""Referrals in a browser (issue 11, item 1): a facilitator records a referral from the
staff navigation, records that the person harmed declined and then, when they agree,
opens a case for it; with the mouse and with the keyboard alone, and without JavaScript.
Every page passes axe (checked on each page as it opens)."""

from datetime import date
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.evidence_pages import NewReferralPage
from tests.browser.evidence_pages import ReferralCasePage
from tests.browser.evidence_pages import ReferralPage
from tests.browser.evidence_pages import ReferralsPage
from tests.browser.pages import CasePage
from tests.browser.pages import CasesPage

pytestmark = pytest.mark.slow

CAME_ON = date.today() - timedelta(days=3)


@pytest.mark.parametrize(
    ("keyboard", "javascript"),
    [(False, True), (True, True), (False, False)],
    ids=["mouse", "keyboard", "no-javascript"],
)
def test_a_referral_recorded_declined_then_opened_as_a_case(people, world, keyboard, javascript):
    facilitator = people("facilitator", keyboard=keyboard, javascript=javascript)

    # Given the facilitator follows "Referrals" in the staff navigation
    facilitator.sign_in()
    cases = CasesPage(facilitator)
    cases.ui.follow(cases.page.get_by_role("navigation").get_by_role("link", name="Referrals"))
    referrals = ReferralsPage(facilitator)
    expect(referrals.page.get_by_role("main")).to_contain_text("No referrals have been recorded")
    referrals.ui.follow(referrals.link("Record a referral"))
    new = NewReferralPage(facilitator)

    # When they send the form with only where it came from
    new.ui.choose(new.page.get_by_role("radio", name="Victim services"))
    new.ui.follow(new.button("Record the referral"))
    new = NewReferralPage(facilitator)

    # Then the error summary names what is missing, and their choice is kept
    expect(new.error_summary()).to_contain_text("Enter the day the referral came")
    expect(new.error_summary()).to_contain_text("Choose the kind of offence")
    expect(new.page.get_by_role("radio", name="Victim services")).to_be_checked()
    # A typist fills the browser's date field segment by segment: headless Chromium lays it
    # out as month, day, year whatever the page's language.
    typed = CAME_ON.strftime("%m%d%Y") if keyboard else CAME_ON.isoformat()
    new.ui.fill(new.field("The day the referral came"), typed)
    new.ui.choose(new.page.get_by_role("radio", name="Burglary"))
    new.ui.follow(new.button("Record the referral"))
    referral = ReferralPage(facilitator)
    expect(referral.notice()).to_contain_text("Referral recorded")
    expect(referral.page.locator("#referral-summary")).to_contain_text("Victim services")

    # When they record a decline without its reason, then with it
    referral.ui.choose(referral.page.get_by_role("radio", name="They declined"))
    referral.ui.follow(referral.button("Record what happened"))
    referral = ReferralPage(facilitator)
    expect(referral.error_summary()).to_contain_text("Choose why they declined")
    referral.ui.choose(referral.page.get_by_role("radio", name="Not ready now"))
    referral.ui.follow(referral.button("Record what happened"))
    referral = ReferralPage(facilitator)
    expect(referral.page.locator("#referral-status")).to_have_text("Declined: not ready now")

    # And later, when the person harmed agrees, open a case for it
    referral.ui.follow(referral.link("Open a case for this referral"))
    opening = ReferralCasePage(facilitator)
    opening.ui.fill(opening.field("Case reference"), "RJ-REFERRED-1")
    opening.ui.follow(opening.button("Open the case"))

    # Then the case is theirs, with the referral's kind of offence
    case = CasePage(facilitator)
    expect(case.page.get_by_role("heading", level=1)).to_have_text("Case RJ-REFERRED-1")
    expect(case.page.locator(".summary").first).to_contain_text("Burglary")
    case.ui.follow(case.page.get_by_role("navigation").get_by_role("link", name="Referrals"))
    referrals = ReferralsPage(facilitator)
    expect(referrals.page.locator("#referrals tbody tr")).to_have_count(1)
    expect(referrals.page.locator("#referrals")).to_contain_text("Took part: a case was opened")
