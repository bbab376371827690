"""Every page of each audience renders what it should, from the demo data."""

import html
import re

import pytest
from sqlalchemy import select

from relay import demo
from relay.models import Case
from relay.models import Letter
from relay.models import LetterState
from relay.services import invitations
from tests.conftest import asked_to_sign_in
from tests.conftest import receive_letters


def _letter(session, state):
    return session.scalars(select(Letter).where(Letter.state == state)).first()


def test_sign_in_page_has_labelled_fields(client):
    page = client.get("/sign-in")
    assert '<label class="label" for="email">Email address</label>' in page.text
    assert '<label class="label" for="password">Password</label>' in page.text


def test_wrong_password_is_shown_next_to_the_field_and_keeps_the_email(client, demo_data):
    page = client.post("/sign-in", data={"email": "admin@relay.example", "password": "nope"})
    assert page.status_code == 200
    assert "There is a problem" in page.text
    assert 'href="#email"' in page.text
    assert 'value="admin@relay.example"' in page.text


def test_administrator_pages(client, auth, demo_data):
    assert auth.sign_in("administrator").headers["Location"].endswith("/admin/")
    home = client.get("/admin/")
    assert "facilitator@relay.example" in home.text and "Their own cases" in home.text
    assert "Invite a facilitator" in client.get("/admin/invite").text
    audit_page = client.get("/admin/audit")
    assert "The audit trail is intact" in audit_page.text


def test_facilitator_pages(client, auth, demo_data):
    assert auth.sign_in("facilitator").headers["Location"].endswith("/cases/")
    case = demo_data.scalar(select(Case))
    home = client.get("/cases/")
    assert case.reference in home.text
    assert "waiting-for-access" not in home.text
    shown = client.get(f"/cases/{case.id}")
    assert "Pause the exchange" in shown.text and "Letters are being exchanged" in shown.text
    assert "Who wrote this letter?" in client.get(f"/cases/{case.id}/paper-letter").text
    assert "How did the case end?" in client.get(f"/cases/{case.id}/close").text
    queue = client.get("/review/")
    waiting = _letter(demo_data, LetterState.IN_REVIEW)
    assert f"/review/letters/{waiting.id}" in queue.text
    review = client.get(f"/review/letters/{waiting.id}")
    assert "Why did you choose our house?" in review.text
    assert "Approve and pass on" in review.text
    assert "E-mails from us" in client.get("/account/e-mails").text


def test_review_error_keeps_the_page_and_names_the_field(client, auth, demo_data):
    auth.sign_in("facilitator")
    waiting = _letter(demo_data, LetterState.IN_REVIEW)
    page = client.post(f"/review/letters/{waiting.id}/changes", data={"note": ""})
    assert page.status_code == 200
    assert "Tell the writer what to change" in page.text
    assert 'href="#note"' in page.text


def test_victim_pages_have_quick_exit_and_a_neutral_title(client, auth, demo_data):
    auth.sign_in("victim")
    case = demo_data.scalar(select(Case))
    for url in (
        "/my/",
        f"/my/cases/{case.id}",
        f"/my/cases/{case.id}/receiving",
        f"/my/cases/{case.id}/withdraw",
        f"/my/cases/{case.id}/write",
        "/account/e-mails",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "Leave this site" in page.text, url
        assert re.search(r"<title>\s*Relay\s*</title>", page.text), url
    asked = _letter(demo_data, LetterState.CHANGES_REQUESTED)
    page = client.get(f"/my/letters/{asked.id}")
    assert "Could you say how it affected you" in page.text


def test_offender_sees_a_suggested_change_as_a_difference(client, auth, demo_data):
    auth.sign_in("offender")
    proposed = _letter(demo_data, LetterState.REDACTION_PROPOSED)
    page = client.get(f"/my/letters/{proposed.id}")
    assert "Accept these changes" in page.text
    assert "<del" in page.text and "12 Example Street" in page.text
    assert "<ins" in page.text and "somewhere else" in page.text


def test_delivered_letter_asks_before_opening(client, auth, demo_data):
    auth.sign_in("victim")
    delivered = _letter(demo_data, LetterState.DELIVERED)
    warning = client.get(f"/my/received/{delivered.id}")
    assert "Read it now" in warning.text
    assert "I have started a course" not in warning.text


def test_pages_send_security_headers(client, auth, demo_data):
    auth.sign_in("victim")
    page = client.get("/my/")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_sign_out_ends_the_session(client, auth, demo_data):
    auth.sign_in("victim")
    client.post("/sign-out")
    assert asked_to_sign_in(client.get("/my/"))


def test_a_post_without_a_csrf_token_is_refused(app, client, demo_data):
    app.config["WTF_CSRF_ENABLED"] = True
    email, _name, password = demo.DEMO_PEOPLE["victim"]
    refused = client.post("/sign-in", data={"email": email, "password": password})
    assert refused.status_code == 400
    assert "CSRF" in refused.text
    assert asked_to_sign_in(client.get("/my/"))
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    accepted = client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": token}
    )
    assert accepted.status_code == 302


