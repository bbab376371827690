"""A printed one-time invitation code (issue 10, item 1): a party on paper who later wants
the portal is given a code on paper, no e-mail needed. It is an invitation like any other
(one row, its digest only), typeable from paper, single-use, expiring, replaced by a newer
one, refused for a closed case; accepting it sets up their account and takes them off
paper, unless letters approved while they had no account wait for their facilitator to
give them to it."""

import json
import re
from datetime import date
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from relay import crypto
from relay.models import AuditEntry
from relay.models import CaseParticipant
from relay.models import Invitation
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotFound
from tests import paper
from tests.factories import actor_for
from tests.paper import HARMED

LEE = ("lee@relay.test", "a long phrase lee chose")
CODE_SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$")


@pytest.fixture
def paper_case(session, settings, world):
    """A case whose person harmed uses Relay and whose person responsible takes part on
    paper; (case id, the paper party's id, the person harmed as an actor)."""
    case_id, inmate_id = paper.paper_case(session, settings, world.facilitator, "RJ-CODE")
    return case_id, inmate_id, paper.pat_signed_in(session, settings)


def _print(session, settings, world, paper_case) -> invitations.PrintedCode:
    case_id, inmate_id, _harmed = paper_case
    return cases.print_code(session, world.facilitator, case_id, inmate_id)


def _accept(session, settings, code: str, email: str = LEE[0]):
    return invitations.accept_code(session, settings, code=code, email=email, password=LEE[1])


def _inmate(session, paper_case) -> CaseParticipant:
    session.expire_all()
    return session.get(CaseParticipant, paper_case[1])


def _entries(session, action: str) -> list[dict]:
    return [
        json.loads(details)
        for details in session.scalars(
            select(AuditEntry.details)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.sequence)
        )
    ]


def test_a_code_is_typeable_keeps_only_its_digest_and_its_printing_is_audited_without_it(
    session, settings, world, paper_case
):
    printed = _print(session, settings, world, paper_case)
    assert CODE_SHAPE.match(printed.code), printed.code
    # 20 characters of 32: 100 bits.
    assert len(printed.code.replace("-", "")) * 5 == 100
    assert printed.expires_at.date() == (utcnow() + timedelta(days=invitations.CODE_DAYS)).date()
    assert printed.name == "Lee"
    invitation = session.scalar(
        select(Invitation).where(Invitation.participant_id == paper_case[1])
    )
    assert invitation.email is None
    assert invitation.role == Role.OFFENDER
    assert invitation.token_digest == crypto.token_digest(printed.code.replace("-", ""))
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "invitation.code_printed")
    ).all()
    assert [json.loads(e.details) for e in entries] == [
        {"invitation": invitation.id, "role": "offender", "replaced": False}
    ]
    assert entries[0].case_id == paper_case[0]
    everything = " ".join(
        f"{e.action} {e.details}" for e in session.scalars(select(AuditEntry)).all()
    )
    assert printed.code not in everything
    assert printed.code.replace("-", "") not in everything


def test_a_code_sets_up_their_account_and_takes_them_off_paper(
    session, settings, world, paper_case
):
    printed = _print(session, settings, world, paper_case)
    # Typed as a person reads it off paper: lower case, spaces, an O for a 0, an l for a 1.
    typed = printed.code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert invitations.open_code(session, typed).participant_id == paper_case[1]
    created = _accept(session, settings, typed, email="  Lee@Relay.test ")
    assert created.recovery_code
    assert (created.user.email, created.user.role, created.user.name) == (
        LEE[0],
        Role.OFFENDER,
        "Lee",
    )
    inmate = _inmate(session, paper_case)
    assert (inmate.user_id, inmate.on_paper) == (created.user.id, False)
    assert _entries(session, "account.activated")[-1] == {
        "invitation": session.scalar(
            select(Invitation.id).where(Invitation.participant_id == paper_case[1])
        ),
        "role": "offender",
        "by": "code",
        "on_paper": False,
    }
    lee = actor_for(session, settings, LEE[0], LEE[1])
    case, mine = cases.case_for_party(session, lee, paper_case[0])
    assert mine.id == paper_case[1]


def test_a_code_works_once(session, settings, world, paper_case):
    printed = _print(session, settings, world, paper_case)
    _accept(session, settings, printed.code)
    with pytest.raises(InvalidInput, match="not right, has expired or has been used") as refused:
        _accept(session, settings, printed.code, email="other@relay.test")
    assert refused.value.field == "code"
    with pytest.raises(InvalidInput, match="not right, has expired or has been used"):
        invitations.open_code(session, printed.code)
    assert (
        session.scalar(select(func.count()).select_from(User).where(User.role == "offender")) == 2
    )


def test_an_expired_code_is_refused_with_the_same_words(session, settings, world, paper_case):
    printed = _print(session, settings, world, paper_case)
    session.execute(
        update(Invitation)
        .where(Invitation.participant_id == paper_case[1])
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    with pytest.raises(InvalidInput, match="not right, has expired or has been used"):
        _accept(session, settings, printed.code)
    assert _inmate(session, paper_case).user_id is None


def test_a_wrong_or_malformed_code_is_refused_with_the_same_words(
    session, settings, world, paper_case
):
    printed = _print(session, settings, world, paper_case)
    last = printed.code[-1]
    wrong = printed.code[:-1] + ("2" if last != "2" else "3")
    for code in (wrong, "", "ABCD", printed.code + "X", "ÄÖÜ-" * 5):
        with pytest.raises(InvalidInput, match="not right, has expired or has been used"):
            _accept(session, settings, code)
    assert _inmate(session, paper_case).user_id is None


def test_a_new_code_replaces_the_earlier_one_in_the_same_invitation(
    session, settings, world, paper_case
):
    first = _print(session, settings, world, paper_case)
    second = _print(session, settings, world, paper_case)
    assert first.code != second.code
    assert (
        session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.participant_id == paper_case[1])
        )
        == 1
    )
    assert _entries(session, "invitation.code_printed")[-1]["replaced"] is True
    with pytest.raises(InvalidInput, match="not right"):
        _accept(session, settings, first.code)
    _accept(session, settings, second.code)
    assert _inmate(session, paper_case).user_id is not None


