"""After a decision the review page says it is saved and offers the next letter waiting
(issue 9, item 4): the oldest one nobody is reviewing, never the one just decided."""

from relay.services import letters
from tests.factories import receive_letters


def _in_review(session, settings, world, text: str) -> int:
    letter = letters.save_draft(session, world.offender, world.case.id, None, text)
    letters.submit_letter(session, settings, world.offender, letter.id)
    return letter.id


def test_a_decision_is_confirmed_and_the_next_letter_offered(
    client, auth, session, settings, world
):
    receive_letters(session, settings, world.victim, world.case.id)
    first = _in_review(session, settings, world, "The first letter.")
    second = _in_review(session, settings, world, "The second letter.")
    auth.sign_in("facilitator")
    client.get(f"/review/letters/{first}")
    decided = client.post(f"/review/letters/{first}/approve", data={"not_before": ""})
    assert decided.status_code == 302
    assert decided.headers["Location"].endswith(f"/review/letters/{first}?decided=1")
    page = client.get(decided.headers["Location"]).text
    assert "Your decision is saved" in page
    assert "This letter is now: delivered." in page
    assert f'href="/review/letters/{second}">Next letter</a>' in page
    # The last one decided: nothing else waits, so the way back to the queue instead.
    client.get(f"/review/letters/{second}")
    client.post(f"/review/letters/{second}/changes", data={"note": "Please say it plainly."})
    last = client.get(f"/review/letters/{second}?decided=1").text
    assert "Next letter" not in last
    assert "No other letter is waiting for review." in last


def test_the_page_without_a_decision_offers_nothing(client, auth, session, settings, world):
    letter_id = _in_review(session, settings, world, "A letter.")
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter_id}").text
    assert "Your decision is saved" not in page and "Next letter" not in page
