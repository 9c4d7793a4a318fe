"""ALERT_REPEAT_HOURS: a drift still open gets a reminder, once per period, even without new events."""

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from guard.adapters.tables import alert, worker_state
from handlers.app import create_app
from tests.conftest import make_settings
from tests.helpers import ANN_URI, AVAILABLE_SID, worker_event, worker_sid
from tests.processes import wait_for


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


@pytest.mark.parametrize("settings_overrides", [{"alert_repeat": timedelta(hours=1)}])
def test_an_available_agent_with_no_value_is_reminded_as_a_drift_is(taskrouter, services, clock, settings_overrides):
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    taskrouter.post(worker_event(sid=worker_sid(1), contact_uri=None, **available))  # paged: cannot ring
    taskrouter.post(worker_event(sid=worker_sid(2), contact_uri=None))  # Offline: Flex writes it at the login
    clock.advance(3600 + 1)
    assert services.pipeline.send_reminders() == 1
    with services.store.engine.connect() as connection:
        kind, payload = connection.execute(select(alert.c.kind, alert.c.payload).order_by(alert.c.id.desc())).first()
    assert kind == "reminder" and json.loads(payload)["worker_sid"] == worker_sid(1)
    assert json.loads(payload)["note"].startswith("still unable to take calls (available, with no contact_uri since ")


@pytest.mark.parametrize("settings_overrides", [{"alert_repeat": timedelta(hours=1)}])
def test_reminders_of_agents_who_cannot_take_calls_now_go_first(taskrouter, services, clock, settings_overrides):
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    for number in (1, 2, 3):  # offline drifts, listed first by SID
        taskrouter.post(worker_event(sid=worker_sid(number), contact_uri="sip:x"))
    taskrouter.post(worker_event(sid=worker_sid(4), contact_uri="sip:x", **available))
    clock.advance(3600 + 1)
    assert services.pipeline.send_reminders() == 4
    with services.store.engine.connect() as connection:
        query = select(alert.c.worker_sid).where(alert.c.kind == "reminder").order_by(alert.c.id)
        sids = [row.worker_sid for row in connection.execute(query)]
    assert sids[0] == worker_sid(4) and sorted(sids[1:]) == [worker_sid(1), worker_sid(2), worker_sid(3)]
    with services.store.engine.connect() as connection:
        query = select(alert.c.worker_sid, alert.c.payload).where(alert.c.kind == "reminder")
        notes = {row.worker_sid: json.loads(row.payload)["note"] for row in connection.execute(query)}
    # As its page said (an on-call review: the reminder of an agent who cannot take calls did not say so)
    assert notes[worker_sid(4)].endswith("; available now: calls cannot reach this agent")
    assert notes[worker_sid(1)].startswith("still drifting since ") and "available now" not in notes[worker_sid(1)]


def test_no_reminders_when_off(taskrouter, services, clock):
    taskrouter.post(worker_event(contact_uri="sip:x"))
    clock.advance(30 * 24 * 3600)
    assert services.pipeline.send_reminders() == 0
    assert kinds(services) == ["drift"]


def _lock_row(connection, sid):
    """Hold worker `sid`'s state row, as an event batch's upsert does until its commit."""
    connection.execute(select(worker_state.c.version).where(worker_state.c.worker_sid == sid).with_for_update())


def _waiting_for_locks(services):
    """Sessions waiting for a row lock now (asked afresh: a transaction would keep its first answer)."""
    with services.store.engine.connect() as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        return connection.execute(text(query)).scalar()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("settings_overrides", [{"alert_repeat": timedelta(hours=6)}])
def test_reminders_lock_drifts_in_the_order_event_batches_do(taskrouter, services, clock, settings_overrides):
    """A batch locks its workers in key order; reminders taken meanwhile do too, so the two never deadlock."""
    for n in (2, 1):  # stored in this order: a scan meets worker 2 first
        taskrouter.post(worker_event(sid=worker_sid(n), contact_uri="sip:x"))
    clock.advance(7 * 3600)
    taken: list[int] = []
    with services.store.engine.connect() as batch:
        _lock_row(batch, worker_sid(1))
        reminders = threading.Thread(target=lambda: taken.append(services.pipeline.send_reminders()))
        reminders.start()
        wait_for(lambda: _waiting_for_locks(services) > 0, timeout=10)  # the reminders wait on worker 1
        _lock_row(batch, worker_sid(2))  # the batch's next worker: free unless the reminders took it out of order
        batch.commit()
    reminders.join(10)
    assert taken == [2]
    assert kinds(services) == ["drift", "drift", "reminder", "reminder"]


def test_an_account_taken_out_of_the_configuration_gets_no_more_reminders(database_url, clock, services, taskrouter):
    """Its events get 403 and no audit sweeps it, so its drifts can never end: reminders would go on for ever."""
    taskrouter.post(worker_event(sid=worker_sid(1), contact_uri="sip:x"))
    other = "AC" + "9" * 32
    restarted = create_app(make_settings(database_url, account_sid=other, alert_repeat=timedelta(hours=1)))
    pipeline = restarted.extensions["guard"].pipeline
    pipeline.clock = clock
    try:
        clock.advance(3600 + 1)
        assert pipeline.send_reminders() == 0
        assert kinds(services) == ["drift"]
    finally:
        restarted.extensions["guard"].jobs.stop(timeout=5)
        restarted.extensions["guard"].writer.stop(timeout=5)
        restarted.extensions["guard"].store.engine.dispose()


SLACK_PENDING = {"alert_repeat": timedelta(hours=1), "slack_webhook_url": "http://127.0.0.1:9/services/T0/B0/XYZ"}


@pytest.mark.parametrize("settings_overrides", [SLACK_PENDING])
def test_no_reminder_while_the_alert_it_repeats_waits_in_the_outbox_and_the_hour_counts_from_its_post(
    taskrouter, services, clock, settings_overrides
):
    """A flood at Slack's pace: a reminder queued behind the drift it repeats only grows the backlog."""
    taskrouter.post(worker_event(sid=worker_sid(1), contact_uri="sip:x"))  # its alert waits for Slack
    clock.advance(3 * 3600)
    assert services.pipeline.send_reminders() == 0 and kinds(services) == ["drift"]
    with services.store.engine.begin() as connection:  # posted now, three hours after it was raised
        connection.execute(alert.update().values(status="delivered", delivered_at=services.pipeline.clock()))
    clock.advance(1800)
    assert services.pipeline.send_reminders() == 0  # an hour from its post, not from when it was raised
    clock.advance(1800 + 1)
    assert services.pipeline.send_reminders() == 1 and kinds(services) == ["drift", "reminder"]
