"""ALERT_REPEAT_HOURS: a drift still open gets a reminder, once per period, even without new events."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from tests.helpers import ANN_URI, worker_event, worker_sid


def kinds(services):
    """Alert kinds in the outbox, oldest first."""
    with services.store.engine.connect() as connection:
        return [r.kind for r in connection.execute(select(alert.c.kind).order_by(alert.c.id))]


@pytest.mark.parametrize("settings_overrides", [{"alert_repeat": timedelta(hours=6)}])
def test_open_drift_is_reminded_once_per_period(taskrouter, services, clock, settings_overrides):
    taskrouter.post(worker_event(sid=worker_sid(1), contact_uri="sip:x"))
    taskrouter.post(worker_event(sid=worker_sid(2), contact_uri=ANN_URI))
    clock.advance(5 * 3600)
    services.jobs.by_name["remind"].run()
    assert kinds(services) == ["drift"]
    clock.advance(3600 + 1)
    assert services.pipeline.send_reminders() == 1
    assert services.pipeline.send_reminders() == 0
    assert kinds(services) == ["drift", "reminder"]
    clock.advance(6 * 3600)
    services.jobs.by_name["remind"].run()
    assert kinds(services) == ["drift", "reminder", "reminder"]


def test_no_reminders_when_off(taskrouter, services, clock):
    taskrouter.post(worker_event(contact_uri="sip:x"))
    clock.advance(30 * 24 * 3600)
    assert services.pipeline.send_reminders() == 0
    assert kinds(services) == ["drift"]
