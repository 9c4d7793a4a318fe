"""Worker state and event dedup: the worker_state and processed_event tables, read and written as WorkerState."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, select, text, update

from guard.adapters.db import connected
from guard.adapters.tables import ignore_rule, processed_event, worker_state
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.state import Intended, WorkerState
from guard.core.verdict import Kind, Verdict

PK = ("account_sid", "workspace_sid", "worker_sid")
STATE_COLUMNS = tuple(column.name for column in worker_state.c if column.name not in PK)


def state_from_row(row: Mapping[str, Any]) -> WorkerState:
    """A stored row (with the intended-value rule joined in, if any) as the core's WorkerState."""
    intended = None
    if row.get("intended_by"):
        intended = Intended(row["intended_by"], row["intended_at"], row.get("intended_value"))
    return WorkerState(
        name=row["name"],
        verdict=Verdict.from_fields(row),
        since=row["since"],
        updated_at=row["updated_at"],
        version=row["version"],
        occurred_ms=row["occurred_ms"],
        last_alert_at=row["last_alert_at"],
        intended=intended,
    )


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The hot-path statements, built once per dialect with bind parameters.

    Building an INSERT … ON CONFLICT with literal values on every event cost more CPU than the
    database round-trips themselves (see BENCHMARKS.md, login storm).
    """
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(worker_state)
    return {
        "claim_event": insert(processed_event).on_conflict_do_nothing().returning(processed_event.c.event_id),
        # The state, and who marked its value intended (if anyone): one round trip on the hot path.
        "select_state": select(
            worker_state,
            ignore_rule.c.actor.label("intended_by"),
            ignore_rule.c.created_at.label("intended_at"),
            ignore_rule.c.value.label("intended_value"),
        )
        .select_from(worker_state.outerjoin(ignore_rule, and_(*(ignore_rule.c[n] == worker_state.c[n] for n in PK))))
        .where(*(worker_state.c[name] == bindparam(name) for name in PK)),
        "save_state": upsert.on_conflict_do_update(
            index_elements=list(PK), set_={name: upsert.excluded[name] for name in STATE_COLUMNS}
        ),
    }


def key_params(key: WorkerKey) -> dict[str, str]:
    """A worker key as column values."""
    return {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "worker_sid": key.worker_sid}


class WorkerStates:
    """Reads and writes on worker state; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def claim(self, snapshot: WorkerSnapshot, now: datetime) -> tuple[bool, WorkerState | None]:
        """Claim the snapshot's event id and lock the worker: (False, None) for a duplicate, else (True, state)."""
        key = snapshot.key
        if snapshot.event_id:
            row = {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "event_id": snapshot.event_id}
            with connected(self.bind) as connection:
                statement = _statements(connection.dialect.name)["claim_event"]
                if connection.execute(statement, {**row, "received_at": now}).first() is None:
                    return False, None
        return True, self.lock(key)

    def lock(self, key: WorkerKey) -> WorkerState | None:
        """The worker's stored state, holding a per-worker lock until the transaction ends."""
        with connected(self.bind) as connection:
            if connection.dialect.name == "postgresql":
                # An advisory lock also covers a worker with no row yet; SQLite's BEGIN IMMEDIATE already serializes.
                name = f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": name})
            row = connection.execute(_statements(connection.dialect.name)["select_state"], key_params(key)).first()
            return None if row is None else state_from_row(row._mapping)

    def known(self, key: WorkerKey) -> bool:
        """True when the guard has state for this worker (a Slack button names one it alerted about)."""
        with connected(self.bind) as connection:
            query = _statements(connection.dialect.name)["select_state"]
            return connection.execute(query, key_params(key)).first() is not None

    def write(self, key: WorkerKey, row: dict[str, Any]) -> None:
        """Insert or replace the worker's state row (`row`: every column but the key)."""
        with connected(self.bind) as connection:
            connection.execute(_statements(connection.dialect.name)["save_state"], {**key_params(key), **row})

    def take_due_reminders(self, cutoff: datetime, now: datetime) -> list[tuple[WorkerKey, WorkerState]]:
        """Mark drifts last alerted before `cutoff` as alerted now and return them (each taken once)."""
        last = func.coalesce(worker_state.c.last_alert_at, worker_state.c.since)
        statement = (
            update(worker_state)
            .where(worker_state.c.verdict == Kind.MISMATCH, last <= cutoff)
            .values(last_alert_at=now)
            .returning(worker_state)
        )
        with connected(self.bind) as connection:
            rows = [row._mapping for row in connection.execute(statement)]
        return [(WorkerKey(*(row[name] for name in PK)), state_from_row(row)) for row in rows]

    def known_worker_sids(self, account_sid: str, workspace_sid: str) -> set[str]:
        """SIDs of the workers of a workspace the guard has state for (deleted ones excluded)."""
        query = select(worker_state.c.worker_sid).where(
            worker_state.c.account_sid == account_sid,
            worker_state.c.workspace_sid == workspace_sid,
            worker_state.c.verdict != Kind.DELETED,
        )
        with connected(self.bind) as connection:
            return set(connection.execute(query).scalars())

    def prune_events(self, before: datetime) -> int:
        """Forget processed event ids older than `before`; Twilio stops redelivering long before."""
        with connected(self.bind) as connection:
            return connection.execute(delete(processed_event).where(processed_event.c.received_at < before)).rowcount
