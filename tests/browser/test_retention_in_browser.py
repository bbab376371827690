"""An administrator sees, in a browser, which closed cases the retention run shreds in the
next 30 days, from the staff page; the page passes axe (checked as it opens) and works
with the keyboard alone."""

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta

import pytest
from playwright.sync_api import Locator
from playwright.sync_api import expect
from sqlalchemy import update

from relay import demo
from relay.models import Case
from relay.services import cases
from relay.services import retention
from tests.browser.conftest import PEOPLE
from tests.browser.pages import Screen
from tests.browser.pages import StaffPage

pytestmark = pytest.mark.slow


class RetentionPage(Screen):
    kind = "admin-retention"
    heading = "Cases due for shredding"

    def due(self) -> Locator:
        return self.page.locator("#due")


def _closed_to_fall_due_in(site, world, days: int) -> datetime:
    """The world's case closed, on the day that makes it fall due `days` from today."""
    falls_due = retention.today_in_utc() + timedelta(days=days)
    closed_on = retention.last_closing_due_by(falls_due, site.settings.retention_years)
    with site.session() as session:
        fran = demo.actor_for(session, site.settings, *PEOPLE["facilitator"][::2])
        cases.close_case(session, fran, world.case.id, "completed")
        # Tampering on purpose: closed two years ago without waiting two years.
        closed_at = datetime.combine(closed_on, time(12, 0), tzinfo=UTC)
        session.execute(update(Case).where(Case.id == world.case.id).values(closed_at=closed_at))
        session.commit()
    return retention.falls_due(closed_on, site.settings.retention_years)


@pytest.mark.parametrize("keyboard", [False, True], ids=["mouse", "keyboard"])
def test_the_administrator_finds_what_retention_will_shred(site, world, people, keyboard):
    # Given the world's case closed nearly two years ago, falling due in 12 days
    falls_due = _closed_to_fall_due_in(site, world, 12)
    admin = people("administrator", keyboard=keyboard)

    # When the administrator follows the link from the staff page
    admin.sign_in()
    staff = StaffPage(admin)
    staff.ui.follow(staff.link("Cases due for shredding"))
    due = RetentionPage(admin)

    # Then the case is listed with the day its letters, scans and notes are destroyed
    expect(due.due()).to_contain_text(world.case.reference)
    expect(due.due()).to_contain_text(falls_due.strftime("%d %B %Y"))
    expect(due.page.get_by_role("main")).to_contain_text("kept for 2 years after the day it closed")
