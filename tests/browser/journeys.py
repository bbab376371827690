"""Journeys shared by several tests: the same steps by mouse, by keyboard, without scripts."""

from playwright.sync_api import expect

from tests.browser.pages import CasesPage
from tests.browser.pages import PartyHomePage
from tests.browser.pages import Person

FIRST = "I want you to know how afraid I have been since that night."
CHANGES = "Please say how it has affected you, in your own words."
EDITED = "Since that night I have been afraid to be at home on my own."
REPLY = "I am sorry. I understand now that I took away your feeling of safety."
RECEIVE = "Send them to me here when they are approved"


def exchange_letters(victim: Person, facilitator: Person, offender: Person) -> None:
    """The exchange of the core issue: write, changes asked for, edit, approve, read, reply,
    approve, read. Each person is on their own device; the case is active (see `world`)."""
    # Given the person harmed signs in and writes to the person responsible ("Chris")
    victim.sign_in()
    letters = PartyHomePage(victim).open_your_letters()
    letter = letters.write_to("Chris").send(FIRST)
    expect(letter.state()).to_have_text("With your facilitator")

    # When the facilitator reads it and asks for a change
    facilitator.sign_in()
    review = CasesPage(facilitator).letters_to_review().open_first()
    expect(review.version(1)).to_contain_text(FIRST)
    review = review.ask_for_changes(CHANGES)
    expect(review.state()).to_have_text("Changes asked for")

    # Then the writer sees the facilitator's note, and changes the letter
    victim.go("/")
    letter = PartyHomePage(victim).open_your_letters().open_my_letter()
    expect(letter.state()).to_have_text("Changes asked for")
    expect(letter.facilitator_note()).to_contain_text(CHANGES)
    writing = letter.change_your_letter()
    expect(writing.letter()).to_have_value(FIRST)
    letter = writing.send(EDITED)
    expect(letter.state()).to_have_text("With your facilitator")

    # When the facilitator reads both versions and approves the new one
    facilitator.go("/")
    review = CasesPage(facilitator).letters_to_review().open_first()
    expect(review.version(1)).to_contain_text(FIRST)
    expect(review.version(2)).to_contain_text(EDITED)
    review = review.approve()
    # Then it reaches the person responsible, who receives letters unless they say otherwise
    expect(review.state()).to_have_text("Delivered")

    # When the person responsible opens it, after a page that warns before showing it
    offender.sign_in()
    letters = PartyHomePage(offender).open_your_letters()
    before = letters.open_letter_from("Jo")
    expect(before.page.get_by_text(EDITED)).to_have_count(0)
    reading = before.read_it_now()
    # Then they read the approved version only
    expect(reading.letter()).to_contain_text(EDITED)
    expect(reading.page.get_by_text(FIRST)).to_have_count(0)

    # When they reply and the facilitator approves the reply at once
    letters = reading.keep_it()
    letter = letters.write_to("Jo").send(REPLY)
    expect(letter.state()).to_have_text("With your facilitator")
    facilitator.go("/")
    review = CasesPage(facilitator).letters_to_review().open_first()
    expect(review.version(1)).to_contain_text(REPLY)
    review = review.approve()
    # Then it waits: the person harmed has not chosen to receive letters yet
    expect(review.state()).to_have_text("Approved")
    victim.go("/")
    letters = PartyHomePage(victim).open_your_letters()
    expect(letters.letter_from("Chris")).to_have_count(0)

    # When the person harmed chooses to receive letters
    letters = letters.choose_how_to_receive().choose(RECEIVE)
    expect(letters.notice()).to_contain_text("Your choices are saved")
    # Then the reply is there for them, and they read it
    reading = letters.open_letter_from("Chris").read_it_now()
    expect(reading.letter()).to_contain_text(REPLY)
