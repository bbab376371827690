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

The shape of it: one SMTP server and one Chromium for the whole run (under pytest-xdist,
for each worker process). Each test gets its own SQLite file, a copy of the run's migrated
one, before gunicorn starts on it in a process of its own on a free 127.0.0.1 port of the
worker's own block (tests/browser/server.py; its output is in `gunicorn.log` in the test's
tmp_path), and a new browser context for each person in it, as if each had their own
device. The test builds its world through the services on the same file, from its own
process, as `flask demo` would beside a running server; what it learns from the server,
it reads from that file or from the server's log.
"""

import email
import re
import shutil
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
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
from tests.browser.server import gunicorn
from tests.browser.server import logged_csp_violations
from tests.browser.server import wait_until_stopped
from tests.concurrency.harness import Server
from tests.conftest import PEOPLE as SERVICE_PEOPLE
from tests.conftest import POSTGRES
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

    def link(self, to: str, path: str) -> str:
        """The newest link to `path` (like "/activate/") in mail to `to`, as a person finds it.

        Nothing to wait for: the page that queued the mail has answered, so its transaction
        has committed; and the worker returns only once the SMTP server has accepted (and so
        caught) each message.
        """
        assert self.send_outbox is not None, "no app is being served"
        dispatched = self.send_outbox()
        pattern = re.compile(r"https?://\S+" + re.escape(path) + r"\S*")
        with self._lock:
            mails = [m for m in self.messages if to in m.to]
        for mail in reversed(mails):
            found = pattern.search(mail.body)
            if found:
                return found.group(0)
        raise AssertionError(
            f"no mail to {to} with a link to {path} (the outbox worker: {dispatched}): {mails}"
        )


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


# --- the site "Leave this site" goes to ---------------------------------------------------


class _Weather(BaseHTTPRequestHandler):
    """An everyday site to leave for. The real one cannot load here (no internet), and the
    browser reaches it by following /leave's redirect, which a Playwright route does not
    catch: so a small server of its own stands in for it."""

    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"<!doctype html><title>Weather</title><h1>Weather</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture(scope="session")
def exit_site() -> Iterator[str]:
    """The address of the stand-in, for QUICK_EXIT_URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Weather)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/weather"
    server.shutdown()
    server.server_close()


# --- the live server -------------------------------------------------------------------


@pytest.fixture
def app_config() -> dict:
    """Settings for this test's app on top of the test environment's; a test module that
    needs a rule turned back on overrides this fixture."""
    return {}


@dataclass
class Site:
    """The app this test is served by gunicorn, and the same app in the test's own process
    (same settings, same database file) to build its world through the services and to
    run the outbox worker, as `flask demo` and `flask outbox send` would beside a server."""

    app: Flask
    url: str
    server: Server

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.app.extensions["relay.sessionmaker"]() as session:
            yield session

    @property
    def settings(self) -> ServiceSettings:
        return self.app.extensions["relay.settings"]

    def csp_violations(self) -> list[str]:
        """The directives of the Content-Security-Policy reports the server received."""
        return logged_csp_violations(self.server)


@pytest.fixture(scope="session")
def stopping_servers() -> Iterator[None]:
    """Each test's server is stopped in the background (server.py `stop_soon`); the run
    ends once they all have."""
    yield
    wait_until_stopped()


@pytest.fixture
def site(
    stopping_servers: None,
    smtp_server: Mailbox,
    exit_site: str,
    app_config: dict,
    tmp_path: Path,
    migrated_database,
) -> Iterator[Site]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        "RELAY_ENV": "test",
        # Always a file of its own: the server and the test each open it.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'relay.sqlite3'}",
        "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "audit-signing.key"),
        "WTF_CSRF_ENABLED": True,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        # Flask-Mail suppresses sending whenever TESTING is on, unless told not to.
        "MAIL_SUPPRESS_SEND": False,
        "BASE_URL": url,
        "QUICK_EXIT_URL": exit_site,
        **app_config,
    }
    if not POSTGRES:
        # A copy of the run's migrated file (tests/conftest.py), which `initialise` finds
        # current: migrating a new file for each test cost a second of each.
        shutil.copy(migrated_database, tmp_path / "relay.sqlite3")
    app = create_app(config)
    # The database file and the signing key exist before the server starts, as after
    # `flask init`.
    initialise(app)
    try:
        with gunicorn(config, port, tmp_path / "gunicorn.log") as running:
            smtp_server.send_outbox = lambda: mailer.dispatch(app)
            yield Site(app, url, running)
    finally:
        smtp_server.send_outbox = None
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


def build_world(site: Site, settings: ServiceSettings | None = None) -> demo.World:
    """An active case with an administrator, a facilitator and both parties signed up
    (victim shown as "Jo", offender as "Chris"), built under `settings` (the site's own
    unless given)."""
    with site.session() as session:
        return demo.build_active_case(
            session, settings or site.settings, PEOPLE, reference="RJ-BROWSER-1"
        )


@pytest.fixture
def world(site: Site) -> demo.World:
    """The world of `build_world`, for the journeys that start there."""
    return build_world(site)


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
