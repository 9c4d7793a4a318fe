"""The Flex identity rules through the service: both intakes, audit and remediation, status, and Slack."""

import base64
import csv
import io
import json

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from guard.core.snapshot import WorkerKey
from tests.flex_workers import BROKEN, DANA, HEALTHY, JOHN, MELVIN, WALTER
from tests.helpers import (
    ACCOUNT_SID,
    WORKSPACE_SID,
    audit,
    batch_answer,
    cloudevent,
    fake_api_settings,
    post_cloudevents,
    stored_state,
    worker_event,
)


def alert_rows(services):
    """Every queued alert's kind and payload."""
    with services.store.engine.connect() as connection:
        return [(r.kind, json.loads(r.payload)) for r in connection.execute(select(alert).order_by(alert.c.id))]


def state_of(services, worker):
    """The stored state of one of the shapes."""
    return stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker[0]))


def taskrouter_event(worker):
    """A signed-ready TaskRouter callback carrying the shape's WorkerName and attributes."""
    sid, name, attributes = worker
    return worker_event(sid=sid, name=name, WorkerAttributes=json.dumps(attributes))


def test_taskrouter_callbacks_follow_the_identity_rules(taskrouter, services):
    for worker in (*HEALTHY, *BROKEN, WALTER):
        assert taskrouter.post(taskrouter_event(worker)).status_code == 204
    assert [state_of(services, w)["basis"] for w in HEALTHY] == ["worker_name", *["twilio_contact_identity"] * 2]
    assert [state_of(services, w)["verdict"] for w in (*HEALTHY, *BROKEN, WALTER)] == [
        "ok", "ok", "ok", "mismatch", "mismatch", "pending",
    ]  # fmt: skip
    drifts = [payload for kind, payload in alert_rows(services) if kind == "drift"]
    assert [(p["worker_sid"], p["expected"], p["basis"]) for p in drifts] == [
        (JOHN[0], "client:jbyers", "twilio_contact_identity"),
        (MELVIN[0], "client:melvin_2Efrohike_40fbi_2Eexample", "email"),
    ]


def test_event_streams_follow_the_identity_rules(client, services):
    batch = []
    for sid, name, attributes in (*HEALTHY, *BROKEN):
        event = cloudevent(sid=sid)
        event["data"]["payload"].update(worker_name=name, worker_attributes=json.dumps(attributes))
        batch.append(event)
    assert post_cloudevents(client, batch).get_json() == batch_answer(recorded=5)
    assert [kind for kind, _ in alert_rows(services)] == ["drift", "drift"]
    assert state_of(services, DANA)["basis"] == "worker_name"
    assert state_of(services, JOHN)["expected"] == "client:jbyers"


@pytest.fixture
def settings_overrides(request):
    """Per-test settings (the audit tests point the REST client at the fake API)."""
    return getattr(request, "param", {})


@pytest.fixture
def flex_workspace(fake_api, settings_overrides):
    """The fake TaskRouter API holding every shape; the app is pointed at it."""
    for sid, name, attributes in (*HEALTHY, *BROKEN, WALTER):
        fake_api.add_worker(WORKSPACE_SID, sid, name, attributes)
    settings_overrides.update(fake_api_settings(fake_api))
    return fake_api


def test_remediation_removes_only_the_broken_values(flex_workspace, runner):
    assert audit(runner, "--remediate", "--yes", "--format", "json")[0] == 0  # the broken values are gone
    assert sorted(update.worker_sid for update in flex_workspace.updates) == sorted(w[0] for w in BROKEN)
    for sid, _, attributes in HEALTHY:
        assert flex_workspace.attributes(WORKSPACE_SID, sid) == attributes
    after_john = flex_workspace.attributes(WORKSPACE_SID, JOHN[0])
    assert after_john == {k: v for k, v in JOHN[2].items() if k != "contact_uri"}


def test_a_value_normalised_from_the_name_to_the_email_is_drift_and_the_audit_removes_it(
    flex_workspace, taskrouter, services, runner
):
    sid, _, attributes = DANA
    assert taskrouter.post(taskrouter_event(DANA)).status_code == 204  # ok against her name: what Flex wrote
    normalised = {**attributes, "contact_uri": "client:dana_2Escully_40fbi_2Eexample"}  # "fixed" per the article
    flex_workspace.set_attributes(WORKSPACE_SID, sid, normalised)
    event = worker_event(sid=sid, name="dana.scully", version=2, WorkerAttributes=json.dumps(normalised))
    assert taskrouter.post(event).status_code == 204
    [(kind, payload)] = alert_rows(services)
    assert (kind, payload["expected"], payload["basis"]) == ("drift", "client:dana_2Escully", "worker_name")
    audit(runner, "--remediate", "--yes", "--format", "json")  # its re-check knows what the guard knew
    assert "contact_uri" not in flex_workspace.attributes(WORKSPACE_SID, sid)


def test_the_audit_report_shows_the_basis_and_counts_workers_per_basis(flex_workspace, runner):
    _, out = audit(runner, "--format", "json")
    report = json.loads(out)
    assert report["basis"] == {"twilio_contact_identity": 3, "email": 2, "worker_name": 1}
    by_sid = {w["sid"]: w for w in report["workers"]}
    assert by_sid[DANA[0]]["basis"] == "worker_name" and by_sid[JOHN[0]]["expected"] == "client:jbyers"
    _, table = audit(runner)
    assert "JUDGED BY" in table
    assert "identities: 3 by twilio_contact_identity, 2 by email, 1 by worker name" in table.splitlines()[-1]
    _, csv_text = audit(runner, "--format", "csv")
    assert next(csv.reader(io.StringIO(csv_text)))[9] == "basis"


STATUS_PASSWORD = "status-secret"


@pytest.mark.parametrize("settings_overrides", [{"status_password": STATUS_PASSWORD}], indirect=True)
def test_status_page_and_api_show_what_each_value_was_judged_against(taskrouter, client):
    for worker in (DANA, JOHN):
        taskrouter.post(taskrouter_event(worker))
    auth = {"Authorization": "Basic " + base64.b64encode(f"admin:{STATUS_PASSWORD}".encode()).decode()}
    workers = {w["worker_sid"]: w for w in client.get("/api/workers", headers=auth).get_json()["workers"]}
    assert (workers[DANA[0]]["basis"], workers[JOHN[0]]["basis"]) == ("worker_name", "twilio_contact_identity")
    html = client.get("/status", headers=auth).get_data(as_text=True)
    drift_row = html.split('id="drift"')[1].split(JOHN[0])[1].split("</tr>")[0]
    assert "<th>Judged against</th>" in html and "<td>twilio_contact_identity</td>" in drift_row


@pytest.fixture
def slack_hook(httpserver, settings_overrides):
    """Alerts go to a local server playing Slack's webhook."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    settings_overrides["slack_webhook_url"] = httpserver.url_for("/hook")
    return httpserver


def test_the_slack_alert_names_the_evidence(slack_hook, taskrouter, services):
    taskrouter.post(taskrouter_event(JOHN))
    services.delivery.run_once()
    [(request, _)] = slack_hook.log
    message = json.loads(request.get_data())
    fields = [field["text"] for field in message["blocks"][1]["fields"]]
    assert "*Judged against*\ntwilio_contact_identity" in fields
    assert "*Expected contact_uri*\n`client:jbyers`" in fields
