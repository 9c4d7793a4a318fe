"""Event Streams CloudEvents (TaskRouter schema), and batches posted the way Event Streams posts them."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from tests.helpers.ids import ACCOUNT_SID, ANN_EMAIL, ANN_URI, AUTH_TOKEN, OFFLINE_SID, WORKSPACE_SID, worker_sid

_cloudevent_numbers = itertools.count(1)


def minutes_ago(minutes: float) -> str:
    """An Event Streams timestamp this many minutes before now (events arrive fresh; old ones are replays)."""
    moment = datetime.now(UTC) - timedelta(minutes=minutes)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cloudevent(
    event_type: str = "worker.attributes.update",
    sid: str | None = None,
    email: str | None = ANN_EMAIL,
    contact_uri: str | None = ANN_URI,
    account_sid: str = ACCOUNT_SID,
    workspace_sid: str = WORKSPACE_SID,
    timestamp: str | None = None,
    **payload_extra: Any,
) -> dict[str, Any]:
    """A CloudEvent as an Event Streams webhook sink receives it (TaskRouter schema)."""
    attributes: dict[str, Any] = {"full_name": "Ann Veal", "roles": ["agent"]}
    if email is not None:
        attributes["email"] = email
    if contact_uri is not None:
        attributes["contact_uri"] = contact_uri
    number = next(_cloudevent_numbers)
    timestamp = timestamp or minutes_ago(0)
    return {
        "specversion": "1.0",
        "type": f"com.twilio.taskrouter.{event_type}",
        "source": f"/v1/Workspaces/{workspace_sid}",
        "id": f"NO{number:032x}",
        "dataschema": "https://events-schemas.twilio.com/TaskRouter.WDSEvent/4",
        "datacontenttype": "application/json",
        "time": timestamp,
        "data": {
            "sid": f"EV{number:032x}",
            "account_sid": account_sid,
            "timestamp": timestamp,
            "product_name": "TaskRouter",
            "payload_type": "application/json",
            "payload": {
                "sid": f"EV{number:032x}",
                "eventtype": event_type,
                "account_sid": account_sid,
                "workspace_sid": workspace_sid,
                "workspace_name": "Flex Task Assignment",
                "timestamp": timestamp,
                "worker_sid": sid or worker_sid(1),
                "worker_name": "ann.veal",
                "worker_attributes": json.dumps(attributes),
                "worker_activity_sid": OFFLINE_SID,
                "worker_activity_name": "Offline",
                **payload_extra,
            },
        },
    }


def post_cloudevents(
    client: FlaskClient, events: Any, token: str = AUTH_TOKEN, body: str | None = None, tamper: str | None = None
) -> TestResponse:
    """Post a batch the way Event Streams does: bodySHA256 in the URL, signature over that URL."""
    text = json.dumps(events) if body is None else body
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = f"/event-streams?bodySHA256={digest}"
    signature = RequestValidator(token).compute_signature(f"http://localhost{path}", {})
    sent = tamper if tamper is not None else text
    return client.post(path, data=sent, content_type="application/json", headers={"X-Twilio-Signature": signature})


def batch_answer(**counts: int) -> dict[str, int]:
    """The answer to an Event Streams batch: what its elements came to, zero where not given."""
    return {"recorded": 0, "duplicate": 0, "stale": 0, "replay": 0, "skipped": 0, "bad": 0} | counts
