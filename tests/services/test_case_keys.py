"""Keys per case: what one account's private key opens, walked as an attacker with a copy
of the database would walk it, ignoring every access check and every context label."""

import re

import nacl.exceptions
import pytest
from nacl.public import PrivateKey
from nacl.public import SealedBox
from sqlalchemy import select

from relay import crypto
from relay.models import AuditEntry
from relay.models import CaseKey
from relay.models import CaseKeySeal
from relay.models import ContentKeySeal
from relay.models import EscrowSeal
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import OutboxMessage
from relay.models import PasswordReset
from relay.models import Role
from relay.models import TeamMembership
from relay.models import User
from relay.services import access
from relay.services import accounts
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from relay.services import password_reset
from relay.services.errors import AccessPending
from relay.services.errors import InvalidInput
from relay.services.errors import NotAllowed
from tests.conftest import PEOPLE
from tests.factories import actor_for

OTHER_FACILITATOR = ("other-fac@relay.test", "Other Facilitator", "other facilitator pw")


def _open_any(private_key: bytes, sealed: bytes) -> bytes | None:
    """Open a seal without checking its context, as an attacker would."""
    try:
        payload = SealedBox(PrivateKey(private_key)).decrypt(sealed[1:])
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return None
    length = int.from_bytes(payload[:2], "big")
    return payload[2 + length :]


def _reachable_keys(session, private_key: bytes) -> set[bytes]:
    blobs = [
        *session.scalars(select(TeamMembership.sealed_team_private_key)),
        *session.scalars(select(EscrowSeal.sealed_private_key)),
        *session.scalars(select(CaseKeySeal.sealed_private_key)),
        *[b for b in session.scalars(select(CaseKey.sealed_to_escrow)) if b],
    ]
    known, grown = {private_key}, True
    while grown:
        grown = False
        for blob in blobs:
            for key in list(known):
                opened = _open_any(key, blob)
                if opened is not None and len(opened) == 32 and opened not in known:
                    known.add(opened)
                    grown = True
    return known


def _readable_cases(session, private_key: bytes) -> set[int]:
    keys = _reachable_keys(session, private_key)
    readable = set()
    for seal in session.scalars(select(ContentKeySeal)):
        if any(_open_any(key, seal.sealed_key) for key in keys):
            version = session.get(LetterVersion, seal.version_id)
            readable.add(session.get(Letter, version.letter_id).case_id)
    return readable


@pytest.fixture
def second_case(session, settings, world):
    """Case B, run by another facilitator, with a letter in review written by its victim's
    stand-in: the world's victim writes in case A, case B gets a paper letter."""
    email, name, password = OTHER_FACILITATOR
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    other = actor_for(session, settings, email, password)
    case = cases.open_case(session, other, reference="RJ-B", offence_category="robbery")
    for role in ("victim", "offender"):
        cases.invite_party(
            session,
            settings,
            other,
            case.id,
            role=Role(role),
            email=f"b-{role}@relay.test",
            name=role,
            display_name="B",
        )
    letter_a = letters.save_draft(session, world.victim, world.case.id, None, "Letter in A.")
    letters.submit_letter(session, settings, world.victim, letter_a.id)
    return other, case


def test_a_facilitators_key_opens_only_their_own_cases(session, world, second_case):
    # The attack: with one facilitator's password and the database, every letter of every
    # case opened, because every content key was sealed to one team key they held.
    other, case_b = second_case
    assert _readable_cases(session, world.facilitator.private_key) == {world.case.id}
    assert _readable_cases(session, other.private_key) <= {case_b.id}


def test_an_administrator_reads_a_case_only_after_adding_themselves(session, settings, world):
    letter = letters.save_draft(session, world.victim, world.case.id, None, "For review.")
    letters.submit_letter(session, settings, world.victim, letter.id)
    admin = world.administrator
    with pytest.raises(NotAllowed):
        letters.staff_text(session, admin, letter, letter.versions[-1])
    access.join_case(session, admin, world.case.id)
    assert letters.staff_text(session, admin, letter, letter.versions[-1]) == "For review."
    joined = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.administrator_joined")
    ).all()
    assert [(e.actor_id, e.case_id) for e in joined] == [(admin.id, world.case.id)]


