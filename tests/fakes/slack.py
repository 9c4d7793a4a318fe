"""A local HTTP server playing Slack's incoming webhook, with outages on demand.

It can answer ok, 500, 429 with Retry-After, answer slower than the client's timeout, or be
down (its port closed, so connections are refused). Every message that reached it is kept.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The path is the secret part of a webhook URL; tests grep logs for it.
HOOK_PATH = "/services/T0GUARD/B0GUARD/SECRETHOOKPATH0123456789"
RESPONSE_PATH = "/actions/T0GUARD"  # where Slack's response_url points: hooks.slack.com/actions/…
_SID = re.compile(r"WK[0-9a-f]{32}")
_KINDS = {
    ":rotating_light:": "drift",
    ":sos:": "urgent",
    ":white_check_mark:": "resolved",
    ":repeat:": "reminder",
    ":broom:": "remediation",
    ":warning:": "no_email",
}


class _Server(ThreadingHTTPServer):
    """Threading server that can rebind its port right after a restart."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FakeSlack:
    """The stub; `flaky` makes about half the answers fail, `down()` refuses connections."""

    def __init__(self, slow_seconds: float = 2.0, latency: float = 0.0, seed: int = 7) -> None:
        """Start healthy; `latency` delays every answer (a slow but working Slack)."""
        self.slow_seconds = slow_seconds
        self.latency = latency
        self.flaky = False
        self.scripted: list[str] = []  # answers to give first, in order ("429", "500", "ok", "slow")
        self.failing_answers = 0  # answers to clicks (response_url posts) refused with 503 first, then taken
        self.retry_after = "1"  # the Retry-After of a 429
        self.random = random.Random(seed)
        self.received: list[dict[str, Any]] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []  # (path, body) posted to a click's response_url
        self.received_at: list[float] = []
        self.answers: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.port = 0
        self.server: _Server | None = None

    @property
    def url(self) -> str:
        """The webhook URL to configure as SLACK_WEBHOOK_URL."""
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}"

    def start(self) -> FakeSlack:
        """Listen (again, on the same port after `down()`)."""
        fake = self

        class Handler(_Handler):
            stub = fake

        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def down(self) -> None:
        """Close the port: every connection is refused until `start()`."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def stop(self) -> None:
        """Stop for good."""
        self.down()

    def response_url(self, click: int) -> str:
        """A response_url for click number `click`, answered by this stub."""
        return f"http://127.0.0.1:{self.port}{RESPONSE_PATH}/{click}/x0GUARDRESPONSE"

    def answers_to(self, click: int) -> list[dict[str, Any]]:
        """What the guard posted to one click's response_url, in order."""
        with self.lock:
            return [body for path, body in self.responses if path.startswith(f"{RESPONSE_PATH}/{click}/")]

    def choose(self) -> str:
        """The answer for this request: the next scripted one, else ok when healthy, about half failures when flaky."""
        with self.lock:
            if self.scripted:
                return self.scripted.pop(0)
        if not self.flaky or self.random.random() < 0.5:
            return "ok"
        return self.random.choice(["500", "429", "slow"])

    def arrivals(self) -> dict[tuple[str, str], float]:
        """When each (worker SID, alert kind) first arrived (epoch seconds)."""
        first: dict[tuple[str, str], float] = {}
        with self.lock:
            for message, at in zip(self.received, self.received_at, strict=True):
                first.setdefault(_identify(message), at)
        return first

    def messages(self) -> Counter[tuple[str, str]]:
        """How many times each (worker SID, alert kind) arrived."""
        with self.lock:
            return Counter(_identify(message) for message in self.received)


def _identify(message: dict[str, Any]) -> tuple[str, str]:
    """(worker SID, alert kind) of a Block Kit message the guard sent."""
    header = next(block["text"]["text"] for block in message["blocks"] if block["type"] == "header")  # urgent: 2nd
    kind = next((k for emoji, k in _KINDS.items() if header.startswith(emoji)), "?")
    sid = _SID.search(message.get("text", ""))
    return (sid.group(0) if sid else "?", kind)


class _Handler(BaseHTTPRequestHandler):
    """Answers one webhook post."""

    stub: FakeSlack
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no delayed-ACK stalls between headers and body
    wbufsize = 1 << 16

    def log_message(self, *_args: Any) -> None:
        """Stay quiet (the path is a secret)."""

    def do_POST(self) -> None:
        """Record the message, then answer as chosen."""
        stub = self.stub
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith(RESPONSE_PATH):  # an answer to a click, not an alert
            with stub.lock:
                refused, stub.failing_answers = stub.failing_answers > 0, max(0, stub.failing_answers - 1)
                if not refused:
                    stub.responses.append((self.path, json.loads(body)))
            self._reply(503 if refused else 200, "service_unavailable" if refused else "ok", {})
            return
        answer = stub.choose()
        if stub.latency:
            time.sleep(stub.latency)
        if answer in ("ok", "slow"):  # a slow Slack still posts the message: a retry duplicates it
            with stub.lock:
                stub.received.append(json.loads(body))
                stub.received_at.append(time.time())
        with stub.lock:
            stub.answers[answer] += 1
        if answer == "slow":
            time.sleep(stub.slow_seconds)
        status, text, headers = {
            "ok": (200, "ok", {}),
            "slow": (200, "ok", {}),
            "500": (500, "rollup_error", {}),
            "429": (429, "rate_limited", {"Retry-After": stub.retry_after}),
        }[answer]
        self._reply(status, text, headers)

    def _reply(self, status: int, text: str, headers: dict[str, str]) -> None:
        """Answer with a plain-text body."""
        data = text.encode()
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "text/plain", "Content-Length": str(len(data)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout): nothing to answer
