"""What else the update changed, and who TaskRouter says made it: in the alert, on /status and /api/workers."""

import json
import time

import pytest
from alembic import command
from sqlalchemy import select, update

from guard.adapters import db
from guard.adapters.tables import cause_lookup, worker_state
from tests.cause.conftest import kinds, outbox
from tests.helpers import (
    ANN_EMAIL,
    AVAILABLE_SID,
    WORKSPACE_SID,
    cloudevent,
    post_cloudevents,
    worker_event,
    worker_sid,
)
from tests.test_status import OPERATOR, PASSWORD

BASE = {"email": ANN_EMAIL, "full_name": "Ann Veal", "roles": ["agent"], "routing": {"skills": ["es"]}}
HEALTHY = {**BASE, "contact_uri": "client:ann_2Eveal_40arresteddevelopment_2Ecom"}
BROKEN = {**BASE, "contact_uri": "client:ann.veal", "routing": {"skills": ["fr"]}, "team": "north"}


def post(taskrouter, version, attributes, **fields):
    """A signed worker.attributes.update carrying `attributes`; returns its Sid."""
    event = worker_event(version=version, WorkerAttributes=json.dumps(attributes), **fields)
    assert taskrouter.post(event).status_code == 204
    return event["Sid"]


def copied(services, at_ms):
    """Date the guard's copy of worker 1 at `at_ms` (TaskRouter's time of the update it keeps)."""
    with services.store.engine.begin() as connection:
        connection.execute(
            update(worker_state).where(worker_state.c.worker_sid == worker_sid(1)).values(occurred_ms=at_ms)
        )


def test_a_drift_alert_lists_the_other_keys_the_same_update_changed(taskrouter, services):
    post(taskrouter, 1, HEALTHY)
    post(taskrouter, 2, BROKEN)
    [(_, payload)] = outbox(services)
    changes = {c["path"]: (c["before"], c["after"]) for c in payload["changes"]["changes"]}
    assert changes == {"routing.skills": ('["es"]', '["fr"]'), "team": (None, "north")}  # contact_uri is the drift


def test_a_first_sight_says_there_is_no_earlier_copy(taskrouter, services, slack):
    post(taskrouter, 1, BROKEN)
    [(_, payload)] = outbox(services)
    assert payload["changes"]["first_sight"] is True


def test_with_credentials_the_alert_waits_for_and_names_who_changed_it(taskrouter, services, slack, fake_api):
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 2, BROKEN)
    fake_api.add_event(
        WORKSPACE_SID,
        "worker.attributes.update",
        worker_sid(1),
        sid=sid,
        actor_sid="US" + "9" * 32,
        actor_type="user",
        source="web",
    )
    assert services.delivery.run_once() == 0  # held for the lookup (CAUSE_WAIT_SECONDS)
    assert services.jobs.by_name["causes"].run() == 1
    assert services.delivery.run_once() == 1
    [message] = slack.received
    shown = json.dumps(message["blocks"])
    assert "US" + "9" * 32 in shown and "actor type user" in shown and "source web" in shown and "203.0.113.7" in shown
    assert f"event {sid}" in shown and "routing.skills" in shown


@pytest.mark.parametrize("ago_ms", [60_000, 3 * 3600_000, 20 * 86400_000], ids=["1min", "3h", "20d"])
@pytest.mark.parametrize("intake", ["taskrouter", "event-streams"])  # the CloudEvent's payload names its Event too
def test_a_drift_first_carried_by_an_activity_change_names_the_update_before_it(
    taskrouter, client, services, fake_api, ago_ms, intake
):
    post(taskrouter, 1, HEALTHY)
    breaker = {"actor_sid": "US" + "1" * 32, "actor_type": "user", "source": "api", "source_ip_address": "198.51.100.9"}
    now = int(time.time() * 1000)  # version 2 broke the value; its callback never reached the guard
    copied(services, now - ago_ms - 60_000)  # the guard's copy (version 1) is older than version 2
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now - ago_ms, **breaker)
    if intake == "taskrouter":
        sid = post(taskrouter, 3, BROKEN, EventType="worker.activity.update")  # the agent goes Available
    else:
        event = cloudevent("worker.activity.update", worker_version="3")
        event["data"]["payload"]["worker_attributes"] = json.dumps(BROKEN)
        sid = event["data"]["payload"]["sid"]
        assert post_cloudevents(client, [event]).status_code == 200
    agent = {"actor_sid": worker_sid(1), "actor_type": "worker", "source": "web", "source_ip_address": "192.0.2.50"}
    fake_api.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(1), sid=sid, **agent)
    services.jobs.by_name["causes"].run()
    [(_, payload)] = outbox(services)
    assert (payload["cause"]["actor_sid"], payload["cause"]["source_ip_address"]) == ("US" + "1" * 32, "198.51.100.9")
    assert payload["changes"]["since_version"] == 1  # what version 2 changed is listed, but not as this event's


