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
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError

from guard.adapters.sqlite_writers import BACKSTOP_PAGES, SQLITE_BUSY_SECONDS, Writers

log = logging.getLogger("guard.db")
RECOVERED = ".recovered"  # the copy of a vanished file's data, taken back at the next start


MIN_FREE_BYTES = 1 << 20  # below it, /healthz says "disk full": SQLite's next commits may find no room


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
    writers = Writers(database) if database else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        """Let SQLAlchemy, not pysqlite, emit BEGIN; relax fsync, which WAL makes safe."""
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints run outside the write lock (Checkpoints); this only bounds the WAL if they stop.
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        # SQLite opens a file it may not write read-only, and the connection stays so: remember it (below).
        record.info["read_only"] = bool(database) and not writable(database)

    @event.listens_for(engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """A connection opened while the file was read-only is replaced once it is writable again."""
        if record.info.get("read_only") and writable(database or ""):
            raise DisconnectionError("the SQLite file is writable again")  # the pool opens a new connection

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        """Refuse a vanished file; queue for the writer's turn; take the write lock up front (no deadlock)."""
        if guard is not None:
            guard.check(connection)
        owner = _raw(connection.connection)
        if writers is not None:
            writers.acquire(owner)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers and writers.release(owner)
            raise

    if writers is not None:
        _end_turns_after_commit(engine, writers)
    return engine


def _end_turns_after_commit(engine: Engine, writers: Writers) -> None:
    """End the writer's turn once its COMMIT or ROLLBACK has run, not before (as the engine's events would).

    Otherwise the next writer, often in another process, meets the unfinished COMMIT at its BEGIN IMMEDIATE and
    waits on SQLite's sleeping busy handler. A rollback when the pool takes back a connection that began nothing
    ends no turn.
    """
    dialect = engine.dialect
    for name in ("do_commit", "do_rollback"):
        plain = getattr(dialect, name)

        def ended(dbapi_connection: Any, plain: Any = plain) -> None:
            try:
                plain(dbapi_connection)
            finally:
                writers.release(_raw(dbapi_connection))

        setattr(dialect, name, ended)


def _raw(connection: Any) -> Any:
    """The DB-API connection behind the pool's proxy (SQLAlchemy hands either to the dialect)."""
    return getattr(connection, "dbapi_connection", connection)


def sqlite_file(url: URL) -> str | None:
    """The SQLite file behind `url`; None for PostgreSQL and in-memory databases."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def disk_full(database: str) -> bool:
    """True when the file system holding `database` has less room than a commit may need (journal, WAL, checkpoint)."""
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(database))).free < MIN_FREE_BYTES
    except OSError:  # the directory is gone: `file_identity` says so
        return False


def writable(database: str) -> bool:
    """True when this process may write the SQLite file (an immutable or read-only file, or a read-only mount: not)."""
    return os.access(database, os.W_OK)


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
        elif os.path.exists(recovered):  # the file was replaced, not lost: which one holds the truth, an admin knows
            fix = "keep the file in use, or stop the service and move the copy over it; then delete the other"
            log.error("sqlite_recovered_copy_not_taken", extra={"fields": {"copy": recovered, "fix": fix}})
        with closing(sqlite3.connect(database, timeout=SQLITE_BUSY_SECONDS)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


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
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)  # `rm -rf instance` took it too
            if os.path.exists(partial):
                os.unlink(partial)
            raw.execute("VACUUM INTO ?", (partial,))
            os.replace(partial, target)
            log.error("sqlite_file_missing", extra={"fields": {"copy": target, "fix": "restart the service"}})
        except (sqlite3.Error, OSError) as err:
            log.error("sqlite_file_missing", extra={"fields": {"copy_failed": type(err).__name__}})
