"""The databases under test: a migrated SQLite file copied per test, and a PostgreSQL database emptied per test."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from guard.adapters import db
from guard.adapters.tables import metadata

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
# CI sets REQUIRE_POSTGRES=1 so an unreachable server fails the run instead of skipping tests.
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES", "") == "1"
TESTS_MARK = "guard_tests_own_this_database"  # a table the tests make where they may drop and empty the rest
FOREIGN = (
    "TEST_DATABASE_URL's database holds guard tables the tests did not mark as theirs (a service's database, or a "
    "run from before this check); they would empty it. Point TEST_DATABASE_URL at a database of its own, or drop "
    "those tables if they are the tests'."
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this run's own, dropped at its end; skips (or fails in CI) when unreachable."""
    try:
        _created_if_missing(TEST_DATABASE_URL)
    except Exception as err:  # noqa: BLE001 - any connection failure means "no server"
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable at TEST_DATABASE_URL: {type(err).__name__}")
        pytest.skip("PostgreSQL unreachable; set TEST_DATABASE_URL")
    url = _own_database(TEST_DATABASE_URL)
    if url == TEST_DATABASE_URL and foreign_guard_database(url):
        pytest.fail(FOREIGN, pytrace=False)
    try:
        engine = db.make_engine(url)
        with engine.begin() as connection:
            connection.execute(text(f"CREATE TABLE IF NOT EXISTS {TESTS_MARK} ()"))  # whose tables these are
            for table in [*reversed(metadata.sorted_tables)]:
                connection.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        if url != TEST_DATABASE_URL:
            _drop_database(TEST_DATABASE_URL, make_url(url).database or "")


@contextmanager
def scratch_database(postgres_url: str, suffix: str) -> Iterator[str]:
    """An empty database beside `postgres_url`'s (its name + `suffix`), dropped afterwards: its URL."""
    name = f"{make_url(postgres_url).database}{suffix}"
    _run_outside_transaction(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _run_outside_transaction(postgres_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _run_outside_transaction(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def foreign_guard_database(url: str) -> bool:
    """True when `url`'s database holds guard tables these tests did not make (a service's: they would empty it)."""
    [(guard, ours)] = _run_outside_transaction(
        url, f"SELECT to_regclass('alembic_version') IS NOT NULL, to_regclass('{TESTS_MARK}') IS NOT NULL"
    )
    return bool(guard and not ours)


def _created_if_missing(url: str) -> None:
    """Connect to `url`; a server that answers without its database (a fresh install has no `test`) gets it made."""
    try:
        _run_outside_transaction(url, "SELECT 1")
    except DBAPIError as err:
        if "does not exist" not in str(err.orig):
            raise
        maintenance = make_url(url).set(database="postgres").render_as_string(hide_password=False)
        _run_outside_transaction(maintenance, f'CREATE DATABASE "{make_url(url).database}"')


def _own_database(url: str) -> str:
    """A database of this run's own beside `url`'s (two runs at once never share tables); `url` if none can be made."""
    own = make_url(url)
    own = own.set(database=f"{own.database}_run{os.getpid()}")
    _drop_leftovers(url)
    try:
        _run_outside_transaction(url, f'CREATE DATABASE "{own.database}"')
    except DBAPIError:  # no right to create databases, a read-only server: share `url`'s, one run at a time
        return url
    return own.render_as_string(hide_password=False)


def _drop_leftovers(url: str) -> None:
    """Drop the databases of runs killed before their end (no such process any more), on this machine's server."""
    target = make_url(url)
    if target.host not in (None, "", "localhost", "127.0.0.1", "::1"):
        return  # another machine's runs may be alive: their processes are not ours to see
    prefix = f"{target.database}_run"
    names = _run_outside_transaction(url, "SELECT datname FROM pg_database WHERE starts_with(datname, :p)", p=prefix)
    for (name,) in names:
        pid = name.removeprefix(prefix)
        # This run's own name is a leftover too before it makes it (a container's earlier run had the same pid)
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            _drop_database(url, name)


def _drop_database(url: str, name: str) -> None:
    """Drop database `name` on `url`'s server, whoever is still connected to it."""
    _run_outside_transaction(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    """True while a process with this pid runs here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_outside_transaction(url: str, statement: str, **params: str) -> list[Any]:
    """Run `statement` on `url`'s server in autocommit (CREATE and DROP DATABASE refuse a transaction); its rows."""
    engine = db.make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            result = connection.execute(text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _truncate(url: str) -> None:
    """Empty every table so each test starts clean."""
    engine = db.make_engine(url)
    with engine.begin() as connection:
        # DELETE beats TRUNCATE on tables this small.
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def empty_postgres(postgres_url: str) -> str:
    """The migrated PostgreSQL database with every table emptied."""
    _truncate(postgres_url)
    return postgres_url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest migration, made once; each test gets its own copy."""
    path = tmp_path_factory.mktemp("template") / "guard.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, so a copy has it all
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database under test: a fresh, migrated SQLite file, then the local PostgreSQL."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "guard.db")
        return f"sqlite:///{tmp_path}/guard.db"
    return request.getfixturevalue("empty_postgres")
