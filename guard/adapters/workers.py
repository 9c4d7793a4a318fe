"""Worker state and event dedup: the worker_state and processed_event tables, read and written as WorkerState."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, exists, func, or_, select, text, tuple_, update

from guard.adapters.db import connected
from guard.adapters.state_rows import state_from_row
from guard.adapters.tables import alert as outbox
from guard.adapters.tables import worker_state
from guard.adapters.worker_batches import PK, Claim, claim_all, lock_workers, save_all, with_intended
from guard.core.history import Known
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.state import WorkerState
from guard.core.statuses import AlertStatus
from guard.core.verdict import Kind

log = logging.getLogger("guard.db")


@functools.cache
def _select_state(dialect: str) -> Any:
    """The state of one worker by sid, with its intended-value rule (built once per dialect)."""
    return with_intended(worker_state).where(*(worker_state.c[name] == bindparam(name) for name in PK))


def key_params(key: WorkerKey) -> dict[str, str]:
    """A worker key as column values."""
    return {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "worker_sid": key.worker_sid}


class WorkerStates:
    """Reads and writes on worker state; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def claim_all(
        self, snapshots: Sequence[WorkerSnapshot], now: datetime, batch: Sequence[WorkerSnapshot] = ()
    ) -> list[Claim]:
        """Claim the snapshots' event ids and lock their (distinct) workers, in a few statements.

        Per snapshot: (False, None, None) for a duplicate, else (True, the stored state, what the guard
        learned about the activity it names). `batch`: the whole transaction's snapshots, given with its first
        run, whose activities are locked before any worker (PostgreSQL; see worker_batches.claim_all).
        """
        with connected(self.bind) as connection:
            return claim_all(connection, snapshots, now, batch)

    def lock_all(self, keys: Sequence[WorkerKey]) -> dict[WorkerKey, WorkerState]:
        """The stored states of workers of one workspace (sorted by sid), each locked until the transaction ends."""
        if not keys:
            return {}
        query = with_intended(worker_state).where(
            worker_state.c.account_sid == keys[0].account_sid,
            worker_state.c.workspace_sid == keys[0].workspace_sid,
            worker_state.c.worker_sid.in_([key.worker_sid for key in keys]),
        )
        with connected(self.bind) as connection:
            lock_workers(connection, keys)
            rows = sorted(connection.execute(query), key=lambda row: row.worker_sid)  # written back in this order
            return {
                WorkerKey(*(row.account_sid, row.workspace_sid, row.worker_sid)): state_from_row(row._mapping)
                for row in rows
            }

    def lock(self, key: WorkerKey) -> WorkerState | None:
        """The worker's stored state, holding a per-worker lock until the transaction ends."""
        with connected(self.bind) as connection:
            self._lock(connection, key)
            row = connection.execute(_select_state(connection.dialect.name), key_params(key)).first()
            return None if row is None else state_from_row(row._mapping)

    @staticmethod
    def _lock(connection: Connection, key: WorkerKey) -> None:
        """Hold a per-worker lock until the transaction ends."""
        if connection.dialect.name == "postgresql":
            # An advisory lock also covers a worker with no row yet; SQLite's BEGIN IMMEDIATE already serializes.
            name = f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": name})

    def state(self, key: WorkerKey) -> WorkerState | None:
        """The worker's stored state, read without a lock; None for a worker the guard has no state of."""
        with connected(self.bind) as connection:
            row = connection.execute(_select_state(connection.dialect.name), key_params(key)).first()
        return None if row is None else state_from_row(row._mapping)

    def verdict(self, key: WorkerKey) -> str | None:
        """The worker's verdict now (`deleted` included), or None for a worker the guard has no state of."""
        state = self.state(key)
        return None if state is None else state.verdict.kind.value

    def write_all(self, states: Sequence[tuple[WorkerKey, dict[str, Any]]]) -> None:
        """Insert or replace the state rows of distinct workers (each row: every column but the key)."""
        with connected(self.bind) as connection:
            save_all(connection, states)

    def take_due_reminders(self, cutoff: datetime, now: datetime) -> list[tuple[WorkerKey, WorkerState]]:
        """Mark drifts (and agents unable to ring) last alerted before `cutoff` as alerted now; return each once."""
        last = func.coalesce(worker_state.c.last_alert_at, worker_state.c.since)
        key = [worker_state.c[name] for name in PK]
        # Locked in key order, as event batches lock their workers: in another order the two can deadlock
        # (PostgreSQL; SQLite's writers take turns and ignore FOR UPDATE).
        # A drift, or an available agent with no value: both still cannot be reached (guard/core/activity.py)
        waiting = and_(worker_state.c.verdict == Kind.PENDING, worker_state.c.available.is_(True))
        open_ = or_(worker_state.c.verdict == Kind.MISMATCH, waiting)
        # Not while an alert of the worker waits for Slack (a flood at Slack's pace), nor within the period after
        # its last post: counted from when it was posted, not raised, a reminder never lands next to the alert
        same_worker = (outbox.c[name] == worker_state.c[name] for name in PK)
        recent = or_(outbox.c.status == AlertStatus.PENDING, outbox.c.delivered_at > cutoff)
        due = select(*key).where(open_, last <= cutoff, ~exists().where(*same_worker, recent)).order_by(*key)
        statement = (
            update(worker_state)
            .where(tuple_(*key).in_(due.with_for_update()))
            .values(last_alert_at=now)
            .returning(worker_state)
        )
        with connected(self.bind) as connection:
            rows = [row._mapping for row in connection.execute(statement)]
        return [(WorkerKey(*(row[name] for name in PK)), state_from_row(row)) for row in rows]

    def in_verdicts(self, verdicts: Sequence[str], after: WorkerKey | None, limit: int) -> list[WorkerKey]:
        """Up to `limit` workers with one of these verdicts, in key order, past `after` (None: from the first)."""
        key = [worker_state.c[name] for name in PK]
        query = select(*key).where(worker_state.c.verdict.in_(verdicts)).order_by(*key).limit(limit)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*(key_params(after)[name] for name in PK)))
        with connected(self.bind) as connection:
            return [WorkerKey(*row) for row in connection.execute(query)]

    def known_workers(self, account_sid: str, workspace_sid: str, before: datetime) -> dict[str, int | None]:
        """The workers of a workspace whose state (deleted ones aside) was last written `before`: SID -> its time."""
        query = select(worker_state.c.worker_sid, worker_state.c.occurred_ms).where(
            worker_state.c.account_sid == account_sid,
            worker_state.c.workspace_sid == workspace_sid,
            worker_state.c.verdict != Kind.DELETED,
            worker_state.c.updated_at < before,
        )
        with connected(self.bind) as connection:
            return {row.worker_sid: row.occurred_ms for row in connection.execute(query)}

    def forget_removed(self, account_sid: str, workspace_sid: str, worker_sids: list[str]) -> None:
        """Forget the removed value of these workers: each has an accepted one now (history.CAME_BACK)."""
        if worker_sids:
            statement = (
                update(worker_state)
                .where(
                    worker_state.c.account_sid == account_sid,
                    worker_state.c.workspace_sid == workspace_sid,
                    worker_state.c.worker_sid.in_(worker_sids),
                )
                .values(removed=None, watched=None)
            )
            with connected(self.bind) as connection:
                connection.execute(statement)

    def known_all(self, account_sid: str, workspace_sid: str) -> dict[str, Known]:
        """What the guard knows of each worker of a workspace (deleted ones excluded), by worker sid: for a sweep."""
        query = with_intended(worker_state).where(
            worker_state.c.account_sid == account_sid,
            worker_state.c.workspace_sid == workspace_sid,
            worker_state.c.verdict != Kind.DELETED,
        )
        known = {}
        with connected(self.bind) as connection:
            for row in connection.execute(query):
                try:
                    known[row.worker_sid] = state_from_row(row._mapping).known()
                except (TypeError, ValueError, KeyError) as err:  # written by a newer release: judged afresh
                    fields = {"worker_sid": row.worker_sid, "error": type(err).__name__}
                    log.warning("unreadable_state", extra={"fields": fields})
        return known
