"""A WSGI fast path for TaskRouter callbacks: the ignored types, and the worker events themselves.

Workspaces without an EventsFilter send every reservation and task event: most of the traffic on a
busy day. They cause no work, yet a trip through Flask's request machinery and form parser costs more
than the rest of the request. So the guard peeks at EventType in the raw body, checks the signature
over the body's fields, and answers 204 at once to an ignored type. A worker event it parses into a
snapshot and hands to the pipeline from here too (the worker events are the guard's main load): the
same parser and the same pipeline as the full path, without Flask's cost around them.

- The fields come from yarl's C query parser (a dependency of aiohttp, already here): the same
  decoding as `parse_qsl` at a quarter of the cost, and decoding is much of what verifying costs.
- It computes one HMAC, over the URL exactly as the full path rebuilds it; twilio's `validate()`
  also tries that URL with and without its port, so a match here is a match there.

Anything else (an activity event, an odd body, a signature that does not match here, a field the
parser refuses, a database that fails) goes to the full path, which decides, logs and answers
403/400/413/503 as usual: the fast path can only ever answer what the full path would have answered.
"""

from __future__ import annotations

import hmac
import io
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator
from werkzeug.wrappers import Request
from yarl import URL

from guard.adapters.accounts import AccountDirectory
from guard.config import Settings
from guard.metrics import REQUEST_LATENCY, count_event
from guard.service.writer import EventWriter
from handlers.bounds import FORM, media_type
from handlers.errors import database_trouble
from handlers.security import HEADERS
from handlers.signing import public_url
from handlers.taskrouter_events import ACTIVITY_EVENTS, WORKER_EVENTS, snapshot_from_fields

if TYPE_CHECKING:
    from multidict import MultiDictProxy  # yarl's own dependency

PATH = "/taskrouter/events"
ENDPOINT = "taskrouter_events.receive_event"  # the latency label the full path's requests get too
_FIRST_EVENT_TYPE = re.compile(rb"(?:^|&)EventType=([^&]*)")  # the first value, as the form parser sees it
_PLAIN_EVENT_TYPE = re.compile(rb"[a-z][a-z.-]{0,63}")
# The environ keys that decide the public URL (after ProxyFix, which sits outside this middleware).
_URL_KEYS = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING")
# The header that names a Webhook Rule's algorithm and key, as a WSGI environ key.
_SIGNATURE_SETTINGS = "HTTP_" + SIGNATURE_SETTINGS_HEADER.upper().replace("-", "_")
_MAX_CACHED_URLS = 64  # one or two in practice; bounded because Host comes from the client
_ANSWER_HEADERS = [("Content-Type", "application/json"), ("Content-Length", "0"), *HEADERS.items()]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class TaskRouterFastPath:
    """Answers TaskRouter callbacks before Flask sees them: ignored types at once, worker events once recorded."""

    def __init__(self, app: WsgiApp, settings: Settings, accounts: AccountDirectory, writer: EventWriter) -> None:
        """Wrap `app`; bodies larger than the body limit go to the app (which answers 413)."""
        self.app = app
        self.settings = settings
        self.accounts = accounts
        self.writer = writer
        self.max_body_bytes = settings.max_body_bytes
        self._urls: dict[tuple[Any, ...], str] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Peek, then either answer 204 or hand the (re-readable) request to the app."""
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or environ.get("PATH_INFO") != PATH
            or media_type(environ) != FORM  # as the field bound reads it: a suffixed type was never counted
        ):
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return self.app(environ, start_response)
        if not 0 < length <= self.max_body_bytes:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        started = time.perf_counter()  # a wait to make way is the request's latency too
        if "HTTP_X_TWILIO_SIGNATURE" in environ:  # the HMAC below waits while this process's writer holds SQLite's turn
            self.writer.make_way()
        match = _FIRST_EVENT_TYPE.search(body)
        plain = match is not None and _PLAIN_EVENT_TYPE.fullmatch(match.group(1))
        event_type = match.group(1).decode() if plain else None
        fields = None if event_type is None or event_type in ACTIVITY_EVENTS else self._authentic(environ, body)
        if fields is None or fields.get("EventType") != event_type:  # Event%54ype reads differently decoded
            environ["wsgi.input"] = io.BytesIO(body)  # the full path reads the body again
            environ["CONTENT_LENGTH"] = str(len(body))
            return self.app(environ, start_response)
        if event_type in WORKER_EVENTS:
            try:
                self.writer.record(snapshot_from_fields(fields, event_type))
            except Exception as err:  # noqa: BLE001 - a refused field or a bug: the full path decides and says
                said = database_trouble(err, PATH, self.writer.pipeline.store.engine)
                if said is not None:  # as the full path would answer: 503, so TaskRouter sends it again
                    start_response(
                        "503 SERVICE UNAVAILABLE", _json_headers(answer := json.dumps({"error": said}).encode())
                    )
                    return [answer]
                environ["wsgi.input"] = io.BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
                return self.app(environ, start_response)
            REQUEST_LATENCY.labels(ENDPOINT).observe(time.perf_counter() - started)
        count_event("taskrouter", event_type, "accepted" if event_type in WORKER_EVENTS else "ignored")
        start_response("204 NO CONTENT", _ANSWER_HEADERS)
        return []

    def _authentic(self, environ: dict[str, Any], body: bytes) -> MultiDictProxy[str] | None:
        """The body's fields when its X-Twilio-Signature verifies here; None sends it down the full path."""
        try:
            params = form_fields(body.decode())
        except Exception:  # noqa: BLE001 - non-UTF-8 or anything odd: the full path decides
            return None
        if any("\ufffd" in value for value in params.values()):  # `%FF`: yarl replaces it, werkzeug keeps it
            return None
        if not self.settings.validate_signature:
            return params
        signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")
        if not signature or _SIGNATURE_SETTINGS in environ:  # another algorithm or key: the full path decides
            return None
        account = self.accounts.account_for(params.get("AccountSid"))
        if not (account and account.signing_tokens) or self.accounts.crossed(account.sid, params.get("WorkspaceSid")):
            return None
        url = self._public_url(environ)
        if url is None:  # no valid host name: the full path refuses it and says why
            return None
        for token in account.signing_tokens:  # the previous token too, while Twilio still signs with it (a rotation)
            expected = RequestValidator(token).compute_signature(url, params)
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return params
        return None

    def _public_url(self, environ: dict[str, Any]) -> str | None:
        """The signed URL, as the full path rebuilds it; cached, as werkzeug's URL building costs ~20 µs."""
        key = tuple(environ.get(name) for name in _URL_KEYS)
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) >= _MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[key] = public_url(Request(environ), self.settings)
        return url


def _json_headers(body: bytes) -> list[tuple[str, str]]:
    """The headers of a JSON error answer."""
    return [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *HEADERS.items()]


def form_fields(body: str) -> MultiDictProxy[str]:
    """A form body's fields, decoded by yarl's C parser; a MultiDict, which twilio's validator reads with getall().

    encoded=True: the body is already percent-encoded, so yarl neither re-quotes it (a third of the
    cost) nor looks for a fragment.
    """
    return URL.build(query_string=body, encoded=True).query
