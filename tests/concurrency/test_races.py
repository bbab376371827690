"""Racing transitions ("Close the holes", item 3): two requests that race give one outcome.

docs/security.md: every transition reads and changes state atomically, so a withdrawal and an
approval that race give one outcome, never a recipient seal after a withdrawal or a
close; and a request that loses a race gets the 409 page, never a 500.

Each scenario runs ROUNDS rounds against the gunicorn of conftest.py, each round on a
fresh letter built through the services, with the racing requests released together by
a Barrier. After each round it reads what the server committed (the letter's state, its
audit entries, the recipient's seals and notices) and keeps every violation, so one run
shows the whole picture; a one-line summary is printed per scenario.

The answers these tests accept, per race:
- approve x approve: one 302 (to the review page); every other approval the 409 page.
- approve x the author withdrawing the letter: the winner 302, the loser the 409 page.
- approve x the recipient leaving the case: leaving always answers 200 with the "stopped
  taking part" page; the approval 302 (it came first: delivered before the close) or the
  409 page (the letter was stopped).
- the delivery job or a release x the recipient choosing to receive: the choice always
  302; the release 302 or the 409 page; the job never raises.
"""

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

import pytest
from sqlalchemy import func
from sqlalchemy import select

from relay import audit
from relay.demo import actor_for
from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseState
from relay.models import ContentKeySeal
from relay.models import Letter
from relay.models import LetterState
from relay.models import LetterVersion
from relay.models import OutboxMessage
from relay.models import Role
from relay.services import cases
from relay.services import delivery
from relay.services import invitations
from relay.services import letters
from relay.services.actor import Actor
from tests.concurrency.harness import Reply
from tests.concurrency.harness import Server
from tests.concurrency.harness import race
from tests.conftest import PEOPLE
from tests.conftest import receive_letters

pytestmark = pytest.mark.slow

ROUNDS = 50
# One approval per gunicorn worker: all of them in flight at once.
APPROVERS = 4
# The title of the 409 page (relay/web.py): what a person who lost a race is shown.
CONFLICT = "This cannot be done now"
# The page after stopping taking part (templates/party/withdrawn.html).
STOPPED_TAKING_PART = "You have stopped taking part"
# A bound on the delivery job's back-to-back runs in one round (it stops when the
# racing request has its answer, long before this).
MAX_JOB_RUNS = 10_000

S = LetterState


# --- what a round leaves behind ----------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the server committed for one letter."""

    state: LetterState
    entries: Counter
    recipient_seals: int
    notices: int

    def __str__(self) -> str:
        entries = ", ".join(f"{action} x{count}" for action, count in sorted(self.entries.items()))
        return (
            f"letter {self.state}; {self.recipient_seals} recipient seal(s); "
            f"{self.notices} notice(s) to the recipient; entries: {entries}"
        )


@dataclass(frozen=True)
class Outcome:
    """What one clean outcome must leave behind."""

    state: LetterState
    entries: dict[str, int]
    recipient_seals: int
    notices: int

    def differences(self, facts: Facts) -> list[str]:
        found = []
        if facts.state != self.state:
            found.append(f"letter is {facts.state}, not {self.state}")
        for action, count in self.entries.items():
            if facts.entries[action] != count:
                found.append(f"{facts.entries[action]} '{action}' entries, not {count}")
        if facts.recipient_seals != self.recipient_seals:
            found.append(f"{facts.recipient_seals} recipient seals, not {self.recipient_seals}")
        if facts.notices != self.notices:
            found.append(f"{facts.notices} notices to the recipient, not {self.notices}")
        return found


def _outbox_mark(session) -> int:
    return session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))


def _facts(session, letter_id: int, recipient_id: int, recipient_email: str, since: int):
    # Forget what this session holds, to read what the server's workers committed.
    session.rollback()
    versions = select(LetterVersion.id).where(LetterVersion.letter_id == letter_id)
    facts = Facts(
        state=session.scalar(select(Letter.state).where(Letter.id == letter_id)),
        entries=Counter(
            session.scalars(select(AuditEntry.action).where(AuditEntry.letter_id == letter_id))
        ),
        recipient_seals=session.scalar(
            select(func.count())
            .select_from(ContentKeySeal)
            .where(
                ContentKeySeal.version_id.in_(versions),
                ContentKeySeal.holder == f"user:{recipient_id}",
            )
        ),
        notices=session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.recipient == recipient_email, OutboxMessage.id > since)
        ),
    )
    session.rollback()
    return facts


