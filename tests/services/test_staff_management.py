"""Staff management (issue 9, item 7): staff invitations resent or revoked, and a
facilitator who leaves: their cases handed over, their account closed, and the keys they
could open rotated, each step audited."""

import json
import re

import pytest
from sqlalchemy import select

from relay import crypto
from relay import keyring
from relay.models import AuditEntry
from relay.models import CaseKey
from relay.models import CaseKeySeal
from relay.models import ContentKeySeal
from relay.models import Invitation
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import NoteSeal
from relay.models import OutboxMessage
from relay.models import User
from relay.models import UserSession
from relay.models import utcnow
from relay.services import access
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from relay.services import outbox
from relay.services import signing_in
from relay.services import staff
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.errors import SignInFailed
from tests.conftest import PEOPLE
from tests.conftest import receive_letters
from tests.factories import actor_for

OTHER = ("other-fac@relay.test", "Other Facilitator", "other facilitator pw")


def _mail_to(session, settings, email: str) -> list[str]:
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id)
    ).all()
    return [outbox.read_body(settings.outbox_key, m) for m in messages]


def _invitation(session, email: str) -> Invitation:
    return session.scalar(select(Invitation).where(Invitation.email == email))


def _entries(session, action: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.sequence)
        )
    )


# --- invitations -------------------------------------------------------------------


def test_a_resent_invitation_mails_a_new_link_and_the_old_one_stops_working(
    session, settings, world
):
    admin = world.administrator
    old = invitations.invite_staff(session, settings, admin, email="new@relay.test", name="New")
    invitation = _invitation(session, "new@relay.test")
    invitation.expires_at = utcnow()  # expired: resending gives a fresh expiry
    session.commit()

    invitations.resend_invitation(session, settings, admin, invitation.id)

    mails = _mail_to(session, settings, "new@relay.test")
    assert len(mails) == 2 and old not in mails[-1]
    new = re.search(r"/activate/(\S+)", mails[-1]).group(1)
    assert new != old
    session.expire_all()
    assert _invitation(session, "new@relay.test").expires_at > utcnow()
    with pytest.raises(InvalidInput, match="replaced or withdrawn"):
        invitations.accept_invitation(session, settings, token=old, password="a long new pw 12")
    session.rollback()
    made = invitations.accept_invitation(session, settings, token=new, password="a long new pw 12")
    assert made.user.email == "new@relay.test"
    (resent,) = _entries(session, "invitation.resent")
    assert resent.actor_id == admin.id
    assert json.loads(resent.details) == {"invitation": invitation.id, "role": "facilitator"}
    assert new not in resent.details and old not in resent.details


def test_a_revoked_invitation_stops_working_at_once_and_leaves_the_list(session, settings, world):
    admin = world.administrator
    token = invitations.invite_staff(session, settings, admin, email="gone@relay.test", name="G")
    invitation_id = _invitation(session, "gone@relay.test").id
    listed = invitations.pending_staff_invitations(session, admin)
    assert [i.email for i in listed.invitations.items] == ["gone@relay.test"]

    invitations.revoke_invitation(session, admin, invitation_id)

    with pytest.raises(InvalidInput):
        invitations.accept_invitation(session, settings, token=token, password="a long new pw 12")
    session.rollback()
    assert invitations.pending_staff_invitations(session, admin).invitations.items == []
    with pytest.raises(NotFound):
        invitations.resend_invitation(session, settings, admin, invitation_id)
    session.rollback()
    (revoked,) = _entries(session, "invitation.revoked")
    assert revoked.actor_id == admin.id and token not in revoked.details


