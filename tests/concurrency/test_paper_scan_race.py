"""A paper letter's scan typed in twice at once, and typed in while it is discarded, through
a real gunicorn on PostgreSQL: every round has exactly one outcome, and no answer is a 500.

Each scenario runs ROUNDS rounds, each on a fresh scan uploaded through the service
(tests/paper.py `received`), the two requests released together by a Barrier
(tests/concurrency/harness.py). After each round it reads what the server committed and
keeps every violation; a one-line summary is printed per scenario.

- typed x typed (relay/services/letters.py `enter_paper_letter`): two facilitators of the
  case type the same scan in at once. One letter is made from it, the scan points at its
  version, the trail says `letter.entered_from_paper` once for the scan; the other
  facilitator gets the 409 page ("This scan has already been typed in"). What keeps it
  so is the scan's row lock (relay/services/paper_in.py `lock_scan_to_type`): the case is
  only locked shared, so two typings both pass the case's lock.
- typed x discarded (`enter_paper_letter`, `paper_in.discard_scan`): one facilitator types
  the scan in as the other discards it. Either a letter is made, the scan is kept with it
  and the discard gets the 409 page, or the scan is gone, no letter is made and the typing
  is refused (404, or 409); never a letter whose scan was discarded.

Without the scan's row lock (`with_for_update` taken out of `lock_scan_to_type`, tried
locally), typed x typed made two letters from one scan, both answered 302 and both in the
trail, in 23 rounds of 30; and typed x discarded answered the typing with a 500 in 19 of
30 (StaleDataError: its UPDATE of the scan found the row discarded under it).
"""

from dataclasses import dataclass

import pytest
from sqlalchemy import func
from sqlalchemy import select

from relay.models import Letter
from relay.models import LetterVersion
from relay.models import PaperScan
from relay.models import Role
from relay.models import User
from relay.services import access
from relay.services import invitations
from tests.concurrency.harness import Browser
from tests.concurrency.harness import Reply
from tests.concurrency.harness import race
from tests.concurrency.test_claims_race import CONFLICT
from tests.concurrency.test_claims_race import SAM
from tests.concurrency.test_staff_races import Tally
from tests.concurrency.test_staff_races import _answers
from tests.concurrency.test_staff_races import _audit_mark
from tests.concurrency.test_staff_races import _entries_since
from tests.concurrency.test_staff_races import _sign_in
from tests.concurrency.test_staff_races import _status
from tests.paper import received

pytestmark = pytest.mark.slow

ROUNDS = 30
# What the refusal says on the 409 page (relay/services/paper_in.py).
ALREADY_TYPED = "This scan has already been typed in"
ENTERED = "letter.entered_from_paper"
DISCARDED = "case.paper_scan_discarded"


@dataclass(frozen=True)
class Typists:
    """The world's facilitator (Fran) and a second facilitator of the case (Sam), each
    signed in to the server in a browser of their own."""

    fran: Browser
    sam: Browser
    fran_id: int
    sam_id: int


@pytest.fixture
def typists(server, world, session, settings) -> Typists:
    token = invitations.invite_staff(
        session, settings, world.administrator, email=SAM[0], name=SAM[1]
    )
    invitations.accept_invitation(session, settings, token=token, password=SAM[2])
    access.add_facilitator(session, world.facilitator, world.case.id, SAM[0])
    sam_id = session.scalar(select(User.id).where(User.email == SAM[0]))
    session.rollback()
    return Typists(
        fran=_sign_in(server, "facilitator"),
        sam=server.sign_in(SAM[0], SAM[2]),
        fran_id=world.facilitator.id,
        sam_id=sam_id,
    )


def _new_scan(session, world, number: int) -> tuple[int, int]:
    """A fresh scan of the offender's letter, waiting to be typed in; and the highest
    letter id before the round, so the letters the round made can be told apart."""
    scan_id = received(
        session, world.facilitator, world.case.id, Role.OFFENDER, [f"I am sorry ({number})."]
    ).id
    last = session.scalar(select(func.coalesce(func.max(Letter.id), 0)))
    session.rollback()
    return scan_id, last


def _type_in(browser: Browser, case_id: int, scan_id: int, text: str):
    return lambda ready: browser.post(
        f"/cases/{case_id}/paper-letter/{scan_id}", {"text": text}, ready=ready
    )


def _discard(browser: Browser, case_id: int, scan_id: int):
    return lambda ready: browser.post(
        f"/cases/{case_id}/paper-letter/{scan_id}/discard", {}, ready=ready
    )


def _typed(answer, case_id: int) -> bool:
    """The typing committed: the case page it redirects to."""
    return (
        isinstance(answer, Reply)
        and answer.status == 302
        and answer.location.endswith(f"/cases/{case_id}")
    )


def _refused_as_typed(answer) -> bool:
    return (
        isinstance(answer, Reply)
        and answer.status == 409
        and CONFLICT in answer.body
        and ALREADY_TYPED in answer.body
    )


