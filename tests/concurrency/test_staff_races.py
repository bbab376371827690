"""An administrator's acts on staff racing the act they stand in the way of, through a real
gunicorn on PostgreSQL: every round has exactly one outcome, and no answer is a 500.

Each scenario runs ROUNDS rounds, each on a fresh account or invitation made through the
services, the two requests released together by a Barrier (tests/concurrency/harness.py).
After each round it reads what the server committed and keeps every violation, so one run
shows the whole picture; a one-line summary is printed per scenario.

- close x add (relay/services/staff.py `close_account`, relay/services/access.py
  `add_facilitator`): an administrator closes a facilitator's account while another
  facilitator adds them to an open case. Either the account is closed and the add is
  refused ("no facilitator with this e-mail address"), or they are on the case and the
  close is refused ("still on open cases"); never a closed account with a case-key seal
  or a facilitator's place on an open case.
- accept x revoke (relay/services/invitations.py `accept_invitation`,
  `revoke_invitation`): the invited person posts the activation page while an
  administrator revokes the invitation. Either the account is made, the invitation kept
  as used and the revoke finds nothing pending (404), or the invitation is gone and the
  link is refused; never an account from a revoked invitation, never a used one deleted.
- accept x send again, by an administrator (`resend_invitation`) or, for a party's
  invitation, by the case's facilitator (`resend_party_invitation`): either the account
  is made from the old link and the resend finds nothing pending (404), or the invitation
  has a new link and the old one is refused. After every round the old link is tried once
  more and must make no account; after a resend, the link in the new e-mail sets the
  account up.

An acceptance that loses to a revocation used to answer 500: the page it shows again (the
invitation it opened first) was expired by the refusal's rollback, and its row was gone.
"""

import json
import re
from collections import Counter
from dataclasses import dataclass

import pytest
from sqlalchemy import func
from sqlalchemy import select

from relay import crypto
from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseKeySeal
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Invitation
from relay.models import OutboxMessage
from relay.models import Role
from relay.models import User
from relay.services import cases
from relay.services import invitations
from relay.services import outbox
from tests.concurrency import test_claims_race
from tests.concurrency.harness import Browser
from tests.concurrency.harness import Reply
from tests.concurrency.harness import Server
from tests.concurrency.harness import race
from tests.conftest import PEOPLE

pytestmark = pytest.mark.slow

ROUNDS = 30
PASSWORD = "correct horse newcomer racing"
# What each refusal says on its page (relay/services/staff.py, access.py, invitations.py).
STILL_ON_CASES = "is still on open cases. Hand each one"
NO_SUCH_FACILITATOR = "There is no facilitator with this e-mail address"
LINK_REFUSED = "This invitation link has expired, has been replaced or withdrawn"
# The page an accepted invitation ends on (templates/auth/recovery_code.html).
ACCOUNT_READY = "Your recovery code"
NEW_LINK = re.compile(r"/activate/([A-Za-z0-9_-]+)")


def _status(answer) -> int | str:
    return answer.status if isinstance(answer, Reply) else type(answer).__name__


def _says(answer, status: int, text: str) -> bool:
    return isinstance(answer, Reply) and answer.status == status and text in answer.body


def _answers(**named) -> str:
    return ", ".join(f"{name} {_status(answer)}" for name, answer in named.items())


def _entries_since(session, mark: int, actions: tuple[str, ...], key: str, value: int) -> Counter:
    """The audit entries after `mark` with one of `actions` whose details name `value`."""
    found = session.execute(
        select(AuditEntry.action, AuditEntry.details).where(
            AuditEntry.sequence > mark, AuditEntry.action.in_(actions)
        )
    ).all()
    return Counter(action for action, details in found if json.loads(details).get(key) == value)


def _audit_mark(session) -> int:
    mark = session.scalar(select(func.coalesce(func.max(AuditEntry.sequence), 0)))
    session.rollback()
    return mark


@dataclass
class Tally(test_claims_race.Tally):
    """The claims races' tally, which checks the audit chain and any 500 at the end; here
    the answers are counted as they come (`saw`) and a round's facts shown as they are."""

    def round(self, number: int, answers: str, outcome: str | None, facts, problems) -> None:
        self.rounds += 1
        if outcome is None:
            problems = ["the answers fit no single outcome", *problems]
        if problems:
            self.violations.append(f"round {number} ({answers}): {'; '.join(problems)} [{facts}]")
        else:
            self.outcomes[outcome] += 1

    def saw(self, *answers) -> None:
        for answer in answers:
            self.statuses[_status(answer)] += 1


