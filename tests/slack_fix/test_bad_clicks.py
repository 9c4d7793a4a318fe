"""Fix from Slack: clicks the guard cannot read, or may not act on: a clear 400 or an ephemeral reason, never a 500."""

import json

import pytest

from guard.adapters.tables import slack_click
from handlers.app import create_app
from tests.conftest import make_settings
from tests.fakes.slack_clicks import STRANGER, click_payload, signed_click
from tests.helpers import ACCOUNT_SID, ANN_EMAIL, ANN_URI, WORKSPACE_SID, worker_event, worker_sid
from tests.slack_fix.support import DRIFTING, REFERENCE, click, rows


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
    ("field", "error"),
    [
        ("message_ts", "payload has a message_ts that is no Slack timestamp"),
        ("response_url", "payload has no response_url"),
    ],
)
def test_a_lone_surrogate_in_a_signed_click_gets_400_not_500(client, services, slack, field, error):
    payload = click_payload("remove_contact_uri", REFERENCE, slack.response_url(1))
    if field == "message_ts":
        payload["container"]["message_ts"] = "\ud800"
    else:
        payload["response_url"] = "https://hooks.slack.com/actions/\ud800"
    body, headers = signed_click(payload)
    response = client.post("/slack/interactions", data=body, headers=headers)
    assert (response.status_code, response.get_json()) == (400, {"error": error})
    assert rows(services, slack_click) == 0


def test_a_click_on_a_deleted_worker_says_so_and_calls_nothing(drift, client, taskrouter, services, slack, fake_api):
    assert taskrouter.post(worker_event("worker.deleted", sid=DRIFTING, version=2)).status_code == 204
    for number, action_id in ((1, "remove_contact_uri"), (2, "ignore_worker")):
        assert click(client, action_id, number=number, slack=slack).status_code == 200
        services.jobs.by_name["clicks"].run()
        [answer] = slack.answers_to(number)
        assert answer["response_type"] == "ephemeral" and "was deleted in TaskRouter" in answer["text"]
    assert [path for _, path in fake_api.requests if DRIFTING in path] == []  # not even a fetch


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
    services.jobs.by_name["clicks"].run()
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
    restarted.extensions["guard"].jobs.by_name["clicks"].run()  # the click is applied after a restart without them
    [answer] = slack.answers_to(1)
    assert "TWILIO_ACCOUNT_SID is not set" in answer["text"] and "Nothing was changed" in answer["text"]
    assert fake_api.updates == []
    restarted.extensions["guard"].store.engine.dispose()


def test_a_refused_click_replayed_20_times_is_one_row_and_one_answer(drift, client, services, slack, fake_api):
    body, headers = signed_click(click_payload("remove_contact_uri", REFERENCE, slack.response_url(1), user=STRANGER))
    assert {client.post("/slack/interactions", data=body, headers=headers).status_code for _ in range(21)} == {200}
    assert click(client, slack=slack, number=2, user=STRANGER).status_code == 200  # clicked again: the same request
    assert rows(services, slack_click) == 1
    services.jobs.by_name["clicks"].run()
    [answer] = slack.answers_to(1)
    assert answer["response_type"] == "ephemeral" and slack.answers_to(2) == []
    # The refusal merges with nobody else's: an approver's click on the same message still acts.
    assert click(client, slack=slack, number=3).status_code == 200
    services.jobs.by_name["clicks"].run()
    assert rows(services, slack_click) == 2 and len(fake_api.updates) == 1