def _submitted_letter(session, settings, author: Actor, case_id: int, number: int) -> int:
    letter = letters.save_draft(session, author, case_id, None, f"I am sorry. ({number})")
    letters.submit_letter(session, settings, author, letter.id)
    return letter.id


# --- answers and the tally -----------------------------------------------------------------


def _status(answer) -> int | str:
    return answer.status if isinstance(answer, Reply) else type(answer).__name__


def _is_conflict(answer) -> bool:
    """The loser's answer: the 409 page, saying it cannot be done now."""
    return isinstance(answer, Reply) and answer.status == 409 and CONFLICT in answer.body


def _answers(**named) -> str:
    return ", ".join(f"{name} {_status(answer)}" for name, answer in named.items())


@dataclass
class Tally:
    """Every round of one scenario: clean wins per side, answers, and every violation."""

    scenario: str
    server: Server
    rounds: int = 0
    both_committed: int = 0
    wins: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    notes: str = ""
    unhandled_before: int = 0

    def __post_init__(self) -> None:
        self.unhandled_before = self.server.unhandled_errors()

    def saw(self, *answers) -> None:
        for answer in answers:
            self.statuses[_status(answer)] += 1

    def round(
        self,
        number: int,
        answers: str,
        winner: str | None,
        facts: Facts,
        problems: list[str],
        *,
        both: bool,
    ) -> None:
        """`winner` is the outcome the answers claim (None if they fit no single one);
        `problems` what the committed state gets wrong for it; `both` that the two
        sides' effects were both committed."""
        self.rounds += 1
        self.both_committed += both
        if winner is None:
            problems = ["the answers fit no single outcome", *problems]
        if problems:
            self.violations.append(f"round {number} ({answers}): {'; '.join(problems)} [{facts}]")
        else:
            self.wins[winner] += 1

    def summary(self) -> str:
        others = {
            status: count
            for status, count in self.statuses.items()
            if status not in (302, 409, 500)
        }
        return (
            f"{self.scenario}: {self.rounds} rounds, clean wins {dict(self.wins)}, "
            f"both committed in {self.both_committed}, 409s {self.statuses[409]}, "
            f"500s {self.statuses[500]}, other answers {others}, "
            f"{len(self.violations)} violations{self.notes}"
        )

    def finish(self, capsys, app, session) -> None:
        session.rollback()
        key = audit.load_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"]).verify_key
        chain = audit.verify(session, key)
        session.rollback()
        if not chain.ok:
            self.violations.append(f"the audit chain no longer verifies: {chain.problems[:5]}")
        if self.statuses[500]:
            unhandled = self.server.unhandled_errors() - self.unhandled_before
            self.violations.append(
                f"{self.statuses[500]} answers were 500 ({unhandled} logged as 'unhandled' "
                f"in {self.server.log_path})"
            )
        with capsys.disabled():
            print(f"\n{self.summary()}")
        if self.violations:
            pytest.fail("\n".join([self.summary(), *self.violations]), pytrace=False)


def _poster(browser, path: str, form: dict[str, str] | None = None) -> Callable:
    return lambda ready: browser.post(path, form, ready=ready)


def _sign_in(server: Server, role: str):
    email, _name, password = PEOPLE[role]
    return server.sign_in(email, password)


# --- 1. approve x approve ------------------------------------------------------------------

ONE_APPROVAL = Outcome(
    state=S.DELIVERED,
    entries={"letter.approved": 1, "letter.delivered": 1},
    recipient_seals=1,
    notices=1,
)


def test_concurrent_approvals_approve_and_deliver_once(
    server, app, world, session, settings, capsys
):
    approvers = [_sign_in(server, "facilitator") for _ in range(APPROVERS)]
    receive_letters(session, settings, world.victim, world.case.id)
    victim_email = PEOPLE["victim"][0]
    tally = Tally("approve x approve", server)
    for number in range(ROUNDS):
        letter_id = _submitted_letter(session, settings, world.offender, world.case.id, number)
        since = _outbox_mark(session)
        path = f"/review/letters/{letter_id}/approve"
        answers = race(*[_poster(approver, path) for approver in approvers])
        tally.saw(*answers)
        facts = _facts(session, letter_id, world.victim.id, victim_email, since)
        won = [answer for answer in answers if _status(answer) == 302]
        lost = [answer for answer in answers if _status(answer) != 302]
        clean = len(won) == 1 and all(_is_conflict(answer) for answer in lost)
        tally.round(
            number,
            "approvals " + ", ".join(str(_status(answer)) for answer in answers),
            "one approval" if clean else None,
            facts,
            ONE_APPROVAL.differences(facts),
            both=facts.entries["letter.approved"] > 1 or facts.entries["letter.delivered"] > 1,
        )
    tally.finish(capsys, app, session)


