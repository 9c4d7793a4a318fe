"""Worker events written in batches: one writer thread per process, many events to a transaction (group commit).

Every worker event must be committed before it is acknowledged, and a database takes one writer at a
time (SQLite by its design; PostgreSQL per worker). With a transaction per request, the request threads
queue for the write lock and pay a commit each. Here they hand their snapshots to one writer thread,
which takes whatever has queued up (up to MAX_BATCH) into one transaction and wakes each request once its
event is committed: the answer still comes only after the commit. A batch that fails is written again
one event at a time, so one bad event cannot take the others with it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from guard.adapters.sqlite import DatabaseFileMissing
from guard.adapters.sqlite_writers import SQLITE_BUSY_SECONDS, DatabaseBusy
from guard.adapters.store import Transaction
from guard.core.decision import Decision, Outcome
from guard.core.snapshot import WorkerSnapshot
from guard.logs import log_event
from guard.metrics import WORKER_EVENTS
from guard.service.pipeline import Pipeline
from guard.service.slot import Slot, WriterBehind

log = logging.getLogger("guard.writer")
MAX_BATCH = 64  # events to one transaction: enough to share a commit, few enough to keep each wait short
# One deadline for all of a request's events (one, or an Event Streams batch): past it the request gives up
# (503) and the sender retries. Inside Event Streams' 5 s; the writer's own turn gives up after SQLITE_BUSY_SECONDS.
WAIT_SECONDS = SQLITE_BUSY_SECONDS + 1
# How long a request thread holds back while its process's writer has SQLite's write turn (make_way).
MAKE_WAY_SECONDS = 0.02
# A batch takes milliseconds, and SQLite's turn at most SQLITE_BUSY_SECONDS: one this old waits on a hung connection.
STUCK_SECONDS = 30.0
STALLED_SECONDS = SQLITE_BUSY_SECONDS  # a batch older than this when a request gives up: the database is not answering
_STOP = object()
Item = tuple[WorkerSnapshot, Slot]
UNAVAILABLE = (OperationalError, DatabaseBusy, DatabaseFileMissing, PoolTimeout)  # a whole batch meets these alike


class EventWriter:
    """Records snapshots through the pipeline, batched by a writer thread of this process."""

    def __init__(self, pipeline: Pipeline) -> None:
        """Write through `pipeline`."""
        self.pipeline = pipeline
        self._queue: queue.SimpleQueue[Item | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._starting = threading.Lock()
        self._turn_shared = pipeline.store.turn_shared
        self._turn_free = threading.Event()  # cleared while this writer holds SQLite's write turn
        self._turn_free.set()
        self._writing_since: float | None = None  # time.monotonic() when its batch began; None between batches

    def record(self, snapshot: WorkerSnapshot) -> Outcome:
        """Queue one snapshot, wait until its batch is committed, announce it here; its outcome."""
        return self.record_all([snapshot])[0]

    def record_all(
        self, snapshots: Sequence[WorkerSnapshot], deadline: float | None = None, droppable: bool = False
    ) -> list[Outcome]:
        """Queue snapshots (one, or an Event Streams batch) at once; announce each once committed; the outcomes.

        TimeoutError (503) past `deadline` (time.monotonic(); by default WAIT_SECONDS from now). `droppable`: events
        not taken by then are left unwritten (Event Streams retries for hours; written late, they only lengthen the
        queue its retry waits behind). A TaskRouter callback is tried again once only: its event is written anyway.
        """
        slots, deadline = [Slot(droppable) for _ in snapshots], deadline or time.monotonic() + WAIT_SECONDS
        for item in zip(snapshots, slots, strict=True):
            self._queue.put(item)
        self._running()
        outcomes: list[Outcome] = []
        try:
            for slot in slots:
                decision = slot.wait(deadline)
                if not outcomes:  # once per request, not per event: a batch of 300 adds ≤ 20 ms, not 6 s
                    self.make_way()
                self.pipeline.announce(decision)  # on the request's thread: the writer goes back to writing
                outcomes.append(decision.outcome)
        except BaseException as err:
            if isinstance(err, WriterBehind):  # the log says whether the database or a burst held it up
                since = self._writing_since
                err.stalled = since is not None and time.monotonic() - since > STALLED_SECONDS
            for rest in slots[len(outcomes) + 1 :]:  # not waited for: whoever has the decision announces it
                if rest.abandon() and rest.decision is not None:
                    self.pipeline.announce(rest.decision)
            raise
        for snapshot, outcome in zip(snapshots, outcomes, strict=True):  # acknowledged: the request answers now
            WORKER_EVENTS.labels(snapshot.source, outcome.value).inc()
        return outcomes

    def make_way(self) -> bool:
        """Before a request's CPU work: wait (≤ MAKE_WAY_SECONDS) while this writer holds SQLite's write turn.

        Every process waits for that turn, and the writer gives up the GIL in each statement: a request
        thread that takes it meanwhile holds up all of them (BENCHMARKS.md, "make way"). True if the turn is free.
        """
        return self._turn_free.wait(MAKE_WAY_SECONDS)

    def stuck(self) -> bool:
        """True when one batch has taken over STUCK_SECONDS: its database connection hangs, events here get 503."""
        since = self._writing_since
        return since is not None and time.monotonic() - since > STUCK_SECONDS

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        self._thread = None

    def _running(self) -> None:
        """Start the writer thread in this process (a forked gunicorn worker starts its own)."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._starting:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._write, name="guard-writer", daemon=True)
                self._thread.start()

    def _write(self) -> None:
        """The writer thread: a transaction per batch of whatever queued up, each request woken after the commit."""
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            if first[1].dropped():  # type: ignore[index]
                continue
            items: list[Item] = [first]  # type: ignore[list-item]
            self._writing_since = time.monotonic()
            try:
                answers = self._write_batch(items)
            finally:
                self._writing_since = None
            for (snapshot, slot), answer in zip(items, answers, strict=True):
                if isinstance(answer, BaseException):
                    if slot.fill(error=answer):  # its request gave up (503): it is said, never silently lost
                        self._not_recorded(snapshot, answer)
                elif slot.fill(answer):  # its request gave up waiting: announced here, never lost
                    self.pipeline.announce(answer)
            self.pipeline.store.checkpoint()  # after the answers, outside the write turn

    def _not_recorded(self, snapshot: WorkerSnapshot, err: BaseException) -> None:
        """Log an event its sender was told to send again (503) that could not be written after all, and its verdict."""
        try:
            judged = (
                "deleted" if snapshot.deleted else self.pipeline.settings.rules.judge(**_judged(snapshot)).kind.value
            )
        except Exception:  # noqa: BLE001 - the line goes out all the same
            judged = "unknown"
        fields = {"worker_sid": snapshot.key.worker_sid, "event_id": snapshot.event_id, "source": snapshot.source}
        log_event(log, logging.ERROR, "event_not_recorded", **fields, verdict=judged, error=type(err).__name__)

    def _take_queued(self, items: list[Item]) -> None:
        """Add what has queued up to `items` (up to MAX_BATCH), in one order of workers.

        Taken once the write turn is ours: what queued while the writer waited for it joins this batch.
        The order is kept per worker; two PostgreSQL writers taking their workers in one order never deadlock.
        """
        while len(items) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # after this batch
                break
            if not item[1].dropped():  # type: ignore[index]
                items.append(item)  # type: ignore[arg-type]
        items.sort(key=lambda item: (item[0].key.account_sid, item[0].key.workspace_sid, item[0].key.worker_sid))

    @contextmanager
    def _turn(self) -> Iterator[Transaction]:
        """The pipeline's transaction; on SQLite, request threads make way from its first statement to its commit."""
        try:
            with self.pipeline.store.transaction() as tx:
                if self._turn_shared:
                    self._turn_free.clear()
                yield tx
        finally:
            self._turn_free.set()

    def _write_batch(self, items: list[Item]) -> list[Decision | BaseException]:
        """One transaction for the batch (it grows in place): each event's decision once committed, or its error."""
        pipeline = self.pipeline
        try:
            with self._turn() as tx:
                self._take_queued(items)  # the turn is ours (SQLite): all that queued meanwhile comes along
                return list(pipeline.apply_events(tx, [snapshot for snapshot, _ in items], pipeline.clock()))
        except UNAVAILABLE as err:  # the database cannot take writes now: every request says so (503)
            self._take_queued(items)  # what queued meanwhile meets the same outage: answered now, not a turn each
            return [err] * len(items)
        except Exception:  # noqa: BLE001 - each event on its own: one bad event cannot fail the others
            answers: list[Decision | BaseException] = []
            for snapshot, _ in items:
                try:
                    with self._turn() as tx:
                        [decision] = pipeline.apply_events(tx, [snapshot], pipeline.clock())
                    answers.append(decision)  # once committed: a failed commit is this event's error
                except Exception as err:  # noqa: BLE001 - the request answers it (503, or 500 and logged)
                    answers.append(err)
            return answers


def _judged(snapshot: WorkerSnapshot) -> dict[str, object]:
    """What the verdict on an event alone reads: its attributes, worker SID and name."""
    return {"attributes": snapshot.attributes, "worker_sid": snapshot.key.worker_sid, "worker_name": snapshot.name}
