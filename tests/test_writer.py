"""The event writer: many requests' events to one transaction, each answered after the commit, none lost."""

import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from guard.adapters import sqlite_writers
from guard.core.decision import Outcome
from guard.core.snapshot import WorkerKey
from guard.service import writer as writer_module
from guard.service.slot import Slot
from handlers.taskrouter_events import snapshot_from_fields
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, email, stored_state, uri, worker_event, worker_sid
from tests.processes import wait_for
from tests.test_metrics import sample, scrape


def snapshot(n, **fields):
    """Worker n's signed-and-parsed attributes update, as the intake hands it to the writer."""
    form = worker_event(sid=worker_sid(n), email=email(n), **{"contact_uri": uri(n), **fields})
    return snapshot_from_fields(form, form["EventType"])


def key(n):
    """Worker n's key."""
    return WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(n))


def test_requests_from_many_threads_each_get_their_own_answer(services):
    answers = {}

    def send(n):
        answers[n] = services.writer.record(snapshot(n, contact_uri="client:wrong"))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(1, 41)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {n: Outcome.RECORDED for n in range(1, 41)}
    assert {stored_state(services, key(n))["verdict"] for n in range(1, 41)} == {"mismatch"}


def test_one_event_the_database_refuses_does_not_fail_the_rest_of_its_batch(services):
    unstorable = replace(snapshot(2), version=2**70)  # past BIGINT (the intake refuses it with a 400 first)
    with pytest.raises(Exception, match=r"(?i)int|range"):
        services.writer.record_all([snapshot(1), unstorable, snapshot(3)])
    assert stored_state(services, key(1))["verdict"] == "ok"
    assert stored_state(services, key(3))["verdict"] == "ok"
    assert stored_state(services, key(2)) is None


def test_a_request_that_gives_up_waiting_still_has_its_alert_logged(services, monkeypatch, caplog):
    monkeypatch.setattr(writer_module, "WAIT_SECONDS", 0.2)
    outcome = []
    with services.store.transaction() as tx:
        tx.workers.lock(key(1))  # holds the worker (PostgreSQL) and the write turn (SQLite)
        drift = snapshot(1, contact_uri="client:wrong")
        request = threading.Thread(target=lambda: outcome.append(_record_or_error(services, drift)))
        request.start()
        request.join()
    assert outcome == ["WriterBehind"]  # answered 503: TaskRouter sends it again, a duplicate then
    deadline = time.monotonic() + 10
    while not any(record.message == "alert" for record in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.01)
    [alert] = [record for record in caplog.records if record.message == "alert"]
    assert alert.fields["worker_sid"] == worker_sid(1)
    # The line is written as the late batch decides; its commit may land a moment later (PostgreSQL)
    stored = wait_for(lambda: stored_state(services, key(1)), timeout=10)
    assert stored["verdict"] == "mismatch"


def test_an_alert_is_in_the_log_once_committed_even_if_the_process_dies_before_it_answers(services, caplog):
    pipeline = services.pipeline
    with services.store.transaction() as tx:
        [decision] = pipeline.apply_events(tx, [snapshot(1, contact_uri="client:wrong")], pipeline.clock())
    # SIGKILL here, before the request announces: in log-only mode the row already says delivered.
    [alert] = [record for record in caplog.records if record.message == "alert"]
    assert alert.fields["worker_sid"] == worker_sid(1) and alert.fields["kind"] == "drift"
    pipeline.announce(decision)  # had it lived: counted, and not logged twice
    assert [record.message for record in caplog.records].count("alert") == 1


def test_a_batch_written_again_event_by_event_logs_each_alert_once(services, caplog):
    unstorable = replace(snapshot(1), version=2**70)  # the same worker: a second run, which fails the batch
    with pytest.raises(Exception, match=r"(?i)int|range"):
        services.writer.record_all([snapshot(1, contact_uri="client:wrong"), unstorable])
    assert stored_state(services, key(1))["verdict"] == "mismatch"
    assert [record.message for record in caplog.records].count("alert") == 1


def _record_or_error(services, event):
    """The outcome of recording `event`, or the name of the error it raised."""
    try:
        return services.writer.record(event)
    except Exception as err:  # noqa: BLE001 - the test asserts which
        return type(err).__name__