# --- 2. approve x the author's withdrawal of the letter --------------------------------------

APPROVAL_FIRST = Outcome(
    state=S.DELIVERED,
    entries={"letter.approved": 1, "letter.delivered": 1, "letter.withdrawn": 0},
    recipient_seals=1,
    notices=1,
)
WITHDRAWAL_FIRST = Outcome(
    state=S.WITHDRAWN,
    entries={"letter.approved": 0, "letter.delivered": 0, "letter.withdrawn": 1},
    recipient_seals=0,
    notices=0,
)


def test_approval_racing_the_authors_withdrawal_has_one_outcome(
    server, app, world, session, settings, capsys
):
    facilitator = _sign_in(server, "facilitator")
    author = _sign_in(server, "offender")
    receive_letters(session, settings, world.victim, world.case.id)
    victim_email = PEOPLE["victim"][0]
    tally = Tally("approve x withdraw letter", server)
    for number in range(ROUNDS):
        letter_id = _submitted_letter(session, settings, world.offender, world.case.id, number)
        since = _outbox_mark(session)
        approve, withdraw = race(
            _poster(facilitator, f"/review/letters/{letter_id}/approve"),
            _poster(author, f"/my/letters/{letter_id}/withdraw"),
        )
        tally.saw(approve, withdraw)
        facts = _facts(session, letter_id, world.victim.id, victim_email, since)
        if _status(approve) == 302 and _is_conflict(withdraw):
            winner, problems = "approval", APPROVAL_FIRST.differences(facts)
        elif _status(withdraw) == 302 and _is_conflict(approve):
            winner, problems = "withdrawal", WITHDRAWAL_FIRST.differences(facts)
        else:
            winner, problems = None, []
        if facts.entries["letter.withdrawn"] and facts.recipient_seals:
            problems.append("the withdrawal was recorded, yet the recipient holds a seal")
        tally.round(
            number,
            _answers(approval=approve, withdrawal=withdraw),
            winner,
            facts,
            problems,
            both=bool(facts.entries["letter.approved"] and facts.entries["letter.withdrawn"]),
        )
    tally.finish(capsys, app, session)


# --- 3. approve x the recipient leaving the whole case ---------------------------------------

DELIVERED_BEFORE_CLOSE = Outcome(
    state=S.DELIVERED,
    entries={"letter.approved": 1, "letter.delivered": 1, "letter.stopped": 0},
    recipient_seals=1,
    notices=1,
)
STOPPED_BY_CLOSE = Outcome(
    state=S.STOPPED,
    entries={"letter.approved": 0, "letter.delivered": 0, "letter.stopped": 1},
    recipient_seals=0,
    notices=0,
)


def _race_password(role: str) -> str:
    return f"correct horse {role} racing"


def _fresh_case(session, settings, facilitator: Actor, number: int) -> tuple[int, Actor, Actor]:
    """A new active case of the same facilitator, with two new parties (an account belongs
    to one invitation); the victim chooses to receive letters."""
    case = cases.open_case(
        session, facilitator, reference=f"RACE-{number:03d}", offence_category="burglary"
    )
    for role in (Role.VICTIM, Role.OFFENDER):
        token = cases.invite_party(
            session,
            settings,
            facilitator,
            case.id,
            role=role,
            email=f"race-{number}-{role}@relay.test",
            name=f"Race {role} {number}",
            display_name=f"{role} {number}",
        )
        invitations.accept_invitation(session, settings, token=token, password=_race_password(role))
    for gate in cases.GATES:
        cases.record_gate(session, facilitator, case.id, gate)
    cases.activate_case(session, facilitator, case.id)
    victim, offender = (
        actor_for(session, settings, f"race-{number}-{role}@relay.test", _race_password(role))
        for role in (Role.VICTIM, Role.OFFENDER)
    )
    receive_letters(session, settings, victim, case.id)
    return case.id, victim, offender