def _sign_in(server: Server, role: str) -> Browser:
    email, _name, password = PEOPLE[role]
    return server.sign_in(email, password)


def _anyone(server: Server) -> Browser:
    """A browser with no session: the invited person, before they have an account."""
    return Browser(server.host, server.port, "")


# --- close x add ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaver:
    """What the server committed for the facilitator being closed and added at once."""

    disabled: bool
    places: int  # their facilitator places on cases that are not closed
    seals: int  # case-key seals to them, on any case
    entries: Counter  # account.closed, case.facilitator_added, case.key_withdrawn for them

    def __str__(self) -> str:
        entries = ", ".join(f"{action} x{count}" for action, count in sorted(self.entries.items()))
        return (
            f"{'closed' if self.disabled else 'open'} account; {self.places} place(s) on open "
            f"cases; {self.seals} case-key seal(s); entries: {entries}"
        )


def _leaver(session, user_id: int, mark: int) -> Leaver:
    # Forget what this session holds, to read what the server's workers committed.
    session.rollback()
    facts = Leaver(
        disabled=session.scalar(select(User.disabled).where(User.id == user_id)),
        places=session.scalar(
            select(func.count())
            .select_from(CaseParticipant)
            .join(Case, Case.id == CaseParticipant.case_id)
            .where(
                CaseParticipant.user_id == user_id,
                CaseParticipant.role == Role.FACILITATOR,
                Case.state != CaseState.CLOSED,
            )
        ),
        seals=session.scalar(
            select(func.count()).select_from(CaseKeySeal).where(CaseKeySeal.user_id == user_id)
        ),
        entries=_entries_since(
            session,
            mark,
            ("account.closed", "case.facilitator_added", "case.key_withdrawn"),
            "user",
            user_id,
        ),
    )
    session.rollback()
    return facts


def _new_facilitator(session, settings, administrator, number: int) -> tuple[int, str]:
    """A facilitator on no case: their account can be closed at once."""
    email = f"leaver-{number}@relay.test"
    token = invitations.invite_staff(
        session, settings, administrator, email=email, name=f"Leaver {number}"
    )
    invitations.accept_invitation(session, settings, token=token, password=PASSWORD)
    user_id = session.scalar(select(User.id).where(User.email == email))
    session.rollback()
    return user_id, email


def test_closing_an_account_racing_its_addition_to_a_case_gives_one_outcome(
    server, app, world, session, settings, capsys
):
    administrator = _sign_in(server, "administrator")
    facilitator = _sign_in(server, "facilitator")
    case_id = world.case.id
    tally = Tally("close account x add to case", server)
    for number in range(ROUNDS):
        user_id, email = _new_facilitator(session, settings, world.administrator, number)
        mark = _audit_mark(session)
        close, add = race(
            lambda ready, user_id=user_id: administrator.post(
                f"/admin/people/{user_id}/close", {"confirmed": "y"}, ready=ready
            ),
            lambda ready, email=email: facilitator.post(
                f"/cases/{case_id}/facilitators", {"email": email}, ready=ready
            ),
        )
        tally.saw(close, add)
        facts = _leaver(session, user_id, mark)
        problems = []
        if facts.disabled and (facts.places or facts.seals):
            problems.append("a closed account holds a place or a case-key seal on an open case")
        if _status(close) == 302 and _says(add, 200, NO_SUCH_FACILITATOR):
            outcome = "closed, the addition refused"
            if not facts.disabled or facts.places or facts.seals:
                problems.append("the close answered 302 but is not what was committed")
            if facts.entries["account.closed"] != 1 or facts.entries["case.facilitator_added"]:
                problems.append("the trail does not say closed once and never added")
        elif _status(add) == 302 and _says(close, 200, STILL_ON_CASES):
            outcome = "added, the close refused"
            if facts.disabled or facts.places != 1 or facts.seals != 1:
                problems.append("the addition answered 302 but is not what was committed")
            if facts.entries["case.facilitator_added"] != 1 or facts.entries["account.closed"]:
                problems.append("the trail does not say added once and never closed")
        else:
            outcome = None
        tally.round(number, _answers(close=close, add=add), outcome, facts, problems)
    tally.finish(capsys, app, session)


# --- accept x revoke, accept x send again -----------------------------------------------------


