"""Page objects: one small class per kind of page, finding things as a person does, by
their visible labels, button names and link text. Building one waits for the page,
checks its heading and runs the checks every page must pass (see checks.py).

How a person works the controls is their `ui`: `Mouse` clicks and types into fields,
`Keyboard` reaches every control with Tab (checking that focus can be seen at every
stop) and uses Enter, Space and the arrow keys.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from playwright.sync_api import Locator
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.browser.checks import FOCUS

# The quick exit goes to an outside site (QUICK_EXIT_URL); the tests' `exit_site` (in
# conftest.py) stands in for it, as no outside site loads here.
QUICK_EXIT = re.compile(r"^http://127\.0\.0\.1:\d+/weather$")


# --- how a person works the page ---------------------------------------------------------


class Driver(Protocol):
    def fill(self, target: Locator, text: str) -> None: ...
    def follow(self, target: Locator) -> None: ...
    def choose(self, target: Locator) -> None: ...


class Mouse:
    def __init__(self, page: Page) -> None:
        self.page = page

    def fill(self, target: Locator, text: str) -> None:
        target.fill(text)

    def follow(self, target: Locator) -> None:
        """Click a link or a button that loads another page, and wait for it."""
        with self.page.expect_navigation():
            target.click()

    def choose(self, target: Locator) -> None:
        target.check()


class Keyboard:
    """Tab, Enter, Space and the arrow keys only; focus must be visible at every stop."""

    MAX_PRESSES = 120

    def __init__(self, page: Page) -> None:
        self.page = page
        self.presses = 0

    def _press_until(self, key: str, target: Locator, *, group: bool = False) -> None:
        """Press `key` until focus is on `target` (or, for a radio group, on any of it)."""
        element = target.element_handle()
        for _ in range(self.MAX_PRESSES):
            self.page.keyboard.press(key)
            self.presses += 1
            state = self.page.evaluate(FOCUS, [element, group])
            if state["onPage"]:
                assert state["visible"], f"focus cannot be seen on {state['describe']}"
            if state["onTarget"]:
                return
        raise AssertionError(f"{key} did not reach {target} in {self.MAX_PRESSES} presses")

    def fill(self, target: Locator, text: str) -> None:
        self._press_until("Tab", target)
        self.page.keyboard.press("ControlOrMeta+A")  # typing then replaces what was there
        self.page.keyboard.type(text)

    def follow(self, target: Locator) -> None:
        self._press_until("Tab", target)
        # Enter follows a link; Space presses a button, as a keyboard user would.
        key = "Enter" if target.evaluate("el => el.tagName") == "A" else "Space"
        with self.page.expect_navigation():
            self.page.keyboard.press(key)

    def choose(self, target: Locator) -> None:
        if target.get_attribute("type") == "checkbox":
            self._press_until("Tab", target)
            self.page.keyboard.press("Space")
            return
        # Tab stops once in a radio group; the arrow keys move through it, selecting.
        self._press_until("Tab", target, group=True)
        if target.evaluate("el => el === document.activeElement"):
            if not target.is_checked():
                self.page.keyboard.press("Space")
        else:
            self._press_until("ArrowDown", target)
        expect(target).to_be_checked()


# --- the person ------------------------------------------------------------------------


@dataclass
class Person:
    """Someone with their own browser (context): a role, an account and a way of working."""

    role: str
    email: str
    password: str
    page: Page
    ui: Driver
    after_navigation: Callable[[Page, str], None]

    def go(self, path: str) -> None:
        """Type an address into the browser (or follow a link in an e-mail)."""
        self.page.goto(path)

    def sign_in(self) -> None:
        self.go("/sign-in")
        SignInPage(self).sign_in(self.email, self.password)


# --- every page ------------------------------------------------------------------------


class Screen:
    """A page of Relay: its heading (and address) prove which page it is."""

    kind = "page"
    heading: str | re.Pattern = ""
    address: re.Pattern | None = None

    def __init__(self, person: Person) -> None:
        self.person = person
        self.page = person.page
        self.ui = person.ui
        expect(self.page.get_by_role("heading", level=1)).to_have_text(self.heading)
        if self.address is not None:
            expect(self.page).to_have_url(self.address)
        person.after_navigation(self.page, self.kind)

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def link(self, name: str | re.Pattern) -> Locator:
        return self.page.get_by_role("link", name=name, exact=isinstance(name, str))

    def field(self, label: str) -> Locator:
        return self.page.get_by_label(label, exact=True)

    def notice(self) -> Locator:
        return self.page.get_by_role("status")

    def error_summary(self) -> Locator:
        return self.page.get_by_role("alert")

    def account_menu(self) -> Locator:
        return self.page.get_by_role("navigation", name="Account")

    def emails(self) -> "NoticesPage":
        self.ui.follow(self.account_menu().get_by_role("link", name="E-mails"))
        return NoticesPage(self.person)

    def sign_out(self) -> "SignedOutPage":
        self.ui.follow(self.account_menu().get_by_role("button", name="Sign out"))
        return SignedOutPage(self.person)


class SignInPage(Screen):
    kind = "sign-in"
    heading = "Sign in"

    def forgotten_password(self) -> "ResetRequestPage":
        self.ui.follow(self.link("I have forgotten my password"))
        return ResetRequestPage(self.person)

    def sign_in(self, email: str, password: str) -> None:
        self.ui.fill(self.field("Email address"), email)
        self.ui.fill(self.field("Password"), password)
        self.ui.follow(self.button("Sign in"))


# --- the second step at sign-in ---------------------------------------------------------


class SetUpStartPage(Screen):
    kind = "second-factor-start"
    heading = "Set up a second step for signing in"


class SetUpCodePage(Screen):
    kind = "second-factor-code"
    heading = "Add Relay to your authenticator app"


class BackupCodesPage(Screen):
    kind = "backup-codes"
    heading = "Your backup codes"


class CodePage(Screen):
    kind = "second-factor"
    heading = "Enter your code"


class ActivatePage(Screen):
    kind = "activate"
    heading = "Set up your account"

    def set_up(self, password: str) -> "RecoveryCodePage":
        self.ui.fill(self.field("Create a password"), password)
        self.ui.fill(self.field("Type the password again"), password)
        self.ui.follow(self.button("Set up my account"))
        return RecoveryCodePage(self.person)


class RecoveryCodePage(Screen):
    kind = "recovery-code"
    heading = "Your recovery code"

    @property
    def code(self) -> str:
        return self.page.locator("#recovery-code").inner_text().strip()

    def kept_it_sign_in(self) -> SignInPage:
        self.ui.follow(self.link("I have kept my code – sign in"))
        return SignInPage(self.person)


class ResetRequestPage(Screen):
    kind = "reset-request"
    heading = "Reset your password"

    def send_me_a_link(self, email: str) -> "ResetSentPage":
        self.ui.fill(self.field("Email address"), email)
        self.ui.follow(self.button("Send me a link"))
        return ResetSentPage(self.person)


class ResetPage(Screen):
    kind = "reset"
    heading = "Choose a new password"


class ResetSentPage(Screen):
    kind = "reset-sent"
    heading = "Check your e-mail"


class NoticesPage(Screen):
    kind = "notices"
    heading = "E-mails from us"


class SignedOutPage(Screen):
    kind = "signed-out"
    heading = "You have signed out"


class NotFoundPage(Screen):
    kind = "not-found"
    heading = "Page not found"


# --- the administrator --------------------------------------------------------------------


class StaffPage(Screen):
    kind = "admin-staff"
    heading = "Staff"

    def invite_a_facilitator(self) -> "InviteFacilitatorPage":
        self.ui.follow(self.link("Invite a facilitator"))
        return InviteFacilitatorPage(self.person)

    def access_of(self, name: str) -> Locator:
        return self.page.get_by_role("row").filter(has_text=name).get_by_role("cell").last

    def check_the_audit_trail(self) -> "AuditPage":
        self.ui.follow(self.link("Check the audit trail"))
        return AuditPage(self.person)


class InviteFacilitatorPage(Screen):
    kind = "admin-invite"
    heading = "Invite a facilitator"

    def invite(self, name: str, email: str) -> StaffPage:
        self.ui.fill(self.field("Full name"), name)
        self.ui.fill(self.field("Email address"), email)
        self.ui.follow(self.button("Send invitation"))
        return StaffPage(self.person)


class AuditPage(Screen):
    kind = "admin-audit"
    heading = "Audit trail"


# --- the facilitator -------------------------------------------------------------------


class CasesPage(Screen):
    kind = "cases"
    heading = "Cases"

    def waiting_for_access(self) -> Locator:
        return self.page.get_by_role("heading", name="Waiting for access")

    def open_a_case(self) -> "NewCasePage":
        self.ui.follow(self.link("Open a case"))
        return NewCasePage(self.person)

    def open_case(self, reference: str) -> "CasePage":
        self.ui.follow(self.link(reference))
        return CasePage(self.person)

    def letters_to_review(self) -> "ReviewQueuePage":
        self.ui.follow(self.link(re.compile(r"letters? waiting for review")))
        return ReviewQueuePage(self.person)


class NewCasePage(Screen):
    kind = "case-new"
    heading = "Open a case"

    def open_case(self, reference: str, offence: str) -> "CasePage":
        """`offence`: the label of the kind of offence, as the radio says it."""
        self.ui.fill(self.field("Case reference"), reference)
        self.ui.choose(self.field(offence))
        self.ui.follow(self.button("Open the case"))
        return CasePage(self.person)


class CasePage(Screen):
    kind = "case"
    heading = re.compile(r"^Case ")
    # Each gate: the label of its evidence, and its button.
    GATES = (
        ("Evidence of the consent of the person harmed", "Record consent of the person harmed"),
        ("Evidence of the admission of responsibility", "Record admission of responsibility"),
        ("Evidence of the no-contact order check", "Record no-contact order check"),
    )
    PARTIES = ("person harmed", "person responsible")

    def state(self) -> Locator:
        return self.page.locator("#case-state")

    def gates_not_done(self) -> Locator:
        return self.page.get_by_role("listitem").filter(has_text=re.compile(r"^Not done: "))

    def close_the_case(self) -> "CloseCasePage":
        self.ui.follow(self.link("Close the case"))
        return CloseCasePage(self.person)

    def enter_a_paper_letter(self) -> "PaperLetterPage":
        self.ui.follow(self.link("Enter a paper letter"))
        return PaperLetterPage(self.person)

    def invite_someone(self) -> "InvitePartyPage":
        self.ui.follow(self.link("Invite the person harmed or the person responsible"))
        return InvitePartyPage(self.person)

    def record(self, gate: tuple[str, str], evidence: str) -> "CasePage":
        label, button = gate
        self.ui.fill(self.field(label), evidence)
        self.ui.follow(self.button(button))
        return CasePage(self.person)

    def assess_risk(self, party: str, level: str, review_on: str, evidence: str) -> "CasePage":
        """One person's risk assessment, in the form whose button names them."""
        button = self.button(f"Record the risk assessment of the {party}")
        form = self.page.locator("form").filter(has=button)
        self.ui.choose(form.get_by_role("radio", name=level, exact=True))
        self.ui.fill(form.get_by_label("Review date", exact=True), review_on)
        self.ui.fill(form.get_by_label("Evidence", exact=True), evidence)
        self.ui.follow(button)
        return CasePage(self.person)

    def start_the_exchange(self) -> "CasePage":
        self.ui.follow(self.button("Start the exchange"))
        return CasePage(self.person)


