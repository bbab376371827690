"""Relay's steps and lists through Flask's test client against a real app: a migrated
database, the tests' world (an active case with a facilitator, a victim and an offender,
built through the services by tests/factories.py), each person signed in through the
sign-in page in a client of their own.

Steps: submit a letter (the offender), approve and deliver it (the facilitator; the victim
chose to receive), open it (the victim). Each round's submitted letters are the next
step's work, so every step acts on letters made the way a person makes them.
Lists: the review queue and the staff home at 100, 1,000 and 10,000 letters in review.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import text

from bench.baseline import Baseline
from bench.harness import ROUNDS
from bench.harness import Counter
from bench.harness import Paired
from bench.harness import interleaved
from bench.harness import mean_seconds
from relay import audit
from relay import create_app
from relay import schema
from relay.cli import initialise
from relay.models import OutboxMessage
from relay.models import utcnow
from tests import bulk
from tests import factories

LETTER = (
    "I have thought about that night every day since. I am sorry for the fear I caused "
    "you and your family, and for the things I took that I cannot give back. " * 3
)
STEP_CALLS = 5  # letters per step per round
LIST_CALLS = 3  # page views per list per round
SCALES = (100, 1_000, 10_000)
LIST_PAGES = {"review queue /review/": "/review/", "staff home /cases/": "/cases/"}


@dataclass
class Measured:
    """A Relay figure with its baseline, and the SQL the Relay side ran for one call."""

    timing: Paired
    statements: int
    commits: int


class RelayApp:
    """A real Relay app on `url` with the tests' world, each person signed in."""

    def __init__(self, url: str, folder: Path) -> None:
        schema.upgrade(url)
        self.app = create_app(
            {
                "RELAY_ENV": "test",
                "DATABASE_URL": url,
                "AUDIT_SIGNING_KEY_PATH": str(folder / "audit-signing.key"),
                "WTF_CSRF_ENABLED": False,
            }
        )
        initialise(self.app)
        self.key_path = folder / "audit-signing.key"
        self.engine = self.app.extensions["relay.engine"]
        self.sessionmaker = self.app.extensions["relay.sessionmaker"]
        settings = self.app.extensions["relay.settings"]
        with self.sessionmaker() as session:
            built = factories.build_world(session, settings)
            world = factories.world_of(session, settings, built)
            factories.receive_letters(session, settings, world.victim, built.case_id)
            self.facilitator_id = world.facilitator.id
        self.case_id = built.case_id
        self.people = built.people
        self.clients = {}
        for role in ("facilitator", "victim", "offender"):
            client = self.app.test_client()
            email, _name, password = built.people[role]
            response = client.post("/sign-in", data={"email": email, "password": password})
            assert response.status_code == 302, response.text
            self.clients[role] = client
        self.counter = Counter().attach(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # The three steps. Each returns what the next step needs.
    def submit(self) -> int:
        response = self.clients["offender"].post(
            f"/my/cases/{self.case_id}/write", data={"text": LETTER, "send": "1"}
        )
        assert response.status_code == 302, response.text
        return int(re.search(r"/my/letters/(\d+)", response.headers["Location"]).group(1))

    def approve(self, letter_id: int) -> None:
        response = self.clients["facilitator"].post(
            f"/review/letters/{letter_id}/approve", data={"not_before": ""}
        )
        assert response.status_code == 302, response.text

    def open(self, letter_id: int) -> None:
        response = self.clients["victim"].post(f"/my/received/{letter_id}/open")
        assert response.status_code == 200, response.text
        assert "I have thought about that night" in response.text

    def get(self, path: str) -> None:
        response = self.clients["facilitator"].get(path)
        assert response.status_code == 200, response.text

    def counted(self, call) -> tuple[int, int]:
        with self.counter.counting() as counter:
            call()
        return counter.statements, counter.commits

    def add_cases_in_review(self, count: int, start: int) -> None:
        """`count` active cases of the facilitator, each with a letter in review.

        Bulk-inserted rows (tests/bulk.py, as the tests make them), not the services:
        10,000 letters through the services (keys, seals, audit entries) would take most
        of the bench's time, and these pages read the rows' states, dates and people,
        never their text.
        """
        with self.sessionmaker() as session:
            bulk.add_cases_in_review(session, self.facilitator_id, count, start)
        if self.engine.dialect.name == "postgresql":
            # Autovacuum would analyse tables grown this much in a live database; without
            # it the planner plans for the near-empty tables the world left.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("ANALYZE"))


def steps(relay: RelayApp, baseline: Baseline) -> dict[str, Measured]:
    """Submit, approve, open: each interleaved with the bare request, round by round."""
    submitted: list[int] = []
    approved: list[int] = []

    def submit() -> None:
        submitted.append(relay.submit())

    def approve() -> None:
        letter_id = submitted.pop()
        relay.approve(letter_id)
        approved.append(letter_id)

    def open_one() -> None:
        relay.open(approved.pop())

    # One of each to warm what every request reuses, then one of each counted.
    for call in (submit, approve, open_one):
        call()
    counts = {
        "submit": relay.counted(submit),
        "approve": relay.counted(approve),
        "open": relay.counted(open_one),
    }
    timings = {name: Paired() for name in counts}
    for _ in range(ROUNDS):
        for name, call in (("submit", submit), ("approve", approve), ("open", open_one)):
            timings[name].relay.append(mean_seconds(call, STEP_CALLS))
            timings[name].baseline.append(mean_seconds(baseline.request, STEP_CALLS))
    return {name: Measured(timings[name], *counts[name]) for name in counts}


def lists(relay: RelayApp, baseline: Baseline) -> dict[tuple[str, int], Measured]:
    """Each list page at each scale, beside the bare request."""
    found = {}
    made = 0
    for scale in SCALES:
        relay.add_cases_in_review(scale - made, made)
        made = scale
        for name, path in LIST_PAGES.items():
            relay.get(path)  # warm: the first view at a new scale fills the caches
            statements, commits = relay.counted(lambda path=path: relay.get(path))
            timing = interleaved(
                lambda path=path: relay.get(path), baseline.request, per_round=LIST_CALLS
            )
            found[(name, scale)] = Measured(timing, statements, commits)
    return found


AUDIT_PAGE_SCALES = (10_000, 100_000)  # entries on the chain
SINCE_LAST_RUN = 100  # entries appended after the scheduled verification
SENT_MAIL_SCALES = (0, 100_000)  # outbox rows already sent


def audit_page(relay: RelayApp, baseline: Baseline) -> dict[int, Measured]:
    """The administrator's audit page as the chain grows: the scheduled `audit verify`
    has run (and recorded its result) and SINCE_LAST_RUN entries came after it, as in a
    live service between two nightly runs. The chain is bulk-appended (as bench_audit
    does): valid entries with their real hashes."""
    from bench import bench_audit  # the chain's bulk append lives with the audit bench

    key = audit.load_signing_key(relay.key_path).verify_key
    admin = relay.app.test_client()
    email, _name, password = relay.people["administrator"]
    response = admin.post("/sign-in", data={"email": email, "password": password})
    assert response.status_code == 302, response.text

    def view() -> None:
        response = admin.get("/admin/audit")
        assert response.status_code == 200, response.text

    found = {}
    for scale in AUDIT_PAGE_SCALES:
        with relay.sessionmaker() as session:
            grow = scale - bench_audit.chain_length(session)
            bench_audit.append(session, grow)
            audit.record_verification(session, audit.verify(session, key))
            bench_audit.append(session, SINCE_LAST_RUN)
        view()
        statements, commits = relay.counted(view)
        found[scale] = Measured(
            interleaved(view, baseline.request, per_round=LIST_CALLS), statements, commits
        )
    return found


def mail_after_posts(relay: RelayApp, baseline: Baseline) -> dict[int, Measured]:
    """Submitting a letter (which queues a notice) with no sent mail and with many sent
    outbox rows: a request only adds its message; sending is the outbox worker's."""
    found = {}
    made = 0
    for scale in SENT_MAIL_SCALES:
        with relay.sessionmaker() as session:
            now = utcnow()
            for start in range(made, scale, 10_000):
                session.execute(
                    insert(OutboxMessage),
                    [
                        {
                            "recipient": f"sent-{index}@relay.test",
                            "subject": "Relay: something new",
                            "sealed_body": b"",
                            "created_at": now,
                            "attempts": 1,
                            "next_attempt_at": now,
                            "sent_at": now,
                        }
                        for index in range(start, min(scale, start + 10_000))
                    ],
                )
            session.commit()
        made = scale
        touching = []

        def outbox_statement(_connection, _cursor, statement, *_args, touching=touching):
            if "outbox_messages" in statement:
                touching.append(statement)

        event.listen(relay.engine, "before_cursor_execute", outbox_statement)
        try:
            relay.submit()
        finally:
            event.remove(relay.engine, "before_cursor_execute", outbox_statement)
        timing = interleaved(relay.submit, baseline.request, per_round=STEP_CALLS)
        # The statements that touch the outbox: the notice's insert, never a read of it.
        found[scale] = Measured(timing, len(touching), 1)
    return found
