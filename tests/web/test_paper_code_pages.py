"""A printed one-time code through the pages (issue 10, item 1): the facilitator presses
"Print a one-time code" for a party on paper and gets a page to print, shown once; the
party enters the code at "I have a code" (linked from the sign-in page), chooses their
address and password and gets their recovery code. A wrong, expired or used code, or one
for a closed case, gets one message; guessing is rate-limited. And the case page's
buttons that change a party to or from paper."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy import update

from relay.models import AuditEntry
from relay.models import CaseParticipant
from relay.models import Invitation
from relay.models import Role
from relay.models import utcnow
from relay.services import cases
from relay.services import invitations
from tests import paper

LEE = ("lee@relay.test", "a long phrase lee chose")
CODE = re.compile(r'<p class="code" id="one-time-code">([0-9A-Z-]{24})</p>')
REFUSED = "This code is not right, has expired or has been used."


@pytest.fixture
def paper_case(session, settings, world):
    """(case id, the paper party's id): the person harmed uses Relay, the person
    responsible takes part on paper."""
    return paper.paper_case(session, settings, world.facilitator, "RJ-CODE")


def _print(client, paper_case) -> str:
    case_id, inmate_id = paper_case
    page = client.post(f"/cases/{case_id}/paper-code", data={"participant": inmate_id})
    assert page.status_code == 200, page.text
    return CODE.search(page.text).group(1)


def _inmate(session, paper_case) -> CaseParticipant:
    session.expire_all()
    return session.get(CaseParticipant, paper_case[1])


def _set_up(client, code: str, email: str = LEE[0], confirm: str = LEE[1]):
    return client.post(
        "/code/account",
        data={"code": code, "email": email, "password": LEE[1], "confirm": confirm},
    )


def test_a_printed_code_sets_up_the_account_of_a_party_on_paper(
    app, client, auth, session, settings, paper_case
):
    case_id, inmate_id = paper_case
    auth.sign_in("facilitator")
    page = client.get(f"/cases/{case_id}").text
    assert 'Print a one-time code<span class="visually-hidden"> for Lee</span>' in page

    printed = client.post(f"/cases/{case_id}/paper-code", data={"participant": inmate_id})
    assert printed.headers["Cache-Control"] == "no-store"
    code = CODE.search(printed.text).group(1)
    expires = (utcnow() + timedelta(days=invitations.CODE_DAYS)).strftime("%-d %B %Y")
    assert f"<strong>{settings.link('/code')}</strong>" in printed.text
    assert f"until {expires}" in printed.text
    assert "works once" in printed.text
    # Only its digest is kept, and the trail says it was printed, not what it was.
    assert code not in " ".join(session.scalars(select(AuditEntry.details)))
    # Shown once: the case page never shows it again.
    assert code not in client.get(f"/cases/{case_id}").text

    party = app.test_client()
    assert '<a href="/code">I have a code from my facilitator</a>' in party.get("/sign-in").text
    assert '<label class="label" for="code">' in party.get("/code").text
    # Typed as read off the paper: small letters, spaces for the dashes.
    typed = code.lower().replace("-", " ")
    chosen = party.post("/code", data={"code": typed})
    assert chosen.status_code == 200
    assert "<h1>Set up your account</h1>" in chosen.text
    assert 'for="email"' in chosen.text and 'for="password"' in chosen.text

    mismatch = _set_up(party, typed, email="Lee@relay.test", confirm="something else")
    assert '<a href="#confirm">The two passwords are not the same</a>' in mismatch.text
    assert 'value="Lee@relay.test"' in mismatch.text  # kept as typed

    done = _set_up(party, typed)
    assert done.status_code == 200
    assert '<p class="code" id="recovery-code">' in done.text
    inmate = _inmate(session, paper_case)
    assert inmate.user_id is not None and inmate.on_paper is False
    signed_in = party.post("/sign-in", data={"email": LEE[0], "password": LEE[1]})
    assert signed_in.status_code == 302
    home = party.get(signed_in.location, follow_redirects=True).text
    assert f'href="/my/cases/{case_id}">Open your letters' in home


def test_a_wrong_code_gets_the_error_summary_and_keeps_what_was_typed(client, paper_case):
    wrong = client.post("/code", data={"code": "ABCD-EFGH-JKMN-PQRS-TVWX"})
    assert wrong.status_code == 200
    assert 'class="error-summary"' in wrong.text
    assert f'<a href="#code">{REFUSED}' in wrong.text
    assert 'value="ABCD-EFGH-JKMN-PQRS-TVWX"' in wrong.text
    empty = client.post("/code", data={"code": ""})
    assert '<a href="#code">Enter the code</a>' in empty.text


def test_expired_used_and_closed_case_codes_get_one_message(
    app, client, auth, session, world, paper_case
):
    auth.sign_in("facilitator")
    party = app.test_client()

    used = _print(client, paper_case)
    assert _set_up(party, used).status_code == 200
    again = party.post("/code", data={"code": used})
    assert f'<a href="#code">{REFUSED}' in again.text
    # Used at the second step too (a page kept open): back to the code, same words.
    late = _set_up(party, used, email="someone@relay.test")
    assert f'<a href="#code">{REFUSED}' in late.text

    other = cases.open_case(session, world.facilitator, reference="RJ-2", offence_category="other")
    second = cases.add_paper_party(
        session, world.facilitator, other.id, role=Role.VICTIM, display_name="Sam"
    )
    expired = _print(client, (other.id, second.id))
    session.execute(
        update(Invitation)
        .where(Invitation.participant_id == second.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert f'<a href="#code">{REFUSED}' in party.post("/code", data={"code": expired}).text

    closed_code = _print(client, (other.id, second.id))
    cases.close_case(session, world.facilitator, other.id, "ended_by_facilitator")
    assert f'<a href="#code">{REFUSED}' in party.post("/code", data={"code": closed_code}).text
    assert f'<a href="#code">{REFUSED}' in _set_up(party, closed_code, email="s@relay.test").text
    assert session.get(CaseParticipant, second.id).user_id is None


def test_printing_again_shows_a_new_code_and_the_first_stops_working(
    app, client, auth, session, paper_case
):
    auth.sign_in("facilitator")
    first = _print(client, paper_case)
    # A reload posts again: a new code, never the first one shown again.
    second = _print(client, paper_case)
    assert first != second
    party = app.test_client()
    assert f'<a href="#code">{REFUSED}' in party.post("/code", data={"code": first}).text
    assert "<h1>Set up your account</h1>" in party.post("/code", data={"code": second}).text


def test_a_code_is_printed_only_by_the_cases_facilitator(
    app, client, auth, session, world, paper_case
):
    case_id, inmate_id = paper_case
    auth.sign_in("administrator")
    assert (
        client.post(f"/cases/{case_id}/paper-code", data={"participant": inmate_id}).status_code
        == 403
    )
    other = auth.another_client("victim")
    assert (
        other.post(f"/cases/{case_id}/paper-code", data={"participant": inmate_id}).status_code
        == 404
    )
    assert session.scalar(select(Invitation).where(Invitation.participant_id == inmate_id)) is None


def test_the_case_page_changes_a_party_to_and_from_paper(client, auth, session, world):
    auth.sign_in("facilitator")
    case_id = world.case.id
    victim = session.scalar(
        select(CaseParticipant).where(
            CaseParticipant.case_id == case_id, CaseParticipant.role == Role.VICTIM
        )
    )
    page = client.get(f"/cases/{case_id}").text
    assert "Change to taking part on paper" in page
    moved = client.post(f"/cases/{case_id}/paper", data={"participant": victim.id, "to": "paper"})
    assert moved.status_code == 302
    page = client.get(moved.location).text
    assert re.search(r"“[^”]+” now takes part on paper", page)
    assert "Change to taking part through Relay" in page
    session.expire_all()
    assert session.get(CaseParticipant, victim.id).on_paper is True

    back = client.post(f"/cases/{case_id}/paper", data={"participant": victim.id, "to": "relay"})
    assert back.status_code == 302
    assert re.search(r"now takes part through Relay", client.get(back.location).text)
    session.expire_all()
    assert session.get(CaseParticipant, victim.id).on_paper is False


def test_a_party_with_no_account_is_offered_a_code_not_a_switch_off_paper(client, auth, paper_case):
    case_id, inmate_id = paper_case
    auth.sign_in("facilitator")
    page = client.get(f"/cases/{case_id}").text
    lee = page[page.index("“Lee”") :]
    lee = lee[: lee.index("</li>")]
    assert "Print a one-time code" in lee
    assert "through Relay" not in lee
    refused = client.post(f"/cases/{case_id}/paper", data={"participant": inmate_id, "to": "relay"})
    assert refused.status_code == 409
    assert "one-time code" in refused.text


# --- guessing -----------------------------------------------------------------------------


def test_guessing_codes_is_rate_limited_across_both_steps(build_app_with):
    client = build_app_with(ACCOUNT_LINK_RATE_LIMIT="3 per minute").test_client()
    answers = [
        client.post("/code", data={"code": "ABCD-EFGH-JKMN-PQRS-TVWX"}).status_code,
        _set_up(client, "ABCD-EFGH-JKMN-PQRS-TVW0").status_code,
        client.post("/code", data={"code": "ABCD-EFGH-JKMN-PQRS-TVW1"}).status_code,
        _set_up(client, "ABCD-EFGH-JKMN-PQRS-TVW2").status_code,
        client.post("/code", data={"code": "ABCD-EFGH-JKMN-PQRS-TVW3"}).status_code,
    ]
    assert answers == [200, 200, 200, 429, 429]
    # Looking at the page is not a guess.
    assert client.get("/code").status_code == 200
