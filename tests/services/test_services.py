"""Domain rules held by the services, with no HTTP in between."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from relay import audit
from relay.models import AuditEntry
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.models import UserSession
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from relay.services import password_reset
from relay.services import signing_in
from relay.services import text
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from tests.conftest import PEOPLE
from tests.conftest import receive_letters
from tests.factories import actor_for
from tests.paper import typed_from_paper

TEXT = "I have thought about that evening every day since."


def _submitted(session, settings, author, case_id, text=TEXT) -> Letter:
    letter = letters.save_draft(session, author, case_id, None, text)
    letters.submit_letter(session, settings, author, letter.id)
    return letter


def _recipient_holders(session, letter: Letter) -> list[str]:
    session.expire_all()
    return [
        seal.holder
        for version in letter.versions
        for seal in session.scalars(
            select(ContentKeySeal).where(ContentKeySeal.version_id == version.id)
        )
        if seal.holder.startswith("user:") and seal.holder != f"user:{letter.author.user_id}"
    ]


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 10"), ("password123", "most common"), ("1234567890", "most common")],
)
def test_activation_refuses_weak_passwords(session, settings, world, password, message):
    token = invitations.invite_staff(
        session, settings, world.administrator, email="new@relay.test", name="New Person"
    )
    with pytest.raises(InvalidInput, match=message) as raised:
        invitations.accept_invitation(session, settings, token=token, password=password)
    assert raised.value.field == "password"


def test_an_invitation_works_once(session, settings, world):
    token = invitations.invite_staff(
        session, settings, world.administrator, email="once@relay.test", name="Once"
    )
    invitations.accept_invitation(session, settings, token=token, password="a long enough phrase")
    with pytest.raises(InvalidInput, match="already been used"):
        invitations.accept_invitation(session, settings, token=token, password="another phrase 1")


def test_sign_in_gives_the_same_answer_for_unknown_and_known_addresses(session, settings, world):
    with pytest.raises(InvalidInput) as unknown:
        signing_in.sign_in(session, settings, email="nobody@relay.test", password="whatever pw 1")
    with pytest.raises(InvalidInput) as wrong:
        signing_in.sign_in(session, settings, email=PEOPLE["victim"][0], password="wrong pw 123")
    assert str(unknown.value) == str(wrong.value)
    failed = session.scalars(select(AuditEntry).where(AuditEntry.action == "sign_in.failed"))
    assert len(failed.all()) == 2


def test_password_reset_with_the_recovery_code_keeps_letters_readable(session, settings, world):
    admin = world.administrator
    token = invitations.invite_staff(session, settings, admin, email="r@relay.test", name="R")
    created = invitations.accept_invitation(
        session, settings, token=token, password="first phrase 12"
    )
    before = created.user.public_key
    new_token = _reset_token(session, settings, "r@relay.test")
    with pytest.raises(InvalidInput, match="recovery code"):
        password_reset.reset_password(
            session,
            settings,
            token=new_token,
            recovery_code="AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AA",
            new_password="second phrase 12",
        )
    new_code = password_reset.reset_password(
        session,
        settings,
        token=new_token,
        recovery_code=created.recovery_code,
        new_password="second phrase 12",
    )
    assert new_code != created.recovery_code
    again = actor_for(session, settings, "r@relay.test", "second phrase 12")
    assert again.user.public_key == before
    assert len(again.private_key) == 32
    with pytest.raises(InvalidInput):
        signing_in.sign_in(session, settings, email="r@relay.test", password="first phrase 12")


def _reset_token(session, settings, email: str) -> str:
    """Read the reset link out of the outbox the way the mail server would receive it."""
    from relay.models import OutboxMessage
    from relay.services import outbox

    password_reset.request_password_reset(session, settings, email=email)
    message = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == email)
        .order_by(OutboxMessage.id.desc())
    ).first()
    body = outbox.read_body(settings.outbox_key, message)
    return body.split("/reset/")[1].split()[0]


def test_an_author_reads_their_draft_again_in_a_new_session(session, settings, world):
    letter = letters.save_draft(session, world.victim, world.case.id, None, TEXT)
    # A new sign-in unseals the same private key, so the author seal still opens.
    again = actor_for(session, settings, *PEOPLE["victim"][::2])
    assert letters.author_text(session, again, letter, letter.versions[-1]) == TEXT


def test_idle_party_session_ends_after_15_minutes(session, settings, world):
    signed = signing_in.sign_in(
        session, settings, email=PEOPLE["victim"][0], password=PEOPLE["victim"][2]
    )
    record = session.scalar(select(UserSession).order_by(UserSession.id.desc()))
    assert signing_in.resume_session(session, settings, signed.token) is not None
    later = record.last_seen_at + timedelta(minutes=16)
    assert signing_in.resume_session(session, settings, signed.token, now=later) is None
    assert signing_in.resume_session(session, settings, signed.token) is None


def test_a_signed_out_session_cannot_be_used_again(session, settings, world):
    signed = signing_in.sign_in(
        session, settings, email=PEOPLE["offender"][0], password=PEOPLE["offender"][2]
    )
    signing_in.sign_out(session, signed.token)
    assert signing_in.resume_session(session, settings, signed.token) is None


def test_recipient_cannot_read_before_approval(session, settings, world):
    letter = _submitted(session, settings, world.victim, world.case.id)
    assert _recipient_holders(session, letter) == []
    with pytest.raises(NotFound):
        letters.letter_for_recipient(session, world.offender, letter.id)
    with pytest.raises(NotFound):
        letters.open_letter(session, settings, world.offender, letter.id)


def test_redaction_is_accepted_by_its_author_before_it_goes_on(session, settings, world):
    letter = _submitted(
        session, settings, world.offender, world.case.id, "I live at 4 Mill Lane now. I am sorry."
    )
    letters.propose_redaction(
        session,
        settings,
        world.facilitator,
        letter.id,
        "I live somewhere else now. I am sorry.",
        "Address removed",
    )
    assert letter.state == LetterState.REDACTION_PROPOSED
    with pytest.raises(InvalidTransition):
        letters.approve_letter(session, settings, world.facilitator, letter.id)
    mine = letters.last_author_version(letter)
    diff = text.difference(
        letters.author_text(session, world.offender, letter, mine),
        letters.author_text(session, world.offender, letter, letter.versions[-1]),
    )
    assert {line.kind for line in diff} >= {"removed", "added"}
    letters.accept_redaction(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    receive_letters(session, settings, world.victim, world.case.id)
    _letter, body = letters.open_letter(session, settings, world.victim, letter.id)
    assert "somewhere else" in body
    assert "Mill Lane" not in body


def test_rejected_letter_tells_the_author_why_and_never_reaches_the_recipient(
    session, settings, world
):
    letter = _submitted(session, settings, world.offender, world.case.id)
    letters.reject_letter(session, settings, world.facilitator, letter.id, "It blames others")
    assert letter.state == LetterState.REJECTED
    from relay.services import notes

    assert notes.letter_note(session, world.offender, letter) == "It blames others"
    assert notes.letter_note(session, world.facilitator, letter) == "It blames others"
    assert notes.letter_note(session, world.victim, letter) is None  # not sealed to them
    assert _recipient_holders(session, letter) == []
    with pytest.raises(InvalidTransition):
        letters.approve_letter(session, settings, world.facilitator, letter.id)


def test_paper_letter_is_approved_neither_by_its_typist_nor_by_an_administrator(
    session, settings, world
):
    letter = typed_from_paper(
        session, settings, world.facilitator, world.case.id, Role.OFFENDER, TEXT
    )
    assert letter.state == LetterState.IN_REVIEW
    with pytest.raises(NotAllowed, match="another facilitator"):
        letters.approve_letter(session, settings, world.facilitator, letter.id)
    assert letter.state == LetterState.IN_REVIEW
    admin = actor_for(session, settings, *PEOPLE["administrator"][::2])
    with pytest.raises(NotAllowed, match="Only a facilitator"):
        letters.approve_letter(session, settings, admin, letter.id)
    assert letter.state == LetterState.IN_REVIEW


def test_nothing_is_delivered_while_a_case_is_paused(session, settings, world):
    letter = _submitted(session, settings, world.victim, world.case.id)
    cases.pause_case(session, settings, world.facilitator, world.case.id, "A concern")
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    assert letter.state == LetterState.APPROVED
    cases.resume_case(session, settings, world.facilitator, world.case.id)
    assert letter.state == LetterState.DELIVERED


def test_a_case_cannot_start_without_its_gates(session, settings, world):
    case = cases.open_case(
        session, world.facilitator, reference="RJ-GATES", offence_category="theft"
    )
    cases.invite_party(
        session,
        settings,
        world.facilitator,
        case.id,
        role=letters.Role.VICTIM,
        email="gv@relay.test",
        name="G V",
        display_name="G",
    )
    with pytest.raises(InvalidTransition, match="consent"):
        cases.activate_case(session, world.facilitator, case.id)


def test_approval_fails_closed_when_its_audit_entry_cannot_be_written(
    session, settings, world, monkeypatch
):
    letter = _submitted(session, settings, world.victim, world.case.id)
    real_record = audit.record

    def failing_record(db, action, **kwargs):
        if action == "letter.approved":
            raise RuntimeError("audit store unavailable")
        return real_record(db, action, **kwargs)

    monkeypatch.setattr(audit, "record", failing_record)
    with pytest.raises(RuntimeError):
        letters.approve_letter(session, settings, world.facilitator, letter.id)
    session.rollback()
    session.expire_all()
    assert session.get(Letter, letter.id).state == LetterState.IN_REVIEW
    assert _recipient_holders(session, session.get(Letter, letter.id)) == []


def test_letter_text_is_kept_as_typed_and_escaped_on_the_way_out(session, settings, world):
    from relay.services import text

    typed = '<script>alert(1)</script><p onclick="steal()">Hello</p><img src=x onerror=alert(2)>'
    letter = letters.save_draft(session, world.victim, world.case.id, None, typed)
    stored = letters.author_text(session, world.victim, letter, letter.versions[-1])
    assert stored == typed, "letters are plain text: nothing a person writes disappears"
    shown = str(text.render(stored))
    assert "<script" not in shown and "<p onclick" not in shown and "<img" not in shown
    assert "&lt;script&gt;" in shown


def test_unknown_and_known_addresses_cost_the_same_argon2id_work(
    session, settings, world, monkeypatch
):
    """Comparable timing: each failed sign-in runs exactly one Argon2id derivation."""
    from relay import crypto

    calls = []
    real = crypto.derive_password_keys

    def counting(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(crypto, "derive_password_keys", counting)
    for email in ("nobody@relay.test", PEOPLE["victim"][0]):
        with pytest.raises(InvalidInput):
            signing_in.sign_in(session, settings, email=email, password="not the password")
    assert len(calls) == 2
    assert calls[0] == calls[1] == settings.kdf_limits
