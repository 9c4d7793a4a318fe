"""Learning an activity while its workers move and their events queue: turns, short transactions, redelivery."""

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
from tests.activity.conftest import BREAK_SID, READY_SID, WRONG, activity_callback, activity_event, outbox
from tests.helpers import ACCOUNT_SID, OFFLINE_SID, WORKSPACE_SID, stored_state, worker_sid


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