def test_a_click_on_the_longest_alert_a_worker_can_cause_is_taken(client, taskrouter, services, slack):
    face = "\U0001f600"  # 4 bytes in UTF-8, 12 as Slack's \\uXXXX pair, 36 once form-encoded
    ok = {"email": ANN_EMAIL, "contact_uri": ANN_URI, "roles": ["agent"], **{f"k{n}": "a" for n in range(190)}}
    broken = {"email": face * 400 + "@x.com", "contact_uri": "client:" + face * 1100, "roles": ["agent"]}
    broken.update({f"k{n}": face * 200 for n in range(190)})
    for version, attributes, name in ((1, ok, "ann"), (2, broken, face * 600)):
        event = worker_event(sid=DRIFTING, version=version, name=name, WorkerAttributes=json.dumps(attributes))
        assert taskrouter.post(event).status_code == 204
    assert services.delivery.run_once() == 1
    [message] = slack.received
    payload = click_payload("remove_contact_uri", REFERENCE, slack.response_url(1))
    body, headers = signed_click({**payload, "message": {"text": message["text"], "blocks": message["blocks"]}})
    assert len(body) > 64 * 1024  # the bound clicks had before
    assert client.post("/slack/interactions", data=body, headers=headers).status_code == 200
    assert rows(services, slack_click) == 1


@pytest.mark.parametrize(
    "elsewhere",
    [
        "http://127.0.0.1:9/actions/T0GUARD/1/x",  # another port of this host: an internal service
        "http://169.254.169.254/latest/meta-data",  # a cloud's metadata
        "https://hooks.slack.com.example.net/actions/T0/1/x",
        "https://hooks.slack.com/services/T0/B0/SECRET",  # Slack's, but an incoming webhook: another channel
        "https://hooks.slack.com/actions/../services/T0/B0/SECRET",  # resolved by a server on the way
        "https://hooks.slack.com/actions/%2e%2e/services/T0/B0/SECRET",
        "https://hooks.slack.com/actions/T0/1/x/../../../services/T0/B0/SECRET",  # after a valid start
        "https://hooks.slack.com/actions/T0/1/x%2f..%2f..%2f..%2fservices%2fT0%2fB0%2fSECRET",
        "https://hooks.slack.com/actions/T0/1/x?redirect=https://elsewhere",
    ],
)
def test_a_signed_click_whose_response_url_is_not_slacks_gets_400_and_nothing_is_posted(
    client, services, slack, elsewhere
):
    payload = click_payload("remove_contact_uri", REFERENCE, slack.response_url(1))
    payload["response_url"] = elsewhere  # a leaked signing secret must not make the guard post anywhere
    body, headers = signed_click(payload)
    response = client.post("/slack/interactions", data=body, headers=headers)
    assert (response.status_code, response.get_json()) == (400, {"error": "response_url is not a Slack answer URL"})
    assert rows(services, slack_click) == 0


def test_slacks_own_answer_urls_are_taken():
    from guard.core.click import parse_click

    for url in (
        "https://hooks.slack.com/actions/T0ABCDEF/1234567890123/AbCdEfGhIjKlMnOpQrStUvWx",
        "https://hooks.slack-gov.com/actions/T0/1/x",
        "https://hooks.slack.com/app/T111/123/xyz",  # as a message shortcut's
        "https://HOOKS.slack.com/actions/T0/1/x",  # a host's case is no other host
    ):
        payload = click_payload("remove_contact_uri", REFERENCE, url)
        assert parse_click(json.dumps(payload)).response_url == url


def test_two_presses_without_a_container_are_keyed_by_the_message_not_each_press(client, services, slack):
    """Slack sends `container` for a message's buttons; without it, its `message.ts` still names the message."""
    for _ in range(2):
        payload = click_payload("remove_contact_uri", REFERENCE, slack.response_url(1))  # a new action_ts each
        del payload["container"]
        payload["message"] = {"ts": "1764489600.000100", "text": "drift"}
        body, headers = signed_click(payload)
        assert client.post("/slack/interactions", data=body, headers=headers).status_code == 200
    assert rows(services, slack_click) == 1


def test_the_answer_urls_of_every_configured_webhook_are_taken():
    from types import SimpleNamespace

    from handlers.slack_interactions import _answer_origins

    accounts = [
        SimpleNamespace(slack_webhook_url=None),
        SimpleNamespace(slack_webhook_url="https://Relay.example:8443/h"),
    ]
    svc = SimpleNamespace(
        settings=SimpleNamespace(slack_webhook_url="https://a.example/x"), accounts=SimpleNamespace(accounts=accounts)
    )
    assert {"https://a.example", "https://relay.example:8443", "https://hooks.slack.com"} <= _answer_origins(svc)
