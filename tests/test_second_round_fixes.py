"""Hardening, second round (issue 20): fixes never remove a deliberate value, never wedge, say what is left."""

import json

import pytest
from sqlalchemy import event

from guard.core.ignore import IgnoreRules
from guard.core.snapshot import WorkerKey
from tests.helpers import (
    ACCOUNT_SID,
    WORKSPACE_SID,
    audit,
    cloudevent,
    email,
    fake_api_settings,
    populate,
    post_cloudevents,
    remediations,
    stored_state,
    worker_event,
    worker_sid,
)
from tests.test_status import OPERATOR, PASSWORD

SIP = "sip:agent.1@pbx.example.com"


@pytest.fixture
def settings_overrides(fake_api, request):
    """REST credentials for the local TaskRouter API, the status page, and the parametrized settings."""
    return {**fake_api_settings(fake_api), "status_password": PASSWORD, **getattr(request, "param", {})}


@pytest.mark.parametrize(
    "settings_overrides",
    [{"remediate": "remove", "ignore": IgnoreRules().with_values("sip:*@pbx.example.com")}],
    indirect=True,
)
def test_7_a_deliberate_sip_value_is_never_removed(taskrouter, services, fake_api, runner):
    populate(fake_api, 2, extra={1: {"contact_uri": SIP}})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=SIP))
    services.jobs.by_name["remediate"].run()
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    assert fake_api.updates == [] and remediations(services) == []
    assert code == 0 and json.loads(out)["summary"]["ignored"] == 1


def test_8_a_lone_surrogate_in_another_attribute_does_not_stop_a_removal(runner, fake_api, services):
    populate(fake_api, 3, drifting={1, 2}, extra={1: {"notes": "\ud800 stray half of a pair"}})
    code, _ = audit(runner, "--remediate", "--yes", "--format", "json")
    assert [update.worker_sid for update in fake_api.updates] == [worker_sid(1), worker_sid(2)]
    assert fake_api.attributes(WORKSPACE_SID, worker_sid(1))["notes"] == "\ud800 stray half of a pair"  # kept exactly
    assert code == 0


def test_8_a_removal_that_fails_is_an_error_and_the_audit_goes_on(runner, fake_api, services):
    populate(fake_api, 3, drifting={1, 2})
    fake_api.inject(400, times=1, method="POST", path_contains=worker_sid(1))
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    results = {row["sid"]: row.get("remediation") for row in json.loads(out)["workers"]}
    assert (results[worker_sid(1)], results[worker_sid(2)]) == ("failed", "removed")
    assert code == 2


def test_16_after_removals_the_state_the_summary_and_the_exit_code_say_what_is_left(
    runner, fake_api, services, client, taskrouter
):
    populate(fake_api, 3, drifting={1})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1)))
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["mismatch"] == 0
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert (state["verdict"], state["actual"]) == ("pending", None)
    [row] = client.get("/api/workers?verdict=pending", headers=OPERATOR).get_json()["workers"]
    assert row["worker_sid"] == worker_sid(1) and "removed by" in row["detail"]


def test_10_a_300_event_batch_shares_its_transactions(client, services):
    commits = []
    event.listen(services.store.engine, "commit", lambda connection: commits.append(1))
    batch = [cloudevent(sid=worker_sid(n), email=email(n), contact_uri="client:" + email(n)) for n in range(1, 301)]
    response = post_cloudevents(client, batch)
    assert response.status_code == 200 and response.json["recorded"] == 300
    assert len(commits) <= 300 // 10  # group commit: a few transactions, not one per element (was 300)
