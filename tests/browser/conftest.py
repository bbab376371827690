"""Relay in a real browser: a live server, a real SMTP server and headless Chromium.

Run only these tests:

    .venv/bin/python -m pytest tests/browser

Look at every page the journeys reach, at 1280 and 375 px wide:

    SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser
    # PNGs in tests/browser/screenshots/<test>/ (git ignores the folder)

They need Chromium (Debian: `apt-get install chromium`, used from /usr/bin/chromium;
elsewhere `.venv/bin/playwright install chromium`) and axe-core in node_modules
(`npm ci` at the repository root). `make test` sees to both. A missing browser or
axe-core fails the run: these tests are never skipped.

The shape of it: one werkzeug server on a free 127.0.0.1 port and one Chromium for
the whole run; each test gets its own app with its own migrated SQLite file behind
that server (so the address, and every e-mailed link, stays the same), and a new
browser context for each person in it, as if each had their own device.
"""

import email
import re
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import ConsoleMessage
from playwright.sync_api import Page
from playwright.sync_api import Response
from playwright.sync_api import sync_playwright
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from relay import create_app
from relay import demo
from relay import mailer
from relay.cli import initialise
from relay.services import accounts
from relay.services import letters
from relay.services.settings import ServiceSettings
from tests.browser import checks
from tests.browser.pages import Keyboard
from tests.browser.pages import Mouse
from tests.browser.pages import Person
from tests.conftest import PEOPLE as SERVICE_PEOPLE
from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The people of tests/conftest.py, at addresses the invitation forms accept (their e-mail
# check refuses the reserved .test domain, as it should for real mail).
PEOPLE = {
    role: (address.replace("@relay.test", "@relay.example"), name, password)
    for role, (address, name, password) in SERVICE_PEOPLE.items()
}
# Long enough for a slow CI machine, short enough that a missing element fails quickly.
TIMEOUT_MS = 10_000


# --- mail ----------------------------------------------------------------------------


@dataclass
class Mail:
    to: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()


@dataclass
class Mailbox:
    """Every message the app sends, caught by a real aiosmtpd server.

    The app sends mail only from its outbox worker, never inside a request; `send_outbox`
    stands for that worker (the `site` fixture sets it to run the outbox of the app being
    served), and `link` runs it before each look, as a cron job would have by then.
    """

    port: int = field(default_factory=free_port)
    messages: list[Mail] = field(default_factory=list)
    send_outbox: Callable[[], object] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(Mail(list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def link(self, to: str, path: str, timeout: float = 5.0) -> str:
        """The newest link to `path` (like "/activate/") in mail to `to`, as a person finds it."""
        pattern = re.compile(r"https?://\S+" + re.escape(path) + r"\S*")
        deadline = time.monotonic() + timeout
        while True:
            if self.send_outbox is not None:
                self.send_outbox()
            with self._lock:
                mails = [m for m in self.messages if to in m.to]
            for mail in reversed(mails):
                found = pattern.search(mail.body)
                if found:
                    return found.group(0)
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {to} with a link to {path}: {mails}")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    yield mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: Mailbox) -> Mailbox:
    smtp_server.clear()
    return smtp_server


# --- the live server -------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:
        """One line per request is noise here; errors are still logged."""


class LiveServer:
    """One server for the whole run; each test puts its own app behind it."""

    def __init__(self) -> None:
        self.app: Flask | None = None
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _wsgi(self, environ, start_response):
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"No app is being served between tests"]
        return self.app(environ, start_response)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Site:
    """The app this test is served, and a way to build its world through the services."""

    app: Flask
    url: str

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.app.extensions["relay.sessionmaker"]() as session:
            yield session

    @property
    def settings(self) -> ServiceSettings:
        return self.app.extensions["relay.settings"]


@pytest.fixture
def site(live_server: LiveServer, smtp_server: Mailbox, tmp_path: Path) -> Iterator[Site]:
    app = create_app(
        {
            "RELAY_ENV": "test",
            # Always a file of its own: the server thread and the test share it.
            "DATABASE_URL": f"sqlite:///{tmp_path / 'relay.sqlite3'}",
            "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "audit-signing.key"),
            "WTF_CSRF_ENABLED": True,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_server.port,
            # Flask-Mail suppresses sending whenever TESTING is on, unless told not to.
            "MAIL_SUPPRESS_SEND": False,
            "BASE_URL": live_server.url,
        }
    )
    initialise(app)
    live_server.app = app
    smtp_server.send_outbox = lambda: mailer.dispatch(app)
    yield Site(app, live_server.url)
    smtp_server.send_outbox = None
    live_server.app = None
    app.extensions["relay.engine"].dispose()


# --- the world, through the services ----------------------------------------------------


@pytest.fixture
def administrator(site: Site) -> None:
    """The first administrator, made as `flask create-admin` makes one."""
    email_address, name, password = PEOPLE["administrator"]
    with site.session() as session:
        accounts.create_administrator(
            session, site.settings, email=email_address, name=name, password=password
        )


@pytest.fixture
def world(site: Site) -> demo.World:
    """An active case with an administrator, a facilitator and both parties signed up
    (victim shown as "Jo", offender as "Chris"), for the journeys that start there."""
    with site.session() as session:
        return demo.build_active_case(session, site.settings, PEOPLE, reference="RJ-BROWSER-1")


@pytest.fixture
def send_letter(site: Site, world: demo.World) -> Callable[[str, str], None]:
    """`send_letter("victim", text)`: a letter sent to the facilitator through the services,
    for tests about the pages that come after it."""

    def send(role: str, text: str) -> None:
        email_address, _name, password = PEOPLE[role]
        with site.session() as session:
            author = demo.actor_for(session, site.settings, email_address, password)
            draft = letters.save_draft(session, author, world.case.id, None, text)
            letters.submit_letter(session, site.settings, author, draft.id)

    return send


# --- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM) if CHROMIUM.exists() else None,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield launched
        launched.close()


@dataclass
class Troubles:
    """What a page did wrong that no assertion was looking at: a 5xx answer, a stylesheet or
    script that failed to load, a console error (a Content-Security-Policy refusal shows up
    there) or an uncaught script error. A 404 page on purpose is not one of them."""

    found: list[str] = field(default_factory=list)

    def _response(self, response: Response) -> None:
        page_itself = response.request.resource_type == "document"
        if response.status >= 500 or (response.status >= 400 and not page_itself):
            self.found.append(f"{response.status} from {response.url}")

    def _console(self, message: ConsoleMessage) -> None:
        # Failed loads are judged above, by what failed.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.found.append(f"console: {message.text} ({message.location.get('url')})")

    def watch(self, page: Page) -> None:
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.found.append(f"script error: {error}"))


@pytest.fixture
def people(
    browser: Browser, site: Site, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Person]]:
    """`people("victim")`: that person in their own browser context, not yet signed in.

    `javascript=False` turns scripts off; `keyboard=True` makes them use only the keyboard.
    """
    contexts: list[BrowserContext] = []
    troubles = Troubles()
    recorder = checks.PageRecorder(request.node.name)

    def open_person(role: str, *, javascript: bool = True, keyboard: bool = False) -> Person:
        context = browser.new_context(
            base_url=site.url,
            viewport=checks.DESKTOP,
            java_script_enabled=javascript,
            locale="en-GB",
        )
        context.set_default_timeout(TIMEOUT_MS)
        if javascript:
            checks.serve_axe(context)
        contexts.append(context)
        page = context.new_page()
        troubles.watch(page)
        email_address, _name, password = PEOPLE[role]
        driver = Keyboard(page) if keyboard else Mouse(page)
        return Person(
            role=role,
            email=email_address,
            password=password,
            page=page,
            ui=driver,
            # axe needs scripts; and the keyboard run's pages are those of the mouse run.
            after_navigation=recorder.checker(accessibility=javascript and not keyboard),
        )

    yield open_person
    for context in contexts:
        context.close()
    assert not troubles.found, "\n".join(troubles.found)
