"""A printed one-time code used twice at once, and used while a new one is printed, through
a real gunicorn on PostgreSQL: every round has exactly one outcome, and no answer is a 500.

- code x code (relay/services/invitations.py `accept_code`): two people type the same code
  at the same moment, each with their own address. One account is made, the party's place
  points at it, the invitation is used once and the trail says so once; the other person
  is told the code has been used, like any refused code.
- code x a new code (`accept_code`, relay/services/cases.py `print_code`): the party types
  their code as their facilitator prints a new one. Either the account is made and the
  printing is refused (they have an account now), or the new code is printed and the old
  one is refused; never an account and a live code, never two.
"""

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import func
from sqlalchemy import select

from relay.models import CaseParticipant
from relay.models import Invitation
from relay.models import Role
from relay.models import User
from relay.services import cases
from tests.concurrency.harness import Reply
from tests.concurrency.harness import race
from tests.concurrency.test_staff_races import Tally
from tests.concurrency.test_staff_races import _answers
from tests.concurrency.test_staff_races import _anyone
from tests.concurrency.test_staff_races import _audit_mark
from tests.concurrency.test_staff_races import _entries_since
from tests.concurrency.test_staff_races import _sign_in
from tests.concurrency.test_staff_races import _status

pytestmark = pytest.mark.slow

ROUNDS = 30
PASSWORD = "correct horse paper racing"
ACCOUNT_READY = "Your recovery code"
REFUSED = "This code is not right, has expired or has been used"
ALREADY = "They already have an account"
PRINTED = re.compile(r'<p class="code" id="one-time-code">([0-9A-Z-]{24})</p>')


def _paper_party(session, facilitator, prefix: str, number: int) -> tuple[int, int, str]:
    """A new case with a party on paper and a code printed for them."""
    case = cases.open_case(
        session, facilitator, reference=f"{prefix}-{number:03d}", offence_category="burglary"
    )
    party = cases.add_paper_party(
        session, facilitator, case.id, role=Role.OFFENDER, display_name=f"Lee {number}"
    )
    printed = cases.print_code(session, facilitator, case.id, party.id)
    return case.id, party.id, printed.code


def _enter(browser, code: str, email: str, ready=None) -> Reply:
    form = {"code": code, "email": email, "password": PASSWORD, "confirm": PASSWORD}
    return browser.post("/code/account", form, ready=ready)


def _says(answer, text: str) -> bool:
    return isinstance(answer, Reply) and answer.status == 200 and text in answer.body


@dataclass(frozen=True)
class Joined:
    accounts: dict[str, int]  # address: account id, of the addresses tried this round
    place: int | None  # the account the party's place points at
    on_paper: bool
    used: bool
    live: int  # invitations of the party not used yet
    activated: int  # "account.activated" entries for the party's invitation

    def __str__(self) -> str:
        return (
            f"accounts {self.accounts}, place {self.place}, on paper {self.on_paper}, "
            f"used {self.used}, live {self.live}, activated {self.activated}"
        )


def _joined(session, party_id: int, emails: list[str], mark: int) -> Joined:
    session.rollback()
    party = session.get(CaseParticipant, party_id)
    invitation = session.scalar(
        select(Invitation).where(Invitation.participant_id == party_id).order_by(Invitation.id)
    )
    accounts = dict(
        session.execute(select(User.email, User.id).where(User.email.in_(emails))).all()
    )
    live = session.scalar(
        select(func.count())
        .select_from(Invitation)
        .where(Invitation.participant_id == party_id, Invitation.used_at.is_(None))
    )
    activated = _entries_since(session, mark, ("account.activated",), "invitation", invitation.id)[
        "account.activated"
    ]
    facts = Joined(
        accounts, party.user_id, party.on_paper, invitation.used_at is not None, live, activated
    )
    session.rollback()
    return facts


def test_one_code_typed_twice_at_once_makes_one_account(
    server, app, world, session, settings, capsys
):
    tally = Tally("code x the same code", server)
    first, second = _anyone(server), _anyone(server)
    for number in range(ROUNDS):
        _case_id, party_id, code = _paper_party(session, world.facilitator, "TWICE", number)
        emails = [f"first-{number}@relay.test", f"second-{number}@relay.test"]
        mark = _audit_mark(session)
        one, two = race(
            lambda ready, code=code, email=emails[0]: _enter(first, code, email, ready),
            lambda ready, code=code, email=emails[1]: _enter(second, code, email, ready),
        )
        tally.saw(one, two)
        facts = _joined(session, party_id, emails, mark)
        problems = []
        winners = [
            email
            for email, answer in zip(emails, (one, two), strict=True)
            if _says(answer, ACCOUNT_READY)
        ]
        losers = [answer for answer in (one, two) if _says(answer, REFUSED)]
        if len(winners) == 1 and len(losers) == 1:
            outcome = "one account, the other told the code was used"
            if list(facts.accounts) != winners:
                problems.append("the account made is not the one that was answered")
            if facts.place != facts.accounts.get(winners[0]):
                problems.append("the party's place does not point at the account made")
            if not facts.used or facts.live or facts.activated != 1 or facts.on_paper:
                problems.append("the invitation is not used exactly once, off paper")
        else:
            outcome = None
        tally.round(number, _answers(first=one, second=two), outcome, facts, problems)
    tally.finish(capsys, app, session)


def test_a_code_typed_as_a_new_one_is_printed_gives_one_outcome(
    server, app, world, session, settings, capsys
):
    tally = Tally("code x a new code", server)
    facilitator = _sign_in(server, "facilitator")
    anyone = _anyone(server)
    for number in range(ROUNDS):
        case_id, party_id, code = _paper_party(session, world.facilitator, "AGAIN", number)
        emails = [f"lee-{number}@relay.test"]
        mark = _audit_mark(session)
        entered, printed = race(
            lambda ready, code=code, email=emails[0]: _enter(anyone, code, email, ready),
            lambda ready, case_id=case_id, party_id=party_id: facilitator.post(
                f"/cases/{case_id}/paper-code", {"participant": str(party_id)}, ready=ready
            ),
        )
        tally.saw(entered, printed)
        facts = _joined(session, party_id, emails, mark)
        problems = []
        new_code = PRINTED.search(printed.body) if isinstance(printed, Reply) else None
        if _says(entered, ACCOUNT_READY) and _status(printed) == 409 and ALREADY in printed.body:
            outcome = "account made, the new code refused"
            if len(facts.accounts) != 1 or facts.place != facts.accounts.get(emails[0]):
                problems.append("the account answered is not the party's")
            if not facts.used or facts.live or facts.activated != 1:
                problems.append("the invitation is not used exactly once")
        elif _says(entered, REFUSED) and new_code is not None:
            outcome = "a new code printed, the old one refused"
            if facts.accounts or facts.place is not None or facts.activated:
                problems.append("an account was made from a replaced code")
            if facts.used or facts.live != 1:
                problems.append("the party has not exactly one live code")
            # The code printed works.
            again = _enter(anyone, new_code.group(1), f"lee-{number}-again@relay.test")
            if not _says(again, ACCOUNT_READY):
                problems.append(f"the new code does not set up an account ({_status(again)})")
        else:
            outcome = None
        tally.round(number, _answers(entered=entered, printed=printed), outcome, facts, problems)
    tally.finish(capsys, app, session)
