"""The database as the service sees it: one engine, a repository per group of tables, and short transactions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from guard.adapters import db
from guard.adapters.alerts import Alerts
from guard.adapters.approvals import Approvals
from guard.adapters.records import Records
from guard.adapters.workers import WorkerStates


@dataclass(frozen=True)
class Transaction:
    """The repositories bound to one transaction: what they write commits together, or not at all."""

    workers: WorkerStates
    alerts: Alerts
    records: Records
    approvals: Approvals

    @classmethod
    def on(cls, bind: Engine | Connection) -> Transaction:
        """Repositories on `bind`."""
        return cls(WorkerStates(bind), Alerts(bind), Records(bind), Approvals(bind))


class Store:
    """Entry point to the database: `transaction()` for work that commits together, the repositories for the rest."""

    def __init__(self, engine: Engine) -> None:
        """Use `engine` for all access."""
        self.engine = engine
        standalone = Transaction.on(engine)  # each call its own short transaction
        self.workers, self.alerts, self.records = standalone.workers, standalone.alerts, standalone.records
        self.approvals = standalone.approvals
        self._sqlite_file = db.sqlite_file(engine.url)
        # Which file the engine opened: a file deleted or replaced under a running process is not this one.
        self._sqlite_inode = os.stat(self._sqlite_file).st_ino if self._sqlite_file else None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Repositories on one transaction that commits on success and rolls back on error."""
        with self.engine.begin() as connection:
            yield Transaction.on(connection)

    def problem(self) -> str | None:
        """What keeps the database from working ("unreachable", "file missing"), or None when it answers."""
        if self._sqlite_file:
            try:
                replaced = os.stat(self._sqlite_file).st_ino != self._sqlite_inode
            except OSError:
                replaced = True
            if replaced:  # SQLite keeps writing to the unlinked file: everything would be lost at restart
                return "file missing"
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
        except Exception:  # noqa: BLE001 - any failure means "unreachable" to the health check
            return "unreachable"
        return None
