"""Staff management through the administrator's pages, with CSRF on (issue 9, item 7):
invitations sent again and revoked, and a facilitator who leaves handed over and closed."""

import html
import re

from sqlalchemy import select

from relay.models import Invitation
from relay.models import OutboxMessage
from relay.models import User
from relay.services import invitations
from relay.services import outbox
from tests.conftest import PEOPLE
from tests.conftest import asked_to_sign_in

OTHER = ("other-fac@relay.test", "Other Facilitator", "other facilitator pw")


def _form(page: str, action: str) -> dict[str, str]:
    """The hidden fields (the CSRF token) of the form on `page` that posts to `action`."""
    found = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S
    )
    assert found, f"no form posting to {action}"
    return dict(
        re.findall(
            r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', found.group(1)
        )
    )


def _own_form(page: str) -> dict[str, str]:
    """The hidden fields of a page's form that posts back to the page itself."""
    found = re.search(r'<form method="post" novalidate>(.*?)</form>', page, re.S)
    assert found, "no form on the page"
    return dict(
        re.findall(
            r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', found.group(1)
        )
    )


def _text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.text))


def _links_sent_to(session, settings, email: str) -> list[str]:
    session.expire_all()
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id)
    ).all()
    bodies = [outbox.read_body(settings.outbox_key, m) for m in messages]
    return [re.search(r"/activate/(\S+)", body).group(1) for body in bodies]


def test_an_administrator_sends_an_invitation_again_and_revokes_it(
    client, auth, session, settings, world
):
    auth.sign_in("administrator")
    client.application.config["WTF_CSRF_ENABLED"] = True
    invite = client.get("/admin/invite")
    sent = client.post(
        "/admin/invite",
        data={**_own_form(invite.text), "name": "Nia New", "email": "nia@example.com"},
    )
    assert sent.status_code == 302, _text(sent)
    home = client.get("/admin/")
    assert 'href="/admin/invitations"' in home.text

    listed = client.get("/admin/invitations")
    invitation = session.scalar(select(Invitation).where(Invitation.email == "nia@example.com"))
    assert "nia@example.com" in listed.text and "Expired" not in listed.text
    resend = f"/admin/invitations/{invitation.id}/resend"
    refused = client.post(resend, data={})
    assert refused.status_code == 400  # no CSRF token, nothing sent
    assert len(_links_sent_to(session, settings, "nia@example.com")) == 1

    again = client.post(resend, data=_form(listed.text, resend), follow_redirects=True)
    assert "A new invitation link was sent to nia@example.com" in _text(again)
    first, second = _links_sent_to(session, settings, "nia@example.com")
    assert "has been replaced or withdrawn" in _text(client.get(f"/activate/{first}"))
    assert "has been replaced" not in _text(client.get(f"/activate/{second}"))

    revoke = f"/admin/invitations/{invitation.id}/revoke"
    confirm = client.get(revoke)
    assert "Revoke the invitation to Nia New?" in _text(confirm)
    done = client.post(revoke, data=_own_form(confirm.text), follow_redirects=True)
    assert "The invitation to nia@example.com was revoked" in _text(done)
    assert "nia@example.com" not in client.get("/admin/invitations").text.replace(
        "The invitation to nia@example.com was revoked", ""
    )
    assert "has been replaced or withdrawn" in _text(client.get(f"/activate/{second}"))
    assert client.get(revoke).status_code == 404


def test_an_expired_invitation_is_marked(client, auth, session, settings, world):
    from relay.models import utcnow

    invitations.invite_staff(
        session, settings, world.administrator, email="old@relay.test", name="Old"
    )
    invitation = session.scalar(select(Invitation).where(Invitation.email == "old@relay.test"))
    invitation.expires_at = utcnow()
    session.commit()
    auth.sign_in("administrator")
    row = re.search(
        r"<tr>(?:(?!</tr>).)*old@relay\.test.*?</tr>", client.get("/admin/invitations").text, re.S
    )
    assert row and "<strong>Expired</strong>" in row.group(0)


def test_only_an_administrator_manages_staff(client, auth, world):
    auth.sign_in("facilitator")
    for path in (
        "/admin/invitations",
        f"/admin/people/{world.facilitator.id}",
        f"/admin/people/{world.facilitator.id}/close",
    ):
        assert client.get(path).status_code == 404


