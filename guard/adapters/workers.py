"""Worker state and event dedup: the worker_state and processed_event tables, read and written as WorkerState."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, literal_column, select, text, update
from sqlalchemy.engine import Dialect

from guard.adapters.db import connected
from guard.adapters.hot import HotStatement
from guard.adapters.state_rows import state_from_row
from guard.adapters.tables import activity, ignore_rule, processed_event, worker_state
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.state import WorkerState
from guard.core.verdict import Kind

PK = ("account_sid", "workspace_sid", "worker_sid")
STATE_COLUMNS = tuple(column.name for column in worker_state.c if column.name not in PK)


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The hot-path statements, built once per dialect with bind parameters.

    Building an INSERT … ON CONFLICT with literal values on every event cost more CPU than the
    database round-trips themselves (see BENCHMARKS.md, login storm).
    """
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(worker_state)
    # What the guard learned about the activity the event names: read in the same round trip as the state.
    learned = (
        select(activity.c.available)
        .where(
            activity.c.account_sid == bindparam("account_sid"),
            activity.c.workspace_sid == bindparam("workspace_sid"),
            activity.c.activity_sid == bindparam("activity_sid"),
        )
        .scalar_subquery()
    )
    joined = _with_intended(worker_state)
    return {
        "claim_event": insert(processed_event).on_conflict_do_nothing().returning(processed_event.c.event_id),
        # The state, and who marked its value intended (if anyone): one round trip on the hot path.
        "select_state": joined.where(*(worker_state.c[name] == bindparam(name) for name in PK)),
        # The same, plus the learned availability of an activity; one row even for a worker never seen.
        "claim_state": select(learned.label("learned_available"), *joined.selected_columns).select_from(
            select(literal_column("1").label("one"))
            .subquery("one")
            .outerjoin(
                worker_state.outerjoin(ignore_rule, _same_worker(ignore_rule)),
                and_(*(worker_state.c[name] == bindparam(name) for name in PK)),
            )
        ),
        "save_state": upsert.on_conflict_do_update(
            index_elements=list(PK), set_={name: upsert.excluded[name] for name in STATE_COLUMNS}
        ),
    }


_HOT: dict[str, dict[str, HotStatement]] = {}


def _hot(dialect: Dialect) -> dict[str, HotStatement]:
    """The hot-path statements compiled for `dialect`, run on the DB-API cursor (guard/adapters/hot.py)."""
    if dialect.name not in _HOT:
        statements = _statements(dialect.name)
        event_columns = ("account_sid", "workspace_sid", "event_id", "received_at")
        lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")
        _HOT[dialect.name] = {
            "claim_event": HotStatement(statements["claim_event"], dialect, event_columns),
            "claim_state": HotStatement(statements["claim_state"], dialect),
            "save_state": HotStatement(statements["save_state"], dialect, (*PK, *STATE_COLUMNS)),
            **({"lock": HotStatement(lock, dialect)} if dialect.name == "postgresql" else {}),
        }
    return _HOT[dialect.name]


def _same_worker(table: Any) -> Any:
    """The join condition of another per-worker table on worker_state."""
    return and_(*(table.c[name] == worker_state.c[name] for name in PK))


def _with_intended(state: Any) -> Any:
    """The state's columns and the intended-value rule's, joined."""
    return select(
        state,
        ignore_rule.c.actor.label("intended_by"),
        ignore_rule.c.created_at.label("intended_at"),
        ignore_rule.c.value.label("intended_value"),
    ).select_from(state.outerjoin(ignore_rule, _same_worker(ignore_rule)))


def key_params(key: WorkerKey) -> dict[str, str]:
    """A worker key as column values."""
    return {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "worker_sid": key.worker_sid}


class WorkerStates:
    """Reads and writes on worker state; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def claim(self, snapshot: WorkerSnapshot, now: datetime) -> tuple[bool, WorkerState | None, bool | None]:
        """Claim the snapshot's event id and lock the worker.

        (False, None, None) for a duplicate, else (True, the stored state, what the guard learned about
        the activity the snapshot names).
        """
        key, params = snapshot.key, key_params(snapshot.key)
        with connected(self.bind) as connection:
            hot = _hot(connection.dialect)
            if snapshot.event_id:
                event = {**params, "event_id": snapshot.event_id, "received_at": now}
                if not hot["claim_event"].run(connection, event):
                    return False, None, None
            if "lock" in hot:  # PostgreSQL; SQLite's writers already take turns
                hot["lock"].run(connection, {"k": f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"})
            activity_sid = snapshot.activity.sid if snapshot.activity else None
            [row] = hot["claim_state"].run(connection, {**params, "activity_sid": activity_sid})
        return True, (None if row["verdict"] is None else state_from_row(row)), row["learned_available"]

    def lock(self, key: WorkerKey) -> WorkerState | None:
        """The worker's stored state, holding a per-worker lock until the transaction ends."""
        with connected(self.bind) as connection:
            self._lock(connection, key)
            row = connection.execute(_statements(connection.dialect.name)["select_state"], key_params(key)).first()
            return None if row is None else state_from_row(row._mapping)

    @staticmethod
    def _lock(connection: Connection, key: WorkerKey) -> None:
        """Hold a per-worker lock until the transaction ends."""
        if connection.dialect.name == "postgresql":
            # An advisory lock also covers a worker with no row yet; SQLite's BEGIN IMMEDIATE already serializes.
            name = f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": name})

    def known(self, key: WorkerKey) -> bool:
        """True when the guard has state for this worker (a Slack button names one it alerted about)."""
        with connected(self.bind) as connection:
            query = _statements(connection.dialect.name)["select_state"]
            return connection.execute(query, key_params(key)).first() is not None

    def write(self, key: WorkerKey, row: dict[str, Any]) -> None:
        """Insert or replace the worker's state row (`row`: every column but the key)."""
        with connected(self.bind) as connection:
            _hot(connection.dialect)["save_state"].run(connection, {**key_params(key), **row})

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
