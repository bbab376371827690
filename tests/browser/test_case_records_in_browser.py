"""Case records in a browser (issue 9, items 5 and 6): a facilitator finds a case in their
list, writes a case note, reviews a risk assessment and opens the case's timeline; an
administrator sees every case and filters the timeline. Every page passes axe at 1280 and
320 px (checked on each page as it opens)."""

import re
from datetime import date
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.pages import CasePage
from tests.browser.pages import CasesPage
from tests.browser.pages import Screen

pytestmark = pytest.mark.slow

NOTE = "Jo asked for letters after the school holidays."
REVIEW_ON = (date.today() + timedelta(days=30)).isoformat()


class AllCasesPage(Screen):
    kind = "cases-all"
    heading = "All cases"


class TimelinePage(Screen):
    kind = "case-timeline"
    heading = re.compile(r"^Timeline of case ")

    def rows(self):
        return self.page.locator("#timeline tbody tr")


def test_a_case_note_a_risk_review_and_the_timeline(people, world):
    facilitator = people("facilitator")
    # Given the facilitator finds the case in their list by part of its reference
    facilitator.sign_in()
    cases = CasesPage(facilitator)
    cases.ui.fill(cases.field("Search by reference"), world.case.reference[-5:])
    cases.ui.follow(cases.button("Search"))
    cases = CasesPage(facilitator)
    expect(cases.page.locator("#cases tbody tr")).to_have_count(1)
    case = cases.open_case(world.case.reference)

    # When they add a note, at first empty
    case.ui.follow(case.button("Add the note"))
    case = CasePage(facilitator)
    # Then the error summary links to the box
    expect(case.error_summary()).to_contain_text("Enter the note")
    case.ui.fill(case.field("Add a case note"), NOTE)
    case.ui.follow(case.button("Add the note"))
    case = CasePage(facilitator)
    expect(case.page.locator("#case-note-list")).to_contain_text(NOTE)

    # When they review the risk assessment of the person harmed, with extra care
    case.page.get_by_text("Review this assessment").first.click()
    button = case.button("Record the risk assessment of the person harmed")
    form = case.page.locator("form").filter(has=button)
    case.ui.choose(form.get_by_role("radio", name="Medium", exact=True))
    case.ui.choose(form.get_by_role("checkbox", name="Stalking", exact=True))
    case.ui.fill(form.get_by_label("Review date", exact=True), REVIEW_ON)
    case.ui.fill(form.get_by_label("Evidence", exact=True), "Reviewed with Jo's caseworker")
    case.ui.follow(button)
    case = CasePage(facilitator)
    expect(case.page.locator("dl[id$='-summary']").first).to_contain_text("Stalking")

    # And open the timeline
    case.ui.follow(case.link("Case timeline: who did what, and when"))
    timeline = TimelinePage(facilitator)
    # Then it says what they did, in words, and nothing they wrote
    expect(timeline.rows().first).to_contain_text("Recorded a risk assessment")
    expect(timeline.page.get_by_role("main")).not_to_contain_text(NOTE)

    # When an administrator, whose list is every case, filters it to the person harmed
    admin = people("administrator")
    admin.sign_in()
    admin.go("/cases/")
    expect(AllCasesPage(admin).page.locator("#cases")).to_contain_text(world.case.reference)
    admin.go(timeline.page.url)
    timeline = TimelinePage(admin)
    timeline.page.get_by_label("Person", exact=True).select_option(
        label="Vic Harmed (person harmed)"
    )
    timeline.ui.follow(timeline.button("Show"))
    timeline = TimelinePage(admin)
    # Then every row is theirs
    expect(timeline.rows().first).to_be_visible()
    for row in timeline.rows().all():
        expect(row).to_contain_text("(person harmed)")
