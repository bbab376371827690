"""The `flask --app wsgi …` commands, run the way an operator runs them."""

import json
import re
import socket
import threading
from pathlib import Path

import pytest
from nacl.signing import VerifyKey
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from relay import audit
from relay import create_app
from relay.demo import DEMO_PEOPLE
from relay.models import AuditCheckpoint
from relay.models import AuditEntry
from relay.models import AuditHead
from relay.models import EscrowSeal
from relay.models import OutboxMessage
from relay.models import Role
from relay.models import User
from tests.conftest import free_port
from tests.factories import actor_for

ADMIN_EMAIL = "first.admin@relay.test"
ADMIN_NAME = "Fay Firstadmin"
ADMIN_PASSWORD = "quiet lantern orchard seventeen"
RECOVERY_CODE = re.compile(r"\b[A-Z2-7]{2,4}(?:-[A-Z2-7]{2,4}){6}\b")

# Text from the demo's letters, notes and conditions: none of it may leave in an export.
DEMO_TEXT = (
    "breaking into your home",
    "no longer feel safe there",
    "I have started a course to change",
    "Why did you choose our house?",
    "12 Example Street",
    "It was not really my fault",
    "A draft I have not finished",
    "Please do not use my surname",
    "Could you say how it affected you",
    "I have taken out your address",
)


class Cli:
    """Runs a command as `flask --app wsgi …` does, through Flask's test runner."""

    def __init__(self, app, runner):
        self.app = app
        self.runner = runner

    def __call__(self, *args: str, input: str | None = None):
        return self.runner.invoke(args=list(args), input=input)

    def ok(self, *args: str, input: str | None = None):
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.output, result.exception)
        return result

    def create_admin(self, email=ADMIN_EMAIL, name=ADMIN_NAME, password=ADMIN_PASSWORD):
        return self(
            "create-admin",
            "--email",
            email,
            "--name",
            name,
            "--password-stdin",
            input=password + "\n",
        )


@pytest.fixture
def cli(app, runner):
    return Cli(app, runner)


@pytest.fixture
def demo_loaded(cli):
    """The demo, loaded by the command itself (other tests start from a copy of it)."""
    result = cli.ok("demo")
    assert "Demo data loaded" in result.output
    return result


# --- init ---------------------------------------------------------------------------


@pytest.fixture
def fresh_app(tmp_path):
    """An app on an empty database with no signing key: what an operator starts from."""
    app = create_app(
        {
            "RELAY_ENV": "test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
            "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "keys" / "audit-signing.key"),
        }
    )
    yield app
    app.extensions["relay.engine"].dispose()


def test_init_from_nothing_is_safe_to_run_twice(fresh_app):
    cli = Cli(fresh_app, fresh_app.test_cli_runner())
    key_path = Path(fresh_app.config["AUDIT_SIGNING_KEY_PATH"])

    first = cli.ok("init")
    assert "database schema is up to date" in first.output
    assert "made the audit signing key" in first.output
    assert key_path.stat().st_mode & 0o077 == 0
    key = key_path.read_bytes()

    second = cli.ok("init")
    assert "database schema is up to date" in second.output
    assert "audit signing key already exists" in second.output
    assert "made the audit signing key" not in second.output
    assert key_path.read_bytes() == key

    with fresh_app.extensions["relay.sessionmaker"]() as session:
        assert session.scalar(select(func.count()).select_from(AuditHead)) == 1
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_init_on_the_test_database_says_the_key_already_exists(cli):
    # The `app` fixture has run initialise() already: running it again changes nothing.
    for _ in range(2):
        result = cli.ok("init")
        assert "audit signing key already exists" in result.output


# --- create-admin ---------------------------------------------------------------------


