"""An administrator looks after staff in a browser (relay/views/admin.py): a facilitator
who is leaving hands their open case to another before their account can close, and an
invitation not yet accepted is sent again and then revoked. Every page passes axe at 1280
and 320 px (checked on each page as it opens)."""

import re

import pytest
from playwright.sync_api import Locator
from playwright.sync_api import expect

from relay import demo
from relay.services import cases
from relay.services import invitations
from tests.browser.conftest import PEOPLE
from tests.browser.pages import Person
from tests.browser.pages import Screen
from tests.browser.pages import SignInPage
from tests.browser.pages import StaffPage

pytestmark = pytest.mark.slow

SAM = ("sam@relay.example", "Sam Jones", "correct horse sam jones")
UNA = ("una@relay.example", "Una Newcomer")
FRAN = PEOPLE["facilitator"][1]
# A case Fran worked on before, closed since: its key is still hers when her account closes.
EARLIER = "RJ-BROWSER-0"


class StaffListPage(StaffPage):
    def open_person(self, name: str) -> "PersonPage":
        self.ui.follow(self.page.get_by_role("table").get_by_role("link", name=name, exact=True))
        return PersonPage(self.person, name)


class PersonPage(Screen):
    """A member of staff's page; its heading is their name."""

    kind = "admin-person"

    def __init__(self, person: Person, name: str) -> None:
        self.name = name
        self.heading = name
        super().__init__(person)

    def account(self) -> Locator:
        return self.page.locator("#person-summary")

    def open_cases(self) -> Locator:
        return self.page.locator("#open-cases")

    def hand_over(self, reference: str, to: str) -> "PersonPage":
        self.field(f"Hand the case to {reference}").select_option(label=to)
        self.ui.follow(self.button(f"Take {self.name} off {reference}"))
        return PersonPage(self.person, self.name)

    def close_the_account(self) -> "CloseAccountPage":
        self.ui.follow(self.link(f"Close the account of {self.name}"))
        return CloseAccountPage(self.person, self.name)

    def back_to_staff(self) -> StaffListPage:
        self.ui.follow(self.link("Back to staff"))
        return StaffListPage(self.person)


class CloseAccountPage(Screen):
    kind = "admin-close-account"

    def __init__(self, person: Person, name: str) -> None:
        self.name = name
        self.heading = f"Close the account of {name}"
        super().__init__(person)

    def confirmation(self) -> Locator:
        return self.field(
            "I understand that they will not be able to sign in again, and that every key "
            "they hold is taken away"
        )

    def close(self) -> "CloseAccountPage":
        """Press the button, and stay on this page: it was refused."""
        self.ui.follow(self.button("Close the account"))
        return CloseAccountPage(self.person, self.name)

    def close_done(self) -> PersonPage:
        self.ui.follow(self.button("Close the account"))
        return PersonPage(self.person, self.name)

    def hand_each_one_over(self) -> PersonPage:
        self.ui.follow(self.link("Hand each one to another facilitator"))
        return PersonPage(self.person, self.name)


class InvitationsPage(Screen):
    kind = "admin-invitations"
    heading = "Staff invitations not yet accepted"

    def table(self) -> Locator:
        return self.page.locator("#pending-invitations")

    def send_again(self, email: str) -> "InvitationsPage":
        self.ui.follow(self.button(f"Send again to {email}"))
        return InvitationsPage(self.person)

    def revoke(self, email: str) -> "RevokeInvitationPage":
        self.ui.follow(self.link(f"Revoke the invitation to {email}"))
        return RevokeInvitationPage(self.person)


class RevokeInvitationPage(Screen):
    kind = "admin-revoke-invitation"
    heading = re.compile(r"^Revoke the invitation to .+\?$")

    def revoke(self) -> InvitationsPage:
        self.ui.follow(self.button("Revoke the invitation"))
        return InvitationsPage(self.person)


def _second_facilitator(site) -> None:
    """Sam Jones has accepted his invitation; he is on no case yet."""
    email, name, password = SAM
    with site.session() as session:
        administrator = demo.actor_for(session, site.settings, *PEOPLE["administrator"][::2])
        token = invitations.invite_staff(
            session, site.settings, administrator, email=email, name=name
        )
        invitations.accept_invitation(session, site.settings, token=token, password=password)


def _an_earlier_closed_case(site) -> None:
    with site.session() as session:
        fran = demo.actor_for(session, site.settings, *PEOPLE["facilitator"][::2])
        case = cases.open_case(session, fran, reference=EARLIER, offence_category="theft")
        cases.close_case(session, fran, case.id, "ended_by_facilitator")