def test_a_facilitator_added_to_a_case_reads_it_at_once(session, settings, world, second_case):
    other, _case_b = second_case
    letter = letters.save_draft(session, world.victim, world.case.id, None, "Shared now.")
    letters.submit_letter(session, settings, world.victim, letter.id)
    with pytest.raises(NotAllowed):
        letters.staff_text(session, other, letter, letter.versions[-1])
    access.add_facilitator(session, world.facilitator, world.case.id, OTHER_FACILITATOR[0])
    other = actor_for(session, settings, OTHER_FACILITATOR[0], OTHER_FACILITATOR[2])
    assert letters.staff_text(session, other, letter, letter.versions[-1]) == "Shared now."


def _reset_link(session, settings, email: str) -> str:
    password_reset.request_password_reset(session, settings, email=email)
    reset = session.scalars(select(PasswordReset).order_by(PasswordReset.id)).all()[-1]
    reset.token_digest = crypto.token_digest("mailbox-link")
    session.commit()
    return "mailbox-link"


def test_a_staff_members_inbox_alone_never_leads_to_letters(session, settings, world):
    # The attack: a reset link without the recovery code gave the account a new key pair,
    # a new authenticator could be enrolled, and the next administrator sign-in granted
    # access automatically. Now the reset clears the second factor and every key grant,
    # and nothing is granted until an administrator restores access explicitly.
    letter = letters.save_draft(session, world.victim, world.case.id, None, "Private words.")
    letters.submit_letter(session, settings, world.victim, letter.id)
    email, _name, _password = PEOPLE["facilitator"]
    facilitator = session.scalar(select(User).where(User.email == email))
    facilitator.totp_sealed_secret = b"\x01enrolled"  # as if they had an authenticator
    session.commit()
    link = _reset_link(session, settings, email)
    password_reset.reset_password_without_code(
        session, settings, token=link, new_password="the attackers new password"
    )
    session.expire_all()
    facilitator = session.get(User, facilitator.id)
    assert facilitator.totp_sealed_secret is None, "the second factor is cleared"
    told = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email)).all()
    assert any("without your recovery code" in m.subject for m in told)

    attacker = actor_for(session, settings, email, "the attackers new password")
    actor_for(session, settings, *PEOPLE["administrator"][::2])  # no automatic grant
    assert _readable_cases(session, attacker.private_key) == set()
    with pytest.raises(AccessPending):
        letters.staff_text(session, attacker, letter, letter.versions[-1])

    # An administrator restores access only by saying they checked with the person.
    admin = actor_for(session, settings, *PEOPLE["administrator"][::2])
    with pytest.raises(InvalidInput):
        access.restore_staff_access(session, admin, facilitator.id, checked_in_person=False)
    assert access.restore_staff_access(session, admin, facilitator.id, checked_in_person=True)
    again = actor_for(session, settings, email, "the attackers new password")
    assert letters.staff_text(session, again, letter, letter.versions[-1]) == "Private words."


def test_the_access_page_says_when_the_account_was_reset(client, auth, session, settings, world):
    email = PEOPLE["facilitator"][0]
    link = _reset_link(session, settings, email)
    password_reset.reset_password_without_code(
        session, settings, token=link, new_password="a new long password 1"
    )
    facilitator = session.scalar(select(User).where(User.email == email))
    auth.sign_in("administrator")
    home = client.get("/admin/")
    assert "Password reset without recovery code on" in home.text
    page = client.get(f"/admin/people/{facilitator.id}/access")
    assert "was reset without their recovery code on" in page.text
    assert re.search(r"\d{2} \w+ \d{4} at \d{2}:\d{2}", page.text)
    refused = client.post(f"/admin/people/{facilitator.id}/access", data={})
    assert "Confirm that you have checked with them" in refused.text
    done = client.post(f"/admin/people/{facilitator.id}/access", data={"checked": "y"})
    assert done.status_code == 302
    session.expire_all()
    assert session.get(User, facilitator.id).keys_replaced_at is None


