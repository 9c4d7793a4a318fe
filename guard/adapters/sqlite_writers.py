"""SQLite's writers: one at a time without busy-sleeping, and checkpoints taken outside that turn.

SQLite lets one writer in at a time and makes the others retry on a sleeping busy handler: with many
threads that is where the latency tail came from (BENCHMARKS.md). Queuing here instead wakes the next
writer the moment the last one commits. And SQLite copies the WAL back into the database (a checkpoint,
with its fsync) inside whichever commit crosses the threshold, while that writer holds everyone's turn:
the checkpoints run here between turns instead.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger("guard.db")

# How long a write waits for SQLite's lock before giving up (503, so the sender retries). Well inside
# Event Streams' 5 s and TaskRouter's 15 s: an answer past those is a failed delivery anyway.
SQLITE_BUSY_SECONDS = 3.0
CHECKPOINT_SECONDS = 0.5  # how often the event writer copies the WAL back, outside the write turn
BACKSTOP_PAGES = 20000  # SQLite's own checkpoint (in a commit) only if those stop: the WAL stays under ~80 MB


class DatabaseBusy(RuntimeError):
    """No turn to write within SQLITE_BUSY_SECONDS: answer 503 so the sender retries."""


class Writers:
    """One writer at a time: a lock between the threads of a process, a file lock between processes.

    A writer that cannot get its turn within SQLITE_BUSY_SECONDS gives up (503, so the sender retries).
    """

    def __init__(self, database: str) -> None:
        """Queue writers of `database`."""
        self._threads = threading.Lock()
        self._path = f"{database}.write-lock"
        self._file: Any = None
        self._held = threading.local()

    def acquire(self, owner: object) -> None:
        """Take this thread's turn for `owner` (a DB-API connection); DatabaseBusy after SQLITE_BUSY_SECONDS."""
        owners = self._owners()
        if owners:  # a second connection beginning on this thread: the turn is already this thread's
            owners.append(owner)
            return
        deadline = time.monotonic() + SQLITE_BUSY_SECONDS
        if not self._threads.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise DatabaseBusy("another writer held the database too long")
        try:
            self._lock_file(deadline)
        except BaseException:
            self._threads.release()
            raise
        owners.append(owner)

    def release(self, owner: object) -> None:
        """`owner` is done; the turn ends with the last owner on this thread (any other connection ends nothing)."""
        owners = self._owners()
        if owner not in owners:  # the pool's rollback of a connection that began nothing
            return
        owners.remove(owner)
        if not owners:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._threads.release()

    def _owners(self) -> list[object]:
        """The connections that hold this thread's turn."""
        if not hasattr(self._held, "owners"):
            self._held.owners = []
        return self._held.owners  # type: ignore[no-any-return]

    def _lock_file(self, deadline: float) -> None:
        """The file lock between processes, waited for in short steps until `deadline`."""
        if self._file is None:
            self._file = open(self._path, "a")  # noqa: SIM115 - held for the life of the process
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DatabaseBusy("another process held the database too long") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)


class Checkpoints:
    """A passive checkpoint now and then, on a connection of its own, outside any writer's turn."""

    def __init__(self, engine: Engine) -> None:
        """Checkpoint the file behind `engine`."""
        self.engine = engine
        self._last = time.monotonic()

    def run_if_due(self) -> None:
        """Copy what the WAL holds back into the database if CHECKPOINT_SECONDS have passed; never waits."""
        if time.monotonic() - self._last < CHECKPOINT_SECONDS:
            return
        self._last = time.monotonic()
        try:
            connection = self.engine.raw_connection()  # no BEGIN: a checkpoint cannot run inside a transaction
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[attr-defined]
            finally:
                connection.close()
        except Exception as err:  # noqa: BLE001 - harmless: the next one, or SQLite's backstop, copies it
            log.warning("sqlite_checkpoint_failed", extra={"fields": {"error": type(err).__name__}})
