"""Worker state and event dedup: the worker_state and processed_event tables, and the queries over them."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from guard.adapters.db import connected
from guard.adapters.tables import ignore_rule, processed_event, remediation, worker_state
from guard.core.snapshot import WorkerKey
from guard.core.text import shown
from guard.core.transitions import DELETED

PK = ("account_sid", "workspace_sid", "worker_sid")
LIKE_ESCAPE = "\\"
DEFAULT_SORT = "since_desc"
SORTS = {
    "since_desc": worker_state.c.since.desc(),
    "since_asc": worker_state.c.since.asc(),
    "name": worker_state.c.name.asc(),
}


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The hot-path statements, built once per dialect with bind parameters.

    Building an INSERT … ON CONFLICT with literal values on every event cost more CPU than the
    database round-trips themselves (see BENCHMARKS.md, login storm).
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(worker_state)
    state_columns = [column.name for column in worker_state.c if column.name not in PK]
    return {
        "claim_event": insert(processed_event).on_conflict_do_nothing().returning(processed_event.c.event_id),
        # The state, and who marked its value intended (if anyone): one round trip on the hot path.
        "select_state": select(
            worker_state,
            ignore_rule.c.actor.label("intended_by"),
            ignore_rule.c.created_at.label("intended_at"),
        )
        .select_from(worker_state.outerjoin(ignore_rule, and_(*(ignore_rule.c[n] == worker_state.c[n] for n in PK))))
        .where(*(worker_state.c[name] == bindparam(name) for name in PK)),
        "save_state": upsert.on_conflict_do_update(
            index_elements=list(PK), set_={name: upsert.excluded[name] for name in state_columns}
        ),
    }


def key_params(key: WorkerKey) -> dict[str, str]:
    """A worker key as column values."""
    return {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "worker_sid": key.worker_sid}


def contains_pattern(text_: str) -> str:
    """A LIKE pattern that finds `text_` literally: % and _ are escaped, NUL is searched as the state shows it."""
    literal = shown(text_).replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", r"\%").replace("_", r"\_")
    return f"%{literal}%"


class WorkerStates:
    """Reads and writes on worker state; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def claim_event(self, key: WorkerKey, event_id: str, now: datetime) -> bool:
        """Record an event id for the worker's account and workspace; False for a duplicate delivery."""
        row = {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "event_id": event_id}
        with connected(self.bind) as connection:
            statement = _statements(connection.dialect.name)["claim_event"]
            return connection.execute(statement, {**row, "received_at": now}).first() is not None

    def lock_state(self, key: WorkerKey) -> Mapping[str, Any] | None:
        """The worker's stored state, holding a per-worker lock until the transaction ends."""
        with connected(self.bind) as connection:
            if connection.dialect.name == "postgresql":
                # An advisory lock also covers a worker with no row yet; SQLite's BEGIN IMMEDIATE already serializes.
                name = f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": name})
            row = connection.execute(_statements(connection.dialect.name)["select_state"], key_params(key)).first()
            return None if row is None else row._mapping

    def known(self, key: WorkerKey) -> bool:
        """True when the guard has state for this worker (a Slack button names one it alerted about)."""
        with connected(self.bind) as connection:
            query = _statements(connection.dialect.name)["select_state"]
            return connection.execute(query, key_params(key)).first() is not None

    def save_state(self, key: WorkerKey, values: Mapping[str, Any]) -> None:
        """Insert or replace the worker's state row (`values` holds every non-key column)."""
        with connected(self.bind) as connection:
            connection.execute(_statements(connection.dialect.name)["save_state"], {**key_params(key), **values})

    def take_due_reminders(self, cutoff: datetime, now: datetime) -> list[Mapping[str, Any]]:
        """Mark drifts last alerted before `cutoff` as alerted now and return them (each taken once)."""
        last = func.coalesce(worker_state.c.last_alert_at, worker_state.c.since)
        statement = (
            update(worker_state)
            .where(worker_state.c.verdict == "mismatch", last <= cutoff)
            .values(last_alert_at=now)
            .returning(worker_state)
        )
        with connected(self.bind) as connection:
            return [row._mapping for row in connection.execute(statement)]

    def verdict_counts(self) -> dict[str, int]:
        """How many workers have each verdict now."""
        query = select(worker_state.c.verdict, func.count()).group_by(worker_state.c.verdict)
        with connected(self.bind) as connection:
            return {verdict: count for verdict, count in connection.execute(query)}

    def known_worker_sids(self, account_sid: str, workspace_sid: str) -> set[str]:
        """SIDs of the workers of a workspace the guard has state for (deleted ones excluded)."""
        query = select(worker_state.c.worker_sid).where(
            worker_state.c.account_sid == account_sid,
            worker_state.c.workspace_sid == workspace_sid,
            worker_state.c.verdict != DELETED,
        )
        with connected(self.bind) as connection:
            return set(connection.execute(query).scalars())

    def prune_events(self, before: datetime) -> int:
        """Forget processed event ids older than `before`; Twilio stops redelivering long before."""
        with connected(self.bind) as connection:
            return connection.execute(delete(processed_event).where(processed_event.c.received_at < before)).rowcount

    def listing(
        self, verdict: str | None = None, search: str = "", sort: str = DEFAULT_SORT, limit: int = 20_000
    ) -> list[dict[str, Any]]:
        """Workers (of one verdict, matching `search`) with their latest remediation; `sort` is a SORTS key."""
        latest = (
            select(func.max(remediation.c.id).label("id"))
            .group_by(remediation.c.account_sid, remediation.c.workspace_sid, remediation.c.worker_sid)
            .subquery()
        )
        last_fix = select(remediation).where(remediation.c.id.in_(select(latest.c.id))).subquery()
        same_worker = and_(*(last_fix.c[name] == worker_state.c[name] for name in PK))
        query = select(
            worker_state,
            last_fix.c.status.label("remediation_status"),
            last_fix.c.finished_at.label("remediation_at"),
        ).select_from(worker_state.outerjoin(last_fix, same_worker))
        query = query.where(worker_state.c.verdict == verdict if verdict else worker_state.c.verdict != DELETED)
        if search:
            pattern = contains_pattern(search)
            columns = (worker_state.c.name, worker_state.c.email, worker_state.c.worker_sid, worker_state.c.actual)
            query = query.where(or_(*(column.ilike(pattern, escape=LIKE_ESCAPE) for column in columns)))
        query = query.order_by(SORTS[sort], worker_state.c.worker_sid).limit(limit)
        with connected(self.bind) as connection:
            return [dict(row._mapping) for row in connection.execute(query)]