@pytest.mark.parametrize("settings_overrides", [{"account_sid": None}], indirect=True)
def test_a_line_break_in_a_changed_key_or_value_cannot_forge_lines_in_the_list(taskrouter, services, slack):
    post(taskrouter, 1, HEALTHY)
    forged = {"note\n~ contact_uri: fixed by IT (ticket 42)": "x", "team": "ops\n- roles removed"}
    post(taskrouter, 2, {**BROKEN, **forged})
    services.delivery.run_once()
    [message] = slack.received
    [listed] = [b["text"]["text"] for b in message["blocks"] if "What else" in json.dumps(b)]
    lines = listed.splitlines()
    assert len(lines) == 4 and any("note\\n~ contact_uri" in line for line in lines)  # the heading, 3 changes


@pytest.mark.parametrize("settings_overrides", [{"account_sid": None}], indirect=True)  # out at once: no lookup
def test_changes_across_updates_the_guard_never_received_say_since_which_version(taskrouter, services, slack):
    post(taskrouter, 1, HEALTHY)
    post(taskrouter, 4, BROKEN)  # versions 2 and 3 never reached the guard
    services.delivery.run_once()
    [message] = slack.received
    shown = json.dumps(message["blocks"])
    assert "What else changed since version 1 (updates in between never reached the guard)" in shown
    assert "What else this update changed" not in shown and "routing.skills" in shown


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}], indirect=True)
def test_the_update_that_carried_a_drift_across_a_gap_is_not_named_as_the_one_that_made_it(
    taskrouter, client, services, slack, fake_api
):
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 3, BROKEN)  # a supervisor's edit of another key; version 2 broke the value, unseen
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, actor_sid="US" + "2" * 32)
    services.jobs.by_name["causes"].run()
    services.delivery.run_once()
    carried = "the update that carried the drift; updates since version 1 never reached the guard"
    assert carried in json.dumps(slack.received[0]["blocks"])
    assert carried in client.get("/status", headers=OPERATOR).get_data(as_text=True)


def test_event_streams_deliveries_find_the_change_in_the_events_list(client, services, slack, fake_api):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "ann.veal", BROKEN)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=int(time.time() * 1000) - 500)
    post_cloudevents(client, [cloudevent(contact_uri="client:ann.veal")])
    services.jobs.by_name["causes"].run()
    [(_, payload)] = outbox(services)
    assert payload["cause"]["source"] == "api" and payload["cause"]["source_ip_address"] == "203.0.113.7"


@pytest.mark.parametrize("status", [404, 500])
def test_a_failing_lookup_lets_the_alert_go_out_saying_why(taskrouter, services, slack, fake_api, status):
    post(taskrouter, 1, BROKEN)
    fake_api.inject(status, times=20, path_contains="/Events")
    for _ in range(5):  # 5xx: tried again later (attempts), then given up on; 404: the list finds nothing
        services.jobs.by_name["causes"].run()
        _release_retries(services)
    services.delivery.run_once()
    [message] = slack.received
    assert "who changed it:" in json.dumps(message["blocks"])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<html>Sign in to the proxy</html>", "the answer is not JSON"),
        ("[]", "the answer is not a TaskRouter resource"),  # JSON of another shape: a list, a text, null
        ('"ok"', "the answer is not a TaskRouter resource"),
        ('{"error": "proxy says no"}', "the answer is not a TaskRouter resource"),  # the Events list's one key
    ],
)
def test_a_lookup_answered_200_with_no_resource_fails_once_and_the_alert_says_why(
    taskrouter, services, slack, fake_api, body, says
):
    post(taskrouter, 1, BROKEN)
    fake_api.inject(200, times=20, path_contains="/Events", body=body)
    assert services.jobs.by_name["causes"].run() == 1  # answered (failed), not a traceback and a retry a minute
    services.delivery.run_once()
    [message] = slack.received
    assert f"the lookup failed (HTTP 200: {says})" in json.dumps(message["blocks"])


