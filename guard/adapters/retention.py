"""Forgetting what nobody reads any more: old event ids, and finished history past HISTORY_DAYS, in short turns.

Each batch is its own short transaction, so a prune never holds SQLite's one write turn for long: one DELETE of an
hour of event ids held it for 0.9 s at 100 events/s (BENCHMARKS.md), and every request waited behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, delete, func, select, tuple_

from guard.adapters.tables import alert, audit_run, cause_lookup, processed_event, remediation, slack_click
from guard.core.statuses import AlertStatus, ClickStatus, RemediationStatus

# Rows per transaction: SQLite's write turn held 4 ms for event ids, 33 ms at the median for old alerts of ~1 KB
# (BENCHMARKS.md); smaller batches held it barely less (200: 26 ms) and took 3.5 times as long in all
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class History:
    """A table of finished records: which rows are finished, and the column that dates them (id order is age)."""

    table: Table
    dated_by: str
    finished: Callable[[Table], ColumnElement[bool]]


HISTORY = (
    History(alert, "created_at", lambda t: t.c.status.in_((AlertStatus.DELIVERED, AlertStatus.FAILED))),
    History(cause_lookup, "created_at", lambda t: t.c.status != "pending"),
    History(remediation, "requested_at", lambda t: t.c.status != RemediationStatus.PENDING),
    History(slack_click, "requested_at", lambda t: t.c.status.in_((ClickStatus.ANSWERED, ClickStatus.ABANDONED))),
    History(audit_run, "started_at", lambda t: t.c.id < select(func.max(t.c.id)).scalar_subquery()),  # keep the last
)


class Retention:
    """Deletes in batches of PRUNE_BATCH rows, each batch in a transaction of its own."""

    def __init__(
        self,
        engine: Engine,
        between: Callable[[], None] = lambda: None,
        batch: int = PRUNE_BATCH,
    ) -> None:
        """Prune the database behind `engine`; call `between` after each transaction (SQLite: copy the WAL back)."""
        self.engine, self.between, self.batch = engine, between, batch

    def prune_events(self, before: datetime) -> int:
        """Forget processed event ids received before `before`; Twilio stops redelivering long before."""
        pk = tuple_(*(processed_event.c[name] for name in ("account_sid", "workspace_sid", "event_id")))
        oldest = select(*pk.clauses).where(processed_event.c.received_at < before).limit(self.batch)
        return self._until_done(lambda: delete(processed_event).where(pk.in_(oldest)))

    def prune_history(self, before: datetime) -> dict[str, int]:
        """Forget finished alerts, cause lookups, removals, clicks and audit runs dated before `before`.

        Anything still to do (an alert to deliver, a queued removal, an unanswered click) is kept, whatever its age.
        """
        return {kind.table.name: self._prune_old(kind, before) for kind in HISTORY}

    def _prune_old(self, kind: History, before: datetime) -> int:
        """Walk `kind`'s rows oldest first by id (its index), deleting the finished ones, up to the first newer row."""
        table, deleted, after = kind.table, 0, 0
        while True:
            window = select(table.c.id, table.c[kind.dated_by]).where(table.c.id > after).order_by(table.c.id)
            with self.engine.begin() as connection:
                rows = connection.execute(window.limit(self.batch)).all()
                old = [row.id for row in rows if row[1] < before]
                if old:
                    doomed = delete(table).where(table.c.id.in_(old), kind.finished(table))
                    deleted += connection.execute(doomed).rowcount
            self.between()
            if len(old) < self.batch:  # a newer row came up, or the table ended: the rest is younger
                return deleted
            after = old[-1]

    def _until_done(self, statement: Callable[[], Any]) -> int:
        """Run a batched DELETE, one transaction each, until one deletes less than a batch."""
        deleted = 0
        while True:
            with self.engine.begin() as connection:
                count = connection.execute(statement()).rowcount
            self.between()
            deleted += count
            if count < self.batch:
                return deleted
