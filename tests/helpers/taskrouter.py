"""TaskRouter worker events as the Event Callback URL receives them, signed and posted the way Twilio does."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from tests.helpers.ids import ACCOUNT_SID, ANN_EMAIL, ANN_URI, AUTH_TOKEN, OFFLINE_SID, WORKSPACE_SID, worker_sid

EVENTS_URL = "http://localhost/taskrouter/events"

_event_numbers = itertools.count(1)


def worker_event(
    event_type: str = "worker.attributes.update",
    sid: str | None = None,
    email: str | None = ANN_EMAIL,
    contact_uri: str | None = ANN_URI,
    version: int | None = 1,
    name: str = "Ann Veal",
    **extra: str,
) -> dict[str, str]:
    """Form fields of a TaskRouter worker event, as the Event Callback URL receives them."""
    attributes: dict[str, Any] = {"full_name": name, "roles": ["agent"], "routing": {"skills": ["es"]}}
    if email is not None:
        attributes["email"] = email
    if contact_uri is not None:
        attributes["contact_uri"] = contact_uri
    now_ms = int(time.time() * 1000)
    fields = {
        "EventType": event_type,
        "Sid": f"EV{next(_event_numbers):032x}",
        "AccountSid": ACCOUNT_SID,
        "WorkspaceSid": WORKSPACE_SID,
        "WorkspaceName": "Flex Task Assignment",
        "EventDescription": f"Worker {name} event {event_type}",
        "ResourceType": "worker",
        "ResourceSid": sid or worker_sid(1),
        "Timestamp": str(now_ms // 1000),
        "TimestampMs": str(now_ms),
        "WorkerSid": sid or worker_sid(1),
        "WorkerName": name,
        "WorkerAttributes": json.dumps(attributes),
        # Offline unless a test says otherwise: availability changes what an alert is (see test_activity*.py).
        "WorkerActivityName": "Offline",
        "WorkerActivitySid": OFFLINE_SID,
    }
    if version is not None:
        fields["WorkerVersion"] = str(version)
    fields.update(extra)
    return fields


def sign(fields: dict[str, str] | str, url: str = EVENTS_URL, token: str = AUTH_TOKEN, algorithm: str = "") -> str:
    """The X-Twilio-Signature Twilio would send for `fields` posted to `url` (HMAC-SHA1 unless told)."""
    return RequestValidator(token).compute_signature(url, fields, algorithm or None)


class TaskRouterPoster:
    """Posts signed TaskRouter events to the Flask test client."""

    def __init__(self, client: FlaskClient) -> None:
        """Wrap `client`."""
        self.client = client

    def post(
        self,
        fields: dict[str, str],
        token: str = AUTH_TOKEN,
        signed_url: str = EVENTS_URL,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        """Post `fields` form-encoded with a valid signature (for `signed_url` and `token`)."""
        all_headers = {"X-Twilio-Signature": sign(fields, signed_url, token)}
        all_headers.update(headers or {})
        return self.client.post("/taskrouter/events", data=fields, headers=all_headers, **kwargs)
