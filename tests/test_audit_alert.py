"""`audit --alert`: the sweep feeds the same state and alert pipeline as the webhook (SQLite and PostgreSQL)."""

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from guard.core.snapshot import WorkerKey
from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    WORKSPACE_SID,
    audit,
    email,
    fake_api_settings,
    populate,
    stored_state,
    worker_event,
    worker_sid,
)


@pytest.fixture
def settings_overrides(fake_api):
    """Point the REST client at the fake API."""
    return fake_api_settings(fake_api)


def test_alert_feeds_the_pipeline_and_dedups_against_webhook_state(runner, fake_api, services, taskrouter):
    """Known drift: silent. Unknown drift: alerted. Fixed drift and deleted drifting worker: resolved."""
    populate(fake_api, 4, drifting={1, 2})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1)))
    taskrouter.post(worker_event(sid=worker_sid(3), email=email(3), contact_uri="sip:old"))
    taskrouter.post(worker_event(sid=worker_sid(9), email=email(9), contact_uri="sip:gone"))
    audit(runner, "--alert", "--format", "json")
    with services.store.engine.connect() as connection:
        alerts = [(r.worker_sid, r.kind) for r in connection.execute(select(alert).order_by(alert.c.id))]
    assert alerts[3:] == [(worker_sid(2), "drift"), (worker_sid(3), "resolved"), (worker_sid(9), "resolved")]
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(9)))["verdict"] == "deleted"
    audit(runner, "--alert", "--format", "json")
    with services.store.engine.connect() as connection:
        assert len(connection.execute(select(alert)).all()) == 6  # a second sweep changes nothing


def test_alert_ignores_a_webhook_already_known_value_even_from_an_older_run(runner, fake_api, services, taskrouter):
    populate(fake_api, 1, drifting={1})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=8))
    audit(runner, "--alert")
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=ANN_URI, version=7))  # stale
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert (state["verdict"], state["version"]) == ("mismatch", 8)