class CloseCasePage(Screen):
    kind = "case-close"
    heading = re.compile(r"^Close case ")


class PaperLetterPage(Screen):
    kind = "case-paper-letter"
    heading = re.compile(r"^A letter that came on paper for case ")


class InvitePartyPage(Screen):
    kind = "case-invite"
    heading = re.compile(r"^Invite someone to case ")

    def invite(self, who: str, name: str, email: str, shown_as: str) -> CasePage:
        self.ui.choose(self.page.get_by_role("radio", name=who, exact=True))
        self.ui.fill(self.field("Full name"), name)
        self.ui.fill(self.field("Email address"), email)
        self.ui.fill(self.field("Name the other person will see"), shown_as)
        self.ui.follow(self.button("Send invitation"))
        return CasePage(self.person)


class ReviewQueuePage(Screen):
    kind = "review-queue"
    heading = "Letters to review"

    def open_first(self) -> "ReviewPage":
        # Each row's link is its case's reference (and, for a screen reader, the letter's
        # number): the first in the table of letters waiting for review.
        queue = self.page.get_by_role("table", name=re.compile(r"^Letters waiting for review"))
        self.ui.follow(queue.get_by_role("link").first)
        return ReviewPage(self.person)


class ReviewPage(Screen):
    kind = "review"
    heading = re.compile(r"^Letter \d+ in case ")

    def state(self) -> Locator:
        return self.page.locator("#letter-state")

    def version(self, number: int) -> Locator:
        return self.page.get_by_role("region", name=re.compile(rf"^Version {number}\b"))

    def approve(self) -> "ReviewPage":
        self.ui.follow(self.button("Approve and pass on"))
        return ReviewPage(self.person)

    def flag_boxes(self) -> Locator:
        """A box for each flag, to tick once it is checked (none when nothing is flagged)."""
        marks = self.page.get_by_role("group", name="Mark each flag once you have checked it")
        return marks.get_by_role("checkbox")

    def mark_flags_checked(self) -> None:
        boxes = self.flag_boxes()
        for index in range(boxes.count()):
            self.ui.choose(boxes.nth(index))

    def confirm(self) -> None:
        self.ui.choose(self.field("I have read the whole letter, and it can be passed on"))

    def next_letter(self) -> "ReviewPage":
        self.ui.follow(self.link("Next letter"))
        return ReviewPage(self.person)

    def ask_for_changes(self, note: str) -> "ReviewPage":
        self.ui.fill(self.field("What should the writer change?"), note)
        self.ui.follow(self.button("Ask for changes"))
        return ReviewPage(self.person)

    def suggest_changes(self, text: str, note: str = "") -> "ReviewPage":
        self.ui.fill(self.field("The letter with your changes"), text)
        if note:
            self.ui.fill(self.redaction_note(), note)
        self.ui.follow(self.button("Suggest these changes to the writer"))
        return ReviewPage(self.person)

    def redaction_note(self) -> Locator:
        return self.field("A note to the writer about the changes (optional)")

    def do_not_pass_on(self, reason: str) -> "ReviewPage":
        self.ui.fill(self.field("Why can this letter not be passed on?"), reason)
        self.ui.follow(self.button("Do not pass on"))
        return ReviewPage(self.person)

    def back_to_case(self) -> CasePage:
        self.ui.follow(self.page.get_by_role("heading", level=1).get_by_role("link"))
        return CasePage(self.person)


