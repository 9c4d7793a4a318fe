"""Test data shaped like Twilio's, and a client that signs it the way Twilio does."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "a" * 32
WORKSPACE_SID = "WS" + "b" * 32
EVENTS_URL = "http://localhost/taskrouter/events"
ANN_EMAIL = "ann.veal@arresteddevelopment.com"
ANN_URI = "client:ann_2Eveal_40arresteddevelopment_2Ecom"
OFFLINE_SID, AVAILABLE_SID = "WA" + "0" * 32, "WA" + "1" * 32  # Flex's default activities, as the fake API has them

_event_numbers = itertools.count(1)


def worker_sid(n: int) -> str:
    """A valid worker SID numbered `n`."""
    return f"WK{n:032x}"


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


def email(n: int) -> str:
    """A distinct agent email."""
    return f"agent.{n}@example.com"


def uri(n: int) -> str:
    """The correct contact_uri for agent n."""
    return f"client:agent_2E{n}_40example_2Ecom"


def populate(
    fake_api: Any,
    healthy: int = 300,
    drifting: Collection[int] = (),
    pending: Collection[int] = (),
    extra: dict[int, dict[str, Any]] | None = None,
) -> None:
    """Workers 1..healthy are correct; numbers in `drifting` get a raw email, in `pending` none."""
    for n in range(1, healthy + 1):
        attributes = {"email": email(n), "full_name": f"Agent {n}", "roles": ["agent"]}
        if n in drifting:
            attributes["contact_uri"] = "client:" + email(n)
        elif n not in pending:
            attributes["contact_uri"] = uri(n)
        attributes.update((extra or {}).get(n, {}))
        fake_api.add_worker(WORKSPACE_SID, worker_sid(n), f"agent.{n}", attributes)


def audit(runner: Any, *args: str) -> tuple[int, str]:
    """Run the audit command; return (exit code, stdout)."""
    result = runner.invoke(args=["audit", *args])
    return result.exit_code, result.stdout


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


def fake_api_settings(fake_api: Any, **extra: Any) -> dict[str, Any]:
    """Settings overrides that point the REST client at the fake TaskRouter API (retries kept short)."""
    base = {
        "account_sid": ACCOUNT_SID,
        "workspace_sid": WORKSPACE_SID,
        "taskrouter_base_url": fake_api.url,
        "api_retries": 2,  # the give-up tests wait 0.5 s + 1 s of backoff, not minutes
    }
    return {**base, **extra}


def remediations(services: Any) -> list[Any]:
    """Every remediation record, oldest first."""
    from guard.adapters.tables import remediation

    with services.store.engine.connect() as connection:
        return [row._mapping for row in connection.execute(remediation.select().order_by(remediation.c.id))]


def stored_state(services: Any, key: Any) -> Any:
    """The state the guard stored for one worker (a row mapping), or None."""
    from guard.adapters.tables import worker_state

    query = worker_state.select().where(
        worker_state.c.account_sid == key.account_sid,
        worker_state.c.workspace_sid == key.workspace_sid,
        worker_state.c.worker_sid == key.worker_sid,
    )
    with services.store.engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else row._mapping