def test_review_page_flags_an_address_for_the_facilitator(client, auth, world, session, settings):
    from relay.services import letters

    letter = letters.save_draft(
        session, world.offender, world.case.id, None, "I live at 12 Example Street now."
    )
    letters.submit_letter(session, settings, world.offender, letter.id)
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter.id}")
    assert "Things to check" in page.text
    assert '<mark class="flag">12 Example Street</mark>' in page.text
    assert "an address" in page.text.lower()


# The letter issue 9 gives: before, it raised no flag at all.
ISSUE_LETTER = (
    "I was off my head and my mate Darren talked me into it, so it wasn't all down to me. "
    "Honestly you shouldn't have left the back door unlocked.\n\nPlease forgive me. I hope "
    "this helps with my parole.\n\nOlly Responsible"
)


def test_review_page_marks_each_flag_in_place_with_its_reason(
    client, auth, world, session, settings
):
    from relay.services import letters

    letter = letters.save_draft(session, world.offender, world.case.id, None, ISSUE_LETTER)
    letters.submit_letter(session, settings, world.offender, letter.id)
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter.id}").text
    marked = re.findall(
        r'<mark class="flag">([^<]*)</mark><span class="flag-number"> \[(\d+)\]', page
    )
    words = [html.unescape(word) for word, _number in marked]
    # Numbered in order, as the list above the letter numbers them.
    assert [int(number) for _word, number in marked] == list(range(1, len(marked) + 1))
    for expected in ("Darren", "forgive", "parole", "Olly Responsible"):
        assert any(expected.lower() in word.lower() for word in words), (expected, words)
    assert any("down to me" in word for word in words), words
    assert any("shouldn't have" in word for word in words), words
    listed = page[page.index('<ol class="flag-list">') : page.index("</ol>")]
    assert listed.count("<li>") == len(marked)
    # The author's name is flagged because Relay holds it for this case's people.
    assert "Olly Responsible" in listed


def _offender_letter_in_review(session, settings, world, text="A letter for the pages."):
    from relay.services import letters

    letter = letters.save_draft(session, world.offender, world.case.id, None, text)
    letters.submit_letter(session, settings, world.offender, letter.id)
    return letter


def test_approval_with_a_not_before_date_waits(client, auth, world, session, settings):
    from datetime import timedelta

    from relay.models import utcnow

    letter = _offender_letter_in_review(session, settings, world)
    auth.sign_in("facilitator")
    day = utcnow().date() + timedelta(days=10)
    client.post(f"/review/letters/{letter.id}/approve", data={"not_before": day.isoformat()})
    session.expire_all()
    assert letter.state == LetterState.APPROVED
    assert letter.deliver_not_before == day
    page = client.get(f"/review/letters/{letter.id}")
    assert day.strftime("%d %B %Y") in page.text


def test_a_past_not_before_date_is_shown_next_to_the_field(client, auth, world, session, settings):
    letter = _offender_letter_in_review(session, settings, world)
    auth.sign_in("facilitator")
    page = client.post(f"/review/letters/{letter.id}/approve", data={"not_before": "2001-01-01"})
    assert "The date must be in the future" in page.text
    assert 'href="#not_before"' in page.text
    session.expire_all()
    assert letter.state == LetterState.IN_REVIEW


def test_recipient_holds_then_destroys_a_letter_through_the_pages(
    client, auth, world, session, settings
):
    from relay.services import letters

    receive_letters(session, settings, world.victim, world.case.id)
    letter = _offender_letter_in_review(session, settings, world, "Words to hold or destroy.")
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    auth.sign_in("victim")
    read = client.post(f"/my/received/{letter.id}/open")
    assert "Hold it out of sight" in read.text
    client.post(f"/my/received/{letter.id}/hold")
    case_page = client.get(f"/my/cases/{world.case.id}")
    assert "Letters held out of sight" in case_page.text
    assert f"/my/received/{letter.id}/unhold" in case_page.text
    assert "Destroy your copy" in client.get(f"/my/received/{letter.id}/destroy").text
    client.post(f"/my/received/{letter.id}/destroy")
    assert client.post(f"/my/received/{letter.id}/open").status_code == 404
    assert f"/my/received/{letter.id}" not in client.get(f"/my/cases/{world.case.id}").text