def test_create_admin_makes_an_administrator_and_shows_the_recovery_code_once(cli, session):
    result = cli.create_admin()
    assert result.exit_code == 0, result.output
    assert f"Administrator {ADMIN_EMAIL} created." in result.output
    codes = RECOVERY_CODE.findall(result.output)
    assert len(codes) == 1, result.output
    assert result.output.count(codes[0]) == 1
    assert ADMIN_PASSWORD not in result.output

    user = session.scalar(select(User).where(User.email == ADMIN_EMAIL))
    assert user is not None
    assert user.role == Role.ADMINISTRATOR
    assert user.name == ADMIN_NAME
    # The first administrator holds the escrow key from the start.
    assert session.scalar(select(EscrowSeal).where(EscrowSeal.user_id == user.id))
    # Nothing secret reached the audit trail.
    details = " ".join(session.scalars(select(AuditEntry.details)))
    assert ADMIN_PASSWORD not in details
    assert codes[0] not in details


def test_create_admin_refuses_an_e_mail_address_already_in_use(cli, session):
    assert cli.create_admin().exit_code == 0

    again = cli.create_admin(email=ADMIN_EMAIL.upper(), name="Someone Else")
    assert again.exit_code != 0
    assert "An account with this e-mail address already exists" in again.output
    assert ADMIN_PASSWORD not in again.output
    assert not RECOVERY_CODE.search(again.output)
    count = session.scalar(select(func.count()).select_from(User))
    assert count == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 10 characters"),
        ("password123", "one of the most common passwords"),
    ],
)
def test_create_admin_refuses_a_weak_password_with_the_rule(cli, session, password, message):
    result = cli.create_admin(password=password)
    assert result.exit_code != 0
    assert message in result.output
    assert "created" not in result.output
    assert not RECOVERY_CODE.search(result.output)
    assert session.scalar(select(func.count()).select_from(User)) == 0


# --- demo and the audit trail -----------------------------------------------------------


def test_demo_loads_only_once(cli, demo_loaded, session):
    users = session.scalar(select(func.count()).select_from(User))
    entries = session.scalar(select(func.count()).select_from(AuditEntry))
    session.rollback()

    again = cli.ok("demo")
    assert "Demo data is already loaded." in again.output
    assert session.scalar(select(func.count()).select_from(User)) == users
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries
    assert session.scalar(select(User.id).where(User.email == DEMO_PEOPLE["victim"][0]))


def test_audit_verify_passes_then_names_the_entry_that_was_changed(cli, demo_data, session):
    passed = cli.ok("audit", "verify")
    assert "OK" in passed.output
    assert "FAIL" not in passed.output

    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.details != "{}").order_by(AuditEntry.sequence.desc())
    )
    sequence, details = entry.sequence, entry.details
    # Change one byte: the last character before the closing brace.
    changed = details[:-2] + chr(ord(details[-2]) ^ 1) + details[-1]
    assert len(changed) == len(details) and changed != details
    session.execute(
        update(AuditEntry).where(AuditEntry.sequence == sequence).values(details=changed)
    )
    session.commit()

    failed = cli("audit", "verify")
    assert failed.exit_code != 0
    assert f"FAIL entry {sequence}:" in failed.output
    assert f"FAIL entry {sequence}:" in failed.stderr
    assert "changed since it was written" in failed.output
    assert "OK" not in failed.output
    # Only the changed entry is named.
    assert set(re.findall(r"FAIL entry (\d+):", failed.output)) == {str(sequence)}


def test_audit_checkpoint_and_export_hold_metadata_only(cli, demo_data, session, app, tmp_path):
    checkpointed = cli.ok("audit", "checkpoint")
    sequence, entry_hash = audit.head(session)
    assert f"Signed checkpoint at entry {sequence}: {entry_hash}" in checkpointed.output

    path = tmp_path / "export" / "audit.json"
    path.parent.mkdir()
    exported = cli.ok("audit", "export", str(path))
    entries = session.scalar(select(func.count()).select_from(AuditEntry))
    assert f"Wrote {entries} entries to {path}" in exported.output

    raw = path.read_text()
    data = json.loads(raw)
    key = audit.load_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"])
    assert data["verify_key"] == bytes(key.verify_key).hex()
    assert len(data["entries"]) == entries
    assert [e["sequence"] for e in data["entries"]] == list(range(1, entries + 1))
    assert len(data["checkpoints"]) == 1
    checkpoint = data["checkpoints"][0]
    assert checkpoint["sequence"] == sequence
    assert checkpoint["entry_hash"] == entry_hash
    assert checkpoint["verify_key"] == data["verify_key"]

    for text in DEMO_TEXT:
        assert text not in raw, text
    for _email, _name, password in DEMO_PEOPLE.values():
        assert password not in raw
    assert bytes(key).hex() not in raw