def test_only_unused_staff_invitations_are_listed_and_expired_ones_are_marked(
    session, settings, world
):
    admin = world.administrator
    invitations.invite_staff(session, settings, admin, email="a@relay.test", name="A")
    used = invitations.invite_staff(session, settings, admin, email="b@relay.test", name="B")
    invitations.accept_invitation(session, settings, token=used, password="a long new pw 12")
    _invitation(session, "a@relay.test").expires_at = utcnow()
    session.commit()
    invitations.invite_staff(session, settings, admin, email="c@relay.test", name="C")

    listed = invitations.pending_staff_invitations(session, admin)

    # Neither the used one nor the world's party invitations (a facilitator's to handle).
    assert [i.email for i in listed.invitations.items] == ["a@relay.test", "c@relay.test"]
    expired = [i.expires_at <= listed.now for i in listed.invitations.items]
    assert expired == [True, False]
    with pytest.raises(NotAllowed):
        invitations.pending_staff_invitations(session, world.facilitator)
    with pytest.raises(NotAllowed):
        invitations.revoke_invitation(session, world.facilitator, listed.invitations.items[0].id)


# --- a facilitator who leaves --------------------------------------------------------


@pytest.fixture
def other(session, settings, world):
    email, name, password = OTHER
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    return actor_for(session, settings, email, password)


def _letter_in_review(session, settings, world, text: str) -> int:
    letter = letters.save_draft(session, world.victim, world.case.id, None, text)
    letters.submit_letter(session, settings, world.victim, letter.id)
    return letter.id


def _staff_text(session, actor, letter_id: int) -> str:
    session.expire_all()
    letter = session.get(Letter, letter_id)
    return letters.staff_text(session, actor, letter, letter.versions[-1])


def test_an_account_is_not_closed_while_it_is_on_an_open_case(session, settings, world, other):
    admin, leaver = world.administrator, world.facilitator
    with pytest.raises(InvalidTransition, match="still on open cases"):
        staff.close_account(session, admin, leaver.id)
    session.rollback()
    assert staff.leaving(session, admin, leaver.id).open_cases.total == 1
    session.expire_all()
    assert session.get(User, leaver.id).disabled is False

    letter_id = _letter_in_review(session, settings, world, "Handed over safely.")
    staff.hand_over_case(session, admin, leaver.id, world.case.id, other.id)

    page = staff.leaving(session, admin, leaver.id)
    assert page.open_cases.total == 0
    assert _staff_text(session, other, letter_id) == "Handed over safely."
    with pytest.raises(NotAllowed):
        _staff_text(session, leaver, letter_id)
    rotated = _entries(session, "case.key_rotated")
    assert [json.loads(e.details)["left"] for e in rotated] == [leaver.id]
    staff.close_account(session, admin, leaver.id)
    session.expire_all()
    assert session.get(User, leaver.id).disabled is True


def test_a_case_is_not_left_without_a_facilitator(session, settings, world):
    admin, leaver = world.administrator, world.facilitator
    with pytest.raises(InvalidTransition, match="Add another facilitator"):
        staff.hand_over_case(session, admin, leaver.id, world.case.id, None)
    session.rollback()
    with pytest.raises(InvalidInput, match="another facilitator"):
        staff.hand_over_case(session, admin, leaver.id, world.case.id, leaver.id)
    session.rollback()
    assert staff.leaving(session, admin, leaver.id).open_cases.total == 1


def _close_world_case_with_other_on_it(session, settings, world, other) -> int:
    """The leaver's case, with a letter, shared with `other` and then closed: nothing to
    hand over, but the leaver still holds its key."""
    letter_id = _letter_in_review(session, settings, world, "Kept after the close.")
    access.add_facilitator(session, world.facilitator, world.case.id, OTHER[0])
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    return letter_id


