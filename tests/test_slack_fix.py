"""Fix from Slack: the signed buttons on drift alerts, and what a click may and may not do."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from guard.adapters.tables import alert, ignore_rule, slack_click
from guard.core.snapshot import WorkerKey
from handlers.app import create_app
from tests.conftest import make_settings
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_clicks import APPROVER, SIGNING_SECRET, STRANGER, click_payload, signed_click
from tests.helpers import (
    ACCOUNT_SID,
    WORKSPACE_SID,
    email,
    fake_api_settings,
    populate,
    remediations,
    stored_state,
    worker_event,
    worker_sid,
)
from tests.test_status import OPERATOR, PASSWORD

DRIFTING = worker_sid(1)
KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, DRIFTING)
REFERENCE = f"{ACCOUNT_SID}/{WORKSPACE_SID}/{DRIFTING}"


@pytest.fixture
def slack():
    """The Slack stub: alerts arrive at its webhook, answers at its response URLs."""
    stub = FakeSlack().start()
    yield stub
    stub.stop()


@pytest.fixture
def settings_overrides(fake_api, slack, request):
    """Buttons on: a signing secret, one approver, REST credentials for the local TaskRouter API."""
    base = {
        "slack_webhook_url": slack.url,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_approvers": frozenset({APPROVER}),
        "status_password": PASSWORD,
    }
    return {**fake_api_settings(fake_api), **base, **getattr(request, "param", {})}


@pytest.fixture
def drift(fake_api, taskrouter, services):
    """Worker 1 drifts (raw email): the API holds it, the guard alerted about it."""
    populate(fake_api, 2, drifting={1})
    bad = "client:" + email(1)
    assert (
        taskrouter.post(worker_event(sid=DRIFTING, email=email(1), contact_uri=bad, name="agent.1")).status_code == 204
    )
    return bad


def click(client, action_id="remove_contact_uri", value=REFERENCE, number=1, slack=None, **options):
    """Post one signed click; `number` picks its response_url."""
    body, headers = signed_click(click_payload(action_id, value, slack.response_url(number), **options))
    return client.post("/slack/interactions", data=body, headers=headers)


def rows(services, table):
    """How many rows `table` holds."""
    with services.store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


@pytest.mark.parametrize("settings_overrides", [{"alert_repeat": timedelta(hours=6)}], indirect=True)
def test_drift_alerts_and_reminders_carry_the_two_buttons(drift, services, slack):
    services.delivery.run_once()
    later = datetime.now(UTC) + timedelta(hours=7)
    services.pipeline.clock = services.delivery.clock = lambda: later
    assert services.pipeline.send_reminders() == 1
    services.delivery.run_once()
    assert [message["blocks"][0]["text"]["text"].split(":")[1] for message in slack.received] == [
        "rotating_light",
        "repeat",
    ]
    for message in slack.received:
        actions = next(block for block in message["blocks"] if block["type"] == "actions")
        assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
            ("remove_contact_uri", REFERENCE),
            ("ignore_worker", REFERENCE),
        ]
        assert actions["elements"][0]["confirm"]["confirm"]["text"] == "Remove"


@pytest.mark.parametrize("settings_overrides", [{"slack_signing_secret": None}, {"account_sid": None}], indirect=True)
def test_no_buttons_without_a_signing_secret_or_rest_credentials(drift, services, slack):
    services.delivery.run_once()
    assert not any(block["type"] == "actions" for block in slack.received[0]["blocks"])


def test_an_approver_click_removes_and_reports(drift, client, services, slack, fake_api):
    assert click(client, slack=slack).status_code == 200
    assert fake_api.updates == []  # acknowledged first; the removal happens in the background
    services.worker.jobs["clicks"].run()
    [update] = fake_api.updates
    assert update.worker_sid == DRIFTING and update.if_match == '"1"'
    assert "contact_uri" not in fake_api.attributes(WORKSPACE_SID, DRIFTING)
    [answer] = slack.answers_to(1)
    assert answer["replace_original"] is True
    assert "actions" not in json.dumps(answer["blocks"])
    assert f"<@{APPROVER}> removed `{drift}` from {DRIFTING}" in answer["text"]
    [record] = remediations(services)
    assert (record["actor"], record["status"]) == (f"slack:{APPROVER}", "removed")


@pytest.mark.parametrize(
    ("settings_overrides", "user", "said"),
    [
        ({}, STRANGER, f"<@{STRANGER}> is not in SLACK_APPROVERS"),
        ({"slack_approvers": frozenset()}, APPROVER, "Nobody may act from Slack yet: SLACK_APPROVERS is empty"),
    ],
    indirect=["settings_overrides"],
)
def test_anyone_else_gets_an_ephemeral_no_and_nothing_changes(drift, client, services, slack, fake_api, user, said):
    assert click(client, slack=slack, user=user).status_code == 200
    services.worker.jobs["clicks"].run()
    [answer] = slack.answers_to(1)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert said in answer["text"] and "Nothing was changed" in answer["text"]
    assert [path for method, path in fake_api.requests if method == "POST"] == []
    assert remediations(services) == [] and rows(services, ignore_rule) == 0


@pytest.mark.parametrize(
    "forgery",
    [
        "another secret",
        "six minutes old",
        "six minutes ahead",
        "no signature",
        "timestamp not a number",
        "body changed",
    ],
)
def test_forged_and_stale_clicks_get_401_and_cause_nothing(drift, client, services, slack, fake_api, forgery):
    payload = click_payload("remove_contact_uri", REFERENCE, slack.response_url(1))
    now = int(time.time())
    body, headers = {
        "another secret": lambda: signed_click(payload, secret="not-the-secret"),
        "six minutes old": lambda: signed_click(payload, timestamp=now - 360),
        "six minutes ahead": lambda: signed_click(payload, timestamp=now + 360),
        "no signature": lambda: (signed_click(payload)[0], {"Content-Type": "application/x-www-form-urlencoded"}),
        "timestamp not a number": lambda: (
            signed_click(payload)[0],
            {**signed_click(payload)[1], "X-Slack-Request-Timestamp": "soon"},
        ),
        "body changed": lambda: (signed_click(payload)[0] + b"x", signed_click(payload)[1]),
    }[forgery]()
    fake_api.requests.clear()
    response = client.post("/slack/interactions", data=body, headers=headers)
    assert response.status_code == 401
    services.worker.jobs["clicks"].run()
    assert rows(services, slack_click) == 0 and slack.responses == [] and fake_api.requests == []


def test_a_double_click_removes_once(drift, client, services, slack, fake_api):
    assert click(client, slack=slack, number=1).status_code == 200
    assert click(client, slack=slack, number=2).status_code == 200  # the same message: the same request
    assert click(client, slack=slack, number=3, message_ts="1764493200.000200").status_code == 200  # the reminder
    services.worker.jobs["clicks"].run()
    assert len(fake_api.updates) == 1
    assert len(slack.answers_to(1)) == 1 and slack.answers_to(2) == []
    [later] = slack.answers_to(3)
    assert "is no longer drifting" in later["text"] and "No longer drifting" in later["blocks"][0]["text"]["text"]


def test_intended_ignores_the_worker_resolves_the_alert_and_can_be_removed(drift, client, services, slack, taskrouter):
    assert click(client, "ignore_worker", slack=slack).status_code == 200
    services.worker.jobs["clicks"].run()
    assert stored_state(services, KEY)["verdict"] == "ignored"
    assert f"value marked intended by slack:{APPROVER}" in stored_state(services, KEY)["detail"]
    with services.store.engine.connect() as connection:
        kinds = [row.kind for row in connection.execute(select(alert.c.kind).order_by(alert.c.id))]
    assert kinds == ["drift", "resolved"]
    [answer] = slack.answers_to(1)
    assert f"<@{APPROVER}> marked `{drift}`" in answer["text"]
    # The rule holds for later events, and /status lists it with a button that removes it.
    taskrouter.post(worker_event(sid=DRIFTING, email=email(1), contact_uri="sip:other", name="agent.1", version=9))
    assert stored_state(services, KEY)["verdict"] == "ignored"
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    table = page.split('id="intended"')[1].split("</table>")[0]
    assert DRIFTING in table and f"slack:{APPROVER}" in table
    action = table.split('action="')[1].split('"')[0]
    assert client.post(action, headers=OPERATOR, data={"token": "forged"}).status_code == 403
    token = table.split('name="token" value="')[1].split('"')[0]
    assert client.post(action, headers=OPERATOR, data={"token": token}).status_code == 303
    assert rows(services, ignore_rule) == 0


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("", 400, "form field 'payload' is missing"),
        ("payload=%7Bnot+json", 400, "payload is not valid JSON"),
        ("payload=%5B%5D", 400, "payload is not a block_actions interaction"),
    ],
)
def test_unreadable_clicks_get_400(client, services, body, status, error):
    body_bytes, headers = signed_click(None, body=body)
    response = client.post("/slack/interactions", data=body_bytes, headers=headers)
    assert (response.status_code, response.get_json()) == (status, {"error": error})
    assert rows(services, slack_click) == 0


@pytest.mark.parametrize(
    ("action_id", "value", "error"),
    [
        ("delete_everything", REFERENCE, "unknown action_id"),
        ("remove_contact_uri", "WK123", "the button value does not name an account, workspace and worker"),
        ("remove_contact_uri", {"sid": DRIFTING}, "the button value does not name an account, workspace and worker"),
    ],
)
def test_unknown_actions_and_values_get_400(client, services, slack, action_id, value, error):
    response = click(client, action_id, value, slack=slack)
    assert (response.status_code, response.get_json()) == (400, {"error": error})


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (f"AC{'f' * 32}/{WORKSPACE_SID}/{DRIFTING}", "does not serve account"),
        (f"{ACCOUNT_SID}/{WORKSPACE_SID}/{worker_sid(99)}", f"knows no worker {worker_sid(99)}"),
    ],
)
def test_an_unknown_account_or_worker_gets_an_ephemeral_explanation(
    drift, client, services, slack, fake_api, value, said
):
    assert click(client, value=value, slack=slack).status_code == 200
    services.worker.jobs["clicks"].run()
    [answer] = slack.answers_to(1)
    assert answer["response_type"] == "ephemeral" and said in answer["text"]
    assert fake_api.updates == []


@pytest.mark.parametrize("settings_overrides", [{"slack_signing_secret": None}], indirect=True)
def test_without_a_signing_secret_there_is_no_endpoint(client, slack):
    assert click(client, slack=slack).status_code == 404


def test_a_click_after_the_credentials_went_away_fails_with_the_reason(
    drift, client, slack, fake_api, database_url, settings_overrides
):
    assert click(client, slack=slack).status_code == 200
    restarted = create_app(make_settings(database_url, **{**settings_overrides, "account_sid": None}))
    restarted.extensions["guard"].worker.jobs["clicks"].run()  # the click is applied after a restart without them
    [answer] = slack.answers_to(1)
    assert "TWILIO_ACCOUNT_SID is not set" in answer["text"] and "Nothing was changed" in answer["text"]
    assert fake_api.updates == []
    restarted.extensions["guard"].store.engine.dispose()
