"""The race tests' own small HTTP client, the gunicorn process and the racing threads."""

import http.client
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
WORKERS = 4
# Generous for a loaded 2-core machine; only ever reached when something hangs.
REQUEST_TIMEOUT = 60
# Tries, each waiting up to POLL_SECONDS for the server process to exit, before giving up.
READY_TRIES = 300
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    location: str = ""


def _request(
    host: str, port: int, method: str, path: str, *, form=None, cookie="", ready=None
) -> tuple[Reply, list[str]]:
    connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
    try:
        connection.connect()
        if ready is not None:
            ready.wait()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if cookie:
            headers["Cookie"] = cookie
        body = urllib.parse.urlencode(form) if form is not None else None
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        reply = Reply(response.status, text, response.getheader("Location") or "")
        return reply, response.headers.get_all("Set-Cookie") or []
    finally:
        connection.close()


@dataclass(frozen=True)
class Browser:
    """One signed-in person's cookie, as their own browser would hold it."""

    host: str
    port: int
    cookie: str

    def post(self, path: str, form: dict[str, str] | None = None, *, ready=None) -> Reply:
        """POST `form` to `path`. With `ready` (a Barrier) it connects first and then
        waits, so every racing request is in a worker's hands when they all go."""
        reply, _cookies = _request(
            self.host, self.port, "POST", path, form=form or {}, cookie=self.cookie, ready=ready
        )
        return reply


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    log_path: Path

    def get(self, path: str) -> Reply:
        return _request(self.host, self.port, "GET", path)[0]

    def sign_in(self, email: str, password: str) -> Browser:
        """Sign in through the page, as a person does. Tests keep the cookie for every
        round: Argon2id runs once per sign-in, and the session is a server-side row."""
        reply, headers = _request(
            self.host, self.port, "POST", "/sign-in", form={"email": email, "password": password}
        )
        assert reply.status == 302, f"sign-in as {email} answered {reply.status}"
        cookies = SimpleCookie()
        for header in headers:
            cookies.load(header)
        assert cookies, f"sign-in as {email} set no cookie"
        return Browser(
            self.host, self.port, "; ".join(f"{k}={m.value}" for k, m in cookies.items())
        )

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def unhandled_errors(self) -> int:
        """How many requests the app logged as unhandled (each one a 500)."""
        return self.log_path.read_text(errors="replace").count("unhandled ")


def start_gunicorn(server: Server, environment: dict[str, str]) -> subprocess.Popen:
    with server.log_path.open("wb") as log:
        return subprocess.Popen(
            [
                str(GUNICORN),
                "--chdir",
                str(ROOT),
                "--workers",
                str(WORKERS),
                "--worker-class",
                "sync",
                "--bind",
                f"{server.host}:{server.port}",
                "--timeout",
                str(REQUEST_TIMEOUT),
                "--graceful-timeout",
                "5",
                # Nothing to control from outside, and two runs must not share one socket.
                "--no-control-socket",
                "tests.concurrency.wsgi:make_app()",
            ],
            cwd=ROOT,
            env={**os.environ, **environment},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_until_ready(server: Server, process: subprocess.Popen) -> None:
    """Poll the sign-in page a bounded number of times; fail at once if gunicorn exits."""
    for _ in range(READY_TRIES):
        try:
            if server.get("/sign-in").status == 200:
                return
        except OSError:
            pass  # not listening yet
        try:
            process.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
    raise RuntimeError(f"gunicorn did not answer on port {server.port}:\n{server.log_tail()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def race(*actions: Callable[[threading.Barrier], object]) -> list:
    """Run each action in its own thread. Each gets one Barrier to wait on just before it
    acts, so that they all act at once. An action that raises gives back its exception."""
    ready = threading.Barrier(len(actions), timeout=REQUEST_TIMEOUT)
    results: list = [None] * len(actions)

    def run(index: int, action) -> None:
        try:
            results[index] = action(ready)
        except Exception as error:  # noqa: BLE001 - the test reports it as a violation
            ready.abort()
            results[index] = error

    threads = [
        threading.Thread(target=run, args=(index, action), daemon=True)
        for index, action in enumerate(actions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT * 2)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a racing request did not finish")
    return results
