"""Which activities are available: learned from activity.* events and the REST Activities list, per workspace."""

import threading
import time

import pytest
from sqlalchemy import event, text

from guard.adapters.activities import Activities
from guard.adapters.sqlite_writers import DatabaseBusy
from guard.adapters.workers import WorkerStates
from guard.core.activity import ActivityFact
from guard.core.snapshot import WorkerKey
from guard.service.activities import LEARN_CHUNK
from handlers.taskrouter_events import snapshot_from_fields
from tests.activity.conftest import BREAK_SID, WRONG, activity_event, outbox
from tests.helpers import (
    ACCOUNT_SID,
    OFFLINE_SID,
    WORKSPACE_SID,
    cloudevent,
    post_cloudevents,
    stored_state,
    worker_sid,
)

READY_SID = "WA" + "4" * 32


def activity_callback(event_type="activity.updated", sid=READY_SID, name="Ready", available="true", **extra):
    """An activity.* callback, as TaskRouter sends it to the Event Callback URL."""
    now_ms = int(time.time() * 1000)
    fields = {
        "EventType": event_type,
        "Sid": f"EV{now_ms:032x}"[:34],
        "AccountSid": ACCOUNT_SID,
        "WorkspaceSid": WORKSPACE_SID,
        "ResourceType": "activity",
        "ResourceSid": sid,
        "ActivitySid": sid,
        "ActivityName": name,
        "ActivityAvailable": available,
        "Timestamp": str(now_ms // 1000),
        "TimestampMs": str(now_ms),
    }
    return {**fields, **extra}


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
    assert post_cloudevents(client, [event]).json == {"recorded": 1, "skipped": 0, "bad": 0}
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True


def test_with_rest_credentials_the_activities_list_is_learned_in_the_background(taskrouter, services, fake_api):
    fake_api.add_flex_activities(WORKSPACE_SID)
    fake_api.add_activity(WORKSPACE_SID, READY_SID, "Ready", True)
    assert services.jobs.by_name["activities"].enabled
    assert services.jobs.by_name["activities"].run() == 5
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, READY_SID) is True
    taskrouter.post(activity_event(1, "Ready", READY_SID, contact_uri=WRONG))
    assert [kind for kind, _ in outbox(services)] == ["urgent"]


def test_an_activities_api_outage_is_logged_and_the_next_round_tries_again(services, fake_api, capsys):
    fake_api.add_flex_activities(WORKSPACE_SID)
    fake_api.inject(503, times=10, path_contains="/Activities")
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
@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_fact_learned_while_a_worker_moves_into_its_activity_still_pages_it(services):
    pipeline, now_ms, ready = services.pipeline, int(time.time() * 1000), "WA" + "3" * 32
    fields = activity_event(1, contact_uri=WRONG, activity="Offline", activity_sid=OFFLINE_SID)
    pipeline.record(snapshot_from_fields(fields, "worker.activity.update"))  # a drift, offline
    moving = snapshot_from_fields(activity_event(2, contact_uri=WRONG, activity="Ready", activity_sid=ready), "x")
    fact = ActivityFact(ACCOUNT_SID, WORKSPACE_SID, ready, "Ready", True, occurred_ms=now_ms, event_id="EV" + "f" * 32)
    learner = threading.Thread(target=services.learning.learn, args=(fact,))
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    with services.store.transaction() as tx, services.store.engine.connect() as probe:
        pipeline.apply_events(tx, [moving], pipeline.clock())  # judged (Ready: not learned yet), not committed
        learner.start()
        while probe.execute(waiting).scalar() == 0:  # the fact waits for this batch to commit
            probe.rollback()
            assert learner.is_alive()
    learner.join()
    state = services.store.listing.unreachable_count()
    assert (state, [kind for kind, _ in outbox(services)]) == (1, ["drift", "urgent"])


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_fact_learned_between_two_runs_of_one_batch_waits_for_the_batch_instead_of_deadlocking(services, monkeypatch):
    pipeline, now_ms, ready = services.pipeline, int(time.time() * 1000), "WA" + "3" * 32

    def moved(version, activity, sid, name):
        fields = activity_event(version, contact_uri=WRONG, activity=name, activity_sid=activity, sid=sid)
        return snapshot_from_fields(fields, "worker.activity.update")

    pipeline.record(moved(1, ready, worker_sid(1), "Ready"))  # in Ready, which the guard has not learned yet
    fact = ActivityFact(ACCOUNT_SID, WORKSPACE_SID, ready, "Ready", True, occurred_ms=now_ms, event_id="EV" + "e" * 32)
    learner, failures = threading.Thread(target=lambda: _learn(services.learning, fact, failures)), []
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    original, runs = WorkerStates.claim_all, []

    def between_runs(self, run, *rest):  # the fact comes in after the first run has locked its worker
        if runs:
            learner.start()
            with services.store.engine.connect() as probe:
                while probe.execute(waiting).scalar() == 0:
                    probe.rollback()
                    assert learner.is_alive()
        runs.append(run)
        return original(self, run, *rest)

    monkeypatch.setattr(WorkerStates, "claim_all", between_runs)
    batch = [moved(2, OFFLINE_SID, worker_sid(1), "Offline"), moved(3, ready, worker_sid(1), "Ready")]
    with services.store.transaction() as tx:  # one worker twice: two runs in one transaction
        pipeline.apply_events(tx, batch, pipeline.clock())
    learner.join()
    assert (len(runs), failures, services.store.listing.unreachable_count()) == (2, [], 1)