def test_a_code_for_a_party_in_a_closed_case_is_refused_and_none_is_printed(
    session, settings, world, paper_case
):
    printed = _print(session, settings, world, paper_case)
    cases.close_case(session, world.facilitator, paper_case[0], "ended_by_facilitator")
    with pytest.raises(InvalidInput, match="not right, has expired or has been used"):
        _accept(session, settings, printed.code)
    assert _inmate(session, paper_case).user_id is None
    assert session.scalar(select(func.count()).select_from(User).where(User.email == LEE[0])) == 0
    with pytest.raises(InvalidTransition, match="closed"):
        _print(session, settings, world, paper_case)


def test_a_code_is_printed_only_for_a_party_on_paper_with_no_account_by_their_facilitator(
    session, settings, world, paper_case
):
    case_id, inmate_id, harmed = paper_case
    victim_id = next(
        p.id
        for p in cases.case_for_staff(session, world.facilitator, case_id).participants
        if p.role == Role.VICTIM
    )
    with pytest.raises(InvalidTransition, match="already have an account"):
        cases.print_code(session, world.facilitator, case_id, victim_id)
    # Invited by e-mail, not yet set up: their link is theirs, not a code.
    other = cases.open_case(
        session, world.facilitator, reference="RJ-MAIL", offence_category="other"
    )
    cases.invite_party(
        session,
        settings,
        world.facilitator,
        other.id,
        role=Role.VICTIM,
        email="later@relay.test",
        name="Later",
        display_name="Later",
    )
    invited = cases.case_for_staff(session, world.facilitator, other.id).participants[-1]
    assert (invited.role, invited.user_id) == (Role.VICTIM, None)
    with pytest.raises(InvalidTransition, match="takes part on paper"):
        cases.print_code(session, world.facilitator, other.id, invited.id)
    with pytest.raises(NotFound):
        cases.print_code(session, harmed, case_id, inmate_id)
    with pytest.raises(NotFound):
        # The facilitator of another case.
        cases.print_code(session, world.facilitator, world.case.id, inmate_id)
    printed = _print(session, settings, world, paper_case)
    _accept(session, settings, printed.code)
    cases.set_on_paper(session, settings, world.facilitator, case_id, inmate_id, True)
    with pytest.raises(InvalidTransition, match="already have an account"):
        _print(session, settings, world, paper_case)


def test_an_address_with_an_account_already_is_refused_and_the_code_still_works(
    session, settings, world, paper_case
):
    printed = _print(session, settings, world, paper_case)
    with pytest.raises(InvalidInput, match="already exists") as refused:
        _accept(session, settings, printed.code, email=HARMED[0])
    assert refused.value.field == "email"
    with pytest.raises(InvalidInput, match="right format"):
        _accept(session, settings, printed.code, email="not an address")
    _accept(session, settings, printed.code)


def test_a_code_is_never_taken_for_a_link_nor_a_link_for_a_code(
    session, settings, world, paper_case
):
    printed = _print(session, settings, world, paper_case)
    with pytest.raises(InvalidInput):
        invitations.open_invitation(session, printed.code.replace("-", ""))
    with pytest.raises(InvalidInput):
        invitations.accept_invitation(
            session, settings, token=printed.code.replace("-", ""), password=LEE[1]
        )
    token = invitations.invite_staff(
        session, settings, world.administrator, email="sam@relay.test", name="Sam"
    )
    with pytest.raises(InvalidInput, match="not right"):
        _accept(session, settings, token)
    assert _inmate(session, paper_case).user_id is None


def _letter_to_inmate(session, settings, world, paper_case, text: str) -> int:
    case_id, _inmate_id, harmed = paper_case
    letter = letters.save_draft(session, harmed, case_id, None, text)
    letters.submit_letter(session, settings, harmed, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    return letter.id


def test_letters_approved_while_they_had_no_account_reach_it_when_their_facilitator_says(
    session, settings, world, paper_case
):
    case_id, inmate_id, _harmed = paper_case
    paper.started(session, world.facilitator, case_id)
    posted = _letter_to_inmate(session, settings, world, paper_case, "Why our house?")
    letters.deliver_on_paper(session, world.facilitator, posted, how="posted", on=date.today())
    waiting = _letter_to_inmate(session, settings, world, paper_case, "Please write back.")

    _accept(session, settings, _print(session, settings, world, paper_case).code)
    # Sealed to nobody but the case and its writer: their new account has no key to these,
    # so they stay on paper until their facilitator gives them the letters.
    inmate = _inmate(session, paper_case)
    assert (inmate.user_id is not None, inmate.on_paper) == (True, True)
    assert _entries(session, "account.activated")[-1]["on_paper"] is True
    assert [row.id for row in letters.to_print_and_post(session, world.facilitator).items] == [
        waiting
    ]

    cases.set_on_paper(session, settings, world.facilitator, case_id, inmate_id, False)
    assert _entries(session, "case.party_off_paper") == [{"person": "offender", "letters": 2}]
    session.expire_all()
    assert session.get(Letter, waiting).state == LetterState.DELIVERED
    lee = actor_for(session, settings, LEE[0], LEE[1])
    assert letters.open_letter(session, settings, lee, posted)[1] == "Why our house?"
    assert letters.open_letter(session, settings, lee, waiting)[1] == "Please write back."