def test_an_export_can_be_rechecked_without_the_database(cli, demo_data, tmp_path):
    cli.ok("audit", "checkpoint")
    path = tmp_path / "audit.json"
    cli.ok("audit", "export", str(path))
    data = json.loads(path.read_text())

    prev = audit.GENESIS_HASH
    hashes = {}
    for entry in data["entries"]:
        fields = {key: value for key, value in entry.items() if key != "entry_hash"}
        assert fields["prev_hash"] == prev
        assert audit.entry_hash_of(**fields) == entry["entry_hash"]
        hashes[entry["sequence"]] = prev = entry["entry_hash"]

    verify_key = VerifyKey(bytes.fromhex(data["verify_key"]))
    for checkpoint in data["checkpoints"]:
        message = json.dumps(
            {key: checkpoint[key] for key in ("at", "entry_hash", "sequence")},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        verify_key.verify(message, bytes.fromhex(checkpoint["signature"]))
        assert hashes[checkpoint["sequence"]] == checkpoint["entry_hash"]


def test_audit_verify_checks_checkpoints_too(cli, demo_data, session):
    cli.ok("audit", "checkpoint")
    assert "1 checkpoints verified" in cli.ok("audit", "verify").output

    checkpoint = session.scalar(select(AuditCheckpoint))
    session.execute(
        update(AuditCheckpoint)
        .where(AuditCheckpoint.id == checkpoint.id)
        .values(entry_hash="f" * 64)
    )
    session.commit()
    failed = cli("audit", "verify")
    assert failed.exit_code != 0
    assert f"FAIL entry {checkpoint.sequence}: checkpoint signature is wrong" in failed.output


# --- outbox send ------------------------------------------------------------------------


def _point_mail_at(app, port: int) -> None:
    # Flask-Mail copies MAIL_* into app.extensions["mail"] at init_app and reads only
    # that copy when sending; TESTING also turns on MAIL_SUPPRESS_SEND there.
    app.config["MAIL_PORT"] = port
    state = app.extensions["mail"]
    state.server = "127.0.0.1"
    state.port = port
    state.suppress = False


def _outbox(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_outbox_send_without_a_mail_server_keeps_every_message(app, cli, demo_data, session):
    waiting = _outbox(session)
    assert waiting, "the demo queues invitations and notices"
    assert all(message.sent_at is None for message in waiting)
    session.rollback()
    _point_mail_at(app, free_port())

    result = cli.ok("outbox", "send")
    assert f"sent 0, failed {len(waiting)}" in result.output

    after = _outbox(session)
    assert [m.id for m in after] == [m.id for m in waiting]
    for message in after:
        assert message.sent_at is None
        assert message.attempts == 1
        assert message.claimed_until is None
        assert message.last_error == "ConnectionRefusedError"
        assert message.sealed_body  # kept, to be sent later
    session.rollback()

    # Backed off: an immediate second run finds nothing due, and still exits 0.
    assert "sent 0, failed 0" in cli.ok("outbox", "send").output


def test_outbox_send_sends_and_forgets_the_bodies(app, cli, demo_data, session):
    from relay.extensions import mail

    count = len(_outbox(session))
    session.rollback()
    with mail.record_messages() as sent:  # TESTING: recorded, not sent
        result = cli.ok("outbox", "send")
    assert f"sent {count}, failed 0" in result.output
    assert len(sent) == count
    for message in sent:
        for text in DEMO_TEXT:
            assert text not in message.body
    for message in _outbox(session):
        assert message.sent_at is not None
        assert message.sealed_body == b""


def test_outbox_send_gives_up_on_a_silent_mail_server_after_mail_timeout(
    app, cli, session, monkeypatch
):
    # A regression test: MAIL_TIMEOUT used to be ignored (Flask-Mail 0.10 opens
    # smtplib.SMTP without a timeout), so a silent server blocked dispatch for ever.
    import smtplib

    from relay.services import outbox

    outbox.queue_mail(
        session,
        app.extensions["relay.settings"].outbox_key,
        recipient="someone@relay.test",
        subject="Hello",
        body="A notice.",
    )
    session.commit()
    app.config["MAIL_TIMEOUT"] = 1
    # Far beyond MAIL_TIMEOUT: if the worker waited for the server, the server hangs up
    # first and the test fails, rather than waiting for ever.
    server_patience = 60

    timeouts = []
    connect = smtplib.socket.create_connection

    def create_connection(address, timeout, *args, **kwargs):
        timeouts.append(timeout)
        return connect(address, timeout, *args, **kwargs)

    monkeypatch.setattr(smtplib.socket, "create_connection", create_connection)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(server_patience)
    worker_hung_up = threading.Event()

    def silent_server():
        # Accept, never send the SMTP greeting, and wait for the worker to hang up.
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(server_patience)
            try:
                if connection.recv(1) == b"":
                    worker_hung_up.set()
            except OSError:
                pass  # the server's patience ran out first

    thread = threading.Thread(target=silent_server, daemon=True)
    thread.start()
    try:
        _point_mail_at(app, listener.getsockname()[1])
        result = cli.ok("outbox", "send")
    finally:
        thread.join()
        listener.close()
    assert "sent 0, failed 1" in result.output
    assert timeouts == [1]
    assert worker_hung_up.is_set(), "the worker waited for the silent server to hang up"
    [message] = _outbox(session)
    assert message.sent_at is None
    assert message.attempts == 1
    assert message.sealed_body, "kept, to be sent later"


# --- the commands under Flask's own test runner ------------------------------------------


def test_commands_run_under_the_flask_test_runner_as_documented(runner):
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0, result.exception
    assert "audit signing key already exists" in result.output


def test_letters_deliver_due_and_case_shred_commands(runner, demo_data, session, settings):
    from relay.models import Case
    from relay.models import LetterVersion
    from relay.services import cases

    due = runner.invoke(args=["letters", "deliver-due"])
    assert due.exit_code == 0 and "delivered" in due.output
    case = session.scalar(select(Case))
    refused = runner.invoke(args=["case", "shred", case.reference, "--yes"])
    assert refused.exit_code != 0 and "Only a closed case" in refused.output
    facilitator = actor_for(session, settings, *DEMO_PEOPLE["facilitator"][::2])
    cases.close_case(session, facilitator, case.id, "completed")
    shredded = runner.invoke(args=["case", "shred", case.reference, "--yes"])
    assert shredded.exit_code == 0, shredded.output
    session.expire_all()
    assert session.scalars(select(LetterVersion.ciphertext)).all() == [None] * len(
        session.scalars(select(LetterVersion.id)).all()
    )


# --- keys and sessions ------------------------------------------------------------------


def test_keys_migrate_moves_letters_from_the_team_key_and_destroys_it(cli, session, world):
    from relay.models import CaseKey
    from relay.models import ContentKeySeal
    from relay.models import Letter
    from relay.models import TeamKey
    from relay.services import letters
    from tests.conftest import PEOPLE
    from tests.services.test_case_keys import _make_legacy

    settings = cli.app.extensions["relay.settings"]
    letter = letters.save_draft(session, world.victim, world.case.id, None, "Kept across.")
    letters.submit_letter(session, settings, world.victim, letter.id)
    _make_legacy(session, world)
    email, _name, password = PEOPLE["administrator"]

    wrong = cli("keys", "migrate", "--email", email, "--password-stdin", input="wrong pw\n")
    assert wrong.exit_code != 0
    assert "not right" in wrong.output
    assert session.scalars(select(CaseKey)).all() == []

    done = cli.ok(
        "keys",
        "migrate",
        "--email",
        email,
        "--password-stdin",
        "--batch-size",
        "1",
        input=password + "\n",
    )
    assert "the team key is destroyed" in done.output
    assert password not in done.output
    session.expire_all()
    assert session.scalars(select(TeamKey)).all() == []
    assert (
        session.scalars(select(ContentKeySeal).where(ContentKeySeal.holder == "team")).all() == []
    )
    reread = session.get(Letter, letter.id)
    assert letters.staff_text(session, world.facilitator, reread, reread.versions[-1]) == (
        "Kept across."
    )


def test_sessions_sweep_wipes_the_keys_of_expired_sessions(cli, session, world):
    from datetime import timedelta

    from sqlalchemy import update

    from relay.models import UserSession
    from relay.models import utcnow

    session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(hours=1)))
    session.commit()
    result = cli.ok("sessions", "sweep")
    assert "ended" in result.output
    session.expire_all()
    assert (
        session.scalars(
            select(UserSession).where(UserSession.sealed_private_key.is_not(None))
        ).all()
        == []
    )


