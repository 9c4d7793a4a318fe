"""Fixtures of the cause tests: Slack, the local TaskRouter API (with its Events), and the state's history."""

import json

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from tests.helpers import fake_api_settings


@pytest.fixture
def settings_overrides(fake_api, slack, request):
    """Alerts to the Slack stub; REST credentials for the local TaskRouter API, so causes are looked up."""
    base = {"slack_webhook_url": slack.url, "cause_wait_seconds": 30.0}
    return {**fake_api_settings(fake_api), **base, **getattr(request, "param", {})}


def outbox(services):
    """Every alert the guard queued: (kind, payload)."""
    with services.store.engine.connect() as connection:
        rows = connection.execute(select(alert.c.kind, alert.c.payload).order_by(alert.c.id))
        return [(kind, json.loads(payload)) for kind, payload in rows]


def kinds(services):
    """The kinds of the queued alerts, in order."""
    return [kind for kind, _ in outbox(services)]
