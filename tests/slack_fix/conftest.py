"""Fixtures of the Slack-fix tests: the buttons on, and one worker in drift."""

import pytest

from tests.fakes.slack_clicks import APPROVER, SIGNING_SECRET
from tests.helpers import email, fake_api_settings, populate, worker_event
from tests.slack_fix.support import DRIFTING
from tests.test_status import PASSWORD


@pytest.fixture
def settings_overrides(fake_api, slack, request):
    """Buttons on: a signing secret, one approver, REST credentials for the local TaskRouter API."""
    base = {
        "slack_webhook_url": slack.url,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_approvers": frozenset({APPROVER}),
        "status_password": PASSWORD,
    }
    return {**fake_api_settings(fake_api), **base, **getattr(request, "param", {})}


@pytest.fixture
def drift(fake_api, taskrouter, services):
    """Worker 1 drifts (raw email): the API holds it, the guard alerted about it; returns the wrong value."""
    populate(fake_api, 2, drifting={1})
    wrong = "client:" + email(1)
    event = worker_event(sid=DRIFTING, email=email(1), contact_uri=wrong, name="agent.1")
    assert taskrouter.post(event).status_code == 204
    return wrong
