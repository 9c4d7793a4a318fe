"""Values never removed, in Slack (back after a removal; on a worker without email): no Remove button, Intended kept."""

import json

from tests.helpers import WORKSPACE_SID, email, populate, uri, worker_event
from tests.slack_fix.support import DRIFTING, click

OTHER = uri(2)  # a value a Flex login could write (another user's identity), wrong for worker 1


def removed_and_back(client, services, slack, taskrouter, fake_api):
    """Worker 1 drifts, a Remove click removes the value, the next login writes it back: that alert as sent."""
    populate(fake_api, 2)
    fake_api.set_attributes(WORKSPACE_SID, DRIFTING, {"email": email(1), "contact_uri": OTHER})
    posted = [worker_event(sid=DRIFTING, email=email(1), contact_uri=OTHER, name="agent.1", version=1)]
    assert taskrouter.post(posted[0]).status_code == 204
    services.delivery.run_once()
    click(client, slack=slack, number=1)
    services.jobs.by_name["clicks"].run()
    assert len(fake_api.updates) == 1
    fake_api.set_attributes(WORKSPACE_SID, DRIFTING, {"email": email(1), "contact_uri": OTHER})  # Flex, at login
    for version, value in ((2, None), (3, OTHER)):  # the removal's own update, then the value back
        event = worker_event(sid=DRIFTING, email=email(1), contact_uri=value, name="agent.1", version=version)
        assert taskrouter.post(event).status_code == 204
    services.delivery.run_once()
    return slack.received[-1]


def actions_in(blocks):
    """The action ids of every button in `blocks`."""
    return [element["action_id"] for block in blocks if block["type"] == "actions" for element in block["elements"]]


def test_a_value_back_after_its_removal_is_alerted_without_the_advice_or_button_to_remove_it(
    client, services, slack, taskrouter, fake_api
):
    message = removed_and_back(client, services, slack, taskrouter, fake_api)
    text = json.dumps(message["blocks"])
    assert "came back after the guard removed it" in text and "fix what writes this value" in text
    assert "remove `contact_uri` from the worker's attributes" not in text
    assert actions_in(message["blocks"]) == ["ignore_worker"]


def test_a_remove_click_on_it_answers_nothing_removed_and_keeps_the_intended_button(
    client, services, slack, taskrouter, fake_api
):
    removed_and_back(client, services, slack, taskrouter, fake_api)
    click(client, slack=slack, number=2, message_ts="1764489700.000200")  # the first alert's Remove, again
    services.jobs.by_name["clicks"].run()
    assert len(fake_api.updates) == 1  # nothing removed twice
    [answer] = slack.answers_to(2)
    assert "Nothing removed" in json.dumps(answer["blocks"]) and "or mark it intended" in answer["text"]
    assert actions_in(answer["blocks"]) == ["ignore_worker"]  # the only place to mark it intended


FLEX = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}
REWRITTEN = {**FLEX, "twilio_contact_identity": "dscully"}  # identity rewritten, contact_uri untouched


def rewritten_alert(services, slack, taskrouter, fake_api):
    """The drift alert for a rewritten identity whose value is still what the browser registers."""
    fake_api.add_worker(WORKSPACE_SID, DRIFTING, "fmulder", REWRITTEN)
    for version, attributes in ((1, FLEX), (2, REWRITTEN)):
        event = worker_event(sid=DRIFTING, version=version, name="fmulder", WorkerAttributes=json.dumps(attributes))
        assert taskrouter.post(event).status_code == 204
    services.delivery.run_once()
    return slack.received[-1]


def test_a_value_the_browser_still_registers_is_alerted_without_the_advice_or_button_to_remove_it(
    services, slack, taskrouter, fake_api
):
    message = rewritten_alert(services, slack, taskrouter, fake_api)
    text = json.dumps(message["blocks"])
    assert "remove `contact_uri` from the worker's attributes" not in text and "keep this value" in text
    assert actions_in(message["blocks"]) == ["ignore_worker"]


def test_a_remove_click_on_a_value_the_browser_registers_keeps_the_intended_button(
    client, services, slack, taskrouter, fake_api
):
    rewritten_alert(services, slack, taskrouter, fake_api)
    click(client, slack=slack, number=1)
    services.jobs.by_name["clicks"].run()
    assert fake_api.updates == []
    [answer] = slack.answers_to(1)
    assert "Nothing removed" in json.dumps(answer["blocks"])
    assert actions_in(answer["blocks"]) == ["ignore_worker"]


def test_a_value_no_voice_client_registers_on_a_worker_without_email_is_alerted_without_remove(
    services, slack, taskrouter
):
    assert (
        taskrouter.post(worker_event(sid=DRIFTING, email=None, contact_uri="client:ann.veal@x.com")).status_code == 204
    )
    services.delivery.run_once()
    message = slack.received[-1]
    text = json.dumps(message["blocks"])
    assert "only letters, digits and _ can register" in text and "The guard removes nothing" in text
    assert "expected — actual client:ann.veal@x.com" in message["text"]
    assert actions_in(message["blocks"]) == ["ignore_worker"]
