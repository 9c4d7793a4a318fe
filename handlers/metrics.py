"""GET /metrics (Prometheus text format), optionally behind a bearer token; and request timing."""

from __future__ import annotations

import hmac
import logging
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST

from guard.container import services
from guard.metrics import REQUEST_LATENCY, exposition
from handlers.errors import error_response
from handlers.login_throttle import failed_login, refused

bp = Blueprint("metrics", __name__)
log = logging.getLogger("guard.metrics")


@bp.get("/metrics")
def metrics() -> Response:
    """The exposition; 401 without the right bearer token when METRICS_TOKEN is set."""
    token = services().settings.metrics_token
    if token:
        if (waits := refused()) is not None:
            return waits
        sent = request.headers.get("Authorization", "")
        scheme, _, given = sent.strip().partition(" ")  # the scheme is case-insensitive (RFC 7235)
        right = hmac.compare_digest(given.strip().encode(), token.encode())
        if not (right and scheme.lower() == "bearer"):
            if sent:  # no header at all: a scraper not set up yet, not a guess
                failed_login(log, "metrics_auth_failed")
            response = error_response(401, "bearer token required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return Response(exposition(services().store), content_type=CONTENT_TYPE_LATEST)


def time_requests(app: Flask) -> None:
    """Observe every request's latency, labelled by endpoint (a bounded set)."""

    @app.before_request
    def _start_timer() -> None:
        """Remember when the request started."""
        g.started = time.perf_counter()

    @app.teardown_request
    def _observe(_error: BaseException | None) -> None:
        """Record the elapsed time."""
        started = g.pop("started", None)
        if started is not None:
            REQUEST_LATENCY.labels(request.endpoint or "unmatched").observe(time.perf_counter() - started)
