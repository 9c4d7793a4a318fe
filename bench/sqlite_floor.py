"""SQLite's own share of the write path: the statements one run wrote, replayed bare on a copy of its database.

`python bench/sqlite_floor.py [--runs N]`: bench/write_path.py's run (the full-path mix, batches of 8, a transaction
each, the passive checkpoints), with every statement recorded at the DB-API (SQL, parameters, commits). The timed
part is then replayed with nothing but `sqlite3` on a copy of the database as it was before it, same pragmas, same
statements, same parameters: what no Python rewrite of the guard can take off an event's write (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sqlite3.dbapi2
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bodies import TOKEN  # after the path set-up, so the script runs as a file
from bench.fullpath_bodies import FullPathMix
from bench.write_path import TIMED, WARM, snapshots, write
from guard.config import Settings
from guard.container import build_services

Op = tuple[str, str, Any]  # (what, SQL, parameters): "execute", "pragma", "commit", "rollback"
TAPE: list[Op] = []


class _Cursor(sqlite3.Cursor):
    """A cursor that records what it executes."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        """Record, then execute."""
        TAPE.append(("execute", sql, parameters))
        return super().execute(sql, parameters)


class _Connection(sqlite3.Connection):
    """A connection whose cursors record, and whose own statements and commits are recorded too."""

    def cursor(self, factory: Any = _Cursor) -> sqlite3.Cursor:  # type: ignore[override]
        """A recording cursor."""
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        """Record (the pragmas and checkpoints run here), then execute."""
        TAPE.append(("pragma", sql, parameters))
        return super().execute(sql, parameters)

    def commit(self) -> None:
        """Record, then commit."""
        TAPE.append(("commit", "", ()))
        super().commit()

    def rollback(self) -> None:
        """Record, then roll back."""
        TAPE.append(("rollback", "", ()))
        super().rollback()


def _recording(connect: Any) -> Any:
    """`sqlite3.connect` that makes recording connections."""
    return lambda *args, **kwargs: connect(*args, **{**kwargs, "factory": _Connection})


def replay(path: str, pragmas: list[Op], tape: list[Op]) -> float:
    """Seconds of CPU `sqlite3` alone takes for `tape` on the database at `path`."""
    connection = sqlite3.connect(path, isolation_level=None)
    for _, sql, parameters in pragmas:
        connection.execute(sql, parameters)
    cursor = connection.cursor()
    cpu = time.process_time()
    for what, sql, parameters in tape:
        if what == "commit":
            connection.commit()
        elif what == "rollback":
            connection.rollback()
        else:
            cursor.execute(sql, parameters).fetchall()
    cpu = time.process_time() - cpu
    connection.close()
    return cpu


def run(scratch: str) -> tuple[float, float, int]:
    """(µs of CPU per event as built, µs of it in SQLite's statements alone, statements per event)."""
    url = f"sqlite:///{scratch}/floor.db"
    services = build_services(Settings.from_env({"TWILIO_AUTH_TOKEN": TOKEN, "DATABASE_URL": url}), url)
    mix = FullPathMix("http://localhost/taskrouter/events", seed=11)
    write(services.pipeline, snapshots(mix, WARM))
    pragmas = [op for op in TAPE if op[0] == "pragma" and "checkpoint" not in op[1]]
    with sqlite3.connect(f"{scratch}/floor.db") as source, sqlite3.connect(f"{scratch}/copy.db") as copy:
        source.backup(copy)  # the database as the timed part finds it
    timed = snapshots(mix, TIMED)
    TAPE.clear()
    cpu = time.process_time()
    write(services.pipeline, timed)
    cpu = time.process_time() - cpu
    tape = list(TAPE)
    services.store.engine.dispose()
    bare = replay(f"{scratch}/copy.db", pragmas, tape)
    statements = sum(1 for what, _, _ in tape if what == "execute")
    return cpu / TIMED * 1e6, bare / TIMED * 1e6, round(statements / TIMED, 2)


def main() -> None:
    """Print, per run, the write path's CPU per event and SQLite's share of it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the alerts' log lines
    sqlite3.dbapi2.connect = _recording(sqlite3.dbapi2.connect)  # what SQLAlchemy's pysqlite dialect calls
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="guard-floor-") as scratch:
            built, floor, statements = run(scratch)
            TAPE.clear()
            print(
                f"as built {built:.0f} µs of CPU per event; its statements alone in sqlite3 {floor:.0f} µs"
                f" ({floor / built:.2f} of it; {statements} statements per event)",
                flush=True,
            )


if __name__ == "__main__":
    main()
