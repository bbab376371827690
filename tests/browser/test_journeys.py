"""Journeys through Relay in a real browser, each done by clicking and typing as a person
would. Every page they reach passes axe-core at 1280 and 320 px wide (see checks.py)."""

import re
from datetime import date
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser import checks
from tests.browser.conftest import PEOPLE
from tests.browser.journeys import RECEIVE
from tests.browser.journeys import REPLY
from tests.browser.journeys import exchange_letters
from tests.browser.pages import QUICK_EXIT
from tests.browser.pages import ActivatePage
from tests.browser.pages import CasePage
from tests.browser.pages import CasesPage
from tests.browser.pages import NotFoundPage
from tests.browser.pages import PartyCasePage
from tests.browser.pages import PartyHomePage
from tests.browser.pages import ResetPage
from tests.browser.pages import SignInPage
from tests.browser.pages import StaffPage

pytestmark = pytest.mark.slow

RECOVERY_CODE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$")
REFERENCE = "RJ-2026-042"
BLAMING = "It was not really my fault. My friends made me do it."
REVIEW_ON = (date.today() + timedelta(days=90)).isoformat()
REASON = "This letter blames others; please write again about your own part."
WITH_ADDRESS = "I still live at 12 Example Street and I see your car every day."
REDACTED = "I still live nearby and I see your car every day."


def test_a_case_is_set_up_from_the_first_invitation_to_the_start_of_the_exchange(
    people, administrator, mailbox
):
    admin, facilitator = people("administrator"), people("facilitator")
    victim, offender = people("victim"), people("offender")
    facilitator_name = PEOPLE["facilitator"][1]

    # Given an administrator (made on the command line) signs in
    admin.sign_in()
    # When they invite a facilitator
    staff = StaffPage(admin).invite_a_facilitator().invite(facilitator_name, facilitator.email)
    expect(staff.notice()).to_contain_text(f"Invitation sent to {facilitator.email}")

    # And the facilitator follows the link in the e-mail, sets a password and keeps the code
    facilitator.go(mailbox.link(facilitator.email, "/activate/"))
    code = ActivatePage(facilitator).set_up(facilitator.password)
    assert RECOVERY_CODE.match(code.code), code.code
    code.kept_it_sign_in().sign_in(facilitator.email, facilitator.password)
    # (Enrolling a second factor (TOTP) is walked in test_second_factor_in_browser.py.)
    # Then nothing waits on an administrator: they hold the key of each case they open
    cases = CasesPage(facilitator)
    expect(cases.waiting_for_access()).to_have_count(0)
    admin.go("/")
    expect(StaffPage(admin).access_of(facilitator_name)).to_have_text("Their own cases")

    # When the facilitator opens a case and invites both people by e-mail
    case = cases.open_a_case().open_case(REFERENCE, "Burglary")
    for who, role, shown_as in (
        ("The person harmed", "victim", "Jo"),
        ("The person responsible", "offender", "Chris"),
    ):
        email_address, name, _password = PEOPLE[role]
        case = case.invite_someone().invite(who, name, email_address, shown_as)
        expect(case.notice()).to_contain_text(f"Invitation sent to {email_address}")

    # Then each of them sets up their account from the e-mailed link, is given a
    # recovery code to keep, and reaches their own home page
    for person in (victim, offender):
        person.go(mailbox.link(person.email, "/activate/"))
        code = ActivatePage(person).set_up(person.password)
        assert RECOVERY_CODE.match(code.code), code.code
        code.kept_it_sign_in().sign_in(person.email, person.password)
        letters = PartyHomePage(person).open_your_letters()
        expect(letters.page.get_by_text("still preparing the exchange")).to_be_visible()

    # When the facilitator records what must be done before an exchange, and starts it
    facilitator.go("/")
    case = CasesPage(facilitator).open_case(REFERENCE)
    for gate in CasePage.GATES:
        case = case.record(gate, "Checked in person; the signed form is on file")
    for party in CasePage.PARTIES:
        case = case.assess_risk(party, "Low", REVIEW_ON, "Risk form on file")
    expect(case.gates_not_done()).to_have_count(0)
    case = case.start_the_exchange()
    expect(case.state()).to_have_text("Letters are being exchanged")

    # Then each person can write to the other
    for person, other in ((victim, "Chris"), (offender, "Jo")):
        person.page.reload()
        expect(PartyCasePage(person).link(f"Write a letter to {other}")).to_be_visible()


