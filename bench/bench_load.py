"""The load test: gunicorn with 2 workers, in a process of its own, and a small threaded
client here, 50 users for 30 s (BENCH_LOAD_SECONDS) each opening a letter sent to them,
again and again. The baseline is the bare insert + select app under the same gunicorn and
the same load, run straight after (30 s each, so one round, not interleaved).

Requests a second, latency percentiles, errors (anything but the page) and the peak
memory of the workers (VmHWM, the resident high-water mark, from /proc).
"""

import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from bench.baseline import Baseline
from bench.bench_steps import RelayApp

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "30"))
USERS = 50
WORKERS = 2
LETTERS = 10  # delivered to the victim; each user opens one of them over and over


@dataclass
class Load:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    worker_peak_bytes: int = 0
    first_error: str = ""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, part: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(part * len(ordered)))]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(port: int, method: str, path: str, body: str = "", cookie: str = ""):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


class Server:
    """gunicorn serving `target` on a free port, in its own process."""

    def __init__(self, target: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                target,
            ],
            env={**os.environ, **env},
        )
        for _ in range(300):  # up to about 30 s to start
            try:
                _request(self.port, "GET", "/")
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not start: {target}")

    def worker_peak_bytes(self) -> int:
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total = 0
        for child in children:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total = max(total, int(line.split()[1]) * 1024)
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def drive(server: Server, calls: list) -> Load:
    """USERS threads, each repeating its call until SECONDS have passed."""
    load = Load()
    lock = threading.Lock()
    stop_at = time.perf_counter() + SECONDS

    def user(call) -> None:
        latencies, errors, first = [], 0, ""
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            try:
                ok = call()
            except OSError as error:
                ok = str(error)
            latencies.append(time.perf_counter() - start)
            if ok is not True:
                errors += 1
                first = first or str(ok)
        with lock:
            load.latencies += latencies
            load.errors += errors
            load.first_error = load.first_error or first

    threads = [threading.Thread(target=user, args=(call,)) for call in calls]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - started
    load.requests = len(load.latencies)
    load.worker_peak_bytes = server.worker_peak_bytes()
    return load


def relay_load(databases) -> Load:
    """A world whose victim has LETTERS delivered, then 50 of their sessions opening them."""
    url = databases.new("load")
    folder = databases.folder / "load"
    folder.mkdir()
    relay = RelayApp(url, folder)
    try:
        letters = []
        for _ in range(LETTERS):
            letter_id = relay.submit()
            relay.approve(letter_id)
            letters.append(letter_id)
        email, password = relay.people["victim"][0], relay.people["victim"][2]
    finally:
        relay.close()
    server = Server(
        "bench.load_app:relay()",
        {"BENCH_LOAD_URL": url, "BENCH_LOAD_KEY": str(folder / "audit-signing.key")},
    )
    try:
        form = urllib.parse.urlencode({"email": email, "password": password})
        calls = []
        for index in range(USERS):
            response = _request(server.port, "POST", "/sign-in", form)
            assert response.status == 302, response.status
            cookie = "; ".join(
                header.split(";", 1)[0] for header in response.msg.get_all("Set-Cookie")
            )
            path = f"/my/received/{letters[index % LETTERS]}/open"

            def call(path=path, cookie=cookie):
                response = _request(server.port, "POST", path, cookie=cookie)
                return response.status == 200 or f"{path}: {response.status}"

            calls.append(call)
        return drive(server, calls)
    finally:
        server.stop()


def bare_load(databases) -> Load:
    url = databases.new("load_bare")
    Baseline(url).close()  # its tables, made once before the workers start
    server = Server("bench.load_app:bare()", {"BENCH_LOAD_URL": url})
    try:

        def call():
            response = _request(server.port, "POST", "/items")
            return response.status == 200 or f"/items: {response.status}"

        return drive(server, [call] * USERS)
    finally:
        server.stop()
