"""Mail through the outbox to a real SMTP server (aiosmtpd on a free local port).

Every message is received, parsed and read: links in it must work, and no
notice may carry letter text, a case reference or anybody's name.
"""

import asyncio
import email
import re
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func
from sqlalchemy import select

from relay import create_app
from relay import crypto
from relay import mailer
from relay.cli import initialise
from relay.extensions import mail
from relay.models import Base
from relay.models import NoticePreference
from relay.models import OutboxMessage
from relay.models import utcnow
from relay.services import accounts
from relay.services import invitations
from relay.services import letters
from relay.services import outbox
from relay.services import password_reset
from tests.conftest import PEOPLE
from tests.conftest import free_port
from tests.factories import actor_for

pytestmark = pytest.mark.slow

LETTER_TEXT = "The blue kettle on my windowsill still reminds me of that Tuesday in March."
NEWCOMER = ("nell.newcomer@relay.test", "Nell Newcomer")
FIRST_PASSWORD = "violet harbour lantern"
SECOND_PASSWORD = "copper meadow bicycle"
# Kept short so that the check of a silent mail server stays quick.
MAIL_TIMEOUT = 1


@dataclass
class Received:
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        # SMTP carries CRLF line ends; compare with the text as it was written.
        text = self.message.get_body(preferencelist=("plain",)).get_content()
        return text.replace("\r\n", "\n")


class SmtpServer:
    """An aiosmtpd server that keeps every message it is given; can be stopped and restarted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Received] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(
            Received(
                rcpt_tos=list(envelope.rcpt_tos),
                message=email.message_from_bytes(envelope.content, policy=policy.default),
            )
        )
        return "250 Message accepted for delivery"

    def start(self) -> None:
        # A stopped controller has closed its event loop, so each start gets a new one.
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


class HeldSmtpServer(SmtpServer):
    """A mail server that keeps each sender waiting for its answer to the message until the
    test lets it go: a slow server, without any clock. It counts who is being kept waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.changed = threading.Condition()
        self.arrivals = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.changed:
            self.arrivals += 1
            self.changed.notify_all()
        # In a thread of the loop's executor, so the server itself stays responsive.
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return await super().handle_DATA(server, session, envelope)


