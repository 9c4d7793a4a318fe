"""Authentic worker events: what each type stores and alerts, a duplicate done once, older versions never winning."""

import json

import pytest

from guard.adapters.tables import alert
from guard.core.snapshot import WorkerKey
from tests.helpers import ACCOUNT_SID, ANN_URI, WORKSPACE_SID, stored_state, worker_event, worker_sid
from tests.taskrouter_events.support import KEY, row_count, rows


def test_drift_is_recorded_alerted_and_answered_204_json(taskrouter, services, capsys):
    response = taskrouter.post(worker_event(contact_uri="sip:ann@example.com"))
    assert response.status_code == 204
    assert response.content_type == "application/json"
    state = stored_state(services, KEY)
    assert state["verdict"] == "mismatch"
    assert (state["expected"], state["actual"]) == (ANN_URI, "sip:ann@example.com")
    assert state["name"] == "Ann Veal"
    assert state["version"] == 1
    [queued] = rows(services, alert)
    assert (queued["kind"], queued["channel"], queued["status"]) == ("drift", "log", "delivered")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"alert"' in line]
    assert [(entry["event"], entry["kind"], entry["actual"]) for entry in lines] == [
        ("alert", "drift", "sip:ann@example.com")
    ]


@pytest.mark.parametrize("event_type", ["worker.created", "worker.attributes.update"])
def test_healthy_and_pending_workers_are_recorded_without_alert(taskrouter, services, event_type):
    assert taskrouter.post(worker_event(event_type, sid=worker_sid(1))).status_code == 204
    assert taskrouter.post(worker_event(event_type, sid=worker_sid(2), contact_uri=None)).status_code == 204
    assert stored_state(services, KEY)["verdict"] == "ok"
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(2)))["verdict"] == "pending"
    assert rows(services, alert) == []


@pytest.mark.parametrize("event_type", ["reservation.created", "task.created", "worker.capacity.update"])
def test_other_events_get_204_and_no_work(taskrouter, services, event_type):
    fields = worker_event(event_type, contact_uri="sip:drift")
    assert taskrouter.post(fields).status_code == 204
    assert row_count(services) == 0


@pytest.mark.parametrize("attributes", [None, ""], ids=["absent", "blank"])
def test_deleted_worker_closes_its_drift(taskrouter, services, attributes):
    taskrouter.post(worker_event(contact_uri="sip:x", version=1))
    deleted = worker_event("worker.deleted", version=2)
    if attributes is None:
        del deleted["WorkerAttributes"]
    else:
        deleted["WorkerAttributes"] = attributes
    assert taskrouter.post(deleted).status_code == 204
    assert stored_state(services, KEY)["verdict"] == "deleted"
    kinds = [(r["kind"], json.loads(r["payload"])["note"]) for r in rows(services, alert)]
    assert kinds == [("drift", "contact_uri drifted"), ("resolved", "worker deleted")]


def test_same_event_sid_is_processed_once(taskrouter, services):
    fields = worker_event(contact_uri="sip:x")
    assert taskrouter.post(fields).status_code == 204
    assert taskrouter.post(fields).status_code == 204
    assert len(rows(services, alert)) == 1


def test_older_worker_version_never_overwrites_newer_state(taskrouter, services):
    taskrouter.post(worker_event(contact_uri="sip:new", version=5))
    taskrouter.post(worker_event(contact_uri=ANN_URI, version=4))
    state = stored_state(services, KEY)
    assert (state["verdict"], state["actual"], state["version"]) == ("mismatch", "sip:new", 5)
    assert [r["kind"] for r in rows(services, alert)] == ["drift"]


def test_stale_update_after_delete_does_not_resurrect(taskrouter, services):
    taskrouter.post(worker_event("worker.deleted", version=3))
    taskrouter.post(worker_event(contact_uri="sip:x", version=3))
    assert stored_state(services, KEY)["verdict"] == "deleted"
    assert rows(services, alert) == []


@pytest.mark.parametrize("event_type", ["activity.created", "activity.updated"])
def test_activity_events_which_the_full_path_answers_get_204_json_too(taskrouter, event_type):
    fields = worker_event(event_type, ActivitySid="WA" + "0" * 32, ActivityName="Offline", ActivityAvailable="false")
    response = taskrouter.post(fields)
    assert (response.status_code, response.content_type) == (204, "application/json")