def _after_the_close(session, case_id: int) -> tuple[CaseState, list[str]]:
    """The case's state, and any approval or delivery entered after its close."""
    session.rollback()
    state = session.scalar(select(Case.state).where(Case.id == case_id))
    entries = session.execute(
        select(AuditEntry.sequence, AuditEntry.action)
        .where(AuditEntry.case_id == case_id)
        .order_by(AuditEntry.sequence)
    ).all()
    session.rollback()
    closed = [sequence for sequence, action in entries if action == "case.closed"]
    if not closed:
        return state, []
    return state, [
        f"'{action}' (#{sequence}) after 'case.closed' (#{closed[0]})"
        for sequence, action in entries
        if sequence > closed[0] and action in ("letter.approved", "letter.delivered")
    ]


def test_approval_racing_the_recipient_leaving_the_case_seals_nothing_after_the_close(
    server, app, world, session, settings, capsys
):
    facilitator = _sign_in(server, "facilitator")
    tally = Tally("approve x recipient leaves the case", server)
    for number in range(ROUNDS):
        case_id, victim, offender = _fresh_case(session, settings, world.facilitator, number)
        leaving = server.sign_in(f"race-{number}-victim@relay.test", _race_password("victim"))
        letter_id = _submitted_letter(session, settings, offender, case_id, number)
        since = _outbox_mark(session)
        approve, leave = race(
            _poster(facilitator, f"/review/letters/{letter_id}/approve"),
            _poster(leaving, f"/my/cases/{case_id}/withdraw"),
        )
        tally.saw(approve, leave)
        victim_email = f"race-{number}-victim@relay.test"
        facts = _facts(session, letter_id, victim.id, victim_email, since)
        case_state, late = _after_the_close(session, case_id)
        # Leaving always succeeds (docs/rules.md rule 1: a party can always stop).
        left = _status(leave) == 200 and STOPPED_TAKING_PART in leave.body
        if left and _status(approve) == 302:
            winner, problems = (
                "approval before the close",
                DELIVERED_BEFORE_CLOSE.differences(facts),
            )
        elif left and _is_conflict(approve):
            winner, problems = "close before the approval", STOPPED_BY_CLOSE.differences(facts)
        else:
            winner, problems = None, []
        if case_state != CaseState.CLOSED:
            problems.append(f"the case is {case_state}, not closed")
        if facts.state != S.DELIVERED and facts.recipient_seals:
            problems.append(
                f"the recipient holds a seal to a letter {facts.state} in a closed case"
            )
        tally.round(
            number,
            _answers(approval=approve, leaving=leave),
            winner,
            facts,
            problems + late,
            both=bool(
                late or (facts.entries["letter.approved"] and facts.entries["letter.stopped"])
            ),
        )
    tally.finish(capsys, app, session)


# --- 4. deliveries: the job or the facilitator's release x the recipient choosing to receive -

DELIVERED_ONCE = Outcome(
    state=S.DELIVERED,
    entries={"letter.approved": 1, "letter.delivered": 1},
    recipient_seals=1,
    notices=1,
)
RECEIVE = {"preference": "receive", "conditions": ""}


def _approved_waiting(session, settings, world, preference: str, number: int) -> int:
    """An approved letter to the victim, held back by the victim's `preference`."""
    cases.set_receiving(
        session,
        settings,
        world.victim,
        world.case.id,
        preference=preference,
        tell_author_when_read=False,
        conditions="",
    )
    letter_id = _submitted_letter(session, settings, world.offender, world.case.id, number)
    letters.approve_letter(session, settings, world.facilitator, letter_id)
    return letter_id


@dataclass(frozen=True)
class JobRuns:
    delivered: int
    runs: int


