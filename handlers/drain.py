"""Read what the app left of a request body before answering, so the client hears the answer.

gunicorn's sync workers close the connection after each response. If part of the request body is
still unread then (a 413 for an oversized body, a 400 for a body of the wrong type), the kernel
answers the close with a reset, and the client may see "connection reset" instead of our 4xx.
Reading the rest first avoids that, up to a bound: past it, a reset is a fair answer to the sender.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_CHUNK = 64 * 1024


class DrainUnreadBody:
    """WSGI middleware: after the app has answered, read and drop the rest of the body (bounded)."""

    def __init__(self, app: WsgiApp, max_drain_bytes: int) -> None:
        """Wrap `app`; bodies that announce more than `max_drain_bytes` are left unread."""
        self.app = app
        self.max_drain_bytes = max_drain_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Run the app, then drain its input before the server writes the response."""
        stream = environ.get("wsgi.input")
        result = self.app(environ, start_response)
        try:
            announced = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            announced = 0
        # Only where the server ends the stream at the body's end (gunicorn does); werkzeug's development server
        # hands over the socket itself, where reading to the end waits for the next request.
        if stream is not None and environ.get("wsgi.input_terminated") and announced <= self.max_drain_bytes:
            drained = 0
            try:
                while drained <= self.max_drain_bytes and (chunk := stream.read(_CHUNK)):
                    drained += len(chunk)
            except (OSError, ValueError):  # the client went away: nothing left to protect
                pass
        return result
