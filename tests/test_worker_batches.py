"""A batch of worker events in one transaction: judged exactly as one event at a time would be."""

from dataclasses import replace

from guard.core.decision import Outcome
from tests.helpers import stored_state
from tests.test_writer import key, snapshot


def apply_in_one_transaction(services, snapshots):
    """The decisions on `snapshots`, written in one transaction (as the event writer does)."""
    pipeline = services.pipeline
    with services.store.transaction() as tx:
        return pipeline.apply_events(tx, snapshots, pipeline.clock())


def test_a_worker_met_twice_in_a_batch_is_judged_on_what_its_first_event_left(services):
    healthy, drifted = snapshot(1, version=1), snapshot(1, version=2, contact_uri="client:wrong")
    first, second = apply_in_one_transaction(services, [healthy, drifted])
    assert (first.outcome, second.outcome) == (Outcome.RECORDED, Outcome.RECORDED)
    assert first.alert is None and second.alert is not None  # ok, then a drift from ok: one alert
    assert stored_state(services, key(1))["verdict"] == "mismatch"
    assert stored_state(services, key(1))["version"] == 2


def test_an_older_event_after_a_newer_one_in_a_batch_is_stale(services):
    newer, older = snapshot(1, version=5, contact_uri="client:wrong"), snapshot(1, version=4)
    decisions = apply_in_one_transaction(services, [newer, older])
    assert [d.outcome for d in decisions] == [Outcome.RECORDED, Outcome.STALE]
    assert stored_state(services, key(1))["verdict"] == "mismatch"


def test_an_event_twice_in_a_batch_or_seen_before_is_a_duplicate(services):
    seen = snapshot(3, contact_uri="client:wrong")
    apply_in_one_transaction(services, [seen])
    drift = snapshot(2, contact_uri="client:wrong")
    copy = replace(drift)  # the same body delivered twice: equal, and not the same object
    decisions = apply_in_one_transaction(services, [drift, copy, replace(seen), snapshot(4)])
    assert [d.outcome for d in decisions] == [Outcome.RECORDED, Outcome.DUPLICATE, Outcome.DUPLICATE, Outcome.RECORDED]
    assert [d.alert is not None for d in decisions] == [True, False, False, False]
    assert stored_state(services, key(2))["verdict"] == "mismatch"
    assert stored_state(services, key(4))["verdict"] == "ok"


def test_a_batch_of_many_workers_stores_each_one(services):
    decisions = apply_in_one_transaction(services, [snapshot(n, contact_uri="client:wrong") for n in range(1, 65)])
    assert {d.outcome for d in decisions} == {Outcome.RECORDED}
    assert {stored_state(services, key(n))["verdict"] for n in range(1, 65)} == {"mismatch"}