def _make_legacy(session, world) -> None:
    """Turn the world back into the schema before keys per case: one team key holding
    every content key, sealed to the administrator and the facilitator (tampering on
    purpose, as the data of an older release)."""
    from relay import crypto
    from relay import keyring
    from relay.models import EscrowKey
    from relay.models import TeamKey

    pair = crypto.generate_keypair()
    team = TeamKey(public_key=pair.public_key)
    session.add(team)
    session.flush()
    for actor in (world.administrator, world.facilitator):
        session.add(
            TeamMembership(
                user_id=actor.id,
                team_key_id=team.id,
                sealed_team_private_key=crypto.seal_to(
                    actor.user.public_key,
                    pair.private_key,
                    keyring.legacy_team_membership(team.id, actor.user.public_key),
                ),
            )
        )
    for seal in session.scalars(select(ContentKeySeal)).all():
        if not seal.holder.startswith("case:"):
            continue
        version = session.get(LetterVersion, seal.version_id)
        letter = session.get(Letter, version.letter_id)
        content_key = letters._case_content_key(session, world.facilitator, letter, version)
        session.add(
            ContentKeySeal(
                version_id=seal.version_id,
                holder="team",
                sealed_key=crypto.seal_to(
                    pair.public_key, content_key, keyring.content_key(seal.version_id, "team")
                ),
            )
        )
        session.delete(seal)
    for model in (CaseKeySeal, CaseKey, EscrowSeal, EscrowKey):
        for row in session.scalars(select(model)).all():
            session.delete(row)
            session.flush()
    session.commit()


def test_the_team_key_migrates_to_case_keys_in_batches(session, settings, world):
    from relay.models import TeamKey
    from relay.services import keys

    first = letters.save_draft(session, world.victim, world.case.id, None, "Before the move.")
    letters.submit_letter(session, settings, world.victim, first.id)
    case_b = cases.open_case(session, world.facilitator, reference="RJ-2", offence_category="other")
    _make_legacy(session, world)
    assert session.scalars(select(CaseKey)).all() == []

    admin = actor_for(session, settings, *PEOPLE["administrator"][::2])
    halfway = keys.migrate_team_key(session, admin.user, admin.private_key, batch_size=1)
    assert (halfway.cases, halfway.remaining_cases, halfway.finished) == (1, 1, False)
    done = keys.migrate_team_key(session, admin.user, admin.private_key, batch_size=1)
    assert done.finished and done.remaining_cases == 0
    assert {k.case_id for k in session.scalars(select(CaseKey))} == {world.case.id, case_b.id}
    assert (
        session.scalars(select(ContentKeySeal).where(ContentKeySeal.holder == "team")).all() == []
    )
    assert session.scalars(select(TeamKey)).all() == []
    assert session.scalars(select(TeamMembership)).all() == []

    session.expire_all()
    letter = session.get(Letter, first.id)
    assert letters.staff_text(session, world.facilitator, letter, letter.versions[-1]) == (
        "Before the move."
    )
    assert keys.holds_escrow(session, admin.user)
    assert _readable_cases(session, world.facilitator.private_key) == {world.case.id}


def test_before_keys_migrate_a_case_page_says_so_instead_of_failing(
    client, auth, session, settings, world
):
    letter = letters.save_draft(session, world.victim, world.case.id, None, "Not moved yet.")
    letters.submit_letter(session, settings, world.victim, letter.id)
    _make_legacy(session, world)
    auth.sign_in("facilitator")
    page = client.get(f"/review/letters/{letter.id}")
    assert page.status_code == 403
    assert "keys migrate" in page.text


def test_nothing_new_is_sealed_to_an_account_waiting_for_its_access(
    client, auth, session, settings, world
):
    # The attack, continued: after a reset without the recovery code, new letters approved
    # for the person (or redactions of their letters) were sealed to the key pair that the
    # reset link made, so whoever read the mailbox read them.
    from relay.services.errors import InvalidTransition

    receive = letters.save_draft(session, world.offender, world.case.id, None, "For you.")
    letters.submit_letter(session, settings, world.offender, receive.id)
    written = letters.save_draft(session, world.victim, world.case.id, None, "From me.")
    letters.submit_letter(session, settings, world.victim, written.id)
    email = PEOPLE["victim"][0]
    link = _reset_link(session, settings, email)
    password_reset.reset_password_without_code(
        session, settings, token=link, new_password="the attackers new password"
    )
    facilitator_told = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == PEOPLE["facilitator"][0])
    ).all()
    assert facilitator_told, "the facilitator hears of the reset, not only the mailbox"

    with pytest.raises(InvalidTransition, match="reset without their recovery code"):
        letters.approve_letter(session, settings, world.facilitator, receive.id)
    session.rollback()
    with pytest.raises(InvalidTransition, match="reset without their recovery code"):
        letters.propose_redaction(
            session, settings, world.facilitator, written.id, "Changed.", "note"
        )
    session.rollback()
    victim = session.scalar(select(User).where(User.email == email))
    versions = select(LetterVersion.id).where(LetterVersion.letter_id.in_([receive.id, written.id]))
    holders = session.scalars(
        select(ContentKeySeal.holder).where(ContentKeySeal.version_id.in_(versions))
    ).all()
    attacker = actor_for(session, settings, email, "the attackers new password")
    assert f"user:{victim.id}" in holders  # the old seal, to the old key pair
    assert _readable_cases(session, attacker.private_key) == set()

    # The account acts on no case until its access is restored.
    auth.sign_in_as(email, "the attackers new password")
    page = client.get(f"/my/cases/{world.case.id}")
    assert page.status_code == 403
    assert "restore your access" in page.text
    assert client.post(f"/my/cases/{world.case.id}/withdraw").status_code == 403
    session.expire_all()
    assert session.get(type(world.case), world.case.id).state == "active"