def test_a_closed_account_signs_in_nowhere_and_keeps_no_session_or_seal(
    session, settings, world, other, template
):
    admin, leaver = world.administrator, world.facilitator
    _close_world_case_with_other_on_it(session, settings, world, other)
    email, _name, password = PEOPLE["facilitator"]
    signing_in.sign_in(session, settings, email=email, password=password)  # a second session

    assert staff.close_account(session, admin, leaver.id) == [world.case.id]

    session.expire_all()
    with pytest.raises(SignInFailed):
        signing_in.sign_in(session, settings, email=email, password=password)
    session.rollback()
    theirs = session.scalars(select(UserSession).where(UserSession.user_id == leaver.id)).all()
    assert len(theirs) >= 2
    assert all(s.revoked_at is not None and s.sealed_private_key is None for s in theirs)
    assert session.scalars(select(CaseKeySeal).where(CaseKeySeal.user_id == leaver.id)).all() == []
    token = template.built.tokens["facilitator"]  # the session the world signed them in with
    assert signing_in.resume_session(session, settings, token) is None
    (closed,) = _entries(session, "account.closed")
    assert closed.actor_id == admin.id and json.loads(closed.details)["user"] == leaver.id
    (withdrawn,) = _entries(session, "case.key_withdrawn")
    assert withdrawn.case_id == world.case.id
    with pytest.raises(InvalidTransition, match="already closed"):
        staff.close_account(session, admin, leaver.id)


def test_nobody_closes_their_own_account_or_an_administrators(session, settings, world):
    admin = world.administrator
    with pytest.raises(NotAllowed):
        staff.close_account(session, admin, admin.id)
    session.rollback()
    with pytest.raises(NotAllowed):
        staff.close_account(session, world.facilitator, world.facilitator.id)


def _case_seals(session, case_id: int) -> list[bytes]:
    case_key = session.scalar(select(CaseKey).where(CaseKey.case_id == case_id))
    holder = keyring.case_holder(case_key.id)
    return [
        (seal.version_id, seal.sealed_key)
        for seal in session.scalars(
            select(ContentKeySeal)
            .join(LetterVersion, ContentKeySeal.version_id == LetterVersion.id)
            .join(Letter, LetterVersion.letter_id == Letter.id)
            .where(Letter.case_id == case_id, ContentKeySeal.holder == holder)
        )
    ], holder


def _note_seals(session, holder: str) -> list[tuple[int, bytes]]:
    return [
        (seal.note_id, seal.sealed_key)
        for seal in session.scalars(select(NoteSeal).where(NoteSeal.holder == holder))
    ]


def test_after_the_rotation_the_leavers_old_seal_opens_nothing_and_the_staff_read_all(
    session, settings, world, other
):
    admin, leaver = world.administrator, world.facilitator
    receive_letters(session, settings, world.victim, world.case.id, conditions="No surnames.")
    letter_id = _close_world_case_with_other_on_it(session, settings, world, other)
    # What the leaver could keep: their seal of the case key, from a copy of the database.
    kept = session.scalar(select(CaseKeySeal).where(CaseKeySeal.user_id == leaver.id))
    old_case_key = crypto.open_sealed(
        leaver.private_key,
        kept.sealed_private_key,
        keyring.case_key_to_member(kept.case_key_id, leaver.user.public_key),
    )
    seals, holder = _case_seals(session, world.case.id)
    assert seals and all(
        crypto.open_sealed(old_case_key, sealed, keyring.content_key(version_id, holder))
        for version_id, sealed in seals
    ), "before the rotation the old key opens every letter"
    staff.close_account(session, admin, leaver.id)

    assert staff.cases_to_rotate(session, admin, leaver.id) == [world.case.id]
    assert staff.rotate_after_leaving(session, admin, leaver.id, world.case.id) == len(seals) + len(
        _note_seals(session, holder)
    )

    seals, holder = _case_seals(session, world.case.id)
    notes = _note_seals(session, holder)
    assert notes, "the victim's conditions are a note sealed to the case key"
    new_case_key = other.case_private_key(session, world.case.id)
    for sealed, context in [
        *((sealed, keyring.content_key(version_id, holder)) for version_id, sealed in seals),
        *((sealed, keyring.note_key(note_id, holder)) for note_id, sealed in notes),
    ]:
        with pytest.raises(crypto.DecryptionFailed):
            crypto.open_sealed(old_case_key, sealed, context)
        assert crypto.open_sealed(new_case_key, sealed, context)  # the staff who stay read all
    assert _staff_text(session, other, letter_id) == "Kept after the close."
    access.join_case(session, admin, world.case.id)  # through the escrow key, re-sealed too
    assert _staff_text(session, admin, letter_id) == "Kept after the close."
    (rotated,) = [e for e in _entries(session, "case.key_rotated") if e.case_id == world.case.id]
    assert json.loads(rotated.details)["left"] == leaver.id

    # Safe to run again: nothing left, and a second call changes nothing.
    assert staff.cases_to_rotate(session, admin, leaver.id) == []
    assert staff.rotate_after_leaving(session, admin, leaver.id, world.case.id) is None
    assert len(_entries(session, "case.key_rotated")) == 1


