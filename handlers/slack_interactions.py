"""POST /slack/interactions: the Slack app's Interactivity Request URL, where the fix buttons' clicks arrive.

Verify first (no side effect of any kind before), record the click, answer 200 at once: Slack waits 3 seconds.
The change and its answer on the click's response_url happen in the background (guard/service/clicks.py).
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, abort, request
from slack_sdk.signature import SignatureVerifier

from guard.container import Services, services
from guard.core.click import SLACK_ORIGINS, BadClick, origin, parse_click
from guard.logs import log_event
from guard.service.clicks import record_click
from handlers.errors import bad_request, error_response

bp = Blueprint("slack_interactions", __name__)
log = logging.getLogger("guard.slack")
SIGNATURE_MAX_AGE = 300  # seconds: slack_sdk's SignatureVerifier, as Slack asks


@bp.post("/slack/interactions")
def receive_click() -> Response:
    """Verify Slack's signature, record the click, and acknowledge it."""
    svc = services()
    secret = svc.settings.slack_signing_secret
    if not secret:
        abort(404)  # the buttons are off: no such endpoint
    body = request.get_data(cache=True)
    if not _signed_by_slack(secret, body):
        why = _why_refused(request.headers.get("X-Slack-Request-Timestamp"), request.headers.get("X-Slack-Signature"))
        log_event(log, logging.WARNING, "bad_slack_signature", path=request.path, remote=request.remote_addr, why=why)
        return error_response(401, "invalid or stale X-Slack-Signature")
    payload = request.form.get("payload")
    if payload is None:
        return bad_request("form field 'payload' is missing")
    try:
        click = parse_click(payload, _answer_origins(svc))
    except BadClick as err:
        return bad_request(str(err))
    record_click(svc.pipeline, click, svc.jobs.wake)
    return Response(status=200)


def _answer_origins(svc: Services) -> set[str]:
    """Slack's own, and those of the webhooks configured (a Slack-compatible relay, a local stub)."""
    webhooks = [svc.settings.slack_webhook_url, *(account.slack_webhook_url for account in svc.accounts.accounts)]
    return {*SLACK_ORIGINS, *(origin(url) for url in webhooks if url)}


def _signed_by_slack(secret: str, body: bytes) -> bool:
    """True when X-Slack-Signature matches the body and X-Slack-Request-Timestamp is at most 5 minutes old."""
    try:
        return SignatureVerifier(secret).is_valid_request(body, dict(request.headers))
    # A timestamp that is no number or past a float (OverflowError), a body that is no UTF-8, a signature that is not
    # ASCII (compare_digest's TypeError)
    except (ValueError, OverflowError, UnicodeDecodeError, TypeError):
        return False


def _why_refused(timestamp: str | None, signature: str | None) -> str:
    """Why a click was refused, for the log line: a clock off or a secret rotated is told apart from a forgery."""
    if not timestamp or not signature:
        return "X-Slack-Signature or X-Slack-Request-Timestamp missing"
    if not timestamp.strip().isdigit():
        return "timestamp is no whole number"
    if len(timestamp.strip()) > 12:  # past int()'s 4,300 digits too
        return "timestamp far off this clock"
    off = abs(int(time.time()) - int(timestamp))
    if off > SIGNATURE_MAX_AGE:
        return f"timestamp {off} s off this clock (5 minutes at most)"
    return "signature does not match (another signing secret, or a changed body)"
