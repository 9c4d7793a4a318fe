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
from collections.abc import Sequence
from concurrent.futures import Future

from sqlalchemy.exc import OperationalError

from guard.adapters.sqlite import SQLITE_BUSY_SECONDS, DatabaseBusy, DatabaseFileMissing
from guard.core.decision import Outcome
from guard.core.snapshot import WorkerSnapshot
from guard.service.pipeline import Pipeline

log = logging.getLogger("guard.writer")
MAX_BATCH = 64  # events to one transaction: enough to share a commit, few enough to keep each wait short
WAIT_SECONDS = SQLITE_BUSY_SECONDS + 2  # past it the request gives up (503): the sender retries
Item = tuple[WorkerSnapshot, "Future[Outcome]"]
_STOP = object()
UNAVAILABLE = (OperationalError, DatabaseBusy, DatabaseFileMissing)  # a whole batch meets these alike


class EventWriter:
    """Records snapshots through the pipeline, batched by a writer thread of this process."""

    def __init__(self, pipeline: Pipeline) -> None:
        """Write through `pipeline`."""
        self.pipeline = pipeline
        self._queue: queue.SimpleQueue[Item | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._starting = threading.Lock()

    def record(self, snapshot: WorkerSnapshot) -> Outcome:
        """Queue one snapshot and wait until its batch is committed; its outcome, or the error it met."""
        done: Future[Outcome] = Future()
        self._queue.put((snapshot, done))
        self._running()
        return done.result(timeout=WAIT_SECONDS)

    def record_all(self, snapshots: Sequence[WorkerSnapshot]) -> list[Outcome]:
        """Queue several snapshots (an Event Streams batch) at once; their outcomes once committed."""
        futures: list[Future[Outcome]] = [Future() for _ in snapshots]
        for snapshot, done in zip(snapshots, futures, strict=True):
            self._queue.put((snapshot, done))
        self._running()
        return [done.result(timeout=WAIT_SECONDS) for done in futures]

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
            items: list[Item] = [first]  # type: ignore[list-item]
            while len(items) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)  # after this batch
                    break
                items.append(item)  # type: ignore[arg-type]
            # One order of workers in every batch (kept per worker): two PostgreSQL writers never deadlock.
            items.sort(key=lambda item: (item[0].key.account_sid, item[0].key.workspace_sid, item[0].key.worker_sid))
            pipeline, now = self.pipeline, self.pipeline.clock()
            try:
                with pipeline.store.transaction() as tx:
                    decisions = [pipeline.apply_event(tx, snapshot, now) for snapshot, _ in items]
            except UNAVAILABLE as err:  # the database cannot take writes now: every request says so (503)
                for _, done in items:
                    done.set_exception(err)
                continue
            except Exception:  # noqa: BLE001 - each event on its own: one bad event cannot fail the others
                for snapshot, done in items:
                    try:
                        done.set_result(pipeline.record(snapshot))
                    except Exception as err:  # noqa: BLE001 - the request answers it (503, or 500 and logged)
                        done.set_exception(err)
                continue
            for (_, done), decision in zip(items, decisions, strict=True):
                pipeline.announce(decision)
                done.set_result(decision.outcome)