@dataclass(frozen=True)
class Scanned:
    """What the server committed for one scan in one round."""

    present: bool  # the scan's row is still there
    scan_version: int | None  # the version the scan says was typed from it
    letters: dict[int, int]  # letter id: its first version's id, for letters the round made
    typed_by: list[int]  # entered_by_id of those letters
    entries: dict[str, int]  # letter.entered_from_paper, case.paper_scan_discarded for the scan

    def __str__(self) -> str:
        scan = f"scan version {self.scan_version}" if self.present else "scan gone"
        return (
            f"{scan}; letters made {self.letters} typed by {self.typed_by}; entries {self.entries}"
        )


def _scanned(session, case_id: int, scan_id: int, last_letter: int, mark: int) -> Scanned:
    # Forget what this session holds, to read what the server's workers committed.
    session.rollback()
    session.expire_all()
    scan = session.get(PaperScan, scan_id)
    made = session.execute(
        select(Letter.id, Letter.entered_by_id, LetterVersion.id)
        .join(LetterVersion, LetterVersion.letter_id == Letter.id)
        .where(
            Letter.case_id == case_id,
            Letter.id > last_letter,
            Letter.entered_by_id.is_not(None),
            LetterVersion.number == 1,
        )
        .order_by(Letter.id)
    ).all()
    entries = _entries_since(session, mark, (ENTERED, DISCARDED), "scan", scan_id)
    facts = Scanned(
        present=scan is not None,
        scan_version=scan.version_id if scan is not None else None,
        letters={letter_id: version_id for letter_id, _by, version_id in made},
        typed_by=[by for _letter_id, by, _version_id in made],
        entries={action: entries[action] for action in (ENTERED, DISCARDED)},
    )
    session.rollback()
    return facts


def _one_letter_kept(facts: Scanned) -> list[str]:
    """The problems, if the scan was not typed in exactly once and kept with its letter."""
    problems = []
    if len(facts.letters) != 1:
        problems.append(f"{len(facts.letters)} letters were made from one scan")
    if not facts.present or facts.scan_version not in facts.letters.values():
        problems.append("the scan is not kept with the letter typed from it")
    if facts.entries[ENTERED] != 1 or facts.entries[DISCARDED]:
        problems.append("the trail does not say typed in once and never discarded")
    return problems


def test_one_scan_typed_in_twice_at_once_makes_one_letter(
    server, app, world, session, typists, capsys
):
    tally = Tally("typed x typed", server)
    case_id = world.case.id
    for number in range(ROUNDS):
        scan_id, last_letter = _new_scan(session, world, number)
        mark = _audit_mark(session)
        fran, sam = race(
            _type_in(typists.fran, case_id, scan_id, f"I am sorry ({number}), typed by Fran."),
            _type_in(typists.sam, case_id, scan_id, f"I am sorry ({number}), typed by Sam."),
        )
        tally.saw(fran, sam)
        facts = _scanned(session, case_id, scan_id, last_letter, mark)
        answers = (fran, sam)
        typed = [answer for answer in answers if _typed(answer, case_id)]
        refused = [answer for answer in answers if _refused_as_typed(answer)]
        problems = _one_letter_kept(facts)
        if len(typed) == 1 and len(refused) == 1:
            outcome = "one letter, the other typing refused"
            typist = typists.fran_id if _typed(fran, case_id) else typists.sam_id
            if facts.typed_by != [typist]:
                problems.append("the letter made is not the one whose typing was answered")
        else:
            outcome = None
        tally.round(number, _answers(fran=fran, sam=sam), outcome, facts, problems)
    tally.finish(capsys, app, session)


def test_a_scan_typed_in_as_it_is_discarded_gives_one_outcome(
    server, app, world, session, typists, capsys
):
    tally = Tally("typed x discarded", server)
    case_id = world.case.id
    for number in range(ROUNDS):
        scan_id, last_letter = _new_scan(session, world, number)
        mark = _audit_mark(session)
        # Each takes each part in turn, and each goes first to the barrier in turn.
        typist, discarder = (
            (typists.fran, typists.sam) if number % 2 == 0 else (typists.sam, typists.fran)
        )
        actions = [
            _type_in(typist, case_id, scan_id, f"I am sorry ({number})."),
            _discard(discarder, case_id, scan_id),
        ]
        if number % 4 >= 2:
            actions.reverse()
        answers = race(*actions)
        typed, discarded = answers if number % 4 < 2 else answers[::-1]
        tally.saw(typed, discarded)
        facts = _scanned(session, case_id, scan_id, last_letter, mark)
        problems = []
        if facts.letters and not facts.present:
            problems.append("a letter was made from a scan that was discarded")
        if _typed(typed, case_id) and _refused_as_typed(discarded):
            outcome = "typed in, the discard refused"
            problems += _one_letter_kept(facts)
        elif (
            _status(discarded) == 302
            and _status(typed) in (404, 409)
            and not _typed(typed, case_id)
        ):
            outcome = f"discarded, the typing refused ({_status(typed)})"
            if facts.present or facts.letters:
                problems.append("the discard answered but the scan or a letter is there")
            if facts.entries[DISCARDED] != 1 or facts.entries[ENTERED]:
                problems.append("the trail does not say discarded once and never typed in")
        else:
            outcome = None
        tally.round(number, _answers(typed=typed, discarded=discarded), outcome, facts, problems)
    tally.finish(capsys, app, session)