def test_a_late_answer_across_missed_updates_names_the_update_that_carried_the_drift(
    taskrouter, services, slack, fake_api
):
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 3, BROKEN)  # version 2 never reached the guard
    _expire_the_wait(services)
    services.delivery.run_once()
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid)
    services.jobs.by_name["causes"].run()
    (_, late) = outbox(services)[-1]
    assert "the update that carried the drift; updates since version 1 never reached the guard" in late["note"]
    services.delivery.run_once()
    assert json.dumps(slack.received[-1]["blocks"]).count("never reached the guard") == 2  # the note; the list's head


def test_a_late_answer_follows_as_a_second_message(taskrouter, services, slack, fake_api):
    sid = post(taskrouter, 1, BROKEN)
    _expire_the_wait(services)
    assert services.delivery.run_once() == 1  # the wait is over: out it goes, without the cause
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid)
    services.jobs.by_name["causes"].run()
    services.delivery.run_once()
    assert kinds(services) == ["drift", "cause"]
    assert [m["blocks"][0]["text"]["text"].split(":")[1] for m in slack.received] == ["rotating_light", "mag"]


@pytest.mark.parametrize("settings_overrides", [{"account_sid": None}], indirect=True)
def test_without_credentials_the_alert_goes_out_at_once_and_says_so(taskrouter, services, slack):
    post(taskrouter, 1, BROKEN)
    assert services.delivery.run_once() == 1
    assert "no REST credentials" in json.dumps(slack.received[0]["blocks"])


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}], indirect=True)
def test_status_and_api_show_what_changed_and_who_for_drifting_workers(taskrouter, client, services, fake_api):
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 2, BROKEN)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, source="web")
    services.jobs.by_name["causes"].run()
    [row] = client.get("/api/workers?verdict=mismatch", headers=OPERATOR).get_json()["workers"]
    assert row["changes"]["changes"][0]["path"] == "routing.skills" and row["cause"]["source"] == "web"
    assert "attributes" not in row  # the copy of every attribute stays in the database
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    assert "routing.skills" in page and "source web" in page


def _expire_the_wait(services):
    """Make every held alert due now, as the wait running out would."""
    from sqlalchemy import update

    from guard.adapters.tables import alert

    with services.store.engine.begin() as connection:
        connection.execute(update(alert).values(next_attempt_at=alert.c.created_at))


def _release_retries(services):
    """Make every lookup waiting for a retry due now (the job would get there by itself)."""
    from sqlalchemy import update

    with services.store.engine.begin() as connection:
        connection.execute(update(cause_lookup).values(next_attempt_at=cause_lookup.c.created_at))


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}], indirect=True)
def test_who_removed_a_working_value_stays_with_the_agent_who_cannot_ring(taskrouter, client, services, fake_api):
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    post(taskrouter, 1, HEALTHY, **available)
    sid = post(taskrouter, 2, {**BASE, "team": "north"}, **available)  # a sync script dropped contact_uri
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, source="api")
    services.jobs.by_name["causes"].run()
    [row] = client.get("/api/workers?verdict=pending", headers=OPERATOR).get_json()["workers"]
    assert row["unreachable"] and row["cause"]["source"] == "api"  # for /status and the reminders


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}], indirect=True)
def test_a_late_answer_about_a_drift_is_not_pinned_on_the_removal_after_it(taskrouter, client, services, fake_api):
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 2, BROKEN)  # the drift: its lookup waits
    post(taskrouter, 3, BASE)  # an admin removes the wrong value: another episode, "removed"
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, source="web")
    services.jobs.by_name["causes"].run()  # the drift's answer, late
    [row] = client.get("/api/workers?verdict=pending", headers=OPERATOR).get_json()["workers"]
    assert row["cause"] is None  # who wrote the wrong value did not remove it


def test_an_update_not_in_the_events_list_yet_is_never_blamed_on_whoever_created_the_worker(
    taskrouter, services, fake_api
):
    """TaskRouter's Events lag: the update's Event is not there yet, the creation's is. "None", not the creator."""
    creator = "US" + "f" * 32
    at_ms = int(time.time() * 1000) - 180_000
    fake_api.add_event(WORKSPACE_SID, "worker.created", worker_sid(1), at_ms=at_ms, actor_sid=creator)
    post(taskrouter, 1, HEALTHY)
    post(taskrouter, 2, BROKEN)
    _answered_after_every_try(services)
    [(_, payload)] = outbox(services)
    assert payload["cause"] is None and creator not in json.dumps(payload)
    assert payload["cause_note"] == (
        "who changed it: TaskRouter lists no worker.attributes.update event for this change (asked 4 times)"
    )