def test_a_leaving_facilitator_is_handed_over_then_closed_through_the_pages(
    client, auth, session, settings, world
):
    email, name, password = OTHER
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    other = session.scalar(select(User).where(User.email == email))
    leaver = world.facilitator
    leavers_browser = auth.another_client("facilitator")
    assert leavers_browser.get("/cases/").status_code == 200

    auth.sign_in("administrator")
    client.application.config["WTF_CSRF_ENABLED"] = True
    assert f'href="/admin/people/{leaver.id}"' in client.get("/admin/").text
    page = client.get(f"/admin/people/{leaver.id}")
    assert world.case.reference in page.text and "1 open case(s)" in page.text

    # Closing is refused while a case remains, with the reason on the page.
    close = f"/admin/people/{leaver.id}/close"
    confirm = client.get(close)
    assert "is still on 1 open case(s)" in _text(confirm)
    refused = client.post(close, data={**_own_form(confirm.text), "confirmed": "y"})
    assert "still on open cases. Hand each one to another facilitator" in _text(refused)
    session.expire_all()
    assert session.get(User, leaver.id).disabled is False

    hand_over = f"/admin/people/{leaver.id}/cases/{world.case.id}/hand-over"
    prefix = f"case-{world.case.id}-"
    alone = client.post(hand_over, data={**_form(page.text, hand_over), prefix + "to": ""})
    assert "Add another facilitator before this one leaves the case" in _text(alone)
    handed = client.post(
        hand_over,
        data={**_form(page.text, hand_over), prefix + "to": str(other.id)},
        follow_redirects=True,
    )
    assert "is off the case; its key has been changed" in _text(handed)
    assert "is on no open case" in _text(handed)

    confirm = client.get(close)
    unconfirmed = client.post(close, data=_own_form(confirm.text))
    assert "Confirm that you want to close this account" in _text(unconfirmed)
    closed = client.post(
        close, data={**_own_form(confirm.text), "confirmed": "y"}, follow_redirects=True
    )
    assert "The account is closed" in _text(closed)
    assert "Every case key Fran Facilitator held has been changed" in _text(closed)

    session.expire_all()
    assert session.get(User, leaver.id).disabled is True
    assert asked_to_sign_in(leavers_browser.get("/cases/"))
    client.application.config["WTF_CSRF_ENABLED"] = False  # the sign-in itself is the check
    email, _name, password = PEOPLE["facilitator"]
    again = leavers_browser.post("/sign-in", data={"email": email, "password": password})
    assert again.status_code != 302 and "is not right" in _text(again)
    row = re.search(
        rf'<tr><td><a href="/admin/people/{leaver.id}">.*?</tr>', client.get("/admin/").text, re.S
    )
    assert row and "Closed" in row.group(0)


def test_an_administrator_who_leaves_is_closed_through_the_pages(
    client, auth, session, settings, world
):
    from relay.models import EscrowKey
    from relay.services import access
    from relay.services import accounts

    created = accounts.create_administrator(
        session, settings, email="sol@relay.test", name="Sol Second", password="second admin pw"
    )
    access.restore_staff_access(
        session, world.administrator, created.user.id, checked_in_person=True
    )
    auth.sign_in("administrator")
    client.application.config["WTF_CSRF_ENABLED"] = True
    page = client.get(f"/admin/people/{created.user.id}")
    assert "Closing an administrator's account replaces the key" in _text(page)
    close = f"/admin/people/{created.user.id}/close"
    confirm = client.get(close)
    assert "replaces the key that lets administrators reassign cases" in _text(confirm)
    closed = client.post(
        close, data={**_own_form(confirm.text), "confirmed": "y"}, follow_redirects=True
    )
    assert "The account is closed" in _text(closed)
    assert f"--user {created.user.id}" in closed.text
    session.expire_all()
    assert len(session.scalars(select(EscrowKey)).all()) == 2, "a new escrow key, the old kept"
    own = client.get(f"/admin/people/{world.administrator.id}")
    assert "If Ada Admin is leaving" not in _text(own), "nobody closes their own account"