@dataclass(frozen=True)
class Invited:
    """What the server committed for one invitation and its e-mail address."""

    accounts: int  # accounts with the invitation's e-mail address
    present: bool  # the invitation's row is still there
    used: bool
    old_link: bool  # the invitation still answers to the link the round began with
    entries: Counter  # account.activated, invitation.revoked, invitation.resent for it
    mails: int  # mails to the address since the round began

    def __str__(self) -> str:
        entries = ", ".join(f"{action} x{count}" for action, count in sorted(self.entries.items()))
        if not self.present:
            invitation = "gone"
        else:
            state = "used" if self.used else "pending"
            invitation = f"{state}, {'the old' if self.old_link else 'a new'} link"
        return (
            f"{self.accounts} account(s); invitation {invitation}; "
            f"{self.mails} mail(s) since; entries: {entries}"
        )


def _invited(session, invitation_id: int, email: str, token: str, mark: int, since: int):
    session.rollback()
    invitation = session.execute(
        select(Invitation.used_at, Invitation.token_digest).where(Invitation.id == invitation_id)
    ).first()
    facts = Invited(
        accounts=session.scalar(
            select(func.count()).select_from(User).where(func.lower(User.email) == email)
        ),
        present=invitation is not None,
        used=invitation is not None and invitation.used_at is not None,
        old_link=invitation is not None and invitation.token_digest == crypto.token_digest(token),
        entries=_entries_since(
            session,
            mark,
            ("account.activated", "invitation.revoked", "invitation.resent"),
            "invitation",
            invitation_id,
        ),
        mails=session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.recipient == email, OutboxMessage.id > since)
        ),
    )
    session.rollback()
    return facts


def _outbox_mark(session) -> int:
    mark = session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
    session.rollback()
    return mark


def _invite(session, settings, administrator, scenario: str, number: int):
    email = f"{scenario}-{number}@relay.test"
    token = invitations.invite_staff(
        session, settings, administrator, email=email, name=f"Newcomer {number}"
    )
    invitation_id = session.scalar(select(Invitation.id).where(Invitation.email == email))
    session.rollback()
    return email, token, invitation_id


def _activate(browser: Browser, token: str, ready=None) -> Reply:
    return browser.post(
        f"/activate/{token}", {"password": PASSWORD, "confirm": PASSWORD}, ready=ready
    )


def _refused(answer) -> bool:
    """The link refused: on the activation page (200, the form's error) or, when the link
    is already dead as the page opens, the error page (400); both say why."""
    return isinstance(answer, Reply) and answer.status in (200, 400) and LINK_REFUSED in answer.body


def _old_link_again(anyone: Browser, token: str, session, email: str, before: int) -> list[str]:
    """The link the round began with, tried once more after it: it never makes an account."""
    again = _activate(anyone, token)
    problems = []
    if not _refused(again):
        problems.append(f"the old link, tried again afterwards, answered {_status(again)}")
    accounts = session.scalar(
        select(func.count()).select_from(User).where(func.lower(User.email) == email)
    )
    session.rollback()
    if accounts != before:
        problems.append("the old link, tried again afterwards, made an account")
    return problems


def _new_link(session, settings, email: str, since: int) -> str | None:
    """The link in the newest mail to `email` after `since`: the one a resend sent."""
    message = session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == email, OutboxMessage.id > since)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    body = outbox.read_body(settings.outbox_key, message) if message is not None else ""
    session.rollback()
    found = NEW_LINK.search(body)
    return found.group(1) if found else None


def test_accepting_an_invitation_racing_its_revocation_gives_one_outcome(
    server, app, world, session, settings, capsys
):
    administrator = _sign_in(server, "administrator")
    anyone = _anyone(server)
    tally = Tally("accept invitation x revoke it", server)
    for number in range(ROUNDS):
        email, token, invitation_id = _invite(
            session, settings, world.administrator, "revoked", number
        )
        mark, since = _audit_mark(session), _outbox_mark(session)
        accept, revoke = race(
            lambda ready, token=token: _activate(anyone, token, ready),
            lambda ready, invitation_id=invitation_id: administrator.post(
                f"/admin/invitations/{invitation_id}/revoke", ready=ready
            ),
        )
        tally.saw(accept, revoke)
        facts = _invited(session, invitation_id, email, token, mark, since)
        problems = []
        if facts.accounts and facts.entries["invitation.revoked"]:
            problems.append("an account was made from a revoked invitation")
        if facts.entries["account.activated"] and not facts.present:
            problems.append("a used invitation was deleted")
        if _says(accept, 200, ACCOUNT_READY) and _status(revoke) == 404:
            outcome = "accepted, the revocation found nothing pending"
            if facts.accounts != 1 or not (facts.present and facts.used):
                problems.append("the acceptance answered 200 but is not what was committed")
            if facts.entries["account.activated"] != 1 or facts.entries["invitation.revoked"]:
                problems.append("the trail does not say activated once and never revoked")
        elif _status(revoke) == 302 and _refused(accept):
            outcome = "revoked, the link refused"
            if facts.accounts or facts.present:
                problems.append("the revocation answered 302 but is not what was committed")
            if facts.entries["invitation.revoked"] != 1 or facts.entries["account.activated"]:
                problems.append("the trail does not say revoked once and never activated")
        else:
            outcome = None
        problems += _old_link_again(anyone, token, session, email, facts.accounts)
        tally.round(number, _answers(accept=accept, revoke=revoke), outcome, facts, problems)
    tally.finish(capsys, app, session)


