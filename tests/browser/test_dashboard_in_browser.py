"""The dashboard in a real browser (issue 11, item 3): reached from the staff navigation,
its charts drawn inline with nothing the content security policy refuses, axe-clean at
1280 and 320 px (checked as each page opens), the filter with and without JavaScript, an
error beside its field, and the CSV downloaded with its small counts suppressed."""

import csv
import io

import pytest
from playwright.sync_api import expect

from relay.models import Role
from relay.services.dashboard import FEWER
from tests.browser.evidence_pages import DashboardPage
from tests.services.test_dashboard import add_cases
from tests.services.test_dashboard import add_referrals
from tests.services.test_dashboard import add_survey

pytestmark = pytest.mark.slow


@pytest.fixture
def figures(site, world) -> None:
    """A year of referrals and cases, some counts small, some not."""
    with site.session() as session:
        me = world.facilitator.id
        add_referrals(session, me, 12, source="police", status="offered")
        add_referrals(session, me, 3, source="prison", status="declined", reason="not_ready")
        add_referrals(session, me, 7, source="self", status="not_contacted")
        add_cases(session, me, 6, state="closed", outcome="completed")
        add_survey(session, world.case, Role.VICTIM, 6, satisfied="yes", felt_safe="yes")
        add_survey(session, world.case, Role.OFFENDER, 2, satisfied="no")


def test_the_dashboard_is_read_downloaded_and_filtered_without_javascript(site, figures, people):
    admin = people("administrator")

    # When the administrator follows "Dashboard" from the staff navigation
    admin.sign_in()
    admin.ui.follow(
        admin.page.get_by_role("navigation", name="Account").get_by_role("link", name="Dashboard")
    )
    board = DashboardPage(admin)

    # Then each chart is drawn, named by its title, and fits a 320 px screen
    chart = board.chart("Referrals by where they came from")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["width"] > 300
    board.page.set_viewport_size({"width": 320, "height": 640})
    assert chart.bounding_box()["width"] <= 320
    board.page.set_viewport_size({"width": 1280, "height": 800})
    # and its numbers are in the table beside it, the small one suppressed
    expect(board.cell("referrals.source.police")).to_have_text("12")
    expect(board.cell("referrals.source.prison")).to_have_text(FEWER)
    expect(board.cell("referrals.source.self")).to_have_text("withheld")
    # with no bar drawn for what is suppressed: police's 12 and the other sources' 0s
    expect(chart.locator("desc.value")).to_have_text(["0", "0", "0", "12"])  # drawn bottom up

    # When they ask for a "to" day before the "from" day
    board.ui.fill(board.field("From"), "2026-06-01")
    board.ui.fill(board.field("To"), "2026-05-01")
    board.ui.follow(board.button("Show the figures"))
    refused = DashboardPage(admin)
    # Then the error is in the summary and beside the field, with what they typed
    expect(refused.error_summary()).to_contain_text("same as or after")
    expect(refused.page.locator("#end-error")).to_be_visible()
    expect(refused.field("To")).to_have_value("2026-05-01")

    # When they choose the last 12 months again and download the figures
    admin.go("/dashboard/")
    board = DashboardPage(admin)
    with board.page.expect_download() as download:
        board.button("Download these figures (CSV)").click()
    with open(download.value.path(), encoding="utf-8") as exported:
        rows = list(csv.reader(io.StringIO(exported.read())))
    assert download.value.suggested_filename.startswith("relay-dashboard-")
    found = {(row[0], row[2]): row[4] for row in rows[1:]}
    assert found[("referrals_by_source", "Police")] == "12"
    assert found[("referrals_by_source", "Prison")] == FEWER
    # And the browser refused nothing on the way (charts' markup and styles included)
    assert site.csp_violations() == []

    # The same site, a second browser: one server for both journeys keeps this file quick.
    _the_filter_works_without_javascript(people)


def _the_filter_works_without_javascript(people):
    fran = people("facilitator", javascript=False)
    fran.sign_in()
    fran.go("/dashboard/")
    board = DashboardPage(fran)
    expect(board.cell("referrals.total")).to_have_text("22")

    # When they narrow the figures to another kind of offence, with scripts off
    board.page.get_by_label("Kind of offence").select_option("fraud")
    board.ui.follow(board.button("Show the figures"))
    narrowed = DashboardPage(fran)

    # Then the page says which figures it shows, and they are that kind's (none)
    expect(narrowed.page.locator("#dashboard-period")).to_contain_text("fraud")
    expect(narrowed.cell("referrals.total")).to_have_text("0")
    expect(narrowed.chart("Referrals by where they came from")).to_be_visible()
