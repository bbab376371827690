"""A printed one-time code in a browser (issue 10, item 1): a facilitator prints a code for
a party on paper from the case page; the party goes from the sign-in page to "I have a
code", types a wrong code and then theirs, and sets up their account: once with axe
checking every page at 1280 and 320 px as it opens, once without JavaScript, by keyboard
alone."""

import re

import pytest
from playwright.sync_api import expect

from relay import demo
from relay.models import Role
from relay.services import cases
from tests.browser.conftest import PEOPLE
from tests.browser.pages import CasePage
from tests.browser.pages import Screen
from tests.browser.pages import SignInPage

pytestmark = pytest.mark.slow

NEW_PASSWORD = "a long phrase lee chose"


class CodePrintedPage(Screen):
    kind = "paper-code"
    heading = "A one-time code for Lee"

    def code(self) -> str:
        return self.page.locator("#one-time-code").inner_text()


class EnterCodePage(Screen):
    kind = "enter-code"
    heading = "I have a code"


class CodeAccountPage(Screen):
    kind = "code-account"
    heading = "Set up your account"


class RecoveryCodePage(Screen):
    kind = "recovery-code"
    heading = "Your recovery code"


@pytest.fixture
def paper_case(site, world) -> int:
    """A case whose person responsible takes part on paper."""
    email_address, _name, password = PEOPLE["facilitator"]
    with site.session() as session:
        fran = demo.actor_for(session, site.settings, email_address, password)
        case = cases.open_case(session, fran, reference="RJ-PAPER-9", offence_category="theft")
        cases.add_paper_party(session, fran, case.id, role=Role.OFFENDER, display_name="Lee")
        return case.id


@pytest.mark.parametrize("javascript", [True, False], ids=["with-axe", "no-javascript"])
def test_a_party_on_paper_sets_up_their_account_with_a_printed_code(people, paper_case, javascript):
    facilitator = people("facilitator")
    # Given the facilitator on the case page of a party on paper
    facilitator.sign_in()
    facilitator.go(f"/cases/{paper_case}")
    case = CasePage(facilitator)
    expect(case.page.get_by_text(re.compile(r"“Lee”\s*– takes part on paper"))).to_be_visible()

    # When they print a one-time code
    case.ui.follow(case.button("Print a one-time code for Lee"))
    printed = CodePrintedPage(facilitator)
    code = printed.code()
    expect(printed.page.get_by_role("main")).to_contain_text("/code")
    expect(printed.page.get_by_role("main")).to_contain_text("The code works once, until")

    # And the party, in their own browser, finds "I have a code" from sign-in (with axe
    # checking each page, or without JavaScript by keyboard alone)
    party = people("offender", javascript=javascript, keyboard=not javascript)
    party.go("/sign-in")
    sign_in = SignInPage(party)
    sign_in.ui.follow(sign_in.link("I have a code from my facilitator"))
    enter = EnterCodePage(party)

    # When they type it wrong first
    enter.ui.fill(enter.field("Your code"), "ABCD-EFGH-JKMN-PQRS-TVWX")
    enter.ui.follow(enter.button("Continue"))
    enter = EnterCodePage(party)
    # Then the error summary says so, and what they typed is kept
    expect(enter.error_summary()).to_contain_text("This code is not right")
    expect(enter.field("Your code")).to_have_value("ABCD-EFGH-JKMN-PQRS-TVWX")

    # When they type it as read off the paper, in small letters
    enter.ui.fill(enter.field("Your code"), code.lower())
    enter.ui.follow(enter.button("Continue"))
    account = CodeAccountPage(party)
    account.ui.fill(account.field("Email address"), "lee@relay.test")
    account.ui.fill(account.field("Create a password"), NEW_PASSWORD)
    account.ui.fill(account.field("Type the password again"), NEW_PASSWORD)
    account.ui.follow(account.button("Set up my account"))

    # Then their account is ready, and they sign in with it
    ready = RecoveryCodePage(party)
    expect(ready.page.locator("#recovery-code")).not_to_be_empty()
    ready.ui.follow(ready.link("I have kept my code – sign in"))
    SignInPage(party).sign_in("lee@relay.test", NEW_PASSWORD)
    expect(party.page.get_by_role("heading", level=1)).to_have_text("Your letters")

    # And on the case page they take part through Relay now
    facilitator.go(f"/cases/{paper_case}")
    case = CasePage(facilitator)
    expect(case.page.get_by_text(re.compile(r"“Lee”\s*– account set up"))).to_be_visible()
