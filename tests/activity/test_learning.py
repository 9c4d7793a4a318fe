"""Which activities are available: learned from activity.* events and the REST Activities list, per workspace."""

import json
import time

import pytest

from guard.core.activity import ActivityFact
from handlers.app import create_app
from handlers.taskrouter_events import snapshot_from_fields
from tests.activity.conftest import BREAK_SID, READY_SID, WRONG, activity_callback, activity_event, outbox
from tests.conftest import make_settings
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, batch_answer, cloudevent, post_cloudevents, worker_sid


def test_a_custom_activity_taskrouter_marks_available_counts_as_available(taskrouter, services):
    assert taskrouter.post(activity_callback()).status_code == 204
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG))
    assert [kind for kind, _ in outbox(services)] == ["urgent"]


def test_workers_already_in_an_activity_are_paged_when_the_guard_learns_it_is_available(taskrouter, services):
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG, sid=worker_sid(1)))
    taskrouter.post(activity_event(1, "Ready", READY_SID, sid=worker_sid(2)))  # healthy: nothing to say
    assert [kind for kind, _ in outbox(services)] == ["drift"]  # "Ready" could not be placed: unknown
    taskrouter.post(activity_callback("activity.created"))
    assert [(kind, p["worker_sid"]) for kind, p in outbox(services)] == [
        ("drift", worker_sid(1)),
        ("urgent", worker_sid(1)),
    ]
    assert services.store.listing.unreachable_count() == 1


def test_a_deleted_activity_is_forgotten_and_an_older_fact_never_wins(taskrouter, services):
    taskrouter.post(activity_callback())
    older = activity_callback(available="false", TimestampMs=str(int(time.time() * 1000) - 60_000))
    taskrouter.post({**older, "Sid": "EV" + "9" * 32})
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True
    taskrouter.post({**activity_callback("activity.deleted"), "Sid": "EV" + "8" * 32})
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is None


def test_a_malformed_activity_event_gets_400(taskrouter, services):
    response = taskrouter.post(activity_callback(available="maybe"))
    assert response.status_code == 400 and "ActivityAvailable" in response.get_json()["error"]
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is None


@pytest.mark.parametrize("missing", ["Sid", "Timestamp"])
def test_an_activity_event_without_its_sid_or_time_gets_400(taskrouter, services, missing):
    fields = activity_callback()
    del fields[missing], fields["TimestampMs"]
    response = taskrouter.post(fields)
    assert response.status_code == 400 and f"{missing} is missing" in response.get_json()["error"]
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is None


def test_an_activity_fact_from_far_ahead_is_refused_and_cannot_outrank_later_ones(taskrouter, services):
    ahead_ms = int(time.time() * 1000) + 2 * 3600 * 1000  # two hours ahead of this clock
    ahead = activity_callback(available="false", Timestamp=str(ahead_ms // 1000), TimestampMs=str(ahead_ms))
    assert taskrouter.post(ahead).status_code == 204
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is None
    taskrouter.post({**activity_callback(), "Sid": "EV" + "7" * 32})
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True


@pytest.mark.parametrize("timed", [True, False], ids=["with its time", "without a time"])
def test_event_streams_teach_activities_too(client, services, timed):
    fact = {"activity_sid": READY_SID, "activity_name": "Ready", "activity_available": True}
    event = cloudevent("activity.updated", email=None, contact_uri=None, **fact)
    if not timed:  # optional in Event Streams' payload: learned all the same, and no newer fact loses to it
        del event["data"]["payload"]["timestamp"], event["data"]["timestamp"]
    assert post_cloudevents(client, [event]).json == batch_answer(recorded=1)
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True
    again = post_cloudevents(client, [event, event]).json  # its redelivery, twice: the answer says what it came to
    assert (again["recorded"], again["duplicate"]) == (0, 2)


def test_with_rest_credentials_the_activities_list_is_learned_in_the_background(taskrouter, services, fake_api):
    fake_api.add_flex_activities(WORKSPACE_SID)
    fake_api.add_activity(WORKSPACE_SID, READY_SID, "Ready", True)
    assert services.jobs.by_name["activities"].enabled
    assert services.jobs.by_name["activities"].run() == 5
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG))
    assert [kind for kind, _ in outbox(services)] == ["urgent"]


