"""The store: worker state, event dedup and the alert outbox, on SQLite or PostgreSQL."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from guard.adapters import db
from guard.adapters.outbox import Outbox
from guard.adapters.records import Records
from guard.adapters.tables import alert, processed_event, remediation, worker_state
from guard.adapters.views import Views
from guard.core.snapshot import WorkerKey

PK = ("account_sid", "workspace_sid", "worker_sid")


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The hot-path statements, built once per dialect with bind parameters.

    Building an INSERT … ON CONFLICT with literal values on every event cost more CPU than the
    database round-trips themselves (see BENCHMARKS.md, login storm).
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(worker_state)
    state_columns = [column.name for column in worker_state.c if column.name not in PK]
    pk_match = [worker_state.c[name] == bindparam(name) for name in PK]
    return {
        "claim_event": insert(processed_event).on_conflict_do_nothing().returning(processed_event.c.event_id),
        "select_state": select(worker_state).where(*pk_match),
        "save_state": upsert.on_conflict_do_update(
            index_elements=list(PK), set_={name: upsert.excluded[name] for name in state_columns}
        ),
        "insert_alert": alert.insert(),
    }


def _key_params(key: WorkerKey) -> dict[str, str]:
    """A worker key as bind parameters."""
    return {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "worker_sid": key.worker_sid}


def _key_filter(table: Any, key: WorkerKey) -> tuple[Any, ...]:
    """The WHERE clause that selects one worker's rows."""
    return (
        table.c.account_sid == key.account_sid,
        table.c.workspace_sid == key.workspace_sid,
        table.c.worker_sid == key.worker_sid,
    )


class StoreTransaction:
    """Operations that must commit together: dedup, state and outbox rows."""

    def __init__(self, connection: Connection) -> None:
        """Wrap an open transaction."""
        self.connection = connection
        self.statements = _statements(connection.dialect.name)

    def claim_event(self, key: WorkerKey, event_id: str, now: datetime) -> bool:
        """Record an event id for the worker's account and workspace; False for a duplicate delivery."""
        row = {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "event_id": event_id}
        inserted = self.connection.execute(self.statements["claim_event"], {**row, "received_at": now})
        return inserted.first() is not None

    def lock_state(self, key: WorkerKey) -> Mapping[str, Any] | None:
        """Return the worker's stored state, holding a per-worker lock until commit."""
        if self.connection.dialect.name == "postgresql":
            # An advisory lock also covers a worker that has no row yet; SQLite's BEGIN IMMEDIATE already serializes.
            lock_name = f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"
            self.connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": lock_name})
        row = self.connection.execute(self.statements["select_state"], _key_params(key)).first()
        return None if row is None else row._mapping

    def save_state(self, key: WorkerKey, values: Mapping[str, Any]) -> None:
        """Insert or replace the worker's state row (`values` holds every non-key column)."""
        self.connection.execute(self.statements["save_state"], {**_key_params(key), **values})

    def take_due_reminders(self, cutoff: datetime, now: datetime) -> list[Mapping[str, Any]]:
        """Mark drifts last alerted before `cutoff` as alerted now and return them (each taken once)."""
        last = func.coalesce(worker_state.c.last_alert_at, worker_state.c.since)
        statement = (
            update(worker_state)
            .where(worker_state.c.verdict == "mismatch", last <= cutoff)
            .values(last_alert_at=now)
            .returning(worker_state)
        )
        return [row._mapping for row in self.connection.execute(statement)]

    def add_remediation(
        self, key: WorkerKey, actor: str, status: str, before: str | None, detail: str, now: datetime
    ) -> int | None:
        """Record a remediation; a `pending` request is skipped (None) when one is already queued."""
        if status == "pending":
            queued = select(remediation.c.id).where(*_key_filter(remediation, key), remediation.c.status == "pending")
            if self.connection.execute(queued).first() is not None:
                return None
        finished = None if status == "pending" else now
        result = self.connection.execute(
            remediation.insert().values(
                account_sid=key.account_sid,
                workspace_sid=key.workspace_sid,
                worker_sid=key.worker_sid,
                actor=actor,
                status=status,
                before_value=before,
                detail=detail,
                requested_at=now,
                finished_at=finished,
            )
        )
        return int(result.inserted_primary_key[0])

    def finish_remediation(self, job_id: int, status: str, before: str | None, detail: str, now: datetime) -> None:
        """Record the outcome of a queued remediation."""
        values = {"status": status, "before_value": before, "detail": detail, "finished_at": now, "lease_until": None}
        self.connection.execute(update(remediation).where(remediation.c.id == job_id).values(**values))

    def enqueue_alert(self, key: WorkerKey, kind: str, channel: str, payload: Mapping[str, Any], now: datetime) -> int:
        """Add an alert to the outbox; a log-only alert is delivered the moment it is written."""
        done = channel == "log"
        row = {
            **_key_params(key),
            "kind": kind,
            "channel": channel,
            "payload": json.dumps(payload, ensure_ascii=False),
            "status": "delivered" if done else "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "lease_until": None,
            "last_error": None,
            "created_at": now,
            "delivered_at": now if done else None,
        }
        result = self.connection.execute(self.statements["insert_alert"], row)
        return int(result.inserted_primary_key[0])


class Store:
    """Entry point to the database; every method runs its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        """Use `engine` for all access."""
        self.engine = engine
        self._sqlite_file = db.sqlite_file(engine.url)
        # Which file the engine opened: a file deleted or replaced under a running process is not this one.
        self._sqlite_inode = os.stat(self._sqlite_file).st_ino if self._sqlite_file else None
        self.outbox = Outbox(engine)
        self.records = Records(engine)
        self.views = Views(engine)

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """Open a transaction that commits on success and rolls back on error."""
        with self.engine.begin() as connection:
            yield StoreTransaction(connection)

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

    def verdict_counts(self) -> dict[str, int]:
        """How many workers have each verdict now."""
        with self.engine.connect() as connection:
            query = select(worker_state.c.verdict, func.count()).group_by(worker_state.c.verdict)
            return {verdict: count for verdict, count in connection.execute(query)}

    def known_worker_sids(self, account_sid: str, workspace_sid: str) -> set[str]:
        """SIDs of the workers of a workspace the guard has state for (deleted ones excluded)."""
        query = select(worker_state.c.worker_sid).where(
            worker_state.c.account_sid == account_sid,
            worker_state.c.workspace_sid == workspace_sid,
            worker_state.c.verdict != "deleted",
        )
        with self.engine.connect() as connection:
            return set(connection.execute(query).scalars())

    def state(self, key: WorkerKey) -> Mapping[str, Any] | None:
        """Return the stored state of one worker."""
        with self.engine.connect() as connection:
            row = connection.execute(select(worker_state).where(*_key_filter(worker_state, key))).first()
            return None if row is None else row._mapping

    def prune_events(self, before: datetime) -> int:
        """Forget processed event ids older than `before`; Twilio stops redelivering long before."""
        with self.engine.begin() as connection:
            result = connection.execute(delete(processed_event).where(processed_event.c.received_at < before))
            return result.rowcount
