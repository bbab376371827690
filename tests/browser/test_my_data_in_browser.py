"""A person's own data in a real browser (issue 11, item 5): the person harmed finds the
download from their home page, by keyboard, and Chromium saves one zip; the page inside it
opens as a page of its own, shows the letter's markup as text, and passes axe like every
page of Relay. The administrator's page for a subject access request passes axe too."""

import io
import json
import zipfile

import pytest
from playwright.sync_api import expect

from relay import demo
from relay.services import cases
from relay.services import claims
from relay.services import letters
from relay.services import notes
from tests.browser.checks import assert_accessible
from tests.browser.conftest import PEOPLE
from tests.browser.pages import Screen

pytestmark = pytest.mark.slow

HOSTILE = "Dear Jo,\n\nI am sorry. <img src=x onerror=alert(1)> & more."


class HomePage(Screen):
    kind = "party-home"
    heading = "Your letters"


class MyDataPage(Screen):
    kind = "my-data"
    heading = "Download everything Relay holds about you"


class SubjectAccessPage(Screen):
    kind = "subject-access"
    heading = "Subject access request for Chris"


@pytest.fixture
def opened(site, world) -> None:
    """A letter from Chris, with markup in it, delivered to Jo and opened by her."""
    with site.session() as session:

        def actor(role):
            return demo.actor_for(session, site.settings, PEOPLE[role][0], PEOPLE[role][2])

        victim, offender, facilitator = actor("victim"), actor("offender"), actor("facilitator")
        cases.set_receiving(
            session,
            site.settings,
            victim,
            world.case.id,
            preference="receive",
            tell_author_when_read=False,
        )
        letter = letters.send_letter(session, site.settings, offender, world.case.id, None, HOSTILE)
        found, texts, _claim = claims.open_for_review(session, facilitator, letter.id)
        conditions = notes.conditions_of(session, facilitator, found.recipient)
        flags = letters.flags_for_review(found, texts[-1][1], conditions)
        letters.approve_letter(
            session,
            site.settings,
            facilitator,
            letter.id,
            checked_flags=[flag.key for flag in flags],
            confirmed=True,
        )
        letters.open_letter(session, site.settings, victim, letter.id)


def test_a_party_downloads_their_data_and_its_page_reads_safely(people, site, opened):
    # Given Jo, signed in, on her home page
    jo = people("victim", keyboard=True)
    jo.sign_in()
    home = HomePage(jo)
    # When she follows the link to her data
    home.ui.follow(home.link("Download everything Relay holds about you"))
    page = MyDataPage(jo)
    # And presses the button
    with page.page.expect_download() as download:
        page.button("Download my data").press("Enter")
    # Then one zip is saved, named for the day, holding the page and the data
    saved = download.value
    assert saved.suggested_filename.startswith("relay-my-data-")
    assert saved.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(saved.path().read_bytes())) as archive:
        html = archive.read("relay-my-data.html").decode()
        data = json.loads(archive.read("relay-my-data.json"))
    assert data["cases"][0]["letters_to_you"][0]["text"] == HOSTILE

    # When the page in the file is opened in a browser
    shown = jo.page.context.new_page()
    shown.route(
        "**/relay-my-data.html", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    dialogs = []
    shown.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    shown.goto(f"{site.url}/relay-my-data.html")
    # Then the letter is text, markup and all, and nothing ran
    expect(shown.get_by_role("heading", level=1)).to_have_text("Everything Relay holds about you")
    expect(shown.locator(".letter")).to_contain_text("<img src=x onerror=alert(1)>")
    assert shown.locator("img").count() == 0 and dialogs == []
    expect(shown.locator("body")).not_to_contain_text(PEOPLE["offender"][1])
    assert_accessible(shown)


def test_the_administrators_page_for_a_request_asks_them_to_join_first(people, world):
    # Given the administrator, who has not added themselves to the case
    ada = people("administrator")
    ada.sign_in()
    # When they open the page for a request from the person responsible
    ada.go(f"/admin/cases/{world.case.id}/personal-data/offender")
    page = SubjectAccessPage(ada)
    # Then it says to add themselves to the case first, with the way there
    expect(page.page.locator("#join-first")).to_contain_text("add yourself to the case")
    expect(page.button("Produce the file")).to_have_count(0)
