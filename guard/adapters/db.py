"""Engine set-up for SQLite and PostgreSQL, Alembic migrations, and the two statement helpers every table uses."""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    inspect,
    make_url,
    or_,
    select,
    text,
    update,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The newest revision in guard/migrations/versions (tests/test_migrations.py keeps it honest). Knowing it
# lets a start on an up-to-date database skip importing Alembic, a third of the CLI's start-up time.
HEAD = "0006"
# What an operator runs to migrate (the Procfile's release phase); named in error messages.
MIGRATE_COMMAND = "flask --app wsgi migrate"
# How long a write waits for SQLite's lock before giving up (503, so the sender retries). Well inside
# Event Streams' 5 s and TaskRouter's 15 s: an answer past those is a failed delivery anyway.
SQLITE_BUSY_SECONDS = 3.0


def normalize_url(url: str) -> str:
    """Accept Heroku's `postgres://` form and use the psycopg 3 driver for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str) -> Engine:
    """Create an engine tuned for the guard's short write transactions."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # 10 connections: one per gunicorn thread (8) plus the delivery thread, with one to spare.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_engine(url: str) -> Engine:
    """SQLite with WAL and BEGIN IMMEDIATE, so concurrent writers queue instead of failing."""
    database = sqlite_file(make_url(url))
    if database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        _enable_wal(database)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        """Let SQLAlchemy, not pysqlite, emit BEGIN; relax fsync, which WAL makes safe."""
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        """Take the write lock up front: a read-then-write transaction cannot deadlock."""
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs on `engine` without an alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Apply every pending migration; return the revisions before and after (None: an empty database)."""
    before = current_revision(engine)
    if before == HEAD:
        return before, before
    from alembic import command

    database = sqlite_file(engine.url)
    # Serialize migrations between processes that start at once (gunicorn workers on SQLite).
    with _file_lock(database) if database else nullcontext():
        before = current_revision(engine)  # another process may have migrated while we waited
        command.upgrade(alembic_config(engine), "head")
    return before, current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database), read without Alembic."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _enable_wal(database: str) -> None:
    """Switch the file to WAL (a persistent setting), one process at a time.

    Two processes switching a new file at once (gunicorn workers booting) can get "database is
    locked" without the busy timeout ever being consulted.
    """
    with _file_lock(database), closing(sqlite3.connect(database, timeout=30)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def sqlite_file(url: URL) -> str | None:
    """The SQLite file behind `url`; None for PostgreSQL and in-memory databases."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


@contextmanager
def _file_lock(database: str) -> Iterator[None]:
    """An exclusive lock between processes, on a file beside the database."""
    with open(f"{database}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def connected(bind: Engine | Connection) -> Iterator[Connection]:
    """The caller's connection (its transaction), or a short transaction of our own on an engine."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as connection:
            yield connection


def lease_oldest(
    bind: Engine | Connection,
    table: Table,
    conditions: Callable[[Any], tuple[Any, ...]],
    now: datetime,
    lease: timedelta,
    **values: Any,
) -> Mapping[str, Any] | None:
    """Atomically lease the oldest row of `table` that meets `conditions(alias)` and is not leased; return it.

    FOR UPDATE SKIP LOCKED lets processes sharing PostgreSQL claim different rows; SQLite's
    BEGIN IMMEDIATE serializes the claim instead. A lease that runs out (a crashed process) frees the row.
    """
    row_alias = table.alias("candidate")
    candidate = (
        select(row_alias.c.id)
        .where(*conditions(row_alias), or_(row_alias.c.lease_until.is_(None), row_alias.c.lease_until < now))
        .order_by(row_alias.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(table)
        .where(table.c.id == candidate.scalar_subquery())
        .values(lease_until=now + lease, **values)
        .returning(table)
    )
    with connected(bind) as connection:
        row = connection.execute(statement).first()
    return None if row is None else row._mapping