class RefusingOnceSmtpServer(SmtpServer):
    """A mail server that answers "try again later" to the first message after reading it."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[Received] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if not self.refused:
            parsed = email.message_from_bytes(envelope.content, policy=policy.default)
            self.refused.append(Received(list(envelope.rcpt_tos), parsed))
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


def build_mail_app(database_url, tmp_path, smtp, environment: str = "test", **config):
    """The app of conftest, sending to the test SMTP server.

    Flask-Mail reads its settings once, at init_app, and suppresses sending
    whenever TESTING is on unless MAIL_SUPPRESS_SEND says otherwise.
    """
    app = create_app(
        {
            "RELAY_ENV": environment,
            "DATABASE_URL": database_url,
            "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "audit-signing.key"),
            "WTF_CSRF_ENABLED": False,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp.port,
            "MAIL_SUPPRESS_SEND": False,
            "MAIL_TIMEOUT": MAIL_TIMEOUT,
            **config,
        }
    )
    initialise(app)
    assert app.extensions["mail"].port == smtp.port
    assert not app.extensions["mail"].suppress
    return app


@pytest.fixture
def mail_app(database_url, tmp_path, smtp):
    app = build_mail_app(database_url, tmp_path, smtp)
    yield app
    app.extensions["relay.engine"].dispose()


@pytest.fixture
def app(mail_app):
    """Every fixture of conftest (session, settings, client, world) uses the mail app here."""
    return mail_app


@pytest.fixture
def admin(session, settings):
    """An administrator only: cheaper than the whole world where no case is needed."""
    email_address, name, password = PEOPLE["administrator"]
    accounts.create_administrator(
        session, settings, email=email_address, name=name, password=password
    )
    return actor_for(session, settings, email_address, password)


def link_token(settings, kind: str, body: str) -> str:
    found = re.findall(re.escape(settings.link(f"/{kind}/")) + r"([A-Za-z0-9_-]+)", body)
    assert len(found) == 1, body
    return found[0]


def outbox_rows(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def assert_discloses_nothing(received: Received, forbidden: list[str]) -> None:
    for part in (received.subject, received.body):
        for word in forbidden:
            pattern = r"(?<!\w)" + re.escape(word) + r"(?!\w)"
            assert not re.search(pattern, part, re.IGNORECASE), (word, part)


# --- invitation ------------------------------------------------------------------------


def test_invitation_mail_reaches_invitee_with_a_working_activation_link(
    app, session, settings, client, smtp, admin
):
    address, name = NEWCOMER
    token = invitations.invite_staff(session, settings, admin, email=address, name=name)
    assert smtp.messages == []

    result = mailer.dispatch(app)

    assert (result.sent, result.failed) == (1, 0)
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.rcpt_tos == [address]
    assert received.message["To"] == address
    assert received.subject == invitations.INVITATION_SUBJECT
    assert link_token(settings, "activate", received.body) == token
    assert name not in received.body

    page = client.get(f"/activate/{link_token(settings, 'activate', received.body)}")
    assert page.status_code == 200
    assert "Set up your account" in page.text
    assert address in page.text


def test_outbox_row_never_holds_the_invitation_link_in_clear(app, session, settings, smtp, admin):
    address, name = NEWCOMER
    token = invitations.invite_staff(session, settings, admin, email=address, name=name)
    link = settings.link(f"/activate/{token}")

    [row] = outbox_rows(session)
    assert row.sent_at is None
    assert row.sealed_body
    for clear in (token, link, "/activate/", invitations.INVITATION_BODY[:30]):
        assert clear.encode() not in row.sealed_body
        assert clear not in row.subject
        assert clear not in row.recipient
    # Nowhere else in the database either (the invitation keeps only a digest).
    with app.extensions["relay.engine"].connect() as connection:
        for table in Base.metadata.sorted_tables:
            for record in connection.execute(table.select()):
                for value in record:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    assert token.encode() not in raw, table.name

    assert mailer.dispatch(app).sent == 1
    assert link_token(settings, "activate", smtp.messages[0].body) == token
    [row] = outbox_rows(session)
    assert row.sealed_body == b""


# --- notices about letters -----------------------------------------------------------


def _forbidden_words(world) -> list[str]:
    names = [name for _email, name, _password in PEOPLE.values()]
    words = [LETTER_TEXT, world.case.reference, *names]
    words += [part for name in names for part in name.split()]
    words += [p.display_name for p in world.case.participants if p.display_name]
    words += ["kettle", "windowsill", "Tuesday", "March", "burglary"]
    return words


def _submit(session, settings, world, text: str = LETTER_TEXT) -> None:
    letter = letters.save_draft(session, world.victim, world.case.id, None, text)
    letters.submit_letter(session, settings, world.victim, letter.id)


def test_new_letter_notice_carries_no_letter_text_reference_or_names(
    app, session, settings, smtp, world
):
    facilitator_email = PEOPLE["facilitator"][0]
    display_names = {p.display_name for p in world.case.participants if p.display_name}
    assert display_names, "the world's parties should have display names to look for"

    _submit(session, settings, world)
    result = mailer.dispatch(app)

    # The world's three invitations (facilitator and both parties) go out with it.
    assert (result.sent, result.failed) == (4, 0)
    invited = [m for m in smtp.messages if m.subject == invitations.INVITATION_SUBJECT]
    assert sorted(m.rcpt_tos[0] for m in invited) == sorted(
        PEOPLE[role][0] for role in ("facilitator", "victim", "offender")
    )
    [received] = [m for m in smtp.messages if m not in invited]
    assert received.rcpt_tos == [facilitator_email]
    assert received.subject == outbox.NOTICE_SUBJECTS[NoticePreference.STANDARD]
    assert received.body == outbox.NOTICE_BODY.format(link=settings.link("/"))
    for message in smtp.messages:
        assert_discloses_nothing(message, _forbidden_words(world))


def test_notice_preference_discreet_changes_subject_and_none_queues_nothing(
    app, session, settings, smtp, world
):
    facilitator_email = PEOPLE["facilitator"][0]
    assert mailer.dispatch(app).sent == 3  # the world's invitations
    smtp.messages.clear()
    accounts.set_notice_preference(session, world.facilitator, "discreet")

    _submit(session, settings, world)
    assert mailer.dispatch(app).sent == 1
    [received] = smtp.messages
    assert received.rcpt_tos == [facilitator_email]
    assert received.subject == outbox.NOTICE_SUBJECTS[NoticePreference.DISCREET]
    assert received.subject != outbox.NOTICE_SUBJECTS[NoticePreference.STANDARD]
    assert "Relay" not in received.subject
    assert_discloses_nothing(received, _forbidden_words(world))

    accounts.set_notice_preference(session, world.facilitator, "none")
    rows_before = session.scalar(select(func.count()).select_from(OutboxMessage))
    _submit(session, settings, world, "A second letter, written after the first one was sent.")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == rows_before
    assert mailer.dispatch(app).sent == 0
    assert len(smtp.messages) == 1


# --- password reset ------------------------------------------------------------------


def test_password_reset_mail_link_and_recovery_code_set_a_new_password(
    app, session, settings, client, smtp, admin
):
    address, name = NEWCOMER
    token = invitations.invite_staff(session, settings, admin, email=address, name=name)
    account = invitations.accept_invitation(session, settings, token=token, password=FIRST_PASSWORD)
    assert mailer.dispatch(app).sent == 1  # the invitation
    smtp.messages.clear()

    password_reset.request_password_reset(session, settings, email="nobody@relay.test")
    assert mailer.dispatch(app).sent == 0
    assert smtp.messages == []

    password_reset.request_password_reset(session, settings, email=f"  {address.upper()} ")
    assert mailer.dispatch(app).sent == 1
    [received] = smtp.messages
    assert received.rcpt_tos == [address]
    assert received.subject == password_reset.RESET_SUBJECT
    assert name not in received.body
    reset_token = link_token(settings, "reset", received.body)

    assert client.get(f"/reset/{reset_token}").status_code == 200
    done = client.post(
        f"/reset/{reset_token}",
        data={
            "recovery_code": account.recovery_code,
            "password": SECOND_PASSWORD,
            "confirm": SECOND_PASSWORD,
        },
    )
    assert done.status_code == 200, done.text
    assert "Your password has been changed." in done.text
    assert account.recovery_code not in done.text  # a new code replaces the typed one

    old = client.post("/sign-in", data={"email": address, "password": FIRST_PASSWORD})
    assert old.status_code == 200
    assert "The e-mail address or password is not right" in old.text
    new = client.post("/sign-in", data={"email": address, "password": SECOND_PASSWORD})
    assert new.status_code == 302
    # The link worked once.
    assert client.get(f"/reset/{reset_token}").status_code == 400


def test_reset_request_sends_nothing_inside_the_request_only_the_worker_sends(
    database_url, tmp_path, smtp
):
    # Sending inside the request made a known address answer later than an unknown one
    # (the mail server's round trips): the timing told which addresses have accounts.
    # The development settings are those the service runs with, not the test ones.
    app = build_mail_app(database_url, tmp_path, smtp, environment="development")
    address, _name, password = PEOPLE["administrator"]
    with app.extensions["relay.sessionmaker"]() as session:
        accounts.create_administrator(
            session, app.extensions["relay.settings"], email=address, name="Ada", password=password
        )
        assert mailer.dispatch(app).sent == 0  # creating an administrator sends nothing
        client = app.test_client()

        answer = client.post("/reset", data={"email": address})

        assert answer.status_code == 200, answer.text
        assert "If there is an account for that address" in answer.text
        assert smtp.messages == []
        [row] = outbox_rows(session)
        assert row.sent_at is None
        assert row.attempts == 0

        assert mailer.dispatch(app).sent == 1

        [received] = smtp.messages
        assert received.rcpt_tos == [address]
        assert received.subject == password_reset.RESET_SUBJECT
        assert outbox_rows(session)[0].sent_at is not None
    app.extensions["relay.engine"].dispose()


# --- the mail server is down -----------------------------------------------------------


def test_mail_waits_while_the_server_is_down_and_is_sent_once_when_it_returns(
    app, session, settings, smtp, admin
):
    address, name = NEWCOMER
    smtp.stop()
    token = invitations.invite_staff(session, settings, admin, email=address, name=name)
    before = utcnow()

    result = mailer.dispatch(app)

    assert (result.sent, result.failed) == (0, 1)
    [row] = outbox_rows(session)
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.next_attempt_at > before
    assert row.claimed_until is None
    assert row.last_error == "ConnectionRefusedError"
    assert row.sealed_body

    smtp.start()
    # Not yet due: the backoff holds even though the server is back.
    assert mailer.dispatch(app).sent == 0
    assert smtp.messages == []

    sessions = app.extensions["relay.sessionmaker"]
    send = mailer.sender_for(app)
    later = row.next_attempt_at + timedelta(seconds=1)
    result = outbox.dispatch_due(
        sessions, settings.outbox_key, send, send_timeout=MAIL_TIMEOUT, now=later
    )

    assert (result.sent, result.failed) == (1, 0)
    [received] = smtp.messages
    assert received.rcpt_tos == [address]
    assert link_token(settings, "activate", received.body) == token
    [row] = outbox_rows(session)
    assert row.sent_at is not None
    assert row.attempts == 2
    assert row.last_error == ""
    assert row.sealed_body == b""

    assert mailer.dispatch(app).sent == 0
    far = later + timedelta(days=30)
    assert (
        outbox.dispatch_due(
            sessions, settings.outbox_key, send, send_timeout=MAIL_TIMEOUT, now=far
        ).sent
        == 0
    )
    assert len(smtp.messages) == 1


def test_silent_mail_server_gives_up_within_mail_timeout(app):
    # A listening socket that never greets: the TCP connection opens, no reply comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        app.config["MAIL_PORT"] = silent.getsockname()[1]
        mail.init_app(app)
        outcome: list[BaseException | None] = []

        def attempt() -> None:
            try:
                mailer.sender_for(app)("someone@relay.test", "Subject", "Body", "reference")
            except Exception as error:  # noqa: BLE001 - recorded for the assertion below
                outcome.append(error)
            else:
                outcome.append(None)

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(app.config["MAIL_TIMEOUT"] + 2)
        gave_up_in_time = not worker.is_alive()
    # Closing the listener resets the waiting connection, so the worker ends either way.
    worker.join(10)
    assert not worker.is_alive()
    assert gave_up_in_time, "sending was still waiting for the silent server"
    assert isinstance(outcome[0], OSError)


# --- one send per message, even with a slow server or a second worker -------------------

# Long enough that the held sender below is never cut off while the test runs.
SLOW_MAIL_TIMEOUT = 60
# A plain SMTP exchange: greeting, EHLO, MAIL, RCPT, DATA, the message, QUIT. A slow but
# working server may take just under the timeout at each of them.
SMTP_STEPS = 7


@pytest.fixture
def held_smtp():
    server = HeldSmtpServer()
    server.start()
    yield server
    server.release.set()
    server.stop()


def test_a_second_worker_does_not_send_again_while_a_slow_server_is_answering(
    database_url, tmp_path, held_smtp
):
    app = build_mail_app(database_url, tmp_path, held_smtp, MAIL_TIMEOUT=SLOW_MAIL_TIMEOUT)
    sessions = app.extensions["relay.sessionmaker"]
    key = app.extensions["relay.settings"].outbox_key
    with sessions() as session:
        outbox.queue_mail(
            session, key, recipient="someone@relay.test", subject="Reset", body="A link."
        )
        session.commit()
    first_result: list[outbox.Dispatch] = []
    second_result: list[outbox.Dispatch] = []
    first = threading.Thread(target=lambda: first_result.append(mailer.dispatch(app)))
    first.start()
    with held_smtp.changed:
        assert held_smtp.changed.wait_for(lambda: held_smtp.arrivals == 1, timeout=30)

    # The next cron run, while the first is still waiting for the server's answers: as late
    # as a slow server may be while every step stays within MAIL_TIMEOUT.
    later = utcnow() + timedelta(seconds=SMTP_STEPS * SLOW_MAIL_TIMEOUT)

    def second_worker() -> None:
        try:
            second_result.append(
                outbox.dispatch_due(
                    sessions,
                    key,
                    mailer.sender_for(app),
                    send_timeout=SLOW_MAIL_TIMEOUT,
                    now=later,
                )
            )
        finally:
            with held_smtp.changed:
                held_smtp.changed.notify_all()

    second = threading.Thread(target=second_worker)
    second.start()
    # Either the second worker is done, or it too is waiting at the server (a duplicate).
    with held_smtp.changed:
        assert held_smtp.changed.wait_for(
            lambda: not second.is_alive() or held_smtp.arrivals > 1, timeout=30
        )
    arrivals_while_held = held_smtp.arrivals
    held_smtp.release.set()
    first.join(30)
    second.join(30)

    assert arrivals_while_held == 1, "the second worker sent the message again"
    assert len(held_smtp.messages) == 1
    assert (first_result[0].sent, first_result[0].failed) == (1, 0)
    assert (second_result[0].sent, second_result[0].failed) == (0, 0)
    with sessions() as session:
        [row] = outbox_rows(session)
        assert row.sent_at is not None
        assert row.attempts == 1
    app.extensions["relay.engine"].dispose()


@pytest.fixture
def refusing_smtp():
    server = RefusingOnceSmtpServer()
    server.start()
    yield server
    server.stop()


def test_a_retried_message_keeps_its_message_id(database_url, tmp_path, refusing_smtp):
    # A server that took a message but answered badly may deliver it anyway; with the same
    # Message-ID on the retry, the receiving side sees one message, not two.
    app = build_mail_app(database_url, tmp_path, refusing_smtp)
    sessions = app.extensions["relay.sessionmaker"]
    key = app.extensions["relay.settings"].outbox_key
    with sessions() as session:
        outbox.queue_mail(
            session, key, recipient="someone@relay.test", subject="Reset", body="A link."
        )
        session.commit()

    refused = mailer.dispatch(app)
    assert (refused.sent, refused.failed) == (0, 1)
    with sessions() as session:
        [row] = outbox_rows(session)
        assert row.last_error == "SMTPDataError"
        retry_at = row.next_attempt_at + timedelta(seconds=1)
    result = outbox.dispatch_due(
        sessions, key, mailer.sender_for(app), send_timeout=MAIL_TIMEOUT, now=retry_at
    )

    assert (result.sent, result.failed) == (1, 0)
    [first_attempt] = refusing_smtp.refused
    [retried] = refusing_smtp.messages
    first_id = first_attempt.message["Message-ID"]
    assert retried.message["Message-ID"] == first_id
    # Nothing in it but a keyed digest and the sender's domain.
    assert re.fullmatch(r"<[0-9a-f]{32}@relay\.invalid>", first_id), first_id
    assert first_id == f"<{outbox.message_reference(key, row.id)}@relay.invalid>"
    app.extensions["relay.engine"].dispose()


def test_a_message_body_moved_to_another_row_is_not_sent(app, session, settings, smtp):
    for recipient in ("first@relay.test", "second@relay.test"):
        outbox.queue_mail(
            session,
            settings.outbox_key,
            recipient=recipient,
            subject="Reset",
            body=f"The link for {recipient}.",
        )
    session.commit()
    first, second = outbox_rows(session)
    # A database writer moves the first person's reset link onto the row for their address.
    second.sealed_body = first.sealed_body
    session.commit()

    result = mailer.dispatch(app)

    assert (result.sent, result.failed) == (1, 1)
    [received] = smtp.messages
    assert received.rcpt_tos == ["first@relay.test"]
    assert received.body.strip() == "The link for first@relay.test."
    first, second = outbox_rows(session)
    assert second.sent_at is None
    assert second.last_error == crypto.DecryptionFailed.__name__
    assert second.sealed_body  # kept for someone to look at; it will never open here
    assert first.sealed_body == b""
