"""What the delivery tests share: alerts sent to the local Slack stub, and what it received and the outbox holds."""

import json

import pytest

from tests.fakes.slack import HOOK_PATH as HOOK


@pytest.fixture
def settings_overrides(httpserver):
    """Alerts go to the stub's webhook path."""
    return {"slack_webhook_url": httpserver.url_for(HOOK), "slack_timeout_seconds": 0.5}


def posted(httpserver):
    """The JSON bodies Slack received, in order."""
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def outbox(services):
    """Status and attempts of every outbox row."""
    with services.store.engine.connect() as connection:
        from guard.adapters.tables import alert

        return [(r.kind, r.status, r.attempts) for r in connection.execute(alert.select().order_by(alert.c.id))]


def drift_then_fixed(taskrouter, services):
    """A drift (version 1), a delivery round, the value fixed (version 2), another round."""
    from tests.helpers import ANN_URI, worker_event

    taskrouter.post(worker_event(contact_uri="sip:x", version=1))
    services.delivery.run_once()
    taskrouter.post(worker_event(contact_uri=ANN_URI, version=2))
    services.delivery.run_once()


def slack_answers(httpserver, *answers):
    """Slack answers the next posts so, in order: (body, status) each."""
    for body, status in answers:
        httpserver.expect_ordered_request(HOOK).respond_with_data(body, status=status)