def test_the_delivery_job_racing_a_choice_to_receive_delivers_once(
    server, app, world, session, settings, capsys
):
    recipient = _sign_in(server, "victim")
    victim_email = PEOPLE["victim"][0]
    sessions = app.extensions["relay.sessionmaker"]
    tally = Tally("deliver-due job x choose to receive", server)
    job_runs = 0
    for number in range(ROUNDS):
        letter_id = _approved_waiting(session, settings, world, "not_now", number)
        since = _outbox_mark(session)
        answered = threading.Event()

        def choose(ready, path=f"/my/cases/{world.case.id}/receiving", answered=answered):
            try:
                return recipient.post(path, RECEIVE, ready=ready)
            finally:
                answered.set()

        def job(ready, answered=answered):
            # The scheduler may fire at any moment: run back to back while the choice is
            # in flight, so that some run overlaps each part of its transaction.
            ready.wait()
            delivered = runs = 0
            while not answered.is_set() and runs < MAX_JOB_RUNS:
                with sessions() as job_session:
                    delivered += delivery.deliver_due_everywhere(job_session, settings)
                runs += 1
            return JobRuns(delivered, runs)

        chosen, ran = race(choose, job)
        tally.saw(chosen)
        facts = _facts(session, letter_id, world.victim.id, victim_email, since)
        if isinstance(ran, JobRuns):
            job_runs += ran.runs
            job = f"job delivered {ran.delivered} in {ran.runs} runs"
        else:
            job = f"job raised {ran!r}"
        winner = None
        if _status(chosen) == 302 and isinstance(ran, JobRuns):
            winner = "job" if ran.delivered else "choice to receive"
        tally.round(
            number,
            f"choice {_status(chosen)}, {job}",
            winner,
            facts,
            DELIVERED_ONCE.differences(facts),
            both=facts.entries["letter.delivered"] > 1,
        )
    tally.notes = f", {job_runs} job runs"
    tally.finish(capsys, app, session)


def test_a_release_racing_a_choice_to_receive_delivers_once(
    server, app, world, session, settings, capsys
):
    facilitator = _sign_in(server, "facilitator")
    recipient = _sign_in(server, "victim")
    victim_email = PEOPLE["victim"][0]
    tally = Tally("release x choose to receive", server)
    for number in range(ROUNDS):
        letter_id = _approved_waiting(session, settings, world, "with_facilitator", number)
        since = _outbox_mark(session)
        release, chosen = race(
            _poster(facilitator, f"/review/letters/{letter_id}/release"),
            _poster(recipient, f"/my/cases/{world.case.id}/receiving", RECEIVE),
        )
        tally.saw(release, chosen)
        facts = _facts(session, letter_id, world.victim.id, victim_email, since)
        # Saving one's choice always succeeds; the release either delivers or finds the
        # letter already delivered (or no longer waiting for the facilitator).
        winner = None
        if _status(chosen) == 302 and _status(release) == 302:
            winner = "release"
        elif _status(chosen) == 302 and _is_conflict(release):
            winner = "choice to receive"
        tally.round(
            number,
            _answers(release=release, choice=chosen),
            winner,
            facts,
            DELIVERED_ONCE.differences(facts),
            both=facts.entries["letter.delivered"] > 1,
        )
    tally.finish(capsys, app, session)


def test_an_approval_racing_a_choice_to_receive_delivers_once(
    server, app, world, session, settings, capsys
):
    # Both used to take the case only shared: the approval read "not now" and did not
    # deliver, while the choice did not yet see the letter approved, so the letter waited
    # for the next daily job although the recipient had asked for it.
    facilitator = _sign_in(server, "facilitator")
    recipient = _sign_in(server, "victim")
    victim_email = PEOPLE["victim"][0]
    tally = Tally("approve x choose to receive", server)
    for number in range(ROUNDS):
        cases.set_receiving(
            session,
            settings,
            world.victim,
            world.case.id,
            preference="not_now",
            tell_author_when_read=False,
            conditions="",
        )
        letter_id = _submitted_letter(session, settings, world.offender, world.case.id, number)
        since = _outbox_mark(session)
        approval, chosen = race(
            _poster(facilitator, f"/review/letters/{letter_id}/approve"),
            _poster(recipient, f"/my/cases/{world.case.id}/receiving", RECEIVE),
        )
        tally.saw(approval, chosen)
        facts = _facts(session, letter_id, world.victim.id, victim_email, since)
        winner = None
        if _status(chosen) == 302 and _status(approval) == 302:
            winner = "both, delivered once"
        tally.round(
            number,
            _answers(approval=approval, choice=chosen),
            winner,
            facts,
            DELIVERED_ONCE.differences(facts),
            both=facts.entries["letter.delivered"] > 1,
        )
    tally.finish(capsys, app, session)