# --- the person harmed and the person responsible ----------------------------------------


class PartyScreen(Screen):
    """Every page a party sees has the quick exit (docs/rules.md rule 8)."""

    def __init__(self, person: Person) -> None:
        super().__init__(person)
        expect(self.quick_exit()).to_be_visible()

    def quick_exit(self) -> Locator:
        return self.link("Leave this site")

    def leave_this_site(self) -> None:
        self.ui.follow(self.quick_exit())
        expect(self.page).to_have_url(QUICK_EXIT)


class PartyHomePage(PartyScreen):
    kind = "party-home"
    heading = "Your letters"
    address = re.compile(r"/my/$")

    def open_your_letters(self) -> "PartyCasePage":
        self.ui.follow(self.link("Open your letters"))
        return PartyCasePage(self.person)


class PartyCasePage(PartyScreen):
    kind = "party-case"
    heading = "Your letters"
    address = re.compile(r"/my/cases/\d+$")

    def write_to(self, name: str) -> "WritePage":
        self.ui.follow(self.link(f"Write a letter to {name}"))
        return WritePage(self.person)

    def letter_from(self, name: str) -> Locator:
        return self.link(f"A letter from {name}")

    def open_letter_from(self, name: str) -> "BeforeOpeningPage":
        self.ui.follow(self.letter_from(name))
        return BeforeOpeningPage(self.person)

    def my_letters(self) -> Locator:
        return self.page.get_by_role("link", name=re.compile(r"^Letter started "))

    def open_my_letter(self, index: int = 0) -> "AuthorLetterPage":
        """My letters, newest first."""
        self.ui.follow(self.my_letters().nth(index))
        return AuthorLetterPage(self.person)

    def choose_how_to_receive(self) -> "ReceivingPage":
        self.ui.follow(self.link("Choose when and how you receive letters"))
        return ReceivingPage(self.person)

    def stop_taking_part(self) -> "WithdrawPage":
        self.ui.follow(self.link("Stop taking part"))
        return WithdrawPage(self.person)

    def ended(self) -> Locator:
        return self.page.get_by_text("This exchange has ended")


