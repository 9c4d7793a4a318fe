"""Who cannot take calls right now: a broken agent who goes Available gets one urgent alert; the rest waits."""

import json

import pytest

from guard.core.snapshot import WorkerKey
from tests.activity.conftest import BREAK_SID, READY_SID, WRONG, activity_callback, activity_event, offline, outbox
from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    WORKSPACE_SID,
    cloudevent,
    email,
    populate,
    post_cloudevents,
    stored_state,
    worker_sid,
)

KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
LEAD = "available now: calls cannot reach this agent"


def test_a_broken_agent_who_goes_available_gets_one_urgent_slack_message(taskrouter, services, slack, capsys):
    assert taskrouter.post(offline(1, contact_uri=WRONG)).status_code == 204
    assert taskrouter.post(activity_event(2, contact_uri=WRONG)).status_code == 204
    assert [kind for kind, _ in outbox(services)] == ["drift", "urgent"]
    services.delivery.run_once()
    urgent = slack.received[1]
    assert urgent["text"].startswith(f"<!subteam^S0ONCALL> {LEAD}")
    assert urgent["blocks"][0]["text"]["text"] == f"<!subteam^S0ONCALL> *{LEAD}*"
    actions = next(block for block in urgent["blocks"] if block["type"] == "actions")
    assert [button["action_id"] for button in actions["elements"]] == ["remove_contact_uri", "ignore_worker"]
    assert "`Available` (available)" in json.dumps(urgent["blocks"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"event": "alert"' in line]
    assert [(line["kind"], line["urgent"], line["level"]) for line in lines] == [
        ("drift", False, "warning"),
        ("urgent", True, "error"),  # without Slack the log is the page: at error level
    ]


def test_an_offline_broken_agent_and_one_that_leaves_available_cause_nothing_more(taskrouter, services):
    taskrouter.post(offline(1, contact_uri=WRONG))
    taskrouter.post(activity_event(2, "Break", BREAK_SID, contact_uri=WRONG))  # unknown: not guessed available
    assert [kind for kind, _ in outbox(services)] == ["drift"]
    taskrouter.post(activity_event(3, contact_uri=WRONG))
    taskrouter.post(activity_event(4, "Offline", offline(0)["WorkerActivitySid"], contact_uri=WRONG))
    taskrouter.post(activity_event(5, contact_uri=WRONG))  # flapping back within the hour: no second page
    assert [kind for kind, _ in outbox(services)] == ["drift", "urgent"]
    state = stored_state(services, KEY)
    assert (state["verdict"], state["activity_name"], state["available"]) == ("mismatch", "Available", True)


def test_a_drift_raised_while_available_is_one_urgent_alert(taskrouter, services):
    taskrouter.post(activity_event(1))
    taskrouter.post(activity_event(2, contact_uri=WRONG))
    [(kind, payload)] = outbox(services)
    assert kind == "urgent" and payload["urgent"] is True
    assert payload["note"] == "contact_uri drifted while the agent is available"
    assert payload["actual"] == WRONG and payload["fix_buttons"]


def test_a_pending_agent_who_goes_available_is_urgent_without_a_remove_button(taskrouter, services, slack):
    taskrouter.post(offline(1, contact_uri=None))
    taskrouter.post(activity_event(2, contact_uri=None))
    [(kind, payload)] = outbox(services)
    assert (kind, payload["verdict"], payload["note"]) == (
        "urgent",
        "pending",
        "the agent became available with no contact_uri yet",
    )
    services.delivery.run_once()
    assert not any(block["type"] == "actions" for block in slack.received[0]["blocks"])  # nothing to remove


def test_the_fix_resolves_an_urgent_drift(taskrouter, services):
    taskrouter.post(activity_event(1, contact_uri=WRONG))
    taskrouter.post(activity_event(2))
    assert [kind for kind, _ in outbox(services)] == ["urgent", "resolved"]
    assert stored_state(services, KEY)["urgent_at"] is None
    taskrouter.post(activity_event(3, contact_uri="client:another_2Ewrong"))  # broken again: a new episode
    assert [kind for kind, _ in outbox(services)] == ["urgent", "resolved", "urgent"]


def test_removing_the_value_of_an_available_agent_says_it_stays_unreachable_until_the_next_login(
    taskrouter, services, slack
):
    taskrouter.post(activity_event(1, contact_uri=WRONG))
    taskrouter.post(activity_event(2, contact_uri=None))  # removed: Flex writes it at the next login
    _, resolved = outbox(services)[-1]
    assert resolved["kind"] == "resolved"
    assert "still unreachable until the agent signs out and in again" in resolved["note"]
    assert services.store.listing.unreachable_count() == 1
    services.delivery.run_once()  # not headed "Resolved" while /status lists the agent (an on-call review)
    assert slack.received[-1]["text"].startswith(":warning: Drift over, still unable to take calls")


def test_a_drift_resolved_by_an_update_that_makes_the_agent_available_without_a_value_pages(taskrouter, services):
    taskrouter.post(offline(1, contact_uri=WRONG))  # a drift, offline: not paged
    taskrouter.post(activity_event(3, contact_uri=None))  # the removal (version 2) arrives later, or never
    (first, _), (kind, urgent) = outbox(services)
    assert (first, kind, urgent["verdict"]) == ("drift", "urgent", "pending")
    assert urgent["note"] == (
        "contact_uri removed; Flex regenerates it at the next login; the agent became available with no "
        "contact_uri yet: still unreachable until the agent signs out and in again"
    )


def test_a_page_on_an_agent_with_no_value_yet_is_resolved_when_it_can_ring_or_is_deleted(taskrouter, services):
    taskrouter.post(offline(1, contact_uri=None))
    taskrouter.post(activity_event(2, contact_uri=None))  # paged: available with no contact_uri yet
    taskrouter.post(activity_event(3))  # Flex wrote the value at the login
    assert [(kind, payload["note"]) for kind, payload in outbox(services)][1:] == [
        ("resolved", "contact_uri is correct again")
    ]
    other = worker_sid(2)
    taskrouter.post(activity_event(4, contact_uri=None, sid=other))
    taskrouter.post(offline(5, sid=other, contact_uri=None, EventType="worker.deleted"))
    assert [kind for kind, _ in outbox(services)][2:] == ["urgent", "resolved"]


def test_after_a_removal_the_value_written_at_the_login_resolves_the_page(taskrouter, services):
    taskrouter.post(activity_event(1, contact_uri=WRONG))  # paged
    taskrouter.post(activity_event(2, contact_uri=None))  # removed: resolved, still unreachable
    taskrouter.post(activity_event(3))  # the next login: the right value
    assert [kind for kind, _ in outbox(services)] == ["urgent", "resolved", "resolved"]
    assert outbox(services)[-1][1]["note"] == "contact_uri is correct again"


@pytest.mark.parametrize("back_with", [None, "sip:desk@pbx.example.com"])
def test_a_page_resolved_while_the_agent_is_away_pages_again_when_it_comes_back_unable(taskrouter, services, back_with):
    # Paged, then the value removed while the agent was on a break: "resolved" was the admin's last word, and the
    # hour's quiet held back the page when the agent came back with no value, or with a new wrong one (a model check)
    taskrouter.post(activity_event(1, contact_uri=WRONG))  # paged
    taskrouter.post(activity_event(2, "Break", BREAK_SID, contact_uri=WRONG))
    taskrouter.post(activity_event(3, "Break", BREAK_SID, contact_uri=None))  # removed: resolved
    taskrouter.post(activity_event(4, "Break", BREAK_SID, contact_uri=back_with))  # a new drift, if any
    taskrouter.post(activity_event(5, contact_uri=back_with))  # back from the break: still logged in, no login
    kinds = [kind for kind, _ in outbox(services)]
    assert kinds == ["urgent", "resolved", *(["drift"] if back_with else []), "urgent"]
    taskrouter.post(activity_event(6, "Break", BREAK_SID, contact_uri=back_with))
    taskrouter.post(activity_event(7, contact_uri=back_with))  # flapping within the hour: paged once, as ever
    assert [kind for kind, _ in outbox(services)] == kinds


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_paged_agent_whose_value_the_guard_removed_on_a_break_is_not_paged_again_within_the_hour(
    taskrouter, services, fake_api
):
    populate(fake_api, 1, drifting={1})
    wrong = fake_api.attributes(WORKSPACE_SID, worker_sid(1))["contact_uri"]
    flex = fake_api.add_flex_activities(WORKSPACE_SID)
    taskrouter.post(activity_event(1, contact_uri=wrong, email=email(1)))  # paged; a removal is queued
    fake_api.set_activity(WORKSPACE_SID, worker_sid(1), flex["Break"])  # on a break before the removal ran
    services.jobs.by_name["remediate"].run()  # "contact_uri removed": the admin's last word
    taskrouter.post(activity_event(3, "Break", flex["Break"], contact_uri=None, email=email(1)))  # the removal's
    taskrouter.post(activity_event(4, contact_uri=None, email=email(1)))  # back within the hour, no login
    # The removal said the agent must sign in again: a script the guard keeps undoing paged at every return
    assert [kind for kind, _ in outbox(services)] == ["urgent", "remediation"]
    assert outbox(services)[1][1]["note"].endswith("the agent must sign out and in again")


def test_event_streams_carry_the_activity_too(client, services):
    def moved(version, name, contact_uri):
        activity = {"worker_activity_sid": "WA" + "1" * 32, "worker_activity_name": name, "worker_version": version}
        return cloudevent("worker.activity.update", contact_uri=contact_uri, **activity)

    assert post_cloudevents(client, [moved(1, "Available", ANN_URI), moved(2, "Available", WRONG)]).status_code == 200
    assert [kind for kind, _ in outbox(services)] == ["urgent"]
    assert stored_state(services, KEY)["activity_name"] == "Available"


@pytest.mark.parametrize("settings_overrides", [{"available_activities": frozenset({"ready"})}], indirect=True)
def test_available_activities_names_which_activities_route_tasks(taskrouter, services):
    taskrouter.post(activity_event(1, contact_uri=WRONG))  # "Available" is not in the list now: unknown
    assert [kind for kind, _ in outbox(services)] == ["drift"]
    taskrouter.post(activity_event(2, "READY", "WA" + "3" * 32, contact_uri=WRONG))
    assert [kind for kind, _ in outbox(services)] == ["drift", "urgent"]


def test_a_rewritten_identity_whose_value_the_browser_still_registers_is_a_drift_but_no_page(taskrouter, services):
    fmulder = {"email": "agent@twilio.com", "roles": ["agent"], "twilio_contact_identity": "fmulder"}
    fmulder["contact_uri"] = "client:fmulder"
    rewritten = {**fmulder, "twilio_contact_identity": "dscully"}  # edited: the browser still registers fmulder
    taskrouter.post(activity_event(1, WorkerAttributes=json.dumps(fmulder)))
    taskrouter.post(activity_event(2, WorkerAttributes=json.dumps(rewritten)))
    assert [kind for kind, _ in outbox(services)] == ["drift"]  # alerted, not paged: this agent rings
    state = stored_state(services, KEY)
    assert (state["verdict"], state["diagnosis"], state["actual"]) == ("mismatch", "identity_changed", "client:fmulder")
    assert services.store.listing.unreachable_count() == 0


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removal_goes_by_the_activity_its_fresh_fetch_saw(taskrouter, services, fake_api):
    populate(fake_api, 1, drifting={1})
    wrong = fake_api.attributes(WORKSPACE_SID, worker_sid(1))["contact_uri"]
    taskrouter.post(activity_event(1, contact_uri=wrong, email=email(1)))  # paged; a removal is queued
    fake_api.set_activity(WORKSPACE_SID, worker_sid(1), fake_api.add_flex_activities(WORKSPACE_SID)["Offline"])
    services.jobs.by_name["remediate"].run()  # the agent went Offline; its event is not in yet
    kind, removed = outbox(services)[-1]
    assert kind == "remediation" and "still unreachable" not in removed["note"]
    assert (stored_state(services, KEY)["activity_name"], services.store.listing.unreachable_count()) == ("Offline", 0)


def test_an_agent_whose_activity_is_learned_to_route_tasks_is_paged_as_available_not_as_becoming_so(
    taskrouter, services
):
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG))  # Ready: not known to route tasks yet
    taskrouter.post(activity_callback("activity.created"))  # it does: the agent sat there all along
    assert [(kind, payload["note"]) for kind, payload in outbox(services)] == [
        ("drift", "contact_uri drifted"),
        ("urgent", "the agent is available with a wrong contact_uri"),
    ]


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removal_whose_fresh_fetch_finds_the_agent_available_is_its_page(taskrouter, services, fake_api, slack):
    """Drift on a break; the agent came back before the removal, its event not in yet: nobody was ever paged."""
    populate(fake_api, 1, drifting={1})
    wrong = fake_api.attributes(WORKSPACE_SID, worker_sid(1))["contact_uri"]
    taskrouter.post(offline(1, contact_uri=wrong, email=email(1)))  # a drift, no page; a removal is queued
    fake_api.set_activity(WORKSPACE_SID, worker_sid(1), fake_api.add_flex_activities(WORKSPACE_SID)["Available"])
    services.jobs.by_name["remediate"].run()
    kind, page = outbox(services)[-1]
    assert kind == "urgent" and page["note"].startswith("contact_uri removed") and "became available" in page["note"]
    services.delivery.run_once()  # no value now: its field is no removal message's "Removed contact_uri" (a re-check)
    assert "*Actual contact_uri*" in json.dumps(slack.received[-1]["blocks"])
    back = activity_event(2, contact_uri=wrong, email=email(1))  # the move, made before the removal, then the removal's
    back["TimestampMs"] = str(int(back["TimestampMs"]) - 60_000)
    taskrouter.post(back)
    taskrouter.post(activity_event(3, contact_uri=None, email=email(1)))
    assert [kind for kind, _ in outbox(services)] == ["drift", "urgent"]  # paged once
    assert services.store.listing.unreachable_count() == 1