def test_an_update_not_listed_yet_is_never_blamed_on_an_older_one(taskrouter, services, slack, fake_api):
    post(taskrouter, 1, HEALTHY)
    admin = {"actor_sid": "US" + "7" * 32, "actor_type": "user", "source": "web", "source_ip_address": "203.0.113.80"}
    three_days_ago = int(time.time() * 1000) - 3 * 86400_000  # an admin edited the skills then
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=three_days_ago, **admin)
    post(taskrouter, 2, BROKEN)  # its own Event is not listed yet (TaskRouter's Events lag): fetched 404, none near
    _answered_after_every_try(services)
    [(_, payload)] = outbox(services)
    assert payload["cause"] is None and "lists no worker.attributes.update event" in payload["cause_note"]


def test_an_update_listed_a_moment_after_its_callback_is_still_named(taskrouter, services, slack, fake_api):
    """TaskRouter's Events lag: the first try finds nothing, a later one the update (the page then says who)."""
    fake_api.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(7))  # a workspace TaskRouter knows
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 2, BROKEN)
    services.jobs.by_name["causes"].run()  # at once: its Event is not listed yet
    admin = {"actor_sid": "US" + "9" * 32, "actor_type": "user", "source": "web"}
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, **admin)
    _release_retries(services)
    services.jobs.by_name["causes"].run()
    services.delivery.run_once()
    [message] = slack.received
    assert "US" + "9" * 32 in json.dumps(message["blocks"])


def _answered_after_every_try(services):
    """Run the lookups through all their tries, each made due at once."""
    for _ in range(4):
        services.jobs.by_name["causes"].run()
        _release_retries(services)


def test_a_drift_first_seen_on_an_activity_change_names_nobody_from_days_ago(taskrouter, services, fake_api):
    """The guard was just deployed: an admin's skills edit of 2 days ago is the newest update, not the cause."""
    now = int(time.time() * 1000)
    script = {"actor_sid": "US" + "1" * 32, "actor_type": "user", "source": "api", "source_ip_address": "198.51.100.9"}
    admin = {"actor_sid": "US" + "7" * 32, "actor_type": "user", "source": "web", "source_ip_address": "203.0.113.80"}
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now - 20 * 86400_000, **script)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now - 2 * 86400_000, **admin)
    sid = post(taskrouter, 3, BROKEN, EventType="worker.activity.update")  # first sight
    agent = {"actor_sid": worker_sid(1), "actor_type": "worker", "source": "web", "source_ip_address": "192.0.2.50"}
    fake_api.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(1), sid=sid, **agent)
    services.jobs.by_name["causes"].run()
    [(_, payload)] = outbox(services)
    assert payload["cause"] is None and payload["changes"]["first_sight"]


def test_whether_a_lookup_looks_back_days_is_its_own_drifts_not_the_workers_state_when_it_runs(
    taskrouter, services, fake_api
):
    """A first sight answered after a later drift across missed updates, and a drift fixed before its answer."""
    now = int(time.time() * 1000)
    admin = {"actor_sid": "US" + "7" * 32, "actor_type": "user", "source": "web", "source_ip_address": "203.0.113.80"}
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now - 2 * 86400_000, **admin)
    sid = post(taskrouter, 3, BROKEN, EventType="worker.activity.update")  # first sight
    agent = {"actor_sid": worker_sid(1), "actor_type": "worker", "source": "web", "source_ip_address": "192.0.2.50"}
    fake_api.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(1), sid=sid, **agent)
    post(taskrouter, 4, HEALTHY)  # before the lookup runs: fixed, then broken again across a missed update
    post(taskrouter, 6, {**BROKEN, "team": "south"})
    services.jobs.by_name["causes"].run()
    first = outbox(services)[0][1]
    assert first["changes"]["first_sight"] and first["cause"] is None