def test_facilitator_adds_a_second_facilitator_by_email(client, auth, world, session, settings):

    token = invitations.invite_staff(
        session, settings, world.administrator, email="pair@relay.test", name="Pat Pair"
    )
    invitations.accept_invitation(session, settings, token=token, password="pair facilitator 1")
    auth.sign_in("facilitator")
    missing = client.post(f"/cases/{world.case.id}/facilitators", data={"email": "no@x.test"})
    assert "There is no facilitator with this e-mail address" in missing.text
    client.post(f"/cases/{world.case.id}/facilitators", data={"email": "pair@relay.test"})
    assert "Pat Pair" in client.get(f"/cases/{world.case.id}").text


def test_reset_without_the_recovery_code_warns_and_needs_restoring(
    client, auth, world, session, settings
):
    from tests.services.test_services import _reset_token

    email = "victim@relay.test"
    token = _reset_token(session, settings, email)
    form = client.get(f"/reset/{token}")
    assert "If you have lost it, leave this empty" in form.text
    done = client.post(
        f"/reset/{token}",
        data={"recovery_code": "", "password": "fresh phrase 123", "confirm": "fresh phrase 123"},
    )
    assert "Your recovery code" in done.text
    auth.sign_in_as(email, "fresh phrase 123")
    client.post(f"/my/cases/{world.case.id}/write", data={"text": "x", "save": "1"})
    auth.sign_out()
    auth.sign_in("facilitator")
    case_page = client.get(f"/cases/{world.case.id}")
    assert "Restore access to their letters" in case_page.text
    client.post(f"/cases/{world.case.id}/restore-access/{world.victim.id}")
    assert "Restore access to their letters" not in client.get(f"/cases/{world.case.id}").text


def test_reset_request_answers_the_same_for_unknown_and_known_addresses(client, world):
    known = client.post("/reset", data={"email": "victim@relay.test"})
    unknown = client.post("/reset", data={"email": "nobody@relay.test"})
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert "If there is an account for that address" in known.text


def test_writing_help_differs_by_role_and_says_what_to_avoid(client, auth, world):
    auth.sign_in("victim")
    victim_page = client.get(f"/my/cases/{world.case.id}/write").text
    assert "How this has affected me" in victim_page
    assert "What I did" not in victim_page
    assert "no effect on any sentence, licence or parole" in victim_page
    auth.sign_out()
    auth.sign_in("offender")
    offender_page = client.get(f"/my/cases/{world.case.id}/write").text
    assert "What I did" in offender_page and "What I will do" in offender_page
    assert "Asking for forgiveness" in offender_page


@pytest.mark.parametrize("url", ["/sign-in", "/reset", "/no-such-page", "/activate/unknown"])
def test_pages_a_party_may_see_before_signing_in_offer_quick_exit(client, url):
    page = client.get(url)
    assert 'id="quick-exit"' in page.text


def test_signed_in_staff_pages_do_not_need_quick_exit(client, auth, world):
    auth.sign_in("facilitator")
    assert 'id="quick-exit"' not in client.get("/cases/").text


def test_a_party_can_stop_taking_part_in_two_clicks_from_any_page(client, auth, world, session):
    from relay.models import Case
    from relay.models import CaseState

    auth.sign_in("offender")
    for url in ("/my/", f"/my/cases/{world.case.id}", "/account/e-mails"):
        assert 'href="/my/stop"' in client.get(url).text, url
    stop = client.get("/my/stop")  # first click
    action = re.search(r'action="(/my/cases/\d+/withdraw)"', stop.text).group(1)
    client.post(action)  # second click
    session.expire_all()
    assert session.get(Case, world.case.id).state == CaseState.CLOSED


def test_facilitator_takes_another_off_the_case(client, auth, world, session, settings):
    from sqlalchemy import select

    from relay.models import User

    token = invitations.invite_staff(
        session, settings, world.administrator, email="pair@relay.test", name="Pat Pair"
    )
    invitations.accept_invitation(session, settings, token=token, password="pair facilitator 1")
    auth.sign_in("facilitator")
    client.post(f"/cases/{world.case.id}/facilitators", data={"email": "pair@relay.test"})
    page = client.get(f"/cases/{world.case.id}").text
    assert "Take Pat Pair off this case" in page
    pat = session.scalar(select(User).where(User.email == "pair@relay.test"))
    action = f"/cases/{world.case.id}/facilitators/{pat.id}/remove"
    assert f'action="{action}"' in page
    assert client.post(action).status_code == 302
    after = client.get(f"/cases/{world.case.id}").text
    assert "Take Pat Pair off this case" not in after
    assert "its key has been changed" in after