def test_a_leaving_facilitator_hands_over_their_case_and_their_account_is_closed(
    site, world, people
):
    # Given a second facilitator, and Fran on the world's open case and an earlier closed one
    _second_facilitator(site)
    _an_earlier_closed_case(site)
    reference = world.case.reference
    admin = people("administrator")

    # When the administrator opens Fran's page from the staff list
    admin.sign_in()
    fran = StaffListPage(admin).open_person(FRAN)
    # Then it shows the open case she must hand over first
    expect(fran.account()).to_contain_text("Active")
    expect(fran.open_cases()).to_contain_text(reference)
    expect(fran.page.get_by_role("main")).to_contain_text("also on 1 closed case(s)")

    # When they try to close the account at once
    closing = fran.close_the_account()
    # Then the page says she is still on the case
    expect(closing.page.locator("#cases-remaining")).to_contain_text(
        f"{FRAN} is still on 1 open case(s)"
    )
    # And confirming it anyway is refused, with the reason
    closing.ui.choose(closing.confirmation())
    closing = closing.close()
    expect(closing.error_summary()).to_contain_text(
        f"{FRAN} is still on open cases. Hand each one to another facilitator, or take them "
        "off it, before closing the account"
    )

    # When they hand the case to Sam
    fran = closing.hand_each_one_over()
    fran = fran.hand_over(reference, SAM[1])
    # Then Fran is off it, and it is Sam's
    expect(fran.notice()).to_contain_text(f"{FRAN} is off the case; its key has been changed")
    expect(fran.page.locator("#no-open-cases")).to_have_text(f"{FRAN} is on no open case.")
    sam = fran.back_to_staff().open_person(SAM[1])
    expect(sam.open_cases()).to_contain_text(reference)

    # When they close Fran's account without ticking the box
    fran = sam.back_to_staff().open_person(FRAN)
    closing = fran.close_the_account()
    expect(closing.page.locator("#cases-remaining")).to_have_count(0)
    closing = closing.close()
    # Then the error summary links to the box
    summary_link = closing.error_summary().get_by_role(
        "link", name="Confirm that you want to close this account"
    )
    expect(summary_link).to_have_attribute("href", "#confirmed")
    expect(closing.confirmation()).to_have_id("confirmed")

    # When they tick it
    closing.ui.choose(closing.confirmation())
    fran = closing.close_done()
    # Then the account is closed, and the page gives the command that changes the key she held
    expect(fran.notice()).to_contain_text(
        "The account is closed. 1 case key(s) they held are still to be changed"
    )
    expect(fran.account()).to_contain_text("Closed")
    expect(fran.page.locator("#keys-to-rotate")).to_contain_text(
        f"{FRAN} held the key of 1 case(s) that has not been changed yet"
    )
    expect(fran.page.get_by_role("main").locator("pre code")).to_have_text(
        re.compile(r"^flask --app wsgi keys rotate-after-leaver --user \d+ --email YOUR-EMAIL$")
    )
    expect(fran.link(f"Close the account of {FRAN}")).to_have_count(0)

    # And Fran, in her own browser, can no longer sign in
    leaver = people("facilitator")
    leaver.go("/sign-in")
    SignInPage(leaver).sign_in(leaver.email, leaver.password)
    expect(SignInPage(leaver).error_summary()).to_contain_text(
        "The e-mail address or password is not right"
    )


def test_an_invitation_is_sent_again_then_revoked(people, world, mailbox):
    email, name = UNA
    admin = people("administrator")

    # Given the administrator has invited Una
    admin.sign_in()
    staff = StaffListPage(admin).invite_a_facilitator().invite(name, email)
    expect(staff.notice()).to_contain_text(f"Invitation sent to {email}")
    first_link = mailbox.link(email, "/activate/")

    # When they send it again from the invitations not yet accepted
    staff.ui.follow(staff.link("Invitations not yet accepted"))
    pending = InvitationsPage(admin)
    expect(pending.table()).to_contain_text(name)
    pending = pending.send_again(email)
    # Then the page confirms it, and Una has a second mail with a new link
    expect(pending.notice()).to_contain_text(
        f"A new invitation link was sent to {email}. The old link no longer works"
    )
    second_link = mailbox.link(email, "/activate/")
    assert len([mail for mail in mailbox.messages if email in mail.to]) == 2
    assert second_link != first_link

    # When they revoke it, after the question
    question = pending.revoke(email)
    expect(question.page.get_by_role("heading", level=1)).to_have_text(
        f"Revoke the invitation to {name}?"
    )
    expect(question.page.get_by_role("main")).to_contain_text(
        f"The link sent to {email} will stop working at once"
    )
    pending = question.revoke()
    # Then the page confirms it, and the list no longer has it
    expect(pending.notice()).to_contain_text(
        f"The invitation to {email} was revoked. Its link no longer works"
    )
    expect(pending.page.locator("#no-invitations")).to_have_text(
        "Every staff invitation has been accepted or revoked."
    )
    expect(pending.table()).to_have_count(0)
