"""The Flex identity rules: a contact_uri is judged against twilio_contact_identity, else the email or worker name."""

import base64
import json

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from guard.core.evidence import Basis, Policy
from guard.core.snapshot import WorkerKey
from guard.core.verdict import Diagnosis, Kind, judge
from tests.flex_workers import ANN, BROKEN, DANA, FOX, HEALTHY, JOHN, MELVIN, WALTER, flex_attributes
from tests.helpers import (
    ACCOUNT_SID,
    WORKSPACE_SID,
    audit,
    cloudevent,
    fake_api_settings,
    post_cloudevents,
    stored_state,
    worker_event,
)


def verdict_of(worker, **options):
    """The core's verdict on one of the shapes in tests/flex_workers.py."""
    sid, name, attributes = worker
    return judge(attributes, sid, worker_name=name, **options)


@pytest.mark.parametrize(
    ("worker", "basis", "expected"),
    [
        (DANA, Basis.WORKER_NAME, "client:dana_2Escully"),
        (FOX, Basis.TWILIO_CONTACT_IDENTITY, "client:fmulder"),
        (ANN, Basis.TWILIO_CONTACT_IDENTITY, "client:ann_2Eveal_40arresteddevelopment_2Ecom"),
    ],
)
def test_a_value_matching_the_flex_identity_is_ok_and_says_which_evidence(worker, basis, expected):
    verdict = verdict_of(worker)
    assert (verdict.kind, verdict.basis, verdict.expected) == (Kind.OK, basis, expected)


def test_an_email_normalised_value_is_broken_when_flex_recorded_another_identity():
    verdict = verdict_of(JOHN)
    assert (verdict.kind, verdict.diagnosis, verdict.basis) == (
        Kind.MISMATCH,
        Diagnosis.NOT_IDENTITY,
        "twilio_contact_identity",
    )
    assert verdict.expected == "client:jbyers"
    assert "built from the email" in verdict.detail and "client:jbyers" in verdict.detail


def test_a_value_built_from_the_name_is_broken_too_under_a_recorded_identity():
    sid, _, attributes = FOX
    verdict = judge({**attributes, "contact_uri": "client:Fox_20Mulder"}, sid, worker_name="fox.mulder")
    assert verdict.kind is Kind.MISMATCH and verdict.expected == "client:fmulder"
    verdict = judge({**attributes, "contact_uri": "client:fox_2Emulder"}, sid, worker_name="fox.mulder")
    assert verdict.diagnosis is Diagnosis.NOT_IDENTITY and "built from the worker name" in verdict.detail


def test_a_value_matching_nothing_is_broken_and_expects_the_email_form():
    verdict = verdict_of(MELVIN)
    assert verdict.kind is Kind.MISMATCH
    assert (verdict.basis, verdict.expected) == (Basis.EMAIL, "client:melvin_2Efrohike_40fbi_2Eexample")
    assert verdict.diagnosis is Diagnosis.OTHER_EMAIL


def test_a_pre_provisioned_worker_is_pending_whatever_its_name():
    verdict = verdict_of(WALTER)
    assert (verdict.kind, verdict.basis, verdict.expected) == (
        Kind.PENDING, Basis.EMAIL, "client:walter_2Eskinner_40fbi_2Eexample",
    )  # fmt: skip


def test_a_display_name_with_spaces_is_not_an_identity():
    attributes = flex_attributes("ann.veal@x.example", "Ann Veal", "client:Ann_20Veal")
    assert judge(attributes, worker_name="Ann Veal").kind is Kind.MISMATCH
    assert (
        judge({**attributes, "contact_uri": "client:ann_2Eveal_40x_2Eexample"}, worker_name="Ann Veal").kind is Kind.OK
    )


@pytest.mark.parametrize("recorded", ["john.byers", "jbyers_2e", 42])
def test_a_malformed_recorded_identity_is_set_aside_with_a_note(recorded):
    sid, name, attributes = JOHN
    attributes = {**attributes, "twilio_contact_identity": recorded}
    verdict = judge(attributes, sid, worker_name=name)
    assert (verdict.kind, verdict.basis) == (Kind.OK, Basis.EMAIL)
    assert "twilio_contact_identity is not" in verdict.detail and "so it was not used" in verdict.detail


def test_case_and_escaping_mistakes_against_the_recorded_identity_are_named():
    sid, name, attributes = JOHN
    diagnoses = {
        value: judge({**attributes, "contact_uri": value}, sid, worker_name=name).diagnosis
        for value in ("client:JBYERS", "client:jbyers_", "sip:jbyers", "jbyers", "client:mscully")
    }
    assert diagnoses == {
        "client:JBYERS": Diagnosis.CASE_ONLY,
        "client:jbyers_": Diagnosis.MALFORMED,
        "sip:jbyers": Diagnosis.WRONG_SCHEME,
        "jbyers": Diagnosis.WRONG_SCHEME,
        "client:mscully": Diagnosis.OTHER_IDENTITY,
    }


def test_the_email_policy_judges_against_the_email_alone():
    assert verdict_of(DANA, policy=Policy.EMAIL).kind is Kind.MISMATCH
    assert verdict_of(FOX, policy=Policy.EMAIL).kind is Kind.MISMATCH
    assert verdict_of(JOHN, policy=Policy.EMAIL).kind is Kind.OK


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
    assert post_cloudevents(client, batch).get_json() == {"recorded": 5, "skipped": 0, "bad": 0}
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
    assert audit(runner, "--remediate", "--yes", "--format", "json")[0] == 1
    assert sorted(update.worker_sid for update in flex_workspace.updates) == sorted(w[0] for w in BROKEN)
    for sid, _, attributes in HEALTHY:
        assert flex_workspace.attributes(WORKSPACE_SID, sid) == attributes
    after_john = flex_workspace.attributes(WORKSPACE_SID, JOHN[0])
    assert after_john == {k: v for k, v in JOHN[2].items() if k != "contact_uri"}


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
    assert csv_text.splitlines()[0].split(",")[9] == "basis"


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
