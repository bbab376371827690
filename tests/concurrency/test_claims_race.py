"""Two facilitators of one case on one letter at once, through a real gunicorn on
PostgreSQL (relay/services/claims.py): every round has exactly one outcome, and no answer
is a 500.

Each scenario runs ROUNDS rounds, each on a fresh letter sent through the services, the two
requests released together by a Barrier (tests/concurrency/harness.py). After each round
it reads what the server committed and keeps every violation, so one run shows the whole
picture; a one-line summary is printed per scenario.

- open x open: both open the review page at once; one of them holds the claim, and each
  page says who.
- approve x ask for changes, with nobody holding the letter: one decision commits, the
  other gets the 409 page.
- the same, with the approving facilitator holding the letter: their approval always
  commits; the other decision is refused (by the claim, or by the state if it came after).
- the holder approving x the other facilitator taking it over: either the approval
  commits and the take-over finds nothing left to take over, or the take-over commits and
  the approval is refused by it; never an approval after a take-over.
"""

from collections import Counter
from dataclasses import dataclass
from dataclasses import field

import pytest
from sqlalchemy import select

from relay import audit
from relay.models import AuditEntry
from relay.models import Letter
from relay.models import LetterState
from relay.services import access
from relay.services import claims
from relay.services import invitations
from relay.services import letters
from relay.services.actor import Actor
from tests.concurrency.harness import Browser
from tests.concurrency.harness import Reply
from tests.concurrency.harness import Server
from tests.concurrency.harness import _request
from tests.concurrency.harness import race
from tests.conftest import PEOPLE
from tests.conftest import receive_letters

pytestmark = pytest.mark.slow

ROUNDS = 40
SAM = ("sam@relay.test", "Sam Jones", "correct horse sam jones")
FRAN_NAME = PEOPLE["facilitator"][1]
# The 409 page's title (relay/web/errors.py), and what the claim's refusal says on it.
CONFLICT = "This cannot be done now"
CLAIMED = "took this letter over at"
NOTHING_TO_TAKE_OVER = "nothing to take over"
DECIDED = ("letter.approved", "letter.changes_requested")


@dataclass(frozen=True)
class Facts:
    state: LetterState
    holder: int | None
    entries: list[str]  # the letter's audit entries, in the chain's order

    def count(self, action: str) -> int:
        return self.entries.count(action)


def _facts(session, letter_id: int) -> Facts:
    # Forget what this session holds, to read what the server's workers committed.
    session.rollback()
    session.expire_all()
    letter = session.get(Letter, letter_id)
    facts = Facts(
        state=letter.state,
        holder=letter.claimed_by_id,
        entries=list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.letter_id == letter_id)
                .order_by(AuditEntry.sequence)
            )
        ),
    )
    session.rollback()
    return facts


def _status(answer) -> int | str:
    return answer.status if isinstance(answer, Reply) else type(answer).__name__


def _refused(answer, because: str = "") -> bool:
    return (
        isinstance(answer, Reply)
        and answer.status == 409
        and CONFLICT in answer.body
        and because in answer.body
    )


@dataclass
class Tally:
    scenario: str
    server: Server
    rounds: int = 0
    outcomes: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    unhandled_before: int = 0

    def __post_init__(self) -> None:
        self.unhandled_before = self.server.unhandled_errors()

    def round(self, number: int, answers: tuple, outcome: str | None, facts: Facts, problems):
        self.rounds += 1
        for answer in answers:
            self.statuses[_status(answer)] += 1
        if outcome is None:
            problems = ["the answers fit no single outcome", *problems]
        if problems:
            shown = ", ".join(str(_status(answer)) for answer in answers)
            self.violations.append(
                f"round {number} ({shown}): {'; '.join(problems)} "
                f"[letter {facts.state}, holder {facts.holder}, entries {facts.entries}]"
            )
        else:
            self.outcomes[outcome] += 1

    def finish(self, capsys, app, session) -> None:
        session.rollback()
        key = audit.load_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"]).verify_key
        chain = audit.verify(session, key)
        session.rollback()
        if not chain.ok:
            self.violations.append(f"the audit chain no longer verifies: {chain.problems[:5]}")
        unhandled = self.server.unhandled_errors() - self.unhandled_before
        if self.statuses[500] or unhandled:
            self.violations.append(
                f"{self.statuses[500]} answers were 500 ({unhandled} logged as 'unhandled' "
                f"in {self.server.log_path})"
            )
        summary = (
            f"{self.scenario}: {self.rounds} rounds, outcomes {dict(self.outcomes)}, "
            f"answers {dict(self.statuses)}, {len(self.violations)} violations"
        )
        with capsys.disabled():
            print(f"\n{summary}")
        if self.violations:
            pytest.fail("\n".join([summary, *self.violations]), pytrace=False)


