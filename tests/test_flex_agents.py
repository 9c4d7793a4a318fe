"""What makes a Flex agent, in every place that judges: a name alone never makes a worker pending or alerted."""

import json

import pytest
from sqlalchemy import func, select

from guard.adapters.tables import alert
from guard.core.snapshot import WorkerKey
from tests.helpers import (
    ACCOUNT_SID,
    WORKSPACE_SID,
    audit,
    cloudevent,
    fake_api_settings,
    post_cloudevents,
    stored_state,
    worker_event,
    worker_sid,
)

NOT_AN_AGENT = "not a Flex agent: no email, contact_uri, twilio_contact_identity or roles"


def alert_count(services) -> int:
    """How many alerts the guard queued."""
    with services.store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(alert)).scalar()


def test_a_worker_with_only_a_name_is_ignored_through_both_intakes(client, taskrouter, services):
    bot = worker_event("worker.created", sid=worker_sid(1), name="testWorker", WorkerAttributes="{}")
    assert taskrouter.post(bot).status_code == 204
    queue = cloudevent("worker.created", sid=worker_sid(2), email=None, contact_uri=None, worker_attributes="{}")
    assert post_cloudevents(client, [queue]).status_code == 200
    for n in (1, 2):
        state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(n)))
        assert (state["verdict"], state["detail"]) == ("ignored", NOT_AN_AGENT)
    assert alert_count(services) == 0


@pytest.fixture
def settings_overrides(fake_api):
    """Point the REST client at the fake API."""
    return fake_api_settings(fake_api)


def test_twilios_example_worker_is_ignored_by_the_audit(runner, fake_api):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "testWorker", {})
    code, output = audit(runner, "--format", "json")
    entry = json.loads(output)["workers"][0]
    assert (code, entry["name"], entry["verdict"], entry["detail"]) == (0, "testWorker", "ignored", NOT_AN_AGENT)
