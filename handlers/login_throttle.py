"""Failed status-page logins, counted per client address: past a few a minute, that address waits.

Per process, in memory: enough to turn thousands of guesses a second into a handful a minute,
with nothing to configure. A blocked address is refused without its credentials being looked at.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request

from guard.logs import log_event
from handlers.errors import error_response

FAILURES_ALLOWED = 10  # per client address and window
WINDOW_SECONDS = 60.0
MAX_TRACKED = 10_000  # addresses remembered at once; past it the oldest windows are forgotten


class LoginThrottle:
    """Counts failed logins per client in fixed windows; a client over the limit waits out its window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start with no failures."""
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # client -> (window start, failures)
        self._lock = threading.Lock()

    def wait_seconds(self, client: str) -> float:
        """How long `client` must wait before trying again; 0 when it may try now."""
        with self._lock:
            started, failures = self._windows.get(client, (0.0, 0))
        remaining = started + WINDOW_SECONDS - self.clock()
        return remaining if failures >= FAILURES_ALLOWED and remaining > 0 else 0.0

    def failed(self, client: str) -> int:
        """Record one failed login; return the failures of `client` in its current window."""
        now = self.clock()
        with self._lock:
            started, failures = self._windows.get(client, (now, 0))
            if now - started >= WINDOW_SECONDS:
                started, failures = now, 0
                self._windows.pop(client, None)  # to the end: the dict stays in the order the windows began
            if len(self._windows) >= MAX_TRACKED and client not in self._windows:
                self._forget_oldest()
            self._windows[client] = (started, failures + 1)
            return failures + 1

    def _forget_oldest(self) -> None:
        """Drop the oldest tenth of the windows (the dict keeps insertion order)."""
        for client in list(self._windows)[: MAX_TRACKED // 10]:
            del self._windows[client]


def _throttle() -> LoginThrottle:
    """The throttle of the request's blueprint, one per process: guesses at /metrics never lock /status."""
    return current_app.extensions.setdefault(f"guard.login_throttle.{request.blueprint}", LoginThrottle())


def refused() -> Response | None:
    """429 with Retry-After while this request's address waits out its failures; None when it may try."""
    wait = _throttle().wait_seconds(request.remote_addr or "?")
    if not wait:
        return None
    response = error_response(429, "too many failed logins; try again later")
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response


def failed_login(log: logging.Logger, event: str, **fields: Any) -> None:
    """Count a failed login against this request's address, and log it (never the credentials sent)."""
    client = request.remote_addr or "?"
    log_event(log, logging.WARNING, event, remote=client, **fields, failures=_throttle().failed(client))
