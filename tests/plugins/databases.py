"""The databases under test: a migrated SQLite file copied per test, and the local PostgreSQL emptied per test."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text

from guard.adapters import db
from guard.adapters.tables import metadata

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
# CI sets REQUIRE_POSTGRES=1 so an unreachable server fails the run instead of skipping tests.
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES", "") == "1"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database, reset once per session; skips (or fails in CI) when unreachable."""
    engine = db.make_engine(TEST_DATABASE_URL)
    try:
        with engine.begin() as connection:
            for table in [*reversed(metadata.sorted_tables)]:
                connection.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    except Exception as err:  # noqa: BLE001 - any connection failure means "no server"
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable at TEST_DATABASE_URL: {type(err).__name__}")
        pytest.skip("PostgreSQL unreachable; set TEST_DATABASE_URL")
    db.upgrade(engine)
    engine.dispose()
    yield TEST_DATABASE_URL


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
