"""Engines for SQLite and PostgreSQL, Alembic migrations, and the two statement helpers every table uses."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    inspect,
    make_url,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from guard.adapters.sqlite import DatabaseFileMissing, file_lock, sqlite_engine, sqlite_file
from guard.adapters.sqlite import disk_full as sqlite_disk_full
from guard.adapters.sqlite_writers import SQLITE_BUSY_SECONDS, DatabaseBusy

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The newest revision in guard/migrations/versions (tests/test_migrations.py keeps it honest). Knowing it
# lets a start on an up-to-date database skip importing Alembic, a third of the CLI's start-up time.
HEAD = "0017"
# What an operator runs to migrate (the Procfile's release phase); named in error messages.
MIGRATE_COMMAND = "flask --app wsgi migrate"
# The database cannot work now (unreachable, full, busy, its file gone): a job's round fails, no bug
OUTAGES = (OperationalError, DatabaseFileMissing, DatabaseBusy, TimeoutError, PoolTimeout)
POOL_WAIT_SECONDS = 3.0  # as SQLite's turn: past it the sender retries (503) rather than wait on a connection
# PostgreSQL's SQLSTATEs for a missing table or column, or a NOT NULL a later migration lifts: a release phase skipped
# (SQLite's "no such …" is an OperationalError, an outage already)
NOT_MIGRATED = ("42P01", "42703", "23502")
# libpq's defaults wait for ever on a server or network that stops answering: a connection attempt is bounded, an
# idle connection whose peer is gone is found by keepalives, and one whose sent data goes unacknowledged fails
LIBPQ_BOUNDS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,  # ms
}


def normalize_url(url: str) -> str:
    """Accept Heroku's `postgres://` form and use the psycopg 3 driver for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, connections: int = 10, wait: float = POOL_WAIT_SECONDS) -> Engine:
    """Create an engine tuned for the guard's short write transactions, of at most `connections` (PostgreSQL).

    A thread that finds them all in use waits `wait` seconds, then the request gets 503 (busy), not a 30 s hang.
    """
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return sqlite_engine(url)
    # 10 by default: one per gunicorn thread (8) plus the writer and the background jobs. Half stay open; the rest
    # close when handed back, so idle dynos do not hold a small plan's connections (DATABASE_POOL_SIZE).
    kept = connections // 2
    given = make_url(url).query  # what the URL sets itself stands
    bounds = {name: value for name, value in LIBPQ_BOUNDS.items() if name not in given}
    return create_engine(
        url, pool_pre_ping=True, pool_size=kept, max_overflow=connections - kept, pool_timeout=wait, connect_args=bounds
    )


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs on `engine` without an alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


# What opening a SQLite path at start can meet: a directory that cannot be made, a file that is no database.
UNOPENABLE = (OSError, sqlite3.DatabaseError, DBAPIError)
BUSY_REASONS = ("database is locked", "database is busy")  # another process's write: it passes


def disk_full(url: str) -> bool:
    """True when `url` names a SQLite file whose file system has no room left for a commit."""
    database = sqlite_file(make_url(url))
    return bool(database) and sqlite_disk_full(database)


def reason(err: BaseException) -> str:
    """Why a database could not be opened, in a few words and without its path (`file is not a database`)."""
    if isinstance(err, DBAPIError) and err.orig is not None:
        err = err.orig
    text = (
        err.strerror
        if isinstance(err, OSError) and err.strerror
        else str(err)
        if isinstance(err, sqlite3.Error)
        else ""
    )
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


class DatabaseAhead(RuntimeError):
    """The database is at a migration this release does not have: a newer release migrated it."""

    def __init__(self, revision: str) -> None:
        """Name the database's revision and this release's newest."""
        super().__init__(
            f"the database is at migration {revision}, which this release does not have (its newest is {HEAD}): "
            "a newer release migrated it; run that release, or restore the database from before it"
        )


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Apply every pending migration; return the revisions before and after (None: an empty database)."""
    before = current_revision(engine)
    if before == HEAD:
        return before, before
    if before is not None and before not in revisions():
        raise DatabaseAhead(before)  # Alembic's own answer is a traceback ("Can't locate revision")
    from alembic import command

    database = sqlite_file(engine.url)
    config = alembic_config(engine)
    # Serialize migrations between processes that start at once (gunicorn workers on SQLite; on PostgreSQL, the
    # migration's transaction takes an advisory lock: guard/migrations/env.py).
    with file_lock(database) if database else nullcontext():
        command.upgrade(config, "head")
    # Where the database was once this process had its turn: another may have migrated it while this one waited.
    return config.attributes.get("before", before), current_revision(engine)


def not_migrated(err: BaseException, engine: Engine) -> str | None:
    """What is missing (a table or column, as PostgreSQL names it) when `err` says the database is behind, else None.

    In a database at the newest migration, a missing table or column is a bug, not a release phase skipped.
    """
    sqlstate = getattr(getattr(err, "orig", None), "sqlstate", None)
    if not isinstance(err, ProgrammingError | IntegrityError) or sqlstate not in NOT_MIGRATED:
        return None
    try:
        elsewhere = current_revision(engine) != HEAD
    except SQLAlchemyError:  # unreachable, or no free connection
        elsewhere = True  # it cannot even say
    return str(err.orig).strip().splitlines()[0][:200] if elsewhere else None


@functools.cache
def revisions() -> frozenset[str]:
    """The revisions of the migrations this release has."""
    return frozenset(path.name.split("_", 1)[0] for path in MIGRATIONS.glob("versions/*.py"))


def behind(engine: Engine) -> bool:
    """True when the database lacks a migration of this release (empty, or at an older one).

    One ahead of it (a newer release migrated it: old dynos until they restart) is not behind.
    """
    revision = current_revision(engine)
    return revision is None or (revision != HEAD and revision in revisions())


def migration_fix(engine: Engine) -> str:
    """What an operator does about a database at another migration than the code's (the log line's `fix`)."""
    try:
        if not behind(engine):
            return f"a newer release migrated the database: run it (this release's newest migration is {HEAD})"
    except SQLAlchemyError:  # unreachable, or no free connection: the usual fix
        pass
    return f"run `{MIGRATE_COMMAND}`"


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database), read without Alembic.

    On a SQLite file, a plain read outside the writers' turn: another process's long write (WAL lets reads by)
    must not stop a worker's boot (gunicorn halts when one fails) nor hold up /healthz.
    """
    database = sqlite_file(engine.url)
    if database is not None:
        return _sqlite_revision(database)
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _sqlite_revision(database: str) -> str | None:
    """The revision a SQLite file is at, read in autocommit (`mode=rw`: a vanished file is not made anew)."""
    uri = f"file://{quote(os.path.abspath(database))}?mode=rw"  # an empty authority: `//tmp/g.db` is a path too
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_SECONDS, isolation_level=None)) as connection:
            if connection.execute("SELECT 1 FROM sqlite_master WHERE name='alembic_version'").fetchone() is None:
                return None
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            return row[0] if row else None
    except sqlite3.Error as err:  # as the engine would raise it: callers take SQLAlchemy's errors
        raise OperationalError("SELECT version_num FROM alembic_version", None, err) from None


@contextmanager
def connected(bind: Engine | Connection) -> Iterator[Connection]:
    """The caller's connection (its transaction), or a short transaction of our own on an engine."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as connection:
            yield connection
