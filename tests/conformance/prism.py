"""Prism (Stoplight's OpenAPI mock server and validating proxy) as a test fixture: start, read its verdicts, stop.

Prism checks every request and response against Twilio's own description of TaskRouter v1. With `--errors` a
request it rejects is answered 422 (401 without credentials) instead of being served, and a response it rejects
becomes a 500; either way it also says so in its log. `checkpoint()` reads that log exactly up to the present.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PRISM_BIN = HERE / "node_modules" / ".bin" / "prism"
# Twilio's description, copied in unchanged with its MIT license (twilio-oai/README.md says from where).
SPEC = HERE / "twilio-oai" / "twilio_taskrouter_v1.json"
INSTALL = "npm ci --prefix tests/conformance"
# CI sets REQUIRE_PRISM=1 (and CI=true) so a missing Prism or description fails the run instead of skipping.
REQUIRE = os.environ.get("REQUIRE_PRISM") == "1"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true")
START_TIMEOUT = 60.0
_LEVEL = re.compile(r"(?:✖|⚠|ℹ|▶|…)\s+(fatal|error|warning|info|start|awaiting)\s")
_RECEIVED = re.compile(r"\[HTTP SERVER\] (\w+) (\S+) .*Request received")


def require_prism() -> None:
    """Skip (or, in CI, fail) with the reason when Prism or Twilio's description is missing."""
    if not SPEC.is_file():
        reason = f"Twilio's OpenAPI description is missing: expected {SPEC}"
        if REQUIRE or IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    if not PRISM_BIN.exists() or shutil.which("node") is None:
        reason = f"Prism is not installed: run `{INSTALL}` (needs Node.js >= 18.20 and npm)"
        if REQUIRE:
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class Said:
    """What Prism logged between two checkpoints."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of each request it received

    def paths(self, method: str, contains: str) -> list[str]:
        """The paths of the received `method` requests that contain `contains`."""
        return [path for verb, path in self.requests if verb == method.lower() and contains in path]

    def assert_clean(self) -> Said:
        """Fail on anything Twilio's description rejected: a violation, an error answer, even a warning."""
        assert self.errors == [], "Prism rejected requests or responses:\n" + "\n".join(self.errors)
        assert self.warnings == [], "Prism warned:\n" + "\n".join(self.warnings)
        return self


class Prism:
    """One Prism process on a free local port; its log goes to `log_path`."""

    def __init__(self, mode: str, *args: str, log_path: Path) -> None:
        """`mode` is mock or proxy; `args` follow the description (the proxy's upstream URL)."""
        self.command = [str(PRISM_BIN), mode, str(SPEC), *args, "--errors", "--host", "127.0.0.1"]
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.offset = 0

    def start(self) -> Prism:
        """Start and wait until it listens; a port taken in between (a race with other processes) is retried."""
        for _ in range(3):
            port = _free_port()
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [*self.command, "--port", str(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, "FORCE_COLOR": "0", "NO_COLOR": "1"},  # plain text to parse
                )
            if self._listening(f"Prism is listening on http://127.0.0.1:{port}"):
                self.url = f"http://127.0.0.1:{port}"
                self.offset = self.log_path.stat().st_size
                return self
            self.stop()
        raise RuntimeError("Prism did not start:\n" + self.log_path.read_text(errors="replace")[-3000:])

    def _listening(self, line: str) -> bool:
        """Wait for Prism's own 'listening' line (a bare open port could be another process's)."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            if line in self.log_path.read_text(errors="replace"):
                return True
            time.sleep(0.05)  # polling the condition, not waiting a guessed time
        return False

    def checkpoint(self) -> Said:
        """Everything Prism logged since the last checkpoint, complete up to now.

        Prism logs a request's verdict before it answers, through an ordered stream. So once the line for a
        request sent now appears, every line about the requests answered before it is in the file too.
        """
        token = uuid.uuid4().hex
        marker = f"/__checkpoint__/{token}"
        try:
            urllib.request.urlopen(self.url + marker, timeout=10).close()  # noqa: S310 - our own local Prism
        except urllib.error.HTTPError as err:
            err.close()  # 404: no such path in the description, which is the point
        needle, deadline = f"{marker} ".encode(), time.monotonic() + 10
        while True:
            data = self.log_path.read_bytes()
            # Its second line ("Request terminated ...: no path matched") is the last one about it.
            done = data.find(needle, data.find(needle) + 1)
            if done >= 0 and data.find(b"\n", done) >= 0:
                break
            assert time.monotonic() < deadline, f"Prism never logged {marker}"
            time.sleep(0.02)
        end = data.find(b"\n", done) + 1
        text, self.offset = data[self.offset : end].decode(errors="replace"), end
        return _parse(line for line in text.splitlines() if "/__checkpoint__/" not in line)

    def stop(self) -> None:
        """Stop the process this fixture started (only that one)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _parse(lines: Iterable[str]) -> Said:
    """Sort Prism's log lines into errors, warnings and received requests."""
    said = Said()
    for line in lines:
        level = _LEVEL.search(line)
        received = _RECEIVED.search(line)
        if received:
            said.requests.append((received.group(1), received.group(2)))
        if level and level.group(1) in ("fatal", "error"):
            said.errors.append(line)
        elif level and level.group(1) == "warning":
            said.warnings.append(line)
    return said


def _free_port() -> int:
    """A port free at this moment (Prism binds it a little later; start() retries a lost race)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