def test_a_reset_facilitator_manages_no_case_until_restored(client, auth, session, settings, world):
    email = PEOPLE["facilitator"][0]
    link = _reset_link(session, settings, email)
    password_reset.reset_password_without_code(
        session, settings, token=link, new_password="the attackers new password"
    )
    admins_told = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == PEOPLE["administrator"][0])
    ).all()
    assert admins_told
    auth.sign_in_as(email, "the attackers new password")
    assert client.get(f"/cases/{world.case.id}").status_code == 403
    assert client.post(f"/cases/{world.case.id}/pause").status_code == 403
    session.expire_all()
    assert session.get(type(world.case), world.case.id).state == "active"


def test_letters_stored_as_html_before_plain_text_come_back_as_typed():
    from relay.services import keys

    stored = "<p>Dear Jo,</p><p>I am sorry &amp; I know &lt;why&gt;.<br>Line two</p>"
    assert keys.plain_from_legacy_html(stored) == (
        "Dear Jo,\n\nI am sorry & I know <why>.\nLine two"
    )
    assert keys.plain_from_legacy_html("Plain words.") == "Plain words."


def test_a_facilitator_taken_off_a_case_opens_none_of_its_letters(
    session, settings, world, second_case
):
    # docs/security.md: when a facilitator leaves, the case key they held is rotated; their
    # password and a database copy must then open nothing of the case.
    other, _case_b = second_case
    letter = letters.save_draft(session, world.victim, world.case.id, None, "Before leaving.")
    letters.submit_letter(session, settings, world.victim, letter.id)
    access.add_facilitator(session, world.facilitator, world.case.id, OTHER_FACILITATOR[0])
    assert world.case.id in _readable_cases(session, other.private_key)

    access.remove_facilitator(session, world.facilitator, world.case.id, other.id)
    session.expire_all()
    assert world.case.id not in _readable_cases(session, other.private_key)
    reread = session.get(Letter, letter.id)
    assert letters.staff_text(session, world.facilitator, reread, reread.versions[-1]) == (
        "Before leaving."
    )
    admin = actor_for(session, settings, *PEOPLE["administrator"][::2])
    access.join_case(session, admin, world.case.id)  # the escrow seal was renewed too
    assert letters.staff_text(session, admin, reread, reread.versions[-1]) == "Before leaving."
    actions = session.scalars(select(AuditEntry.action)).all()
    assert "case.key_rotated" in actions and "case.facilitator_removed" in actions


def test_the_last_facilitator_cannot_leave_a_case(session, world):
    from relay.services.errors import InvalidTransition

    with pytest.raises(InvalidTransition, match="Add another facilitator"):
        access.remove_facilitator(session, world.facilitator, world.case.id, world.facilitator.id)


def test_the_staff_page_warns_while_one_administrator_alone_can_reassign_cases(
    client, auth, session, settings, world
):
    auth.sign_in("administrator")
    assert "Only one administrator can reassign cases" in client.get("/admin/").text
    second = accounts.create_administrator(
        session,
        settings,
        email="second-admin@relay.test",
        name="Sam Second",
        password="a second admin pw",
    )
    page = client.get("/admin/")
    assert "Check and restore access" in page.text  # the new administrator waits
    client.post(f"/admin/people/{second.user.id}/access", data={"checked": "y"})
    assert "can reassign cases</h2>" not in client.get("/admin/").text