def test_full_letter_exchange(people, world):
    exchange_letters(people("victim"), people("facilitator"), people("offender"))


def test_a_letter_not_passed_on_shows_the_writer_the_reason(people, world):
    offender, facilitator = people("offender"), people("facilitator")
    # Given the person responsible has sent a letter that blames others
    offender.sign_in()
    PartyHomePage(offender).open_your_letters().write_to("Jo").send(BLAMING)

    # When the facilitator decides not to pass it on, at first forgetting the reason
    facilitator.sign_in()
    review = CasesPage(facilitator).letters_to_review().open_first()
    review = review.do_not_pass_on("")
    # Then an error summary at the top links to the field to fill in
    summary = review.page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    summary.get_by_role("link", name="Give the writer a reason").click()
    expect(review.field("Why can this letter not be passed on?")).to_be_focused()
    # When they give the reason
    review = review.do_not_pass_on(REASON)
    expect(review.state()).to_have_text("Not passed on")

    # Then the writer sees that it was not passed on, and why
    offender.go("/")
    letter = PartyHomePage(offender).open_your_letters().open_my_letter()
    expect(letter.state()).to_have_text("Not passed on")
    expect(letter.facilitator_note()).to_contain_text(REASON)


def test_a_redaction_accepted_by_its_writer_is_what_the_recipient_reads(people, world):
    victim, facilitator, offender = people("victim"), people("facilitator"), people("offender")
    # Given the person harmed has sent a letter that gives their address
    victim.sign_in()
    PartyHomePage(victim).open_your_letters().write_to("Chris").send(WITH_ADDRESS)

    # When the facilitator, warned about the address, suggests a version without it
    facilitator.sign_in()
    review = CasesPage(facilitator).letters_to_review().open_first()
    expect(review.page.get_by_role("heading", name="Things to check")).to_be_visible()
    # (Its note to the writer is left out: test_known_faults.py says why.)
    review = review.suggest_changes(REDACTED)
    expect(review.state()).to_have_text("Changes suggested")

    # Then the writer sees what would be taken out and put in, and accepts it
    victim.go("/")
    letter = PartyHomePage(victim).open_your_letters().open_my_letter()
    expect(letter.state()).to_have_text("Changes suggested")
    # Word by word: only the address is struck out, and only "nearby" put in its place.
    changes = letter.suggested_changes()
    expect(changes.get_by_role("deletion")).to_have_text("[removed: at 12 Example Street]")
    expect(changes.get_by_role("insertion")).to_have_text("[added: nearby]")
    letter = letter.accept_these_changes()
    expect(letter.state()).to_have_text("With your facilitator")

    # When the facilitator approves it
    facilitator.go("/")
    review = CasesPage(facilitator).letters_to_review().open_first().approve()
    expect(review.state()).to_have_text("Delivered")
    # Then the person responsible reads the changed letter, never the address
    offender.sign_in()
    reading = PartyHomePage(offender).open_your_letters().open_letter_from("Jo").read_it_now()
    expect(reading.letter()).to_contain_text(REDACTED)
    expect(reading.page.get_by_text("Example Street")).to_have_count(0)


def test_when_one_person_stops_taking_part_the_other_sees_only_that_the_exchange_ended(
    people, world
):
    victim, offender = people("victim"), people("offender")
    # Given the person responsible has a letter with the facilitator
    offender.sign_in()
    letters = PartyHomePage(offender).open_your_letters().write_to("Jo").send(REPLY)

    # When the person harmed stops taking part
    victim.sign_in()
    withdrawn = PartyHomePage(victim).open_your_letters().stop_taking_part().stop_taking_part()
    # Then they are told nothing more will be passed on
    expect(withdrawn.page.get_by_text("No more letters will be passed on")).to_be_visible()

    # And the person responsible sees only that the exchange has ended: not who ended it,
    # and no way to write or to change their choices
    offender.go("/")
    letters = PartyHomePage(offender).open_your_letters()
    expect(letters.ended()).to_be_visible()
    who_ended_it = re.compile(r"stopped taking part|withdrew", re.IGNORECASE)
    expect(letters.page.get_by_role("main").get_by_text(who_ended_it)).to_have_count(0)
    expect(letters.link(re.compile(r"^Write a letter"))).to_have_count(0)
    main = letters.page.get_by_role("main")
    expect(main.get_by_role("link", name="Stop taking part")).to_have_count(0)


