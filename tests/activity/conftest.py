"""Fixtures of the availability tests: Slack with the fix buttons, the local TaskRouter API, and moving workers."""

import json
import time

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from tests.fakes.slack_clicks import APPROVER, SIGNING_SECRET
from tests.helpers import (
    ACCOUNT_SID,
    AVAILABLE_SID,
    OFFLINE_SID,
    WORKSPACE_SID,
    fake_api_settings,
    worker_event,
    worker_sid,
)

BREAK_SID = "WA" + "2" * 32
WRONG = "sip:ann@pbx.example.com"


@pytest.fixture
def settings_overrides(fake_api, slack, request):
    """Alerts to the Slack stub with the fix buttons; REST credentials for the local TaskRouter API."""
    base = {
        "slack_webhook_url": slack.url,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_approvers": frozenset({APPROVER}),
        "slack_urgent_mention": "<!subteam^S0ONCALL>",
    }
    return {**fake_api_settings(fake_api), **base, **getattr(request, "param", {})}


def activity_event(version, activity="Available", activity_sid=AVAILABLE_SID, sid=None, **attributes):
    """A worker.activity.update callback into `activity`, carrying the worker's attributes as they are."""
    sid = sid or worker_sid(1)
    fields = worker_event("worker.activity.update", sid=sid, version=version, **attributes)
    previous = {"WorkerPreviousActivitySid": fields["WorkerActivitySid"], "WorkerPreviousActivityName": "Offline"}
    return {**fields, **previous, "WorkerActivityName": activity, "WorkerActivitySid": activity_sid}


def offline(version, **attributes):
    """A worker.attributes.update while the worker is Offline."""
    return worker_event(version=version, WorkerActivityName="Offline", WorkerActivitySid=OFFLINE_SID, **attributes)


def outbox(services):
    """Every alert the guard queued: (kind, payload)."""
    with services.store.engine.connect() as connection:
        rows = connection.execute(select(alert.c.kind, alert.c.payload).order_by(alert.c.id))
        return [(kind, json.loads(payload)) for kind, payload in rows]


READY_SID = "WA" + "4" * 32


def activity_callback(event_type="activity.updated", sid=READY_SID, name="Ready", available="true", **extra):
    """An activity.* callback, as TaskRouter sends it to the Event Callback URL."""
    now_ms = int(time.time() * 1000)
    fields = {
        "EventType": event_type,
        "Sid": f"EV{now_ms:032x}"[:34],
        "AccountSid": ACCOUNT_SID,
        "WorkspaceSid": WORKSPACE_SID,
        "ResourceType": "activity",
        "ResourceSid": sid,
        "ActivitySid": sid,
        "ActivityName": name,
        "ActivityAvailable": available,
        "Timestamp": str(now_ms // 1000),
        "TimestampMs": str(now_ms),
    }
    return {**fields, **extra}
