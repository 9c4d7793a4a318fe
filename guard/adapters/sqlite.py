"""SQLite, the embedded default: WAL, writers that queue, and a file that vanishes under a running process.

SQLite keeps writing to a database file that was deleted (or replaced) under it, and all of it would be
lost at the next restart. So every transaction first checks that the file is still the one it opened: if
not, it refuses (the request answers 503, so the sender retries), saves what the open file holds beside
the path (`guard.db.recovered`), and the next start takes that copy back: nothing acknowledged is lost.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url

log = logging.getLogger("guard.db")
# How long a write waits for SQLite's lock before giving up (503, so the sender retries). Well inside
# Event Streams' 5 s and TaskRouter's 15 s: an answer past those is a failed delivery anyway.
SQLITE_BUSY_SECONDS = 3.0
RECOVERED = ".recovered"  # the copy of a vanished file's data, taken back at the next start


class DatabaseBusy(RuntimeError):
    """No turn to write within SQLITE_BUSY_SECONDS: answer 503 so the sender retries."""


class DatabaseFileMissing(RuntimeError):
    """The SQLite file was deleted or replaced under the running process: nothing may be acknowledged now."""


def sqlite_engine(url: str) -> Engine:
    """SQLite with WAL and BEGIN IMMEDIATE, so concurrent writers queue instead of failing."""
    database = sqlite_file(make_url(url))
    if database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        _prepare(database)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
    guard = _FileGuard(database) if database else None
    writers = _Writers(database) if database else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        """Let SQLAlchemy, not pysqlite, emit BEGIN; relax fsync, which WAL makes safe."""
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        """Refuse a vanished file; queue for the writer's turn; take the write lock up front (no deadlock)."""
        if guard is not None:
            guard.check(connection)
        if writers is not None:
            writers.acquire()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers and writers.release()
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(_connection: Any) -> None:
        """The writer's turn is over."""
        if writers is not None:
            writers.release()

    return engine


def sqlite_file(url: URL) -> str | None:
    """The SQLite file behind `url`; None for PostgreSQL and in-memory databases."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def file_identity(database: str) -> tuple[int, int] | None:
    """(device, inode) of the file at `database`, or None when there is none."""
    try:
        found = os.stat(database)
    except OSError:
        return None
    return found.st_dev, found.st_ino


@contextmanager
def file_lock(database: str) -> Iterator[None]:
    """An exclusive lock between processes, on a file beside the database."""
    with open(f"{database}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _prepare(database: str) -> None:
    """Take back a vanished file's recovered copy, and switch the file to WAL; one process at a time.

    Two processes switching a new file at once (gunicorn workers booting) can get "database is
    locked" without the busy timeout ever being consulted.
    """
    with file_lock(database):
        recovered = database + RECOVERED
        # Missing, or the empty file a connection made in its place after it vanished: take the copy back.
        if os.path.exists(recovered) and (not os.path.exists(database) or os.path.getsize(database) == 0):
            os.replace(recovered, database)
            log.warning("sqlite_file_recovered", extra={"fields": {"from": recovered}})
        with closing(sqlite3.connect(database, timeout=30)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


class _Writers:
    """One writer at a time: a lock between the threads of a process, a file lock between processes.

    SQLite lets one writer in at a time and makes the others retry on a sleeping busy handler: with many
    threads that is where the latency tail came from (BENCHMARKS.md). Queuing here instead wakes the next
    writer the moment the last one commits. A writer that cannot get its turn within SQLITE_BUSY_SECONDS
    gives up (503, so the sender retries) rather than hang.
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


class _FileGuard:
    """Remembers which file the engine opened, and refuses transactions once it is gone."""

    def __init__(self, database: str) -> None:
        """Remember the file as it is now."""
        self.database = database
        self.identity = file_identity(database)
        self._saved = threading.Lock()

    def check(self, connection: Any) -> None:
        """Raise DatabaseFileMissing (after saving a copy of the data) when the file is not the one opened."""
        if file_identity(self.database) == self.identity:
            return
        with self._saved:
            self._save_copy(connection)
        raise DatabaseFileMissing(f"the SQLite file {self.database} was deleted or replaced under the running service")

    def _save_copy(self, connection: Any) -> None:
        """Copy what the open (unlinked) file holds beside its path, for the next start to take back."""
        target = self.database + RECOVERED
        try:
            raw = connection.connection.dbapi_connection
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            partial = target + ".partial"
            if os.path.exists(partial):
                os.unlink(partial)
            raw.execute("VACUUM INTO ?", (partial,))
            os.replace(partial, target)
            log.error("sqlite_file_missing", extra={"fields": {"copy": target, "fix": "restart the service"}})
        except (sqlite3.Error, OSError) as err:
            log.error("sqlite_file_missing", extra={"fields": {"copy_failed": type(err).__name__}})
