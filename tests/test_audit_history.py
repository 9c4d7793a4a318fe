"""The audit judges with what the guard knew: a rewritten identity or wiped attributes are drift there too."""

import json

import pytest

from tests.helpers import WORKSPACE_SID, audit, fake_api_settings, worker_event, worker_sid

FLEX = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}
REWRITTEN = {**FLEX, "twilio_contact_identity": "dscully", "contact_uri": "client:dscully"}  # consistent-looking


@pytest.fixture
def settings_overrides(fake_api):
    """Point the REST client at the fake API."""
    return fake_api_settings(fake_api)


def entry(out: str) -> dict:
    """Worker 1's entry in a JSON report."""
    return next(w for w in json.loads(out)["workers"] if w["sid"] == worker_sid(1))


@pytest.mark.parametrize(
    ("now", "diagnosis"), [(REWRITTEN, "identity_changed"), ({"type": "support"}, "wiped")], ids=["rewrite", "wipe"]
)
def test_drift_only_the_history_shows_is_reported_and_exits_1(runner, fake_api, taskrouter, now, diagnosis):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", now)
    code, out = audit(runner, "--format", "json")
    assert (code, entry(out)["verdict"]) == (0, "ok" if now is REWRITTEN else "ignored")  # nothing known yet
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(FLEX)))  # the guard learns the worker
    code, out = audit(runner, "--format", "json")
    found = entry(out)
    assert (code, found["verdict"], found["diagnosis"]) == (1, "mismatch", diagnosis)
    assert found["expected"] == "client:fmulder"


def test_remediation_plans_the_removal_of_a_rewritten_identity(runner, fake_api, taskrouter):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", REWRITTEN)
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(FLEX)))
    code, _ = audit(runner, "--remediate", "--yes")
    assert code == 0  # removed: pending until the agent's next login
    assert "contact_uri" not in fake_api.attributes(WORKSPACE_SID, worker_sid(1))
