"""The edges of a session in a real browser (issue 13, "Nothing lost, nothing leaked"):
leaving the site leaves nothing behind it, and the warning before the idle limit."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy import update

from relay import demo
from relay.models import User
from relay.models import UserSession
from relay.models import utcnow
from relay.services import letters
from tests.browser import checks
from tests.browser.conftest import PEOPLE
from tests.browser.pages import AuthorLetterPage
from tests.browser.pages import PartyCasePage
from tests.browser.pages import PartyHomePage
from tests.browser.pages import SignInPage

pytestmark = pytest.mark.slow

WORDS = "The night it happened I could not sleep, and I still think of it every day."
TIMED_OUT = "You were signed out to keep you safe; your draft is saved"


def _victim_sessions(site) -> list[UserSession]:
    with site.session() as session:
        victim = session.scalar(select(User).where(User.email == PEOPLE["victim"][0]))
        return list(
            session.scalars(select(UserSession).where(UserSession.user_id == victim.id)).all()
        )


def _browser_sessions_ended(site, before: set[int]) -> bool:
    """The sessions made since `before` (the browser's sign-ins) have all ended."""
    made = [record for record in _victim_sessions(site) if record.id not in before]
    return bool(made) and all(record.revoked_at is not None for record in made)


def _session_ids(site) -> set[int]:
    return {record.id for record in _victim_sessions(site)}


def _draft(site, world) -> int:
    email, _name, password = PEOPLE["victim"]
    with site.session() as session:
        author = demo.actor_for(session, site.settings, email, password)
        return letters.save_draft(session, author, world.case.id, None, WORDS).id


def test_escape_three_times_ends_the_session_and_back_shows_no_letter(people, world, site):
    letter_id = _draft(site, world)
    before = _session_ids(site)
    victim = people("victim")
    # Given the person harmed has read their letter, then gone on to another page
    victim.sign_in()
    PartyHomePage(victim)
    victim.go(f"/my/letters/{letter_id}")
    AuthorLetterPage(victim)
    expect(victim.page.get_by_text(WORDS)).to_be_visible()
    victim.go("/my/")
    PartyHomePage(victim)

    # When they press Escape three times
    for _ in range(3):
        victim.page.keyboard.press("Escape")
    expect(victim.page.get_by_role("heading", name="Weather")).to_be_visible()

    # Then Back does not show their letter: the server asks them to sign in
    victim.page.go_back()
    SignInPage(victim)
    expect(victim.page.get_by_text(WORDS)).to_have_count(0)
    # and the session has ended on the server, not only in this browser
    assert _browser_sessions_ended(site, before)
    victim.go("/my/")
    SignInPage(victim)
    expect(victim.page).to_have_url(re.compile(r"/sign-in\?next=/my/$"))


def test_the_link_leaves_the_same_way(people, world, site):
    before = _session_ids(site)
    victim = people("victim")
    victim.sign_in()
    letters_page = PartyHomePage(victim).open_your_letters()
    case_address = victim.page.url

    letters_page.ui.follow(letters_page.quick_exit())
    expect(victim.page.get_by_role("heading", name="Weather")).to_be_visible()

    victim.page.go_back()
    SignInPage(victim)
    assert _browser_sessions_ended(site, before)
    victim.go(case_address)
    SignInPage(victim)


def _seconds_to_warning(page) -> int:
    """Seconds from the page's load until its warning (relay.js: two minutes before it
    ends the session, which it does fifteen seconds before the server's limit)."""
    idle_left = int(page.locator("body").get_attribute("data-idle-left"))
    return idle_left - 15 - 120


def test_the_warning_comes_before_the_idle_limit_and_staying_keeps_the_session(people, world, site):
    victim = people("victim")
    victim.page.clock.install()
    # Given the person harmed has their letters open
    victim.sign_in()
    case_page = PartyHomePage(victim).open_your_letters()
    warning = victim.page.get_by_role("alertdialog", name="You will be signed out soon")
    stay = warning.get_by_role("button", name="Stay signed in")
    expect(warning).to_be_hidden()

    # When they do nothing until two minutes before they would be signed out
    victim.page.clock.fast_forward((_seconds_to_warning(victim.page) + 1) * 1000)

    # Then the warning says so, with the focus on its one button, and passes the checks
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("we will sign you out in 2 minutes")
    expect(stay).to_be_focused()
    checks.assert_accessible(victim.page)

    # When (the server having seen nothing for 14 minutes) they choose to stay, by keyboard
    with site.session() as session:
        session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=14)))
        session.commit()
    with victim.page.expect_response(re.compile(r"/session/keep-alive$")) as answer:
        victim.page.keyboard.press("Enter")
    assert answer.value.status == 204

    # Then the warning closes and the server's idle time has started again
    expect(warning).to_be_hidden()
    newest = max(_victim_sessions(site), key=lambda record: record.id)
    assert newest.revoked_at is None
    assert utcnow() - newest.last_seen_at < timedelta(seconds=30)
    victim.page.reload()
    PartyCasePage(case_page.person)


def test_when_time_is_up_the_page_says_so_and_signing_in_returns_there(people, world, site):
    before = _session_ids(site)
    victim = people("victim")
    victim.page.clock.install()
    victim.sign_in()
    PartyHomePage(victim).open_your_letters()
    case_address = victim.page.url
    victim.page.evaluate(
        """() => document.addEventListener(
            "relay:before-timeout", () => { window.askedToSave = true; })"""
    )

    # When they do nothing until the end (the letter autosave is asked first)
    victim.page.clock.fast_forward((_seconds_to_warning(victim.page) + 121) * 1000)
    assert victim.page.evaluate("() => window.askedToSave === true")
    with victim.page.expect_navigation():
        victim.page.clock.run_for(1100)

    # Then the sign-in page says why, and the session has ended on the server
    signing_in_again = SignInPage(victim)
    expect(victim.page.get_by_role("status")).to_have_text(TIMED_OUT)
    assert _browser_sessions_ended(site, before)
    # and signing in again returns to the page they were on
    signing_in_again.sign_in(victim.email, victim.password)
    PartyCasePage(victim)
    expect(victim.page).to_have_url(case_address)
