"""Receiving on the recipient's terms, restoring access after a lost recovery code,
a second facilitator, and crypto-shredding at the end of retention."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Case
from relay.models import ContentKeySeal
from relay.models import LetterState
from relay.models import LetterVersion
from relay.models import PasswordReset
from relay.models import Role
from relay.models import utcnow
from relay.services import access
from relay.services import cases
from relay.services import delivery
from relay.services import invitations
from relay.services import letters
from relay.services import password_reset
from relay.services.errors import AccessPending
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotFound
from tests.conftest import PEOPLE
from tests.conftest import receive_letters
from tests.factories import actor_for
from tests.paper import typed_from_paper
from tests.services.test_services import _reset_token

TEXT = "I would like you to know that I think about it every day."


@pytest.fixture
def receiving(session, settings, world):
    receive_letters(session, settings, world.victim, world.case.id)
    return world


def _approved(session, settings, world, not_before=None):
    letter = letters.save_draft(session, world.offender, world.case.id, None, TEXT)
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id, not_before)
    return letter


def test_not_before_holds_an_approved_letter_until_its_day(session, settings, receiving):
    day = utcnow().date() + timedelta(days=3)
    letter = _approved(session, settings, receiving, not_before=day)
    assert letter.state == LetterState.APPROVED
    assert delivery.deliver_due_everywhere(session, settings, today=day - timedelta(days=1)) == 0
    assert letter.state == LetterState.APPROVED
    assert delivery.deliver_due_everywhere(session, settings, today=day) == 1
    assert letter.state == LetterState.DELIVERED


def test_not_before_must_be_in_the_future(session, settings, receiving):
    letter = letters.save_draft(session, receiving.offender, receiving.case.id, None, TEXT)
    letters.submit_letter(session, settings, receiving.offender, letter.id)
    with pytest.raises(InvalidInput) as raised:
        letters.approve_letter(session, settings, receiving.facilitator, letter.id, utcnow().date())
    assert raised.value.field == "not_before"
    assert letter.state == LetterState.IN_REVIEW


def test_a_letter_held_out_of_sight_comes_back_when_asked(session, settings, receiving):
    letter = _approved(session, settings, receiving)
    letters.open_letter(session, settings, receiving.victim, letter.id)
    letters.set_held_out_of_sight(session, receiving.victim, letter.id, True)
    assert letter.hidden_by_recipient
    letters.set_held_out_of_sight(session, receiving.victim, letter.id, False)
    assert letters.open_letter(session, settings, receiving.victim, letter.id)[1] == TEXT


def test_a_destroyed_copy_cannot_be_read_again(session, settings, receiving):
    letter = _approved(session, settings, receiving)
    letters.open_letter(session, settings, receiving.victim, letter.id)
    letters.destroy_my_copy(session, receiving.victim, letter.id)
    holders = session.scalars(
        select(ContentKeySeal.holder)
        .join(LetterVersion)
        .where(LetterVersion.letter_id == letter.id)
    ).all()
    assert f"user:{receiving.victim.id}" not in holders
    with pytest.raises(NotFound):
        letters.open_letter(session, settings, receiving.victim, letter.id)
    # The service's own copy is still there for the facilitator.
    assert letters.staff_text(session, receiving.facilitator, letter, letter.versions[-1]) == TEXT


def test_reset_without_the_code_needs_a_facilitator_to_restore_access(session, settings, receiving):
    letter = _approved(session, settings, receiving)
    draft = letters.save_draft(session, receiving.victim, receiving.case.id, None, "My draft")
    email = PEOPLE["victim"][0]
    token = _reset_token(session, settings, email)
    password_reset.reset_password_without_code(
        session, settings, token=token, new_password="a brand new phrase"
    )
    victim = actor_for(session, settings, email, "a brand new phrase")
    assert victim.user.keys_replaced_at is not None
    with pytest.raises(AccessPending, match="restore your access"):
        letters.open_letter(session, settings, victim, letter.id)
    session.rollback()
    restored = access.restore_party_access(
        session, receiving.facilitator, receiving.case.id, victim.id
    )
    assert restored >= 2
    assert letters.open_letter(session, settings, victim, letter.id)[1] == TEXT
    assert letters.author_text(session, victim, draft, draft.versions[-1]) == "My draft"
    assert (
        session.scalar(select(AuditEntry).where(AuditEntry.action == "account.access_restored"))
        is not None
    )
    assert session.scalar(select(PasswordReset.used_at)) is not None


def test_only_a_facilitator_of_the_persons_case_can_restore_access(session, settings, world):
    token = invitations.invite_staff(
        session, settings, world.administrator, email="other-f@relay.test", name="Other F"
    )
    invitations.accept_invitation(session, settings, token=token, password="other facilitator 1")
    actor_for(session, settings, *PEOPLE["administrator"][::2])
    other = actor_for(session, settings, "other-f@relay.test", "other facilitator 1")
    reset_token = _reset_token(session, settings, PEOPLE["offender"][0])
    password_reset.reset_password_without_code(
        session, settings, token=reset_token, new_password="offender new phrase"
    )
    with pytest.raises(NotFound):
        access.restore_party_access(session, other, world.case.id, world.offender.id)


def test_a_second_facilitator_on_the_case_approves_a_paper_letter(session, settings, world):
    token = invitations.invite_staff(
        session, settings, world.administrator, email="second-f@relay.test", name="Second F"
    )
    invitations.accept_invitation(session, settings, token=token, password="second facilitator")
    actor_for(session, settings, *PEOPLE["administrator"][::2])
    access.add_facilitator(session, world.facilitator, world.case.id, "second-f@relay.test")
    second = actor_for(session, settings, "second-f@relay.test", "second facilitator")
    letter = typed_from_paper(
        session, settings, world.facilitator, world.case.id, Role.OFFENDER, TEXT
    )
    letters.approve_letter(session, settings, second, letter.id, scan_checked=True)
    assert letter.state in (LetterState.APPROVED, LetterState.DELIVERED)
    assert letter.approved_by_id == second.id
    with pytest.raises(InvalidInput, match="already on the case"):
        access.add_facilitator(session, world.facilitator, world.case.id, "second-f@relay.test")


def test_shredding_a_closed_case_makes_its_letters_unrecoverable(session, settings, receiving):
    letter = _approved(session, settings, receiving)
    with pytest.raises(InvalidTransition):
        cases.shred_case(session, receiving.case.id)
    cases.close_case(session, receiving.facilitator, receiving.case.id, "completed")
    assert session.get(Case, receiving.case.id).shredded_at is None
    assert cases.shred_case(session, receiving.case.id) == 1
    # Kept on the case, so the retention run passes over it next time without a look inside.
    assert session.get(Case, receiving.case.id).shredded_at is not None
    version_ids = [v.id for v in letter.versions]
    assert (
        session.scalars(
            select(ContentKeySeal).where(ContentKeySeal.version_id.in_(version_ids))
        ).all()
        == []
    )
    assert all(v.ciphertext is None for v in letter.versions)
    with pytest.raises(NotFound):
        letters.staff_text(session, receiving.facilitator, letter, letter.versions[-1])
    shredded = session.scalar(select(AuditEntry).where(AuditEntry.action == "case.shredded"))
    assert shredded.case_id == receiving.case.id