def test_quick_exit_leaves_by_the_link_and_by_pressing_escape_three_times(people, world):
    victim = people("victim")
    # Given the person harmed is looking at their letters
    victim.sign_in()
    letters = PartyHomePage(victim).open_your_letters()
    case_address = victim.page.url

    # When they choose "Leave this site"
    letters.leave_this_site()
    # Then the browser shows another site, and Back does not return to the page they left
    expect(victim.page.get_by_role("heading", name="Weather")).to_be_visible()
    victim.page.go_back()
    expect(victim.page).not_to_have_url(case_address)

    # When, signed in again and on another page, they press Escape three times
    victim.sign_in()
    victim.go(case_address)
    PartyCasePage(victim)
    for _ in range(3):
        victim.page.keyboard.press("Escape")
    # Then they have left as well
    expect(victim.page).to_have_url(QUICK_EXIT)


def test_signing_out_ends_the_session(people, world):
    victim = people("victim")
    # Given the person harmed is signed in and looking at their letters
    victim.sign_in()
    letters = PartyHomePage(victim).open_your_letters()
    case_address = victim.page.url

    # When they sign out
    letters.sign_out()
    # Then neither the address nor the Back button shows their letters: both ask to sign in
    victim.page.go_back()
    SignInPage(victim)
    victim.go(case_address)
    SignInPage(victim)
    victim.go("/")
    SignInPage(victim)


def test_pages_off_the_main_journeys_pass_the_same_checks(people, world, mailbox, send_letter):
    visitor, victim, facilitator, offender, admin = (
        people("victim"),
        people("victim"),
        people("facilitator"),
        people("offender"),
        people("administrator"),
    )
    # Someone who has forgotten their password, and a wrong sign-in
    visitor.go("/sign-in")
    SignInPage(visitor).forgotten_password().send_me_a_link(visitor.email)
    visitor.go(mailbox.link(visitor.email, "/reset/"))
    ResetPage(visitor)
    visitor.go("/sign-in")
    SignInPage(visitor).sign_in(visitor.email, "not the password")
    expect(SignInPage(visitor).error_summary()).to_contain_text("not right")
    visitor.go("/no-such-page")
    NotFoundPage(visitor)

    # A party's own settings
    victim.sign_in()
    letters = PartyHomePage(victim).open_your_letters()
    expect(letters.choose_how_to_receive().page.get_by_label(RECEIVE)).not_to_be_checked()
    victim.go("/")
    PartyHomePage(victim).emails()

    # A facilitator's case pages
    send_letter("victim", "A short letter to be read, then destroyed.")
    facilitator.sign_in()
    CasesPage(facilitator).letters_to_review().open_first().approve()
    facilitator.go("/")
    case = CasesPage(facilitator).open_case("RJ-BROWSER-1")
    case.enter_a_paper_letter()
    facilitator.page.go_back()
    CasePage(facilitator).close_the_case()
    facilitator.go("/")
    CasesPage(facilitator).emails()

    # A recipient who no longer wants a letter they have read
    offender.sign_in()
    reading = PartyHomePage(offender).open_your_letters().open_letter_from("Jo").read_it_now()
    reading.destroy_my_copy()

    # The administrator's pages
    admin.sign_in()
    audit = StaffPage(admin).check_the_audit_trail()
    expect(audit.page.get_by_text("The audit trail is intact")).to_be_visible()

    # And the pages that no journey above opens, each checked as it is
    for person, path in (
        (admin, "/admin/invite"),
        (admin, "/account/sessions"),
        (admin, "/sign-in/set-up"),
        (facilitator, "/cases/new"),
        (facilitator, f"/cases/{world.case.id}/invite"),
        (facilitator, "/review/"),
        (offender, "/account/sessions"),
        (offender, f"/my/cases/{world.case.id}/write"),
        (offender, f"/my/cases/{world.case.id}/withdraw"),
    ):
        person.go(path)
        expect(person.page.get_by_role("heading", level=1)).to_have_count(1)
        checks.assert_accessible(person.page)