@dataclass(frozen=True)
class Team:
    """The world's facilitator (Fran), as the test's services see her, and a second
    facilitator of the case (Sam); each signed in to the server in a browser of their own."""

    fran: Actor
    fran_browser: Browser
    sam_browser: Browser


@pytest.fixture
def team(server, world, session, settings) -> Team:
    token = invitations.invite_staff(
        session, settings, world.administrator, email=SAM[0], name=SAM[1]
    )
    invitations.accept_invitation(session, settings, token=token, password=SAM[2])
    access.add_facilitator(session, world.facilitator, world.case.id, SAM[0])
    receive_letters(session, settings, world.victim, world.case.id)
    email, _name, password = PEOPLE["facilitator"]
    return Team(
        fran=world.facilitator,
        fran_browser=server.sign_in(email, password),
        sam_browser=server.sign_in(SAM[0], SAM[2]),
    )


def _submitted(session, settings, world, number: int) -> int:
    letter = letters.save_draft(
        session, world.offender, world.case.id, None, f"I am sorry. ({number})"
    )
    letters.submit_letter(session, settings, world.offender, letter.id)
    return letter.id


def _get(browser, path: str, ready) -> Reply:
    """GET `path` with the browser's cookie, released with the others by `ready`."""
    reply, _cookies = _request(
        browser.host, browser.port, "GET", path, cookie=browser.cookie, ready=ready
    )
    return reply


def _approve(browser, letter_id: int):
    return lambda ready: browser.post(f"/review/letters/{letter_id}/approve", ready=ready)


def _ask_for_changes(browser, letter_id: int):
    return lambda ready: browser.post(
        f"/review/letters/{letter_id}/changes", {"note": "Please say more."}, ready=ready
    )


def _one_decision(facts: Facts) -> list[str]:
    """What a round with exactly one decision committed must leave behind."""
    problems = []
    decided = [action for action in facts.entries if action in DECIDED]
    if len(decided) != 1:
        problems.append(f"{len(decided)} decisions committed, not 1")
    if facts.holder is not None:
        problems.append("the decision left a claim behind")
    return problems


# --- open x open ---------------------------------------------------------------------------


def test_two_facilitators_opening_a_letter_at_once_leave_one_holder(
    server, app, world, session, settings, team, capsys
):
    tally = Tally("open x open", server)
    for number in range(ROUNDS):
        letter_id = _submitted(session, settings, world, number)
        path = f"/review/letters/{letter_id}"
        fran, sam = race(
            lambda ready, path=path: _get(team.fran_browser, path, ready),
            lambda ready, path=path: _get(team.sam_browser, path, ready),
        )
        facts = _facts(session, letter_id)
        problems = []
        if facts.count("letter.claimed") != 1:
            problems.append(f"{facts.count('letter.claimed')} claims, not 1")
        outcome = None
        if _status(fran) == _status(sam) == 200:
            fran_holds = "You are reviewing this letter" in fran.body
            sam_holds = "You are reviewing this letter" in sam.body
            if fran_holds and not sam_holds and f"{FRAN_NAME} is reviewing" in sam.body:
                outcome = "Fran holds it"
                if facts.holder != team.fran.id:
                    problems.append("Fran's page says she holds it; the row says otherwise")
            elif sam_holds and not fran_holds and f"{SAM[1]} is reviewing" in fran.body:
                outcome = "Sam holds it"
                if facts.holder in (None, team.fran.id):
                    problems.append("Sam's page says he holds it; the row says otherwise")
        tally.round(number, (fran, sam), outcome, facts, problems)
    tally.finish(capsys, app, session)


