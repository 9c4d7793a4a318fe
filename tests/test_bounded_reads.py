"""Database reads on bounded threads (adapters/bounded.py): a hung database holds a few threads, never the callers."""

import threading

import pytest

from guard.adapters import bounded
from guard.adapters.bounded import BoundedReads, DatabaseSlow
from tests.processes import wait_for


def test_a_caller_finding_every_slot_held_by_a_hung_read_gives_up_soon_not_after_the_whole_bound():
    """A burst of health checks against a database that does not answer must not hold request threads for long."""
    reads, hung = BoundedReads(slots=2, seconds=60.0, slot_wait=0.25), threading.Event()  # as the pages are
    for _ in range(2):  # two reads that wait on the database, each for up to its 60 s
        threading.Thread(target=lambda: reads.run(lambda: hung.wait(60)), daemon=True).start()
    outcome = []
    threading.Thread(target=lambda: outcome.append(_raised(reads.run, lambda: "answered")), daemon=True).start()
    try:
        assert wait_for(lambda: outcome, timeout=10.0), "the third caller waited out the hung reads' bound"
        assert isinstance(outcome[0], DatabaseSlow)
    finally:
        hung.set()
    assert wait_for(lambda: _raised(reads.run, lambda: "answered") == "answered")  # the slots free with the reads


def test_callers_asking_the_same_at_once_share_one_read_and_its_answer():
    """Health checks and scrapes at once: one slot between them, so none gets a false "unreachable"."""
    reads, started, calls = BoundedReads(slots=1, seconds=30.0), threading.Event(), []

    def slow_read():  # a read under way for a few seconds while the next caller asks
        calls.append("slow")
        started.set()
        threading.Event().wait(3)
        return "first"

    first = []
    threading.Thread(target=lambda: first.append(reads.shared("health", slow_read)), daemon=True).start()
    assert started.wait(10)
    assert reads.shared("health", lambda: calls.append("own") or "own") == "first"  # joined, not a read of its own
    assert wait_for(lambda: first) == ["first"] and calls == ["slow"]
    assert reads.shared("health", lambda: "again") == "again"  # once answered, the next caller reads anew


def test_a_caller_joining_a_slow_read_late_gets_the_answer_just_given_not_a_false_503(monkeypatch):
    """A healthy but slow database (a check of 1.5 s): a probe that comes late to a check under way is answered."""
    monkeypatch.setattr(bounded, "JOIN_SECONDS", 0.0)  # every caller that joins comes "late"
    reads, release, started = BoundedReads(slots=2, seconds=3.5), threading.Event(), threading.Event()
    assert reads.shared("health", lambda: "ok a moment ago") == "ok a moment ago"
    hold = lambda: started.set() or release.wait(10)  # noqa: E731 - a read the test releases
    slow = threading.Thread(target=reads.shared, args=("health", hold), daemon=True)
    slow.start()
    assert started.wait(10)
    try:
        assert reads.shared("health", lambda: "not asked") == "ok a moment ago"  # before: DatabaseSlow, a 503
    finally:
        release.set()
    slow.join(10)


def test_a_caller_joining_a_slow_read_late_with_no_answer_given_lately_gives_up_at_once(monkeypatch):
    monkeypatch.setattr(bounded, "JOIN_SECONDS", 0.0)
    reads, release, started = BoundedReads(slots=2, seconds=3.5), threading.Event(), threading.Event()
    hold = lambda: started.set() or release.wait(10)  # noqa: E731 - a read the test releases
    threading.Thread(target=reads.shared, args=("health", hold), daemon=True).start()
    assert started.wait(10)
    try:
        with pytest.raises(DatabaseSlow, match="under way"):  # says what it saw, not "no answer within 3.5 s"
            reads.shared("health", lambda: "not asked")
    finally:
        release.set()


def test_a_reads_own_error_reaches_its_caller():
    with pytest.raises(ZeroDivisionError):
        BoundedReads(slots=1, seconds=5.0).run(lambda: 1 / 0)


def _raised(call, *args):
    """What `call(*args)` returned, or the exception it raised."""
    try:
        return call(*args)
    except Exception as err:  # noqa: BLE001 - the test looks at which
        return err