def test_rotation_waits_for_the_account_to_close(session, settings, world):
    with pytest.raises(InvalidTransition, match="Close the account"):
        staff.cases_to_rotate(session, world.administrator, world.facilitator.id)


# --- the batch command ---------------------------------------------------------------


@pytest.fixture
def cli(app, runner):
    from tests.services.test_cli import Cli

    return Cli(app, runner)


def test_rotate_after_leaver_rotates_each_case_once_however_often_it_is_run(
    cli, session, settings, world, other
):
    admin, leaver = world.administrator, world.facilitator
    letter_id = _close_world_case_with_other_on_it(session, settings, world, other)
    second = cases.open_case(session, leaver, reference="RJ-LEFT", offence_category="theft")
    cases.close_case(session, leaver, second.id, "ended_by_facilitator")
    staff.close_account(session, admin, leaver.id)
    # A run stopped after its first case: that case is done, the other still waits.
    staff.rotate_after_leaving(session, admin, leaver.id, world.case.id)
    email, _name, password = PEOPLE["administrator"]
    command = ("keys", "rotate-after-leaver", "--user", str(leaver.id), "--email", email)

    wrong = cli(*command, "--password-stdin", input="wrong pw\n")
    assert wrong.exit_code != 0 and "not right" in wrong.output

    done = cli.ok(*command, "--password-stdin", input=password + "\n")
    assert "Rotating case keys" in done.output
    assert "rotated 1 case keys" in done.output
    assert password not in done.output
    again = cli.ok(*command, "--password-stdin", input=password + "\n")
    assert "rotated 0 case keys" in again.output

    session.expire_all()
    rotated = [e.case_id for e in _entries(session, "case.key_rotated")]
    assert sorted(rotated) == sorted([world.case.id, second.id])
    assert _staff_text(session, other, letter_id) == "Kept after the close."
    unlocked = _entries(session, "command.unlocked")
    assert json.loads(unlocked[-1].details) == {"purpose": "keys rotate-after-leaver"}


def test_rotate_after_leaver_refuses_an_open_account(cli, world):
    email, _name, password = PEOPLE["administrator"]
    refused = cli(
        *("keys", "rotate-after-leaver", "--user", str(world.facilitator.id)),
        *("--email", email, "--password-stdin"),
        input=password + "\n",
    )
    assert refused.exit_code != 0 and "Close the account" in refused.output


def test_rotate_after_leaver_names_an_unknown_account(cli, world):
    email, _name, password = PEOPLE["administrator"]
    refused = cli(
        *("keys", "rotate-after-leaver", "--user", "999999", "--email", email),
        "--password-stdin",
        input=password + "\n",
    )
    assert refused.exit_code != 0 and "no staff account with id 999999" in refused.output


def test_a_closed_account_is_given_no_case_and_no_access_again(session, settings, world, other):
    admin = world.administrator
    staff.close_account(session, admin, other.id)
    with pytest.raises(InvalidInput, match="no facilitator with this e-mail"):
        access.add_facilitator(session, world.facilitator, world.case.id, OTHER[0])
    session.rollback()
    closed = session.get(User, other.id)
    closed.keys_replaced_at = utcnow()  # as if reset without the code before leaving
    session.commit()
    with pytest.raises(InvalidTransition, match="is closed"):
        access.restore_staff_access(session, admin, other.id, checked_in_person=True)
    session.rollback()
    assert session.scalars(select(CaseKeySeal).where(CaseKeySeal.user_id == other.id)).all() == []


