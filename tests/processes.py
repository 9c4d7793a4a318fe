"""Run the real service under gunicorn in a subprocess, the way the Procfile does."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from tests.helpers import AUTH_TOKEN, sign

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
LOG_FILES: list[Path] = []  # every service log written in this session, scanned for secrets at the end


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_pids(parent: int) -> list[int]:
    """PIDs whose parent is `parent`, read from /proc (no procps needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def request_taken_by_a_worker(port: int) -> bool:
    """True when a connection to `port` is open and none waits to be accepted: a worker is on it.

    Read from /proc/net/tcp, where a listening socket's rx_queue is its accept backlog.
    """
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    ours = [row for row in rows if int(row[1].rsplit(":", 1)[1], 16) == port]
    backlog = sum(int(row[4].split(":")[1], 16) for row in ours if row[3] == "0A")  # 0A: LISTEN
    return backlog == 0 and any(row[3] == "01" for row in ours)  # 01: ESTABLISHED


class Gunicorn:
    """The Procfile's `web:` command with a given environment; a context manager."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        port: int | None = None,
        args: tuple[str, ...] = (),
        app: str = "wsgi:app",
        health_path: str = "/healthz",
        cwd: Path = ROOT,
    ):
        """Prepare (not start) a gunicorn serving `app` on `port` with `env` layered over a minimal base."""
        self.port = port or free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "2",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            **env,
        }
        self.log_path = log_path
        LOG_FILES.append(log_path)
        self.args = args
        self.app = app
        self.health_path = health_path
        self.cwd = cwd  # the checkout whose code runs (bench/ab.py runs several)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The events URL Twilio would be configured with."""
        return f"http://127.0.0.1:{self.port}/taskrouter/events"

    def start(self, wait: float = 30.0) -> Gunicorn:
        """Start gunicorn and wait until /healthz answers."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [GUNICORN, self.app, *self.args], cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}{self.health_path}", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not become healthy; see {self.log_path}")

    def post(self, fields: dict[str, str], timeout: float = 10.0, **kwargs: Any) -> requests.Response:
        """Post a TaskRouter event signed for this instance's URL."""
        headers = {"X-Twilio-Signature": sign(fields, self.url)}
        return requests.post(self.url, data=fields, headers=headers, timeout=timeout, **kwargs)

    def worker_pids(self) -> list[int]:
        """PIDs of the gunicorn workers (children of the master)."""
        assert self.process is not None
        return child_pids(self.process.pid)

    def signal(self, signum: int) -> None:
        """Send `signum` to the master."""
        assert self.process is not None
        self.process.send_signal(signum)

    def kill_all(self) -> None:
        """SIGKILL the master and its workers at once, as a crash would."""
        assert self.process is not None
        for pid in [self.process.pid, *child_pids(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 35.0) -> int:
        """SIGTERM and wait; return the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_all()
        return self.process.returncode

    def __enter__(self) -> Gunicorn:
        """Start on entering the block."""
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        """Stop on leaving the block."""
        self.stop()


def post_all(
    services: list[Gunicorn], events: list[dict[str, str]], concurrency: int = 8, patience: float = 30.0
) -> list[int]:
    """Post each event (round-robin over `services`) like a patient Twilio; return the final statuses.

    A refused connection or a 503 is retried until `patience` runs out, as Twilio retries a callback.
    """

    def deliver(index: int) -> int:
        service = services[index % len(services)]
        deadline = time.monotonic() + patience
        while True:
            try:
                status = service.post(events[index]).status_code
                if status != 503 or time.monotonic() > deadline:
                    return status
            except requests.RequestException:
                if time.monotonic() > deadline:
                    return 599
            time.sleep(0.2)

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(deliver, range(len(events))))


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it is truthy or `timeout` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return result


def flask_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi ARGS` in a fresh process with nothing but PATH and `env` in its environment."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    return subprocess.run(command, cwd=ROOT, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True)


# A database that does not answer: a lookup that touched it would fail.
NO_DATABASE = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
