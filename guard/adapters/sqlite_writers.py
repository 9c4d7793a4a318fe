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

    def acquire(self) -> None:
        """Wait for this thread's turn, or raise DatabaseBusy after SQLITE_BUSY_SECONDS."""
        if getattr(self._held, "depth", 0):  # a nested begin on this thread (a savepoint): already ours
            self._held.depth += 1
            return
        deadline = time.monotonic() + SQLITE_BUSY_SECONDS
        if not self._threads.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise DatabaseBusy("another writer held the database too long")
        try:
            self._lock_file(deadline)
        except BaseException:
            self._threads.release()
            raise
        self._held.depth = 1

    def release(self) -> None:
        """End this thread's turn (once per acquire)."""
        depth = getattr(self._held, "depth", 0)
        if not depth:
            return
        self._held.depth = depth - 1
        if depth == 1:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._threads.release()

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