# --- an administrator who leaves -----------------------------------------------------

SECOND_ADMIN = ("second-admin@relay.test", "Sol Second", "second admin password")


@pytest.fixture
def second_admin(session, settings, world):
    from relay.services import accounts

    email, name, password = SECOND_ADMIN
    accounts.create_administrator(session, settings, email=email, name=name, password=password)
    return actor_for(session, settings, email, password)


def test_the_only_administrator_who_can_reassign_cases_is_not_closed(
    session, settings, world, second_admin
):
    with pytest.raises(InvalidTransition, match="only administrator who can reassign cases"):
        staff.close_account(session, second_admin, world.administrator.id)
    session.rollback()
    assert session.get(User, world.administrator.id).disabled is False


def test_an_administrator_who_leaves_takes_no_case_key_with_them(
    cli, session, settings, world, second_admin
):
    from relay.models import EscrowKey
    from relay.models import EscrowSeal

    admin, leaver = world.administrator, second_admin
    access.restore_staff_access(session, admin, leaver.id, checked_in_person=True)
    letter_id = _letter_in_review(session, settings, world, "Read by the staff who stay.")
    other_case = cases.open_case(
        session, world.facilitator, reference="RJ-2", offence_category="other"
    )
    access.join_case(session, leaver, world.case.id)
    # What the leaver could keep from a copy of the database: the escrow key, and through
    # it every case key.
    seal = session.scalar(select(EscrowSeal).where(EscrowSeal.user_id == leaver.id))
    old_escrow = crypto.open_sealed(
        leaver.private_key,
        seal.sealed_private_key,
        keyring.escrow_seal(seal.escrow_key_id, leaver.user.public_key),
    )
    old_escrow_id = seal.escrow_key_id

    to_rotate = staff.close_account(session, admin, leaver.id)

    assert to_rotate == sorted([world.case.id, other_case.id])
    assert session.scalars(select(EscrowSeal).where(EscrowSeal.user_id == leaver.id)).all() == []
    assert session.scalars(select(CaseKeySeal).where(CaseKeySeal.user_id == leaver.id)).all() == []
    # Meanwhile the administrator who stays still reaches a case through the older key.
    access.join_case(session, admin, world.case.id)
    assert _staff_text(session, admin, letter_id) == "Read by the staff who stay."

    email, _name, password = PEOPLE["administrator"]
    command = ("keys", "rotate-after-leaver", "--user", str(leaver.id), "--email", email)
    done = cli.ok(*command, "--password-stdin", input=password + "\n")
    assert "rotated 2 case keys" in done.output
    again = cli.ok(*command, "--password-stdin", input=password + "\n")
    assert "rotated 0 case keys" in again.output

    session.expire_all()
    assert session.get(EscrowKey, old_escrow_id) is None, "the old escrow key is gone"
    assert {s.user_id for s in session.scalars(select(EscrowSeal))} == {admin.id}
    for case_key in session.scalars(select(CaseKey)):
        assert case_key.escrow_key_id != old_escrow_id
        with pytest.raises(crypto.DecryptionFailed):
            crypto.open_sealed(
                old_escrow,
                case_key.sealed_to_escrow,
                keyring.case_key_to_escrow(case_key.id, case_key.escrow_key_id),
            )
    assert _staff_text(session, world.facilitator, letter_id) == "Read by the staff who stay."
    assert _staff_text(session, admin, letter_id) == "Read by the staff who stay."
    (rotated,) = _entries(session, "escrow.rotated")
    assert json.loads(rotated.details) == {"left": leaver.id, "holders": 1}
    assert len(_entries(session, "escrow.retired")) == 1