def _learn(learning, fact, failures):
    """Learn `fact`, keeping what it raised."""
    try:
        learning.learn(fact)
    except Exception as err:  # noqa: BLE001 - the test asserts there was none
        failures.append(err)


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_fact_never_stamps_its_availability_on_a_worker_that_left_the_activity_meanwhile(services):
    pipeline, now_ms = services.pipeline, int(time.time() * 1000)

    def moved(version, activity, name):
        fields = activity_event(version, contact_uri=WRONG, activity=name, activity_sid=activity)
        return snapshot_from_fields(fields, "worker.activity.update")

    pipeline.record(moved(1, BREAK_SID, "Break"))  # a drift in Break, which the guard has not learned yet
    fact = ActivityFact(
        ACCOUNT_SID, WORKSPACE_SID, BREAK_SID, "Break", True, occurred_ms=now_ms, event_id="EV" + "d" * 32
    )
    learner = threading.Thread(target=services.learning.learn, args=(fact,))
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    with services.store.transaction() as tx, services.store.engine.connect() as probe:
        pipeline.apply_events(tx, [moved(2, OFFLINE_SID, "Offline")], pipeline.clock())  # left Break, uncommitted
        learner.start()
        while probe.execute(waiting).scalar() == 0:  # the fact found it in Break, and waits for its lock
            probe.rollback()
            assert learner.is_alive()
    learner.join()
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert (state["activity_name"], state["available"], [kind for kind, _ in outbox(services)]) == (
        "Offline",
        None,
        ["drift"],
    )
    assert services.store.listing.unreachable_count() == 0  # not paged, not counted: it is Offline


def test_an_activity_of_many_workers_is_learned_in_short_transactions_of_a_few_statements(services):
    pipeline, ready, many = services.pipeline, "WA" + "3" * 32, 150
    drifting = {1, 100, many}  # in the first, second and last chunk
    events = [
        activity_event(1, "Ready", ready, sid=worker_sid(n), **({"contact_uri": WRONG} if n in drifting else {}))
        for n in range(1, many + 1)
    ]
    snapshots = [snapshot_from_fields(e, "worker.activity.update") for e in events]
    for start in range(0, many, LEARN_CHUNK):  # workers in Ready, which the guard cannot place yet
        with services.store.transaction() as tx:
            pipeline.apply_events(tx, snapshots[start : start + LEARN_CHUNK], pipeline.clock())
    commits, statements = [], []
    event.listen(services.store.engine, "commit", commits.append)
    event.listen(services.store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    now_ms = int(time.time() * 1000)
    fact = ActivityFact(ACCOUNT_SID, WORKSPACE_SID, ready, "Ready", True, occurred_ms=now_ms, event_id="EV" + "c" * 32)
    services.learning.learn(fact)
    assert len(commits) == 4  # the fact, then 64 + 64 + 22 workers: no transaction holds them all
    assert len(statements) < 40  # a few per chunk, not a few per worker (each a round trip on PostgreSQL)
    assert sorted(p["worker_sid"] for kind, p in outbox(services) if kind == "urgent") == [
        worker_sid(n) for n in sorted(drifting)
    ]
    assert services.store.listing.unreachable_count() == len(drifting)
    with services.store.engine.connect() as connection:
        unplaced = "SELECT count(*) FROM worker_state WHERE available IS NOT true"
        assert connection.execute(text(unplaced)).scalar() == 0


def test_a_delivery_that_fails_midway_is_redelivered_and_finishes_the_job(taskrouter, services, monkeypatch):
    many = 100  # two chunks
    for n in range(1, many + 1):  # drifting workers in Ready, which the guard cannot place yet
        fields = activity_event(1, "Ready", READY_SID, sid=worker_sid(n), contact_uri=WRONG)
        services.pipeline.record(snapshot_from_fields(fields, "worker.activity.update"))
    original, calls = Activities.workers_in, []

    def busy_on_the_second_chunk(self, *args):
        calls.append(args)
        if len(calls) == 2:  # SQLite: another writer held the turn past 3 s
            raise DatabaseBusy("another writer held the database too long")
        return original(self, *args)

    monkeypatch.setattr(Activities, "workers_in", busy_on_the_second_chunk)
    callback = activity_callback("activity.updated")
    assert taskrouter.post(callback).status_code == 503  # the sender retries
    assert taskrouter.post(callback).status_code == 204  # the retry finishes the job: not a duplicate yet
    assert taskrouter.post(callback).status_code == 204  # now it is one, and pages nobody again
    paged = [p["worker_sid"] for kind, p in outbox(services) if kind == "urgent"]
    assert sorted(paged) == [worker_sid(n) for n in range(1, many + 1)]  # each once
    assert services.store.listing.unreachable_count() == many
