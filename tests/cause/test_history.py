"""Wiped attributes and a rewritten identity are drift: no single update talks its way past what the guard knew."""

import json

import pytest

from guard.core.snapshot import WorkerKey
from tests.cause.conftest import kinds, outbox
from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    WORKSPACE_SID,
    cloudevent,
    post_cloudevents,
    stored_state,
    worker_event,
    worker_sid,
)

KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
WIPE = json.dumps({"type": "support"})  # the public samples' whole-object update


def state(services):
    """The stored state of worker 1."""
    return stored_state(services, KEY)


def test_a_healthy_agent_whose_attributes_are_wiped_is_alerted_as_a_mismatch(taskrouter, services):
    taskrouter.post(worker_event(version=1))
    taskrouter.post(worker_event(version=2, WorkerAttributes=WIPE))
    row = state(services)
    assert (row["verdict"], row["diagnosis"], row["expected"], row["actual"]) == ("mismatch", "wiped", ANN_URI, None)
    [(kind, payload)] = outbox(services)
    assert kind == "drift" and "attributes wiped" in payload["detail"] and ANN_URI in payload["detail"]


def test_a_wiped_drifting_agent_stays_a_mismatch_and_the_wipe_resolves_nothing(client, services):
    events = [cloudevent(contact_uri="sip:ann", worker_version=1), cloudevent(worker_version=2, worker_attributes=WIPE)]
    post_cloudevents(client, events)
    assert state(services)["verdict"] == "mismatch"
    assert "resolved" not in kinds(services)
    post_cloudevents(client, [cloudevent(worker_version=3, worker_attributes=WIPE)])  # wiped still: still drifting
    assert state(services)["verdict"] == "mismatch"


def test_a_worker_never_seen_with_an_email_or_contact_uri_stays_no_flex_agent(taskrouter, services):
    taskrouter.post(worker_event(version=1, WorkerAttributes=WIPE))
    assert state(services)["verdict"] == "ignored" and kinds(services) == []


@pytest.mark.parametrize("follows", [True, False])
def test_a_rewritten_identity_is_announced_with_both_values(taskrouter, services, follows):
    flex = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(flex)))
    rewritten = {
        **flex,
        "twilio_contact_identity": "dscully",
        "contact_uri": "client:dscully" if follows else "client:fmulder",
    }
    taskrouter.post(worker_event(version=2, WorkerAttributes=json.dumps(rewritten)))
    [(kind, payload)] = outbox(services)
    assert kind == "drift" and payload["diagnosis"] == "identity_changed"
    assert "from fmulder to dscully" in payload["detail"]
    assert payload["expected"] == "client:fmulder"
    assert ("contact_uri follows the new one" in payload["detail"]) is follows
    assert state(services)["verdict"] == "mismatch"
    taskrouter.post(worker_event(version=3, WorkerAttributes=json.dumps(rewritten)))  # again: no second alert
    assert kinds(services) == ["drift"]


def test_the_same_identity_back_resolves_the_rewrite(taskrouter, services):
    flex = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(flex)))
    taskrouter.post(worker_event(version=2, WorkerAttributes=json.dumps({**flex, "twilio_contact_identity": "x"})))
    taskrouter.post(worker_event(version=3, WorkerAttributes=json.dumps(flex)))
    assert kinds(services) == ["drift", "resolved"]


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_the_prescribed_fix_removes_the_value_of_a_rewritten_identity(taskrouter, services, fake_api):
    flex = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}
    rewritten = {**flex, "twilio_contact_identity": "dscully", "contact_uri": "client:dscully"}
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", rewritten)
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(flex)))
    taskrouter.post(worker_event(version=2, WorkerAttributes=json.dumps(rewritten)))
    services.jobs.by_name["remediate"].run()  # the fresh worker alone looks fine: what the guard knew decides
    assert "contact_uri" not in fake_api.attributes(WORKSPACE_SID, worker_sid(1))


def _updates(fake_api):
    """The attribute updates the guard sent to the TaskRouter API."""
    return [path for method, path in fake_api.requests if method == "POST" and "/Workers/" in path]


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_the_update_the_fix_causes_leaves_the_rewritten_worker_pending_and_queues_nothing(
    taskrouter, services, fake_api
):
    flex = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}
    rewritten = {**flex, "twilio_contact_identity": "dscully", "contact_uri": "client:dscully"}
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", rewritten)
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(flex)))
    taskrouter.post(worker_event(version=2, WorkerAttributes=json.dumps(rewritten)))
    services.jobs.by_name["remediate"].run()
    left = fake_api.attributes(WORKSPACE_SID, worker_sid(1))  # the removal's own update comes back as an event
    taskrouter.post(worker_event(version=3, WorkerAttributes=json.dumps(left)))
    services.jobs.by_name["remediate"].run()
    row = state(services)
    assert (row["verdict"], row["diagnosis"], row["expected"]) == ("pending", "identity_changed", "client:fmulder")
    assert len(_updates(fake_api)) == 1 and kinds(services)[-1] == "remediation"


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_wiped_attributes_are_alerted_and_nothing_is_removed(taskrouter, services, fake_api):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "Ann Veal", json.loads(WIPE))
    taskrouter.post(worker_event(version=1))
    taskrouter.post(worker_event(version=2, WorkerAttributes=WIPE))
    services.jobs.by_name["remediate"].run()
    assert _updates(fake_api) == [] and kinds(services) == ["drift"]
    assert state(services)["verdict"] == "mismatch"
