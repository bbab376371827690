"""The evidence base end to end (issue 11): a referral recorded and opened as a case, a
letter written and approved, the case closed, the person harmed answering the closing
survey, and the administrator's dashboard counting it all, with every count under 5
shown as "fewer than 5", in the page and in the CSV it downloads.

The parties' invitations and gates go through the services (`demo.start_with_parties`),
as the pages would: their pages are walked in test_journeys.py. Every page passes axe
(checked on each page as it opens)."""

import csv
import io
import re
from datetime import date
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from relay import demo
from relay.models import Case
from relay.services import referrals
from tests.browser.conftest import PEOPLE
from tests.browser.evidence_pages import DashboardPage
from tests.browser.evidence_pages import NewReferralPage
from tests.browser.evidence_pages import PartySurveyPage
from tests.browser.evidence_pages import PartySurveyThanksPage
from tests.browser.evidence_pages import ReferralCasePage
from tests.browser.evidence_pages import ReferralPage
from tests.browser.evidence_pages import ReferralsPage
from tests.browser.pages import CasePage
from tests.browser.pages import CasesPage
from tests.browser.pages import PartyHomePage

pytestmark = pytest.mark.slow

CAME_ON = date.today() - timedelta(days=10)
LETTER = "I have thought about that night every day, and I want you to understand it."
COMMENT = "Being listened to mattered more than I expected."
# More referrals than the suppression threshold from the police, so one figure is shown.
FROM_THE_POLICE = 6
# Figures of one in this journey: each is shown as "fewer than 5".
SMALL = (
    "referrals.source.victim_services",
    "referrals.source.probation",
    "referrals.status.took_part",
    "cases.state.closed",
    "cases.outcome.completed",
    "letters.written",
    "letters.approved_first_time",
)


@pytest.fixture
def staff(site):
    with site.session() as session:
        return demo.build_staff(session, site.settings, PEOPLE)


def _more_referrals(site, facilitator) -> None:
    """Referrals that went no further, recorded through the service: six from the police,
    declined, and two from probation, never contacted (so that, with the one from victim
    services, two sources are small and neither can be worked out from the total)."""
    with site.session() as session:
        for source, status, reason, how_many in (
            ("police", "declined", "not_ready", FROM_THE_POLICE),
            ("probation", "not_contacted", None, 2),
        ):
            for _ in range(how_many):
                recorded = referrals.record_referral(
                    session,
                    facilitator,
                    received_on=CAME_ON,
                    source=source,
                    offence_category="burglary",
                    today=date.today(),
                )
                referrals.record_outcome(
                    session, facilitator, recorded.id, status=status, decline_reason=reason
                )


def test_from_a_referral_to_the_dashboard_and_its_csv(site, staff, people):
    _administrator, facilitator_actor = staff
    _more_referrals(site, facilitator_actor)
    facilitator = people("facilitator")

    # Given the facilitator records a referral from victim services, and opens its case
    facilitator.sign_in()
    cases = CasesPage(facilitator)
    cases.ui.follow(cases.page.get_by_role("navigation").get_by_role("link", name="Referrals"))
    listed = ReferralsPage(facilitator)
    listed.ui.follow(listed.link("Record a referral"))
    new = NewReferralPage(facilitator)
    new.ui.fill(new.field("The day the referral came"), CAME_ON.isoformat())
    new.ui.choose(new.page.get_by_role("radio", name="Victim services"))
    new.ui.choose(new.page.get_by_role("radio", name="Burglary"))
    new.ui.follow(new.button("Record the referral"))
    referral = ReferralPage(facilitator)
    referral.ui.follow(referral.link("Open a case for this referral"))
    opening = ReferralCasePage(facilitator)
    opening.ui.fill(opening.field("Case reference"), "RJ-EVIDENCE-1")
    opening.ui.follow(opening.button("Open the case"))
    case_page = CasePage(facilitator)
    expect(case_page.page.get_by_role("heading", level=1)).to_have_text("Case RJ-EVIDENCE-1")

    # And both parties take part
    with site.session() as session:
        case_id = session.query(Case.id).filter_by(reference="RJ-EVIDENCE-1").scalar()
        demo.start_with_parties(session, site.settings, facilitator_actor, case_id, PEOPLE)

    # When the person harmed writes, and the facilitator approves the letter at once
    victim = people("victim")
    victim.sign_in()
    letter = PartyHomePage(victim).open_your_letters().write_to("Chris").send(LETTER)
    expect(letter.state()).to_have_text("With your facilitator")
    facilitator.go("/")
    review = CasesPage(facilitator).letters_to_review().open_first()
    review = review.approve()
    expect(review.state()).to_have_text("Delivered")

    # When the facilitator closes the case as completed
    case_page = review.back_to_case()
    closing = case_page.close_the_case()
    closing.ui.choose(closing.page.get_by_role("radio", name="The exchange was completed"))
    closing.ui.follow(closing.button("Close the case"))
    case_page = CasePage(facilitator)
    expect(case_page.state()).to_contain_text("Closed")

    # Then the person harmed is offered the survey, and answers two questions and a comment
    victim.go("/")
    letters = PartyHomePage(victim).open_your_letters()
    letters.ui.follow(letters.link("Tell us how it went (optional)"))
    survey = PartySurveyPage(victim)
    survey.answer("Did you feel safe while taking part?", "Yes")
    survey.answer("Did you feel heard?", "Partly")
    survey.ui.fill(survey.page.get_by_label(re.compile(r"^Is there anything else")), COMMENT)
    survey.ui.follow(survey.button("Send my answers"))
    thanks = PartySurveyThanksPage(victim)
    expect(thanks.page.locator("#survey-answered")).to_contain_text("You answered on")

    # And their facilitator reads the answers and the comment on the case page
    facilitator.go("/")
    case_page = CasesPage(facilitator).open_case("RJ-EVIDENCE-1")
    answered = case_page.page.locator("#survey-list section").filter(has_text="Person harmed")
    expect(answered).to_contain_text(COMMENT)
    expect(answered).to_contain_text("Partly")

    # When the administrator opens the dashboard
    administrator = people("administrator")
    administrator.sign_in()
    administrator.go("/dashboard/")
    board = DashboardPage(administrator)

    # Then the six referrals from the police are counted, and every count of one (the
    # referral from victim services, its case, its letter, the survey) is "fewer than 5"
    expect(board.cell("referrals.source.police")).to_have_text(str(FROM_THE_POLICE))
    for key in SMALL:
        expect(board.cell(key)).to_have_text("fewer than 5")
    expect(board.page.locator("main")).not_to_contain_text(COMMENT)
    # Each chart is a titled picture, drawn on the server
    expect(board.page.locator(".chart svg title").first).not_to_be_empty()

    # And the CSV says the same, suppressed alike
    with board.page.expect_download() as downloading:
        board.button("Download these figures (CSV)").click()
    exported = downloading.value.path().read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(exported)))
    text = "\n".join(",".join(row) for row in rows)
    assert str(FROM_THE_POLICE) in text
    assert "fewer than 5" in text
    assert COMMENT not in exported
    # No cell a spreadsheet would run as a formula
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@")]