# --- approve x ask for changes -------------------------------------------------------------


def _decide_at_once(tally, session, settings, world, team, number, *, fran_holds: bool):
    letter_id = _submitted(session, settings, world, number)
    if fran_holds:
        claims.claim_for_review(session, team.fran, letter_id)
    approve, changes = race(
        _approve(team.fran_browser, letter_id), _ask_for_changes(team.sam_browser, letter_id)
    )
    facts = _facts(session, letter_id)
    problems = _one_decision(facts)
    if _status(approve) == 302 and _refused(changes):
        outcome = (
            "approved, the other refused by the claim"
            if CLAIMED in changes.body
            else ("approved, the other refused by the state")
        )
        if facts.state != LetterState.DELIVERED or facts.count("letter.approved") != 1:
            problems.append("the approval answered 302 but is not what was committed")
    elif _status(changes) == 302 and _refused(approve):
        outcome = "changes asked for"
        if facts.state != LetterState.CHANGES_REQUESTED:
            problems.append("the request for changes answered 302 but is not what was committed")
        if fran_holds:
            problems.append("Sam's decision went through while Fran held the letter")
    else:
        outcome = None
    if fran_holds and facts.count("letter.claimed") != 1:
        problems.append("the claim made before the round is not in the trail once")
    tally.round(number, (approve, changes), outcome, facts, problems)


def test_approval_and_a_request_for_changes_at_once_give_one_outcome(
    server, app, world, session, settings, team, capsys
):
    tally = Tally("approve x ask for changes, nobody holding it", server)
    for number in range(ROUNDS):
        _decide_at_once(tally, session, settings, world, team, number, fran_holds=False)
    tally.finish(capsys, app, session)


def test_the_holders_decision_wins_over_the_other_facilitators_every_time(
    server, app, world, session, settings, team, capsys
):
    tally = Tally("approve x ask for changes, Fran holding it", server)
    for number in range(ROUNDS):
        _decide_at_once(tally, session, settings, world, team, number, fran_holds=True)
    tally.finish(capsys, app, session)


# --- the holder approving x the other taking it over -------------------------------------------


def test_a_take_over_racing_the_holders_approval_never_lets_an_approval_follow_it(
    server, app, world, session, settings, team, capsys
):
    tally = Tally("approve x take over", server)
    for number in range(ROUNDS):
        letter_id = _submitted(session, settings, world, number)
        claims.claim_for_review(session, team.fran, letter_id)
        approve, take = race(
            _approve(team.fran_browser, letter_id),
            lambda ready, letter_id=letter_id: team.sam_browser.post(
                f"/review/letters/{letter_id}/take-over", ready=ready
            ),
        )
        facts = _facts(session, letter_id)
        problems = []
        if (
            "letter.claim_taken_over" in facts.entries
            and "letter.approved" in facts.entries[facts.entries.index("letter.claim_taken_over") :]
        ):
            problems.append("an approval was committed after the take-over")
        if _status(approve) == 302 and _refused(take, NOTHING_TO_TAKE_OVER):
            outcome = "approved"
            if facts.count("letter.approved") != 1 or "letter.claim_taken_over" in facts.entries:
                problems.append("the approval and the take-over both count")
            if facts.holder is not None:
                problems.append("a letter decided on is still claimed")
        elif _status(take) == 302 and _refused(approve, CLAIMED):
            outcome = "taken over"
            if facts.state != LetterState.IN_REVIEW or facts.count("letter.approved"):
                problems.append("the letter moved though its approval was refused")
            if facts.count("letter.claim_taken_over") != 1 or facts.holder in (None, team.fran.id):
                problems.append("the take-over answered 302 but Sam does not hold the letter")
        else:
            outcome = None
        tally.round(number, (approve, take), outcome, facts, problems)
    tally.finish(capsys, app, session)
