"""Refuse oversized webhook bodies before anything parses or verifies them: a forgery must stay cheap.

A signature runs over every field of a form, so an unsigned body of 40,000 blank fields cost ~0.1 s of
CPU to refuse with 403, and a few dozen such senders made signed events wait (issue 20). Real callbacks
are small: a TaskRouter event has ~25 fields (a reservation event ~45), a Slack click one (`payload`).
So each intake has a body bound, a form has a field bound, and a request past either gets 413 here,
with one log line: nothing parsed, no signature computed. Both the fast path and the full path sit
behind this, so they still answer alike.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from guard.logs import log_event
from guard.metrics import count_event
from handlers.security import HEADERS

log = logging.getLogger("guard.http")
MAX_FORM_FIELDS = 200  # 8 times a TaskRouter event's; also Flask's MAX_FORM_PARTS for multipart bodies
FORM = "application/x-www-form-urlencoded"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def media_type(environ: dict[str, Any]) -> str:
    """The request's media type, as every form check here and in the fast path reads it (werkzeug's way)."""
    return str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip(" \t").lower()  # HTTP's spaces only


class BoundedIntake:
    """WSGI middleware: 413 for an intake body past its endpoint's size or field bound, before the app runs."""

    def __init__(self, app: WsgiApp, max_body_bytes: int) -> None:
        """Wrap `app`; MAX_BODY_BYTES bounds every intake body.

        Slack clicks too: a click repeats the whole message it sits on, and an alert of the longest values a worker
        can hold (every field at Block Kit's bound, in 4-byte characters) runs to hundreds of KB once form-encoded.
        Slack's signature is checked on the raw body before anything parses it.
        """
        self.app = app
        # path -> (largest body, the metrics source that counts a refusal)
        self.bounds: dict[str, tuple[int, str | None]] = {
            "/taskrouter/events": (max_body_bytes, "taskrouter"),
            "/event-streams": (max_body_bytes, "event-streams"),
            "/slack/interactions": (max_body_bytes, None),
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Pass a bounded request on (its body re-readable), or answer 413."""
        bound = self.bounds.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        if bound is None:
            return self.app(environ, start_response)
        limit, source = bound
        try:
            length: int | None = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            length = None  # chunked, or junk: read at most one byte past the bound to find out
        if length is not None and length > limit:
            return self._refuse(environ, start_response, source, f"body larger than {limit} bytes")
        mimetype = media_type(environ)
        if mimetype != FORM and length is not None:
            return self.app(environ, start_response)  # JSON: Flask's MAX_CONTENT_LENGTH bounds it; multipart: parts
        # A form, or a body of unknown length: past the bound, Flask would cut it short and the signature fail (403)
        body = environ["wsgi.input"].read(limit + 1 if length is None else length)
        if len(body) > limit:
            return self._refuse(environ, start_response, source, f"body larger than {limit} bytes")
        fields = body.count(b"&") + 1 if mimetype == FORM else 1  # the form parsers split on & only
        if fields > MAX_FORM_FIELDS:
            return self._refuse(environ, start_response, source, f"{fields} form fields, more than {MAX_FORM_FIELDS}")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def _refuse(
        self, environ: dict[str, Any], start_response: Callable[..., Any], source: str | None, reason: str
    ) -> Iterable[bytes]:
        """413 with the reason, one log line, and a count under the unverified label."""
        path, remote = environ.get("PATH_INFO", ""), environ.get("REMOTE_ADDR")
        log_event(log, logging.WARNING, "request_too_large", reason=reason, path=path, remote=remote)
        if source:
            count_event(source, None, "too_large")
        body = json.dumps({"error": f"request too large: {reason}"}).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *HEADERS.items()]
        start_response("413 REQUEST ENTITY TOO LARGE", headers)
        return [body]
