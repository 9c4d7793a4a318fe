"""POST /slack/interactions: the Slack app's Interactivity Request URL, where the fix buttons' clicks arrive.

Verify first (no side effect of any kind before), record the click, answer 200 at once: Slack waits 3 seconds.
The change and its answer on the click's response_url happen in the background (guard/service/clicks.py).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request
from slack_sdk.signature import SignatureVerifier

from guard.container import services
from guard.core.click import BadClick, parse_click
from guard.logs import log_event
from guard.service.clicks import record_click
from handlers.errors import bad_request, error_response

bp = Blueprint("slack_interactions", __name__)
log = logging.getLogger("guard.slack")


@bp.post("/slack/interactions")
def receive_click() -> Response:
    """Verify Slack's signature, record the click, and acknowledge it."""
    svc = services()
    secret = svc.settings.slack_signing_secret
    if not secret:
        abort(404)  # the buttons are off: no such endpoint
    body = request.get_data(cache=True)
    if not _signed_by_slack(secret, body):
        log_event(log, logging.WARNING, "bad_slack_signature", path=request.path, remote=request.remote_addr)
        return error_response(401, "invalid or stale X-Slack-Signature")
    payload = request.form.get("payload")
    if payload is None:
        return bad_request("form field 'payload' is missing")
    try:
        click = parse_click(payload)
    except BadClick as err:
        return bad_request(str(err))
    record_click(svc.pipeline, click, svc.jobs.wake)
    return Response(status=200)


def _signed_by_slack(secret: str, body: bytes) -> bool:
    """True when X-Slack-Signature matches the body and X-Slack-Request-Timestamp is at most 5 minutes old."""
    try:
        return SignatureVerifier(secret).is_valid_request(body, dict(request.headers))
    # A timestamp that is no number or past a float (OverflowError), a body that is no UTF-8, a signature that is not
    # ASCII (compare_digest's TypeError)
    except (ValueError, OverflowError, UnicodeDecodeError, TypeError):
        return False