class WritePage(PartyScreen):
    kind = "party-write"
    heading = re.compile(r"^Write to ")

    def letter(self) -> Locator:
        return self.field("Your letter")

    def send(self, text: str) -> "AuthorLetterPage":
        self.ui.fill(self.letter(), text)
        self.ui.follow(self.button("Send to my facilitator"))
        return AuthorLetterPage(self.person)


class AuthorLetterPage(PartyScreen):
    kind = "party-letter"
    heading = "Your letter"

    def state(self) -> Locator:
        return self.page.locator("#letter-state")

    def facilitator_note(self) -> Locator:
        return self.page.locator("#review-note")

    def suggested_changes(self) -> Locator:
        return self.page.locator("#redaction-diff")

    def change_your_letter(self) -> WritePage:
        self.ui.follow(self.link("Change your letter"))
        return WritePage(self.person)

    def accept_these_changes(self) -> "AuthorLetterPage":
        self.ui.follow(self.button("Accept these changes"))
        return AuthorLetterPage(self.person)

    def back_to_your_letters(self) -> PartyCasePage:
        self.ui.follow(self.link("Back to your letters"))
        return PartyCasePage(self.person)


class BeforeOpeningPage(PartyScreen):
    kind = "party-before-opening"
    heading = re.compile(r"^A letter from ")
    address = re.compile(r"/my/received/\d+$")

    def read_it_now(self) -> "ReadPage":
        self.ui.follow(self.button("Read it now"))
        return ReadPage(self.person)