def test_an_activity_the_api_lists_with_available_null_is_not_learned_as_routing_nothing(
    taskrouter, services, fake_api
):
    """The spec lets `available` be null: unknown, so the name decides (AVAILABLE_ACTIVITIES), and the page stays."""
    sids = fake_api.add_flex_activities(WORKSPACE_SID)
    fake_api.add_activity(WORKSPACE_SID, sids["Available"], "Available", None)
    assert services.jobs.by_name["activities"].run() == 3
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, sids["Available"]) is None
    taskrouter.post(activity_event(1, "Available", sids["Available"], contact_uri=WRONG))
    assert [kind for kind, _ in outbox(services)] == ["urgent"]


LISTED = {"meta": {"key": "activities", "next_page_url": None}}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, None),
        (200, "[]"),  # a 200 of JSON in another shape: a failed fetch too, never a traceback
        (200, json.dumps({"activities": None, **LISTED})),
        (200, json.dumps({"activities": ["Ready"], **LISTED})),
    ],
)
def test_an_activities_api_outage_is_logged_and_the_next_round_tries_again(services, fake_api, capsys, status, body):
    fake_api.add_flex_activities(WORKSPACE_SID)
    fake_api.inject(status, times=10, path_contains="/Activities", **({"body": body} if body else {}))
    assert services.jobs.by_name["activities"].run() == 0
    assert '"event": "activities_fetch_failed"' in capsys.readouterr().out
    fake_api.faults.clear()
    assert services.jobs.by_name["activities"].run() == 4


def test_each_event_of_a_batch_gets_what_was_learned_about_its_own_activity(taskrouter, services):
    taskrouter.post(activity_callback())  # Ready routes tasks; Break is unknown (not guessed available)
    forms = [
        activity_event(1, "Break", BREAK_SID, contact_uri=WRONG, sid=worker_sid(1)),
        activity_event(1, "Ready", READY_SID, contact_uri=WRONG, sid=worker_sid(2)),
    ]
    pipeline = services.pipeline
    with services.store.transaction() as tx:  # one transaction, as the event writer batches them
        pipeline.apply_events(tx, [snapshot_from_fields(form, form["EventType"]) for form in forms], pipeline.clock())
    assert sorted((p["worker_sid"], kind) for kind, p in outbox(services)) == [
        (worker_sid(1), "drift"),
        (worker_sid(2), "urgent"),
    ]


# SQLite's single writer orders the two already: the fact cannot begin before the worker event commits.


def test_an_activity_available_activities_names_after_a_restart_pages_the_workers_already_in_it(
    taskrouter, services, database_url, settings_overrides
):
    """No REST list, no activity event: the setting is what places "Ready", and its agents send no event."""
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG))
    assert [kind for kind, _ in outbox(services)] == ["drift"]  # "Ready" could not be placed: unknown
    names = frozenset({"available", "ready"})
    restarted = create_app(make_settings(database_url, **settings_overrides, available_activities=names))
    after = restarted.extensions["guard"]
    try:
        assert after.jobs.by_name["activity_names"].run() == 1
        assert [kind for kind, _ in outbox(after)] == ["drift", "urgent"]
        assert after.store.listing.unreachable_count() == 1
        assert after.jobs.by_name["activity_names"].run() == 0  # placed once: nothing left unknown
    finally:
        after.jobs.stop(timeout=5)
        after.writer.stop(timeout=5)
        after.store.engine.dispose()


def test_a_renamed_activity_is_shown_by_its_new_name(taskrouter, services):
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG))
    taskrouter.post(activity_callback())
    later = activity_callback(name="On Queue", TimestampMs=str(int(time.time() * 1000) + 1))
    assert taskrouter.post({**later, "Sid": "EV" + "7" * 32}).status_code == 204
    [row] = services.store.listing.listing()
    assert (row["activity"], row["unreachable"]) == ("On Queue", True)
    older = activity_callback(name="Old name", TimestampMs=str(int(time.time() * 1000) - 60_000))
    taskrouter.post({**older, "Sid": "EV" + "6" * 32})  # an older fact never wins, its name neither
    assert services.store.listing.listing()[0]["activity"] == "On Queue"


