"""The alert outbox: rows leased atomically to one sender, so no two processes send the same alert."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update

from guard.adapters.tables import alert, lease_oldest
from guard.core.snapshot import WorkerKey


@dataclass(frozen=True)
class ClaimedAlert:
    """An outbox row leased to one sender."""

    id: int
    key: WorkerKey
    kind: str
    channel: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


class Outbox:
    """Claims, finishes and counts outbox rows; each method is its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        """Use `engine` for all access."""
        self.engine = engine

    def counts(self) -> dict[str, int]:
        """Count outbox rows by status."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(alert.c.status, func.count()).group_by(alert.c.status))
            return {status: count for status, count in rows}

    def claim_due(self, now: datetime, lease: timedelta) -> ClaimedAlert | None:
        """Lease the oldest due alert whose worker has no earlier undelivered alert, or return None."""
        b = alert.alias("earlier")

        def due(a: Any) -> tuple[Any, ...]:
            """Due, pending, and no earlier pending alert for the same worker.

            Per-worker order: a "resolved" must never overtake the "drift" still waiting for a retry.
            """
            earlier = select(b.c.id).where(
                b.c.account_sid == a.c.account_sid,
                b.c.workspace_sid == a.c.workspace_sid,
                b.c.worker_sid == a.c.worker_sid,
                b.c.status == "pending",
                b.c.id < a.c.id,
            )
            return (a.c.status == "pending", a.c.next_attempt_at <= now, ~earlier.exists())

        row = lease_oldest(self.engine, alert, due, now, lease, attempts=alert.c.attempts + 1)
        if row is None:
            return None
        return ClaimedAlert(
            id=row["id"],
            key=WorkerKey(row["account_sid"], row["workspace_sid"], row["worker_sid"]),
            kind=row["kind"],
            channel=row["channel"],
            payload=json.loads(row["payload"]),
            attempts=row["attempts"],
            created_at=row["created_at"],
        )

    def finish(
        self, alert_id: int, status: str, now: datetime, error: str | None = None, retry_at: datetime | None = None
    ) -> None:
        """Record a delivery outcome: delivered, failed, or pending again with a retry time."""
        values: dict[str, Any] = {"status": status, "lease_until": None, "last_error": error}
        if status == "delivered":
            values["delivered_at"] = now
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        with self.engine.begin() as connection:
            connection.execute(update(alert).where(alert.c.id == alert_id).values(**values))

    def next_due(self) -> datetime | None:
        """When the earliest pending alert becomes due, or None when the outbox is empty."""
        with self.engine.connect() as connection:
            query = select(func.min(alert.c.next_attempt_at)).where(alert.c.status == "pending")
            return connection.execute(query).scalar()