class ReadPage(PartyScreen):
    kind = "party-read"
    heading = re.compile(r"^A letter from ")
    address = re.compile(r"/my/received/\d+/open$")

    def letter(self) -> Locator:
        return self.page.get_by_role("article")

    def keep_it(self) -> PartyCasePage:
        self.ui.follow(self.link("Keep it: back to your letters"))
        return PartyCasePage(self.person)

    def destroy_my_copy(self) -> "DestroyPage":
        self.ui.follow(self.link("Destroy my copy"))
        return DestroyPage(self.person)


class DestroyPage(PartyScreen):
    kind = "party-destroy"
    heading = "Destroy your copy of this letter?"


class ReceivingPage(PartyScreen):
    kind = "party-receiving"
    heading = "Receiving letters"

    def choose(self, when: str) -> PartyCasePage:
        self.ui.choose(self.page.get_by_role("radio", name=when, exact=True))
        self.ui.follow(self.button("Save my choices"))
        return PartyCasePage(self.person)


class WithdrawPage(PartyScreen):
    kind = "party-withdraw"
    heading = "Stop taking part"

    def stop_taking_part(self) -> "WithdrawnPage":
        self.ui.follow(self.button("Stop taking part"))
        return WithdrawnPage(self.person)


class WithdrawnPage(PartyScreen):
    kind = "party-withdrawn"
    heading = "You have stopped taking part"