def test_an_older_activity_fact_renames_nobody(taskrouter, services):
    taskrouter.post(activity_callback())  # "Ready", learned
    taskrouter.post(activity_event(1, "On Queue", READY_SID, contact_uri=WRONG))  # renamed since: the event says so
    older = activity_callback(name="Old name", TimestampMs=str(int(time.time() * 1000) - 60_000))
    taskrouter.post({**older, "Sid": "EV" + "6" * 32})  # a fact that loses to the one learned
    assert services.store.listing.listing()[0]["activity"] == "On Queue"


def test_the_first_fact_learned_renames_no_worker_whose_event_is_newer(taskrouter, services):
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG))  # now: the activity is "Ready"
    older = activity_callback("activity.created", name="Pause", TimestampMs=str(int(time.time() * 1000) - 60_000))
    assert taskrouter.post(older).status_code == 204  # made a minute before it, delivered after: what it says counts
    [row] = services.store.listing.listing()
    assert (row["activity"], row["unreachable"]) == ("Ready", True)


def test_a_late_worker_event_made_before_a_rename_keeps_the_new_name(taskrouter, services):
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG))
    renamed = activity_callback(name="On Queue", TimestampMs=str(int(time.time() * 1000) + 1))
    assert taskrouter.post({**renamed, "Sid": "EV" + "7" * 32}).status_code == 204
    made_before_ms = int(time.time() * 1000) - 60_000  # made before the rename, delivered after it
    late = activity_event(2, "Ready", READY_SID, contact_uri=WRONG, TimestampMs=str(made_before_ms))
    assert taskrouter.post(late).status_code == 204
    [row] = services.store.listing.listing()
    assert (row["activity"], row["unreachable"]) == ("On Queue", True)
    made_after = activity_event(3, "Staffed", READY_SID, contact_uri=WRONG)  # renamed again: the newer event says so
    assert taskrouter.post(made_after).status_code == 204
    assert services.store.listing.listing()[0]["activity"] == "Staffed"


def test_the_activities_list_counts_from_when_it_was_asked_for_not_when_it_answered(
    taskrouter, services, fake_api, clock, monkeypatch
):
    fake_api.add_activity(WORKSPACE_SID, READY_SID, "Ready", True)
    listed = fake_api.listed_activities

    def slow(*args):
        """The listing reads "Ready", then takes a minute to answer (a retry, a slow page)."""
        answer = listed(*args)
        clock.advance(60)
        return answer

    monkeypatch.setattr(fake_api, "listed_activities", slow)
    asked_ms = int(clock().timestamp() * 1000)
    assert services.jobs.by_name["activities"].run() == 1
    renamed_meanwhile = str(asked_ms + 30_000)  # made after the listing read the old name, delivered after it
    event = activity_event(1, "On Queue", READY_SID, contact_uri=WRONG, TimestampMs=renamed_meanwhile)
    assert taskrouter.post(event).status_code == 204
    assert services.store.listing.listing()[0]["activity"] == "On Queue"


@pytest.mark.parametrize("first", ["event", "list"])
def test_the_activities_list_loses_a_same_millisecond_tie_with_an_activity_event(services, first):
    """The list is stamped when it was asked: an event of that same millisecond may be newer than what it read."""
    services.pipeline.record(snapshot_from_fields(activity_event(1, "Ready", READY_SID, contact_uri=WRONG), "x"))
    at_ms = int(time.time() * 1000)
    event = ActivityFact(
        ACCOUNT_SID, WORKSPACE_SID, READY_SID, "Ready", True, occurred_ms=at_ms, event_id="EV" + "9" * 32
    )
    listed = ActivityFact(ACCOUNT_SID, WORKSPACE_SID, READY_SID, "Ready", False, occurred_ms=at_ms, source="api")
    for fact in (event, listed) if first == "event" else (listed, event):
        services.learning.learn(fact)
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True
    assert services.store.listing.unreachable_count() == 1


def test_of_two_activity_events_in_one_second_without_timestampms_the_one_delivered_last_stands(taskrouter, services):
    """Both carry the same rounded stamp: only the list loses such a tie, an event takes it."""
    second = str(int(time.time()) - 1)
    created = activity_callback("activity.created", available="false", Timestamp=second, Sid="EV" + "1" * 32)
    updated = activity_callback(available="true", Timestamp=second, Sid="EV" + "2" * 32)
    for callback in (created, updated):
        del callback["TimestampMs"]
        assert taskrouter.post(callback).status_code == 204
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True
