"""Parties see who helps them (issue 9, item 8): their facilitator's first name, how to
reach the service, and what happens next to each letter, on their own pages."""

import re

from relay.models import User
from relay.services import access
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from tests.factories import receive_letters

TEXT = "I am sorry for what I did to you and to your family."
SECOND = ("samira@relay.test", "  Samira   Okonkwo-Baptiste ", "second facilitator phrase")
CONTACT = "How to contact the service"


def _second_facilitator(session, settings, world) -> None:
    """Samira, invited with stray spaces in her name, joins the world's case."""
    email, name, password = SECOND
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    access.add_facilitator(session, world.facilitator, world.case.id, email)


def _sent(session, settings, world) -> int:
    letter = letters.save_draft(session, world.offender, world.case.id, None, TEXT)
    letters.submit_letter(session, settings, world.offender, letter.id)
    return letter.id


def _next_steps(page: str) -> list[str]:
    return re.findall(r"What happens next: ([^<]*)</p>", page)


def _normalised(body: str) -> str:
    body = re.sub(r"\d+", "#", body)
    return re.sub(r'name="csrf_token" value="[^"]*"', "", body)


# --- their facilitator, by first name ---------------------------------------------------


def test_both_parties_see_their_facilitators_first_names_and_never_a_surname_or_address(
    client, auth, session, settings, world
):
    _second_facilitator(session, settings, world)
    for role in ("victim", "offender"):
        party = auth.another_client(role)
        for path in ("/my/", f"/my/cases/{world.case.id}"):
            page = party.get(path).text
            assert "Your facilitators are Fran and Samira." in page, (role, path)
            for never in ("Fran Facilitator", "Okonkwo", "facilitator@relay.test", SECOND[0]):
                assert never not in page, (role, path, never)


def test_one_facilitator_is_named_alone_and_one_whose_account_is_closed_not_at_all(
    client, auth, session, settings, world
):
    auth.sign_in("victim")
    case_page = client.get(f"/my/cases/{world.case.id}").text
    assert '<p id="your-facilitator">Your facilitator is Fran.</p>' in case_page
    _second_facilitator(session, settings, world)
    # Samira leaves the service: her account is closed (the staff pages' deactivation).
    samira = session.query(User).filter_by(email=SECOND[0]).one()
    samira.disabled = True
    session.commit()
    case_page = client.get(f"/my/cases/{world.case.id}").text
    assert "Your facilitator is Fran." in case_page
    assert "Samira" not in case_page


# --- how to reach the service -----------------------------------------------------------


def test_every_party_page_says_how_to_contact_the_service(
    app, client, auth, session, settings, world
):
    letter_id = _sent(session, settings, world)
    expected = app.config["SERVICE_CONTACT_TEXT"]
    assert expected  # the test configuration's made-up number
    auth.sign_in("offender")
    for path in (
        "/my/",
        f"/my/cases/{world.case.id}",
        f"/my/cases/{world.case.id}/write",
        f"/my/letters/{letter_id}",
        f"/my/cases/{world.case.id}/receiving",
        "/my/stop",
        f"/my/cases/{world.case.id}/withdraw",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        section = re.search(
            r'<section class="contact" id="service-contact".*?</section>', page.text, re.S
        )
        assert section is not None, path
        assert f'<h2 id="service-contact-heading">{CONTACT}</h2>' in section.group(0), path
        assert f"<p>{expected}</p>" in section.group(0), path
    # Staff pages are not where a party looks for help.
    assert CONTACT not in auth.another_client("facilitator").get("/cases/").text


def test_the_contact_text_is_shown_as_text_never_as_markup(app, client, auth, world):
    app.config["SERVICE_CONTACT_TEXT"] = (
        '<a href="https://evil.example">Call us</a> & <script>alert(1)</script>'
    )
    auth.sign_in("victim")
    page = client.get(f"/my/cases/{world.case.id}").text
    assert (
        "&lt;a href=&#34;https://evil.example&#34;&gt;Call us&lt;/a&gt; &amp; &lt;script&gt;"
        in page
    )
    assert "<script>alert" not in page
    assert 'href="https://evil.example"' not in page


def test_without_contact_text_the_pages_show_no_empty_section(app, client, auth, world):
    app.config["SERVICE_CONTACT_TEXT"] = "   "
    auth.sign_in("victim")
    for path in ("/my/", f"/my/cases/{world.case.id}"):
        page = client.get(path).text
        assert CONTACT not in page and 'id="service-contact"' not in page


# --- what happens next, on each letter ---------------------------------------------------


def test_each_letter_says_what_happens_next_to_its_author_and_then_its_recipient(
    client, auth, session, settings, world
):
    receive_letters(session, settings, world.victim, world.case.id)
    letter_id = _sent(session, settings, world)
    offender = auth.another_client("offender")
    in_review = "Your facilitator is reading your letter."
    assert _next_steps(offender.get(f"/my/cases/{world.case.id}").text)[0].startswith(in_review)
    letter_page = offender.get(f"/my/letters/{letter_id}").text
    assert f'<p id="next-step">What happens next: {in_review}' in letter_page
    # The recipient has no line for a letter that has not reached them.
    victim = auth.another_client("victim")
    assert _next_steps(victim.get(f"/my/cases/{world.case.id}").text) == []

    letters.approve_letter(session, settings, world.facilitator, letter_id)
    (line,) = _next_steps(victim.get(f"/my/cases/{world.case.id}").text)
    assert "It stays unopened until you choose to open it" in line
    assert "Chris is not told whether you open it." in line
    assert (
        "If you want to stop it, ask your facilitator."
        in (_next_steps(offender.get(f"/my/letters/{letter_id}").text)[0])
    )

    victim.post(f"/my/received/{letter_id}/open")
    (line,) = _next_steps(victim.get(f"/my/cases/{world.case.id}").text)
    assert line.startswith("You have read this letter.")


def test_the_authors_case_page_is_the_same_while_a_letter_waits_once_delivered_and_once_read(
    client, auth, session, settings, world
):
    """The recipient keeps to themselves whether the letter waits for their choice, reached
    them or was read: the author's whole case page, lines and all, does not change."""
    cases.set_receiving(
        session,
        settings,
        world.victim,
        world.case.id,
        preference="not_now",
        tell_author_when_read=False,
        conditions="",
    )
    letter_id = _sent(session, settings, world)
    letters.approve_letter(session, settings, world.facilitator, letter_id)
    auth.sign_in("offender")
    case_path = f"/my/cases/{world.case.id}"
    waiting = _normalised(client.get(case_path).text)
    assert "What happens next: Your facilitator has approved your letter." in waiting

    victim = auth.another_client("victim")
    victim.post(f"/my/cases/{world.case.id}/receiving/choice", data={"preference": "receive"})
    assert f"/my/received/{letter_id}" in victim.get(case_path).text  # delivered now
    assert _normalised(client.get(case_path).text) == waiting

    victim.post(f"/my/received/{letter_id}/open")
    assert _normalised(client.get(case_path).text) == waiting
