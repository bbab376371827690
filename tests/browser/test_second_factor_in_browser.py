"""A facilitator enrols the second step in the browser, then signs in with it."""

import dataclasses

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import build_world
from tests.browser.pages import BackupCodesPage
from tests.browser.pages import CodePage
from tests.browser.pages import SetUpCodePage
from tests.browser.pages import SetUpStartPage
from tests.browser.pages import SignInPage

pytestmark = pytest.mark.slow


@pytest.fixture
def app_config() -> dict:
    """Staff need a second step, as in production (the test environment turns it off)."""
    return {"STAFF_SECOND_FACTOR": True}


@pytest.fixture
def world(site):
    """The usual world, made while the second step was still off: its staff have accounts
    and have never set one up."""
    return build_world(site, dataclasses.replace(site.settings, staff_second_factor=False))


def test_facilitator_enrols_then_signs_in_with_a_code(site, world, people):
    # Given a facilitator who has never set up a second step
    facilitator = people("facilitator")
    facilitator.go("/sign-in")

    # When they sign in with their password
    SignInPage(facilitator).sign_in(facilitator.email, facilitator.password)

    # Then they must set up the second step before anything else
    start = SetUpStartPage(facilitator)
    start.ui.follow(start.button("Show my set-up code"))
    code_page = SetUpCodePage(facilitator)
    expect(
        code_page.page.get_by_role("img", name="QR code to add Relay to your authenticator app")
    ).to_be_visible()
    secret = code_page.page.locator("#totp-secret").inner_text().strip()
    totp = pyotp.TOTP(secret)

    # And a wrong code is refused next to the field, keeping the same key on the page
    code_page.ui.fill(code_page.field("Code"), "000000")
    code_page.ui.follow(code_page.button("Confirm"))
    wrong = SetUpCodePage(facilitator)
    expect(wrong.page.get_by_role("alert")).to_contain_text("The code is not right")
    assert wrong.page.locator("#totp-secret").inner_text().strip() == secret

    # When they type the code their app shows
    wrong.ui.fill(wrong.field("Code"), totp.now())
    wrong.ui.follow(wrong.button("Confirm"))

    # Then they see ten backup codes once, and reach their cases
    codes = BackupCodesPage(facilitator)
    expect(codes.page.locator("#backup-codes li")).to_have_count(10)
    backup = codes.page.locator("#backup-codes li").first.inner_text().strip()
    codes.ui.follow(codes.link("I have kept my codes – continue"))
    expect(facilitator.page.get_by_role("heading", level=1)).to_have_text("Cases")

    # And next time the password leads to the code page, where a backup code works once
    facilitator.page.get_by_role("button", name="Sign out").click()
    facilitator.go("/sign-in")
    SignInPage(facilitator).sign_in(facilitator.email, facilitator.password)
    code = CodePage(facilitator)
    code.ui.fill(code.field("Code"), backup)
    code.ui.follow(code.button("Continue"))
    expect(facilitator.page.get_by_role("heading", level=1)).to_have_text("Cases")