def test_a_batch_waits_one_deadline_in_all_not_one_per_event(services, monkeypatch, client):
    """Event Streams gives a whole batch 5 s: its events share one deadline, so a slow batch answers 503 in time."""
    before = scrape(client)
    monkeypatch.setattr(writer_module, "WAIT_SECONDS", 1.0)
    monkeypatch.setattr(writer_module, "MAX_BATCH", 1)  # one event per commit
    apply_events = services.pipeline.apply_events

    def slow_apply(tx, snapshots, now):  # a database taking 0.2 s per event: 2 s for ten, each well under 1 s
        time.sleep(0.2 * len(snapshots))
        return apply_events(tx, snapshots, now)

    monkeypatch.setattr(services.pipeline, "apply_events", slow_apply)
    with pytest.raises(TimeoutError):
        services.writer.record_all([snapshot(n, contact_uri="client:wrong") for n in range(1, 11)])
    deadline = time.monotonic() + 30  # the writer still commits the rest: the sender's retry is a duplicate
    while stored_state(services, key(10)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {stored_state(services, key(n))["verdict"] for n in range(1, 11)} == {"mismatch"}
    recorded = {"source": "taskrouter", "outcome": "recorded"}  # none acknowledged: the retry's outcomes count
    assert sample(scrape(client), "guard_worker_events_total", **recorded) == sample(
        before, "guard_worker_events_total", **recorded
    )


def test_an_event_whose_own_commit_fails_on_the_retry_gets_that_error_and_the_rest_their_answers(services):
    """A failed batch is retried one event at a time; an event is answered only once its own commit succeeds."""
    commits = []

    def first_commit_fails(_connection):
        commits.append(1)
        if len(commits) == 1:
            raise OperationalError("COMMIT", {}, RuntimeError("disk I/O error"))

    unstorable = replace(snapshot(2), version=2**70)  # fails the batch (and then itself), before any commit
    items = [(s, Slot()) for s in (snapshot(1), unstorable, snapshot(3))]
    event.listen(services.store.engine, "commit", first_commit_fails)
    try:
        answers = services.writer._write_batch(items)
    finally:
        event.remove(services.store.engine, "commit", first_commit_fails)
    assert type(answers[0]).__name__ == "OperationalError"  # worker 1: not committed
    assert isinstance(answers[1], Exception)
    assert len(answers) == 3 and answers[2].outcome is Outcome.RECORDED
    assert stored_state(services, key(1)) is None
    assert stored_state(services, key(3))["verdict"] == "ok"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the write turn is SQLite's
def test_events_queued_during_an_outage_are_all_answered_with_it_not_one_turn_each(services, monkeypatch):
    """SQLite's turn not to be had: every event queued meanwhile gets the 503 at once, none waits its own 3 s."""
    monkeypatch.setattr(sqlite_writers, "SQLITE_BUSY_SECONDS", 0.2)
    monkeypatch.setattr(writer_module, "WAIT_SECONDS", 1.5)  # one turn per event would take 0.2 s × 8
    outcomes = {}
    with services.store.transaction() as tx:
        tx.workers.lock(key(99))  # holds the write turn: every writer attempt gives up after 0.2 s
        requests = [
            threading.Thread(target=lambda n=n: outcomes.__setitem__(n, _record_or_error(services, snapshot(n))))
            for n in range(1, 9)
        ]
        for request in requests:
            request.start()
        for request in requests:
            request.join()
    assert set(outcomes.values()) == {"DatabaseBusy"}


def test_requests_make_way_while_the_writer_holds_sqlites_write_turn_and_not_after(services, monkeypatch):
    """Every process waits for SQLite's turn: request threads hold back until its commit. PostgreSQL has none."""
    monkeypatch.setattr(writer_module, "MAKE_WAY_SECONDS", 0.05)
    inside, release = threading.Event(), threading.Event()
    apply_events = services.pipeline.apply_events

    def held_apply(tx, snapshots, now):  # the writer, in its transaction, between two statements
        inside.set()
        release.wait(10)
        return apply_events(tx, snapshots, now)

    monkeypatch.setattr(services.pipeline, "apply_events", held_apply)
    assert services.writer.make_way() is True  # no transaction: no wait
    request = threading.Thread(target=services.writer.record, args=(snapshot(1),))
    request.start()
    assert inside.wait(10)
    sqlite = services.store.engine.dialect.name == "sqlite"
    assert services.writer.make_way() is not sqlite  # on SQLite: waited its 0.05 s, the turn still held
    release.set()
    request.join(10)
    assert services.writer.make_way() is True
    assert stored_state(services, key(1))["verdict"] == "ok"


def test_a_signed_request_makes_way_before_its_hmac_and_once_to_announce(services, taskrouter, client, monkeypatch):
    """Once in the fast path (signed requests only: an unsigned one does no HMAC), once per request's announcements."""
    calls = []
    make_way = services.writer.make_way
    monkeypatch.setattr(services.writer, "make_way", lambda: calls.append("made way") or make_way())
    assert taskrouter.post(worker_event("task.created")).status_code == 204  # answered by the fast path
    assert len(calls) == 1
    assert client.post("/taskrouter/events", data=worker_event("task.created")).status_code == 403
    assert len(calls) == 1
    services.writer.record_all([snapshot(n) for n in range(1, 6)])
    assert len(calls) == 2  # a batch makes way once: 300 events add ≤ 20 ms, not 300 × 20 ms


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the write turn is SQLite's
def test_a_batch_that_fails_leaves_the_turn_free_for_requests(services, monkeypatch):
    monkeypatch.setattr(writer_module, "MAKE_WAY_SECONDS", 0.05)
    unstorable = replace(snapshot(2), version=2**70)  # fails its batch, then its own transaction
    with pytest.raises(Exception, match=r"(?i)int|range"):
        services.writer.record_all([snapshot(1), unstorable])
    assert services.writer.make_way() is True


def test_healthz_says_when_a_batch_hangs_and_no_longer_once_it_is_written(services, client, monkeypatch):
    """A batch stuck on a connection that hangs (not the database): this process answers events 503; health says so."""
    monkeypatch.setattr(writer_module, "STUCK_SECONDS", 0.0)
    inside, release = threading.Event(), threading.Event()
    apply_events = services.pipeline.apply_events

    def hung_apply(tx, snapshots, now):
        inside.set()
        release.wait(10)
        return apply_events(tx, snapshots, now)

    monkeypatch.setattr(services.pipeline, "apply_events", hung_apply)
    assert client.get("/healthz").status_code == 200

    def gives_up():  # its request answers 503 while the batch hangs
        with pytest.raises(TimeoutError):
            services.writer.record(snapshot(1))

    request = threading.Thread(target=gives_up)
    request.start()
    assert inside.wait(10)
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()["database"]) == (503, "event writer stuck")
    request.join(10)
    release.set()
    assert wait_for(lambda: client.get("/healthz").status_code == 200)
