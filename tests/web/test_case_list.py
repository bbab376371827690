"""The staff's case list on the staff home page (issue 9, item 6)."""

import pytest

from relay.services import letters
from tests import bulk
from tests.web.test_constant_sql import _statements_for


def test_the_list_shows_state_next_action_last_activity_and_facilitators(
    client, auth, session, settings, world
):
    letter = letters.save_draft(session, world.victim, world.case.id, None, "Hello")
    letters.submit_letter(session, settings, world.victim, letter.id)
    auth.sign_in("facilitator")
    home = client.get("/cases/").text
    assert "<h1>Cases</h1>" in home and "All cases" not in home
    row = home[home.index(f">{world.case.reference}</a>") :]
    row = row[: row.index("</tr>")]
    assert "Letters are being exchanged" in row
    assert "Review 1 letter" in row
    assert "Fran Facilitator" in row
    assert " 20" in row  # a date: the last activity


def test_the_administrators_list_is_titled_all_cases(client, auth, world):
    auth.sign_in("administrator")
    home = client.get("/cases/").text
    assert "<h1>All cases</h1>" in home and "<title>All cases" in home
    assert "Every case in the service" in home


def test_cases_are_found_by_reference_and_narrowed_by_state(client, auth, session, world):
    bulk.add_cases_in_review(session, world.facilitator.id, 30, 0)
    auth.sign_in("facilitator")
    found = client.get("/cases/?reference=bulk-1").text
    listed = found[found.index('id="cases"') :]
    # BULK-1 and BULK-10 to BULK-19
    assert listed.count('href="/cases/') == 11 and world.case.reference not in listed
    assert "11 cases found, newest first." in found
    assert 'value="bulk-1"' in found  # the search stays in its box

    paged = client.get("/cases/?reference=BULK").text
    assert "30 cases found, newest first. Page 1 of 2." in paged
    assert 'href="/cases/?reference=BULK&amp;page=2" rel="next"' in paged

    preparing = client.get("/cases/?state=preparing").text
    assert "No case matches." in preparing

    wrong = client.get("/cases/?state=lost").text
    assert "There is a problem" in wrong
    assert 'href="#state">Choose a state from the list' in wrong


@pytest.mark.parametrize("path", ["/cases/?reference=BULK", "/cases/?state=active&page=2"])
def test_a_searched_list_asks_the_same_however_many_cases(app, client, auth, session, world, path):
    auth.sign_in("facilitator")
    bulk.add_cases_in_review(session, world.facilitator.id, 30, 0)
    client.get(path)
    few = _statements_for(app, client, path)
    bulk.add_cases_in_review(session, world.facilitator.id, 300, 30)
    many = _statements_for(app, client, path)
    assert many == few, f"{path}: {few} statements at 30, {many} at 330"
