"""The closing survey in a real browser (issue 11, item 2): the person harmed answers it
from the link on their closed case; their facilitator prints the form for the person
responsible, who takes part on paper, sees it print as the form alone, and enters what
came back. Every page passes axe at 1280 and 320 px as it opens."""

import re

import pytest
from playwright.sync_api import expect

from relay import demo
from relay.models import Case
from relay.models import Role
from relay.services import cases
from relay.services import survey
from tests.browser.conftest import PEOPLE
from tests.browser.evidence_pages import EnterSurveyPage
from tests.browser.evidence_pages import PartySurveyPage
from tests.browser.evidence_pages import PartySurveyThanksPage
from tests.browser.evidence_pages import SurveyFormToPrint
from tests.browser.pages import CasePage
from tests.browser.pages import PartyCasePage

pytestmark = pytest.mark.slow


@pytest.fixture
def closed_with_one_on_paper(site, world) -> int:
    """The world's case with Chris (the person responsible) moved to paper, then closed."""
    email, _name, password = PEOPLE["facilitator"]
    with site.session() as session:
        fran = demo.actor_for(session, site.settings, email, password)
        offender = cases.parties(session.get(Case, world.case.id), Role.OFFENDER)[0]
        cases.set_on_paper(session, site.settings, fran, world.case.id, offender.id, True)
        cases.close_case(session, fran, world.case.id, "completed")
    return world.case.id


def test_a_party_answers_online_and_the_facilitator_enters_a_printed_form(
    people, closed_with_one_on_paper
):
    case_id = closed_with_one_on_paper
    first, second, third, fourth = (question.words for question in survey.QUESTIONS)

    # Given Jo's exchange has ended
    jo = people("victim")
    jo.sign_in()
    jo.go(f"/my/cases/{case_id}")
    case = PartyCasePage(jo)
    # When she follows the survey's link and answers two questions, leaving two blank
    case.ui.follow(case.link("Tell us how it went (optional)"))
    form = PartySurveyPage(jo)
    expect(
        form.page.get_by_text("Only the people running your case will read this.")
    ).to_be_visible()
    form.answer(first, "Yes")
    form.answer(third, "Partly")
    form.ui.fill(form.field(f"{survey.COMMENT_WORDS} (optional)"), "It helped to be heard.")
    form.ui.follow(form.button("Send my answers"))
    # Then she is thanked, with what she said, and her letters page says when she answered
    thanks = PartySurveyThanksPage(jo)
    answers = thanks.page.locator(".survey-answers")
    expect(answers).to_contain_text("It helped to be heard.")
    expect(answers.locator("div").filter(has_text=second)).to_contain_text("Left blank")
    thanks.ui.follow(thanks.link("Back to your letters"))
    expect(PartyCasePage(jo).page.locator("#survey-status")).to_contain_text(
        "You answered the survey on"
    )

    # Given Fran, their facilitator, on the case page
    fran = people("facilitator")
    fran.sign_in()
    fran.go(f"/cases/{case_id}")
    page = CasePage(fran)
    expect(page.page.locator("#survey-list")).to_contain_text("Answered on")
    # Jo answers in her own pages: only Chris, on paper, has a form to print and enter.
    expect(page.page.get_by_role("link", name=re.compile("^Print the survey form"))).to_have_count(
        1
    )
    expect(
        page.page.get_by_role("link", name=re.compile("^Enter the answers from a printed form"))
    ).to_have_count(1)
    # When she prints the form for Chris, who takes part on paper
    page.ui.follow(page.link(re.compile("^Print the survey form")))
    printed = SurveyFormToPrint(fran)
    article = printed.page.locator("article")
    expect(article).to_contain_text("Reference: RJ-BROWSER-1")
    expect(article).to_contain_text(fourth)
    expect(article).not_to_contain_text("Jo")
    printed.page.emulate_media(media="print")
    # Then it prints as the form alone
    expect(printed.page.locator("#print-guidance")).to_be_hidden()
    expect(printed.page.locator("header.header")).to_be_hidden()
    expect(article).to_be_visible()
    printed.page.emulate_media(media="screen")

    # When the form comes back and she enters it
    printed.ui.follow(printed.link("enter the answers from the printed form"))
    entry = EnterSurveyPage(fran)
    entry.answer(first, "No")
    entry.answer(second, "Yes")
    entry.answer(fourth, "Prefer not to say")
    entry.ui.fill(
        entry.field("Their comment, as written on the form (optional)"), "Glad it was on paper."
    )
    entry.ui.follow(entry.button("Enter the answers"))
    # Then the case page shows both surveys, Chris's as entered from paper
    page = CasePage(fran)
    expect(page.notice()).to_contain_text("The survey of the person responsible is entered")
    surveys = page.page.locator("#survey-list")
    expect(surveys).to_contain_text("Entered from the printed form on")
    expect(surveys).to_contain_text("Glad it was on paper.")
    expect(surveys).to_contain_text("It helped to be heard.")
