"""Button clicks as Slack sends them to the Interactivity Request URL: form-encoded `payload`, signed with v0 HMAC."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-slack-signing-secret-0123456789"
APPROVER, STRANGER = "U0APPROVER", "U0STRANGER"
_trigger_numbers = itertools.count(1)


def click_payload(
    action_id: str, value: str, response_url: str, user: str = APPROVER, message_ts: str = "1764489600.000100"
) -> dict[str, Any]:
    """A `block_actions` payload for one button of an alert posted through an incoming webhook."""
    number = next(_trigger_numbers)
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0GUARD"},
        "api_app_id": "A0GUARD",
        "token": "legacy-verification-token-unused",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "C0ALERTS", "is_ephemeral": False},
        "trigger_id": f"{number}.1.abcdef",
        "team": {"id": "T0GUARD", "domain": "guard-test"},
        "channel": {"id": "C0ALERTS", "name": "flex-alerts"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "contact_uri_fix",
                "text": {"type": "plain_text", "text": "Remove contact_uri", "emoji": True},
                "value": value,
                "style": "danger",
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def signed_click(
    payload: dict[str, Any] | None, secret: str = SIGNING_SECRET, timestamp: int | None = None, body: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Slack sends: `payload=<json>`, X-Slack-Request-Timestamp and X-Slack-Signature."""
    text = body if body is not None else urlencode({"payload": json.dumps(payload)})
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        # v0= + hex HMAC-SHA256 of "v0:<timestamp>:<body>", made by slack_sdk's own generator
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=text) or "",
    }
    return text.encode(), headers
