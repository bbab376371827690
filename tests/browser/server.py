"""The browser tests' live server: gunicorn, the production server, in its own process.

Not a thread inside pytest: there, the server's own noise (a ResourceWarning when a
busy machine drops a connection mid-file) met `filterwarnings = error` and failed
whichever test was running. Its output goes to a log file instead, which the tests read
for what the server logged (see `csp_violations`) and which is shown when it fails to
start. The process helpers are the race tests' (tests/concurrency/harness.py).
"""

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.browser.wsgi import CONFIG_VARIABLE
from tests.concurrency.harness import GUNICORN
from tests.concurrency.harness import ROOT
from tests.concurrency.harness import Server
from tests.concurrency.harness import stop
from tests.concurrency.harness import wait_until_ready

# A thread for each server told to stop, waiting for its process to end (`stop_soon`).
_STOPPING: list[threading.Thread] = []

# The line relay/web/headers.py `record_csp_violation` logs for each report a browser sends.
_VIOLATION = re.compile(r"content security policy violation: (\S*)")


@contextmanager
def gunicorn(config: dict, port: int, log_path: Path) -> Iterator[Server]:
    """gunicorn serving an app made from `config` on 127.0.0.1:`port`, until the block ends.

    One worker with threads (gthread): a browser keeps connections open that it may never
    send a request on, which would hold a sync worker until its timeout.
    """
    server = Server("127.0.0.1", port, log_path)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(GUNICORN),
                "--chdir",
                str(ROOT),
                "--bind",
                f"{server.host}:{server.port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--graceful-timeout",
                "5",
                # Nothing to control from outside, and two runs must not share one socket.
                "--no-control-socket",
                "tests.browser.wsgi:make_app()",
            ],
            cwd=ROOT,
            env={**os.environ, CONFIG_VARIABLE: json.dumps(config)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(server, process)
        yield server
    finally:
        stop_soon(process)


def stop_soon(process: subprocess.Popen) -> None:
    """Stop gunicorn as before (SIGTERM, then SIGKILL if it hangs), waiting in the background.

    Its graceful stop waits for the worker's next look at its sockets, up to a second; by
    then the test has closed its browser contexts and has every answer it waited for, and
    the next test's server is on another port and file. `wait_until_stopped` waits for
    them all, at the end of the run.
    """
    thread = threading.Thread(target=stop, args=(process,), name=f"stop gunicorn {process.pid}")
    thread.start()
    _STOPPING.append(thread)


def wait_until_stopped() -> None:
    """Every server `stop_soon` was asked to stop has ended (or been killed)."""
    while _STOPPING:
        _STOPPING.pop().join()


def logged_csp_violations(server: Server) -> list[str]:
    """The directive of each Content-Security-Policy report the server has logged."""
    return _VIOLATION.findall(server.log_path.read_text(errors="replace"))