def _accept_racing_a_resend(tally, session, settings, anyone, invite, resend) -> None:
    """ROUNDS rounds of one invitation's link posted at the moment it is sent again.
    `invite(number)` makes an invitation (its e-mail, link and id); `resend(invitation_id)`
    is the racing request that sends it again."""
    for number in range(ROUNDS):
        email, token, invitation_id = invite(number)
        mark, since = _audit_mark(session), _outbox_mark(session)
        accept, resent = race(
            lambda ready, token=token: _activate(anyone, token, ready),
            lambda ready, invitation_id=invitation_id: resend(invitation_id, ready),
        )
        tally.saw(accept, resent)
        facts = _invited(session, invitation_id, email, token, mark, since)
        problems = []
        if facts.entries["account.activated"] and facts.entries["invitation.resent"]:
            problems.append("the invitation was both used and sent again")
        if _says(accept, 200, ACCOUNT_READY) and _status(resent) == 404:
            outcome = "accepted, the resend found nothing pending"
            if facts.accounts != 1 or not facts.used or not facts.old_link or facts.mails:
                problems.append("the acceptance answered 200 but is not what was committed")
            if facts.entries["account.activated"] != 1:
                problems.append("the trail does not say activated once")
            problems += _old_link_again(anyone, token, session, email, 1)
        elif _status(resent) == 302 and _refused(accept):
            outcome = "sent again, the old link refused"
            if facts.accounts or facts.used or facts.old_link or facts.mails != 1:
                problems.append("the resend answered 302 but is not what was committed")
            if facts.entries["invitation.resent"] != 1:
                problems.append("the trail does not say sent again once")
            problems += _old_link_again(anyone, token, session, email, 0)
            # The new link is the one that works, once.
            new = _new_link(session, settings, email, since)
            if new is None:
                problems.append("the resend's mail holds no link")
            elif not _says(_activate(anyone, new), 200, ACCOUNT_READY):
                problems.append("the new link does not set the account up")
        else:
            outcome = None
        tally.round(number, _answers(accept=accept, resend=resent), outcome, facts, problems)


def test_accepting_an_invitation_racing_a_resend_gives_one_outcome_and_the_old_link_dies(
    server, app, world, session, settings, capsys
):
    administrator = _sign_in(server, "administrator")
    tally = Tally("accept invitation x send it again", server)
    _accept_racing_a_resend(
        tally,
        session,
        settings,
        _anyone(server),
        lambda number: _invite(session, settings, world.administrator, "resent", number),
        lambda invitation_id, ready: administrator.post(
            f"/admin/invitations/{invitation_id}/resend", ready=ready
        ),
    )
    tally.finish(capsys, app, session)


def _party_invitation(session, settings, facilitator, number: int):
    """A new case with its victim invited: a case has one of each party."""
    case = cases.open_case(
        session, facilitator, reference=f"RESEND-{number:03d}", offence_category="burglary"
    )
    email = f"party-{number}@relay.test"
    token = cases.invite_party(
        session,
        settings,
        facilitator,
        case.id,
        role=Role.VICTIM,
        email=email,
        name=f"Party {number}",
        display_name=f"Victim {number}",
    )
    invitation_id = session.scalar(select(Invitation.id).where(Invitation.email == email))
    session.rollback()
    return email, token, invitation_id


def test_a_party_accepting_racing_their_facilitator_sending_it_again_gives_one_outcome(
    server, app, world, session, settings, capsys
):
    facilitator = _sign_in(server, "facilitator")
    tally = Tally("party accepts x facilitator sends it again", server)
    _accept_racing_a_resend(
        tally,
        session,
        settings,
        _anyone(server),
        lambda number: _party_invitation(session, settings, world.facilitator, number),
        lambda invitation_id, ready: facilitator.post(
            f"/review/invitations/{invitation_id}/send-again", ready=ready
        ),
    )
    tally.finish(capsys, app, session)