# --- reminders send ---------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd, as tests/web/test_mail.py runs it) on a free port."""
    from tests.web.test_mail import SmtpServer

    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(database_url, tmp_path, smtp_server, two_cases):
    """The app on a copy of `two_cases` (a letter in review in each of two facilitators'
    cases), sending to the SMTP server."""
    from tests.web.test_mail import build_mail_app

    app = build_mail_app(database_url, tmp_path, smtp_server)
    yield app
    app.extensions["relay.engine"].dispose()


@pytest.mark.slow
def test_reminders_send_mails_each_facilitator_a_digest_once_through_the_worker(
    mail_app, smtp_server, monkeypatch
):
    from datetime import datetime

    from relay.services import reminders
    from relay.services.working_days import UK_TIME
    from relay.services.working_days import uk_date
    from tests.factories import OTHER
    from tests.factories import PEOPLE

    # Eight working days on, before work: each case's letter in review is past the target.
    calendar = mail_app.extensions["relay.settings"].calendar
    day = uk_date(datetime.now(UK_TIME))
    for _ in range(8):
        day = calendar.next_working_day(day)
    monkeypatch.setattr(
        reminders, "utcnow", lambda: datetime(day.year, day.month, day.day, 7, 30, tzinfo=UK_TIME)
    )
    cli = Cli(mail_app, mail_app.test_cli_runner())

    queued = cli.ok("reminders", "send")
    assert f"{day:%Y-%m-%d}: queued 2 digests for the outbox" in queued.output
    assert "sent" in cli.ok("outbox", "send").output
    again = cli.ok("reminders", "send")
    assert "today's digests were sent already; nothing sent" in again.output
    cli.ok("outbox", "send")

    digests = [
        received
        for received in smtp_server.messages
        if received.subject in reminders.DIGEST_SUBJECTS.values()
    ]
    facilitators = {PEOPLE["facilitator"][0], OTHER["other_facilitator"][0]}
    assert sorted(address for d in digests for address in d.rcpt_tos) == sorted(facilitators)
    names = [name for _email, name, _password in {**PEOPLE, **OTHER}.values()]
    for received in digests:
        assert "Letters waiting for review longer than 5 working days: 1" in received.body
        assert "Other letters waiting for review: 0" in received.body
        assert f"{day:%A %-d %B %Y}" in received.body
        assert mail_app.extensions["relay.settings"].link("/review/") in received.body
        for word in [*names, "In review.", "RJ-2026-001", "RJ-B", "burglary", "robbery"]:
            assert word not in received.body and word not in received.subject, word
