"""SQLite's writer turn (adapters/sqlite_writers.py): held from BEGIN IMMEDIATE until COMMIT or ROLLBACK has run."""

import fcntl

import pytest
from sqlalchemy import event, text

from guard.adapters import db


def turn_taken(database):
    """True while a writer holds the turn: the lock file beside the database is locked."""
    with open(f"{database}.write-lock", "a") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


@pytest.fixture
def traced(tmp_path):
    """An engine on a SQLite file, and the statements SQLite ran with whether the turn was held at each."""
    database = tmp_path / "guard.db"
    engine, seen = db.make_engine(f"sqlite:///{database}"), []

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(lambda sql: seen.append((sql, turn_taken(database))))

    yield engine, seen, database
    engine.dispose()


def test_the_turn_lasts_until_the_commit_has_run(traced):
    # Ended before COMMIT, the next writer (often another process) met the unfinished commit: SQLite's busy sleep
    engine, seen, database = traced
    with engine.begin() as connection:
        connection.execute(text("SELECT 1"))
    assert ("BEGIN IMMEDIATE", True) in seen and ("COMMIT", True) in seen
    assert not turn_taken(database)


def test_the_turn_lasts_until_the_rollback_has_run(traced):
    engine, seen, database = traced
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(text("SELECT 1"))
        raise RuntimeError("the work failed")
    assert ("ROLLBACK", True) in seen
    assert not turn_taken(database)
    with engine.begin() as connection:  # the turn is free for the next writer, on this thread too
        connection.execute(text("SELECT 1"))
    assert seen[-1] == ("COMMIT", True)


def test_a_connection_the_pool_takes_back_ends_no_other_connections_turn(traced):
    # The pool's reset-on-return rolls back through the same dialect call as a transaction's ROLLBACK
    engine, _seen, database = traced
    with engine.begin() as connection:
        connection.execute(text("SELECT 1"))
        engine.connect().close()  # a second connection out and back on this thread: it began nothing
        assert turn_taken(database)
    assert not turn_taken(database)
