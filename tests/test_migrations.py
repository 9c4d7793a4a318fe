"""Migrations: the schema they build, db.HEAD, and processes that open a new SQLite file at once."""

import fcntl
import multiprocessing
import sqlite3
import threading
from contextlib import closing
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, make_url

from guard.adapters import db
from guard.adapters.tables import metadata
from tests.plugins.databases import TESTS_MARK, _run_outside_transaction


def test_head_constant_matches_the_newest_migration(services):
    scripts = ScriptDirectory.from_config(db.alembic_config(services.store.engine))
    assert scripts.get_current_head() == db.HEAD
    assert db.current_revision(services.store.engine) == db.HEAD


def test_migrated_schema_matches_the_table_definitions(services):
    with services.store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert [d for d in differences if not (d[0] == "remove_table" and d[1].name == TESTS_MARK)] == []


def test_herokus_postgres_scheme_is_accepted(postgres_url):
    engine = db.make_engine(postgres_url.replace("postgresql://", "postgres://", 1))
    assert engine.dialect.name == "postgresql"
    assert db.current_revision(engine) == db.HEAD
    engine.dispose()


def _boot(database: str, barrier: Any, outcomes: Any) -> None:
    """What each gunicorn worker does at import on the embedded default: open the store and migrate it."""
    barrier.wait()
    try:
        db.upgrade(db.make_engine(f"sqlite:///{database}"))
        outcomes.put("ok")
    except Exception as err:  # noqa: BLE001 - reported to the test, which names it
        outcomes.put(f"{type(err).__name__}: {err}".splitlines()[0])


def test_workers_booting_at_once_on_a_new_sqlite_file_all_start(tmp_path):
    context = multiprocessing.get_context("forkserver")  # children of a clean, single-threaded process
    context.set_forkserver_preload(["tests.test_migrations"])
    outcomes: list[str] = []
    for round_ in range(12):
        database = str(tmp_path / f"boot{round_}.db")
        barrier, queue = context.Barrier(4), context.Queue()
        workers = [context.Process(target=_boot, args=(database, barrier, queue)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        outcomes += [queue.get(timeout=5) for _ in workers]
        with closing(sqlite3.connect(database)) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert set(outcomes) == {"ok"}


def test_the_switch_to_wal_waits_for_the_boot_lock(tmp_path):
    database = str(tmp_path / "guard.db")
    engines: list[Engine] = []
    with open(f"{database}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process is booting
        opener = threading.Thread(target=lambda: engines.append(db.make_engine(f"sqlite:///{database}")))
        opener.start()
        opener.join(0.5)
        assert opener.is_alive() and not engines
        fcntl.flock(lock, fcntl.LOCK_UN)
    opener.join(10)
    with engines[0].connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engines[0].dispose()


def _migrate(url: str, barrier: Any, outcomes: Any) -> None:
    """A release phase (`migrate`): migrate the database and report where it was before its turn."""
    barrier.wait()
    try:
        outcomes.put(db.upgrade(db.make_engine(url))[0])
    except Exception as err:  # noqa: BLE001 - reported to the test, which names it
        outcomes.put(f"{type(err).__name__}: {err}".splitlines()[0])


def test_two_migrations_at_once_on_a_new_postgres_say_who_created_the_tables(postgres_url):
    """Two release phases (or `migrate` typed twice) at once: one creates the tables, the other finds them made."""
    name = f"{make_url(postgres_url).database}_migrate"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    context = multiprocessing.get_context("forkserver")  # processes, as release phases are (Alembic's is global)
    context.set_forkserver_preload(["tests.test_migrations"])
    befores: list[Any] = []
    try:
        for _ in range(3):
            _run_outside_transaction(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _run_outside_transaction(postgres_url, f'CREATE DATABASE "{name}"')
            barrier, queue = context.Barrier(2), context.Queue()
            runs = [context.Process(target=_migrate, args=(url, barrier, queue)) for _ in range(2)]
            for run in runs:
                run.start()
            for run in runs:
                run.join(60)
            befores.append(sorted((queue.get(timeout=5) for _ in runs), key=str))
    finally:
        _run_outside_transaction(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert befores == [[db.HEAD, None]] * 3


def test_0017_counts_a_drift_whose_value_the_browser_registers_as_the_end_of_a_paged_episode():
    """As the live decision does (it clears urgent_at): the resolved after it answers no page."""
    import importlib.util
    import json

    path = db.MIGRATIONS / "versions" / "0017_answering_pages.py"
    spec = importlib.util.spec_from_file_location("migration_0017", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    rings = json.dumps({"verdict": "mismatch", "expected": "client:a", "actual": "client:a"})
    wrong = json.dumps({"verdict": "mismatch", "expected": "client:a", "actual": "client:b"})
    resolved = json.dumps({"verdict": "ok"})
    history = [
        (1, "urgent", "delivered", wrong),
        (2, "drift", "delivered", rings),
        (3, "resolved", "pending", resolved),
    ]
    assert migration._answering(history) == []
    history[1] = (2, "drift", "delivered", wrong)  # still unable to ring: the page's episode goes on
    assert migration._answering(history) == [3]