def test_a_drift_across_missed_updates_fixed_before_its_answer_still_names_the_older_update(
    taskrouter, services, fake_api
):
    post(taskrouter, 1, HEALTHY)
    breaker = {"actor_sid": "US" + "1" * 32, "actor_type": "user", "source": "api", "source_ip_address": "198.51.100.9"}
    now = int(time.time() * 1000)  # version 2 broke the value 3 h ago; its callback never reached the guard
    copied(services, now - 4 * 3600_000)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now - 3 * 3600_000, **breaker)
    sid = post(taskrouter, 3, BROKEN, EventType="worker.activity.update")
    agent = {"actor_sid": worker_sid(1), "actor_type": "worker", "source": "web", "source_ip_address": "192.0.2.50"}
    fake_api.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(1), sid=sid, **agent)
    post(taskrouter, 4, HEALTHY, EventType="worker.activity.update")  # fixed before the lookup ran
    services.jobs.by_name["causes"].run()
    first = outbox(services)[0][1]
    assert first["changes"]["since_version"] == 1 and first["cause"]["actor_sid"] == "US" + "1" * 32


def test_a_lookup_pending_across_the_upgrade_to_0013_keeps_its_drifts_missed_updates(taskrouter, services):
    post(taskrouter, 1, HEALTHY)
    post(taskrouter, 3, BROKEN, EventType="worker.activity.update")  # across the missed version 2: a lookup queued
    config = db.alembic_config(services.store.engine)
    command.downgrade(config, "0012")  # the release before: its rows have no since_version
    command.upgrade(config, "head")
    with services.store.engine.connect() as connection:
        assert connection.execute(select(cause_lookup.c.since_version)).scalars().all() == [1]


@pytest.mark.parametrize(
    ("settings_overrides", "said"),
    [
        ({}, "who changed it: not named by TaskRouter so far"),  # it lists no update for it
        ({"account_sid": None}, "who changed it: not looked up (no REST credentials for this account)"),
    ],
    indirect=["settings_overrides"],
)
def test_the_page_when_the_agent_becomes_available_says_why_it_names_nobody(taskrouter, services, fake_api, said):
    fake_api.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(7))  # a workspace TaskRouter knows
    post(taskrouter, 1, HEALTHY)
    post(taskrouter, 2, BROKEN)  # Offline: a drift alert, no page; TaskRouter names nobody
    _answered_after_every_try(services)
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    post(taskrouter, 3, BROKEN, EventType="worker.activity.update", **available)
    [*_, (kind, page)] = outbox(services)
    assert (kind, page["cause"], page["cause_note"]) == ("urgent", None, said)


def test_on_first_sight_the_update_named_is_said_to_be_maybe_not_the_one_that_made_the_change(
    taskrouter, services, slack, fake_api
):
    sid = post(taskrouter, 40, BROKEN)  # the first the guard hears of this worker: an admin's skills edit
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, actor_sid="US" + "9" * 32)
    services.jobs.by_name["causes"].run()
    services.delivery.run_once()
    [message] = slack.received
    said = "the guard had no earlier copy of this worker, and an earlier update may have made the change"
    assert "US" + "9" * 32 in json.dumps(message["blocks"]) and said in json.dumps(message["blocks"])


def test_a_late_answer_for_a_drift_over_since_says_so(taskrouter, services, slack, fake_api):
    fake_api.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(7))  # a workspace TaskRouter knows
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 2, BROKEN)
    fake_api.inject(503, times=2, path_contains="/Events")  # the first try fails: the alert goes out without it
    services.jobs.by_name["causes"].run()
    _expire_the_wait(services)
    services.delivery.run_once()
    post(taskrouter, 3, HEALTHY)  # fixed: Resolved
    services.delivery.run_once()
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, actor_sid="US" + "9" * 32)
    _release_retries(services)
    services.jobs.by_name["causes"].run()
    services.delivery.run_once()
    assert [kind for kind, _ in outbox(services)] == ["drift", "resolved", "cause"]
    assert outbox(services)[-1][1]["note"].endswith("; that drift is over now")


def test_a_lookup_told_to_retry_after_a_minute_waits_that_long(taskrouter, services, fake_api):
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 2, BROKEN)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid)
    fake_api.inject(429, times=100, path_contains="/Events", Retry_After="60")
    services.jobs.by_name["causes"].run()
    with services.store.engine.connect() as connection:
        [(due, created)] = connection.execute(select(cause_lookup.c.next_attempt_at, cause_lookup.c.created_at))
    assert (due - created).total_seconds() >= 60  # as TaskRouter asked, not the 5 s backoff
