"""Clicks that must not act as they did: on a value their message never showed, after a failure, once revoked."""

from dataclasses import replace
from datetime import timedelta

import pytest

from guard.core.click import value_digest
from guard.core.snapshot import WorkerKey
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, email, remediations, stored_state, uri, worker_event
from tests.slack_fix.support import DRIFTING, REFERENCE, click
from tests.slack_fix.test_came_back import OTHER, removed_and_back

SIP = "sip:agent1@pbx.example.com"  # another wrong value, set by hand and seen by nobody


def _buttons(answer):
    """The (action_id, value) of each button on a posted message."""
    actions = [block for block in answer["blocks"] if block["type"] == "actions"]
    return [(element["action_id"], element["value"]) for block in actions for element in block["elements"]]


@pytest.mark.parametrize("unseen", [SIP, ""], ids=["sip", "empty"])
def test_a_remove_click_keeps_a_wrong_value_its_message_did_not_show(unseen, drift, client, services, slack, fake_api):
    services.delivery.run_once()
    [alert] = slack.received
    [(_, shown_value), _] = _buttons(alert)
    assert shown_value == f"{REFERENCE}/{value_digest(drift)}"  # Remove is bound to the value shown
    fake_api.set_attributes(WORKSPACE_SID, DRIFTING, {"email": email(1), "contact_uri": unseen})  # no event yet
    assert click(client, value=shown_value, slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    assert fake_api.updates == []
    assert fake_api.attributes(WORKSPACE_SID, DRIFTING)["contact_uri"] == unseen
    [answer] = slack.answers_to(1)
    assert "changed since this message showed it: nothing removed" in answer["text"]
    assert [(r["status"], r["before_value"]) for r in remediations(services)] == [("skipped", unseen)]
    # Recorded as fetched (its event lost): the newest alert, which the answer points to, is there with its buttons
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, DRIFTING))["actual"] == unseen
    services.delivery.run_once()
    newest = slack.received[-1]
    assert _buttons(newest)[0] == ("remove_contact_uri", f"{REFERENCE}/{value_digest(unseen)}")


def test_a_failed_removal_keeps_both_buttons_and_a_new_click_tries_again(drift, client, services, slack, fake_api):
    bound = f"{REFERENCE}/{value_digest(drift)}"
    fake_api.inject(503, times=50, method="POST")  # TaskRouter refuses every update for now
    assert click(client, value=bound, number=1, slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    [failed] = slack.answers_to(1)
    assert failed["text"].startswith(":x: contact_uri removal failed")
    assert _buttons(failed) == [("remove_contact_uri", bound), ("ignore_worker", bound)]
    fake_api.faults.clear()  # TaskRouter is back: the same message's button, clicked again
    assert click(client, value=bound, number=2, slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    [removed] = slack.answers_to(2)
    assert f"removed `{drift}`" in removed["text"] and _buttons(removed) == []
    assert "contact_uri" not in fake_api.attributes(WORKSPACE_SID, DRIFTING)
    assert [r["status"] for r in remediations(services)] == ["failed", "removed"]


def test_a_click_waiting_when_its_approver_is_revoked_does_nothing(drift, client, services, slack, fake_api):
    assert click(client, slack=slack).status_code == 200  # recorded while the user was an approver
    services.pipeline.settings = replace(services.pipeline.settings, slack_approvers=frozenset())
    services.jobs.by_name["clicks"].run()
    assert fake_api.updates == [] and remediations(services) == []
    [answer] = slack.answers_to(1)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False  # the alert stays
    assert "SLACK_APPROVERS is empty" in answer["text"]


def test_a_failed_click_frees_its_message_only_once_its_answer_is_posted(drift, client, services, slack, fake_api):
    """Slack down when the failure is answered: a click meanwhile is a repeat, so the late answer cannot undo it."""
    bound = f"{REFERENCE}/{value_digest(drift)}"
    fake_api.inject(503, times=50, method="POST")
    slack.failing_answers = 1
    assert click(client, value=bound, number=1, slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()  # the removal fails, and so does posting that answer (for now)
    fake_api.faults.clear()
    assert click(client, value=bound, number=2, slack=slack).status_code == 200  # the alert's button, again
    services.jobs.by_name["clicks"].run()
    assert slack.answers_to(2) == [] and [r["status"] for r in remediations(services)] == ["failed"]
    later = services.pipeline.clock() + timedelta(minutes=3)  # the answer's lease has run out: posted now
    services.pipeline.clock = lambda: later
    services.jobs.by_name["clicks"].run()
    [failed] = slack.answers_to(1)
    assert _buttons(failed) == [("remove_contact_uri", bound), ("ignore_worker", bound)]
    assert click(client, value=bound, number=3, slack=slack).status_code == 200  # the failed answer's button
    services.jobs.by_name["clicks"].run()
    assert f"removed `{drift}`" in slack.answers_to(3)[0]["text"]
    assert [r["status"] for r in remediations(services)] == ["failed", "removed"]


def test_a_remove_click_on_a_value_whose_removed_one_came_back_names_neither(
    client, services, slack, taskrouter, fake_api
):
    """X alerted after Y came back, then Y again, unseen: not "came back", and no Intended for a value not shown."""
    removed_and_back(client, services, slack, taskrouter, fake_api)
    raw = "client:" + email(1)
    event = worker_event(sid=DRIFTING, email=email(1), contact_uri=raw, name="agent.1", version=4)
    assert taskrouter.post(event).status_code == 204
    fake_api.set_attributes(WORKSPACE_SID, DRIFTING, {"email": email(1), "contact_uri": OTHER})  # Y, no event yet
    bound = f"{REFERENCE}/{value_digest(raw)}"
    assert click(client, value=bound, number=3, slack=slack, message_ts="1764489800.000300").status_code == 200
    services.jobs.by_name["clicks"].run()
    [answer] = slack.answers_to(3)
    assert "changed since this message showed it: nothing removed" in answer["text"] and _buttons(answer) == []


def test_a_remove_click_that_finds_the_worker_fixed_ends_its_drift(drift, client, services, slack, fake_api):
    """Fixed in the Console while its event was lost: the click's re-check tells the state, no reminder follows."""
    fake_api.set_attributes(WORKSPACE_SID, DRIFTING, {"email": email(1), "contact_uri": uri(1)})  # no event
    assert click(client, value=f"{REFERENCE}/{value_digest(drift)}", slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    [answer] = slack.answers_to(1)
    assert "no longer a mismatch (now ok)" in answer["text"] and fake_api.updates == []
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, DRIFTING))
    assert (state["verdict"], state["actual"]) == ("ok", uri(1))
    services.delivery.run_once()
    assert [m["text"].split(":", 2)[1] for m in slack.received] == ["rotating_light", "white_check_mark"]
