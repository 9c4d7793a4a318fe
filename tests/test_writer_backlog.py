"""A batch its sender gave up on is not written behind the writer's backlog: Event Streams sends it again."""

import contextlib
import json
import threading
import time

import pytest

from guard.service import writer as writer_module
from handlers import event_streams
from tests.helpers import cloudevent, post_cloudevents, stored_state, worker_event, worker_sid
from tests.processes import wait_for
from tests.test_writer import key, snapshot


def _writer_held(services, monkeypatch):
    """Hold the event writer inside its next batch until the returned event is set; wait until it is there."""
    inside, release = threading.Event(), threading.Event()
    apply_events = services.pipeline.apply_events

    def hung_once(tx, snapshots, now):
        if not release.is_set():
            inside.set()
            release.wait(10)
        return apply_events(tx, snapshots, now)

    monkeypatch.setattr(services.pipeline, "apply_events", hung_once)

    def holding() -> None:  # a test that shortens the wait has this one give up too: a 503, not a thread's error
        with contextlib.suppress(TimeoutError):
            services.writer.record(snapshot(1))

    first = threading.Thread(target=holding)
    first.start()
    assert inside.wait(10)
    return release, first


def test_a_batch_answered_503_is_dropped_from_the_queue_not_written_after_its_retry(services, monkeypatch):
    """Event Streams retries for 4 hours: written late, the batch only lengthened the queue its retry waits behind."""
    release, first = _writer_held(services, monkeypatch)  # the writer busy with a long batch
    batch = [snapshot(n, contact_uri="client:wrong") for n in range(2, 7)]
    with pytest.raises(TimeoutError):
        services.writer.record_all(batch, time.monotonic() + 0.2, droppable=True)
    release.set()
    first.join(10)
    services.writer.record(snapshot(7))  # queued after the batch: once answered, the batch was taken or left
    assert stored_state(services, key(1)) and stored_state(services, key(7))
    assert [stored_state(services, key(n)) for n in range(2, 7)] == [None] * 5


def test_a_batch_its_process_could_not_commit_in_time_is_said_as_a_queue_behind_not_a_database_down(
    services, client, monkeypatch, capsys
):
    monkeypatch.setattr(event_streams, "BATCH_SECONDS", 0.3)
    release, first = _writer_held(services, monkeypatch)
    try:
        answer = post_cloudevents(client, [cloudevent(sid=worker_sid(2), contact_uri="client:wrong")])
    finally:
        release.set()
        first.join(10)
    assert answer.status_code == 503
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "database_unavailable" in line]
    assert (line["level"], line["error"]) == ("warning", "event writer behind")  # was: error, "busy"


def test_a_deadlock_is_answered_503_and_said_as_one_not_as_the_database_down(services, taskrouter, monkeypatch, capsys):
    """A release phase's migration taking the tables in another order: a few events 503, the sender retries."""
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    def deadlocked(tx, snapshots, now):
        raise OperationalError("UPDATE worker_state", {}, psycopg.errors.DeadlockDetected("deadlock detected"))

    monkeypatch.setattr(services.pipeline, "apply_events", deadlocked)
    assert taskrouter.post(worker_event(contact_uri="sip:x")).status_code == 503
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "database_unavailable" in line]
    assert (line["level"], line["error"]) == ("warning", "deadlock")
    assert "migration" in line["hint"]


def test_a_callback_given_up_on_whose_write_then_fails_is_logged_as_not_recorded_with_its_verdict(
    services, monkeypatch, capsys
):
    """The database stopped answering: the 503'd callback's late write fails too; the drift must not go unseen."""
    from sqlalchemy.exc import OperationalError

    release, first = _writer_held(services, monkeypatch)
    with pytest.raises(TimeoutError):
        services.writer.record_all([snapshot(2, contact_uri="client:wrong")], time.monotonic() + 0.2)

    def down(tx, snapshots, now):
        raise OperationalError("INSERT", {}, Exception("connection timeout expired"))

    monkeypatch.setattr(services.pipeline, "apply_events", down)
    release.set()
    first.join(10)
    seen: list[dict] = []

    def logged() -> bool:
        out = capsys.readouterr().out.splitlines()
        seen.extend(json.loads(line) for line in out if "event_not_recorded" in line)
        return bool(seen)

    assert wait_for(logged, timeout=10)
    assert (seen[0]["level"], seen[0]["worker_sid"], seen[0]["verdict"]) == ("error", worker_sid(2), "mismatch")


def test_a_503_while_the_writers_batch_waits_on_the_database_is_said_as_the_database_not_answering(
    services, taskrouter, monkeypatch, capsys
):
    monkeypatch.setattr(writer_module, "STALLED_SECONDS", 0.0)  # the held batch counts as stalled at once
    monkeypatch.setattr(writer_module, "WAIT_SECONDS", 0.3)
    release, first = _writer_held(services, monkeypatch)
    try:
        assert taskrouter.post(worker_event(sid=worker_sid(2), contact_uri="sip:x")).status_code == 503
    finally:
        release.set()
        first.join(10)
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "database_unavailable" in line]
    assert (line["level"], line["error"]) == ("error", "no answer")  # not "event writer behind", a warning
