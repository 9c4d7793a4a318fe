"""A batch of worker events in a few statements: claim their ids, lock and read their workers, save their states.

And void the unpaged cause lookups of the workers whose episode ended, in one UPDATE too.

Under load the event writer commits several events per transaction, and every statement it runs while
holding SQLite's write lock (or a PostgreSQL round trip) is time the other writers wait: the lock's
busy time per event is what bounds the full path (BENCHMARKS.md). So a batch's events are claimed in one
INSERT, their workers read in one SELECT and saved in one upsert, instead of three statements per event.
Each statement is compiled once per dialect and batch size and runs on the DB-API cursor (adapters/hot.py).
The workers of one batch are distinct (the pipeline splits a batch where a worker repeats).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from guard.adapters.hot import HotStatement
from guard.adapters.state_rows import state_from_row
from guard.adapters.tables import activity, cause_lookup, ignore_rule, processed_event, worker_state
from guard.core.activity import Learned
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.state import WorkerState

PK = ("account_sid", "workspace_sid", "worker_sid")
STATE_COLUMNS = tuple(column.name for column in worker_state.c if column.name not in PK)
EVENT_COLUMNS = ("account_sid", "workspace_sid", "event_id", "received_at")
ACTIVITY_KEY = ("account_sid", "workspace_sid", "activity_sid")
Claim = tuple[bool, WorkerState | None, Learned | None]  # (fresh, the stored state, what the guard learned)
DUPLICATE_CLAIM: Claim = (False, None, None)
_COMPILED: dict[tuple[str, str, int], HotStatement] = {}


def _typed(table: Any, column: str, row: int) -> Any:
    """Row `row`'s parameter for `column`, typed as the column (its bind processor applies)."""
    return bindparam(f"{column}_{row}", type_=table.c[column].type)


def _rows_of(table: Any, columns: Sequence[str], count: int) -> list[dict[str, Any]]:
    """`count` rows of parameters for an INSERT's VALUES."""
    return [{name: _typed(table, name, row) for name in columns} for row in range(count)]


def _any_of(table: Any, columns: Sequence[str], count: int) -> Any:
    """WHERE one of `count` keys: OR of ANDs (SQLite takes no list of row values after IN)."""
    return or_(*(and_(*(table.c[name] == _typed(table, name, row) for name in columns)) for row in range(count)))


def _build(dialect: str, name: str, count: int) -> Any:
    """Statement `name` for `count` rows, in `dialect`."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if name == "claim_events":
        claim = insert(processed_event).values(_rows_of(processed_event, EVENT_COLUMNS, count))
        return claim.on_conflict_do_nothing().returning(*(processed_event.c[n] for n in EVENT_COLUMNS[:3]))
    if name == "lock":  # PostgreSQL: the activities shared, then the workers; unnest keeps each array's order
        return text(
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock_shared(hashtextextended(a, 0)) FROM"
            " unnest(CAST(:activities AS text[])) a UNION ALL SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
            " FROM unnest(CAST(:keys AS text[])) k) locks"
        )
    if name == "states":  # the IN lets PostgreSQL look the workers up by key: the OR alone scanned their workspace
        sids = worker_state.c.worker_sid.in_([_typed(worker_state, "worker_sid", row) for row in range(count)])
        return with_intended(worker_state).where(sids, _any_of(worker_state, PK, count))
    if name == "learned":
        return select(*(activity.c[n] for n in (*ACTIVITY_KEY, *Learned._fields))).where(
            _any_of(activity, ACTIVITY_KEY, count)
        )
    if name == "void_lookups":  # the unpaged lookups of workers whose episode ended (adapters/causes.py)
        unpaged = (cause_lookup.c.alert_id.is_(None), cause_lookup.c.status == bindparam("pending"))
        ended = update(cause_lookup).where(*unpaged, _any_of(cause_lookup, PK, count))
        return ended.values(
            status=bindparam("void"), finished_at=bindparam("now", type_=cause_lookup.c.finished_at.type)
        )
    upsert = insert(worker_state).values(_rows_of(worker_state, (*PK, *STATE_COLUMNS), count))
    return upsert.on_conflict_do_update(
        index_elements=list(PK), set_={column: upsert.excluded[column] for column in STATE_COLUMNS}
    )


def with_intended(state: Any) -> Any:
    """The state's columns and those of its intended-value rule (who marked which value intended), joined."""
    rule = ignore_rule.c
    same_worker = and_(*(rule[name] == state.c[name] for name in PK))
    return select(
        state, rule.actor.label("intended_by"), rule.created_at.label("intended_at"), rule.value.label("intended_value")
    ).select_from(state.outerjoin(ignore_rule, same_worker))


def _statement(dialect: Dialect, name: str, count: int) -> HotStatement:
    """Statement `name` for `count` rows, compiled once for `dialect`."""
    cached = (dialect.name, name, count)
    if cached not in _COMPILED:
        _COMPILED[cached] = HotStatement(_build(dialect.name, name, count), dialect)
    return _COMPILED[cached]


def _key_values(key: WorkerKey) -> dict[str, str]:
    """A worker key as column values."""
    return {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "worker_sid": key.worker_sid}


def claim_all(
    connection: Connection, snapshots: Sequence[WorkerSnapshot], now: datetime, batch: Sequence[WorkerSnapshot] = ()
) -> list[Claim]:
    """Lock the (distinct) workers, claim the events' ids, read the workers: a Claim per snapshot, in order.

    `batch`, given with a transaction's first run: every snapshot of the transaction, whose activities are locked
    (shared) before any worker, so a fact learned meanwhile (Activities.lock: the activity, then its workers) is
    either read here or sees these workers, and never waits in a cycle with a later run of the same transaction.
    """
    dialect = connection.dialect
    # A lock per worker (one with no row yet too), in the batch's sorted order, before the claims: a claim
    # waits on another writer's uncommitted claim, never while holding what it needs
    lock_workers(connection, [snapshot.key for snapshot in snapshots], _activity_keys(batch))
    fresh = _claim_events(connection, snapshots, now)
    claimed = [snapshot for snapshot, new in zip(snapshots, fresh, strict=True) if new]
    if not claimed:
        return [DUPLICATE_CLAIM] * len(snapshots)
    keys = [_key_values(snapshot.key) for snapshot in claimed]
    found = _statement(dialect, "states", len(keys)).run(connection, {}, keys)
    states = {WorkerKey(*(row[n] for n in PK)): state_from_row(row) for row in found if row["verdict"] is not None}
    activities = _activity_keys(snapshots)
    learned = _learned(connection, {key for key, new in zip(activities, fresh, strict=True) if new and key})
    return [
        (True, states.get(snapshot.key), learned.get(activity)) if new else DUPLICATE_CLAIM
        for snapshot, activity, new in zip(snapshots, activities, fresh, strict=True)
    ]


def lock_workers(
    connection: Connection, keys: Sequence[WorkerKey], activities: Sequence[tuple[str, str, str] | None] = ()
) -> None:
    """PostgreSQL: share the `activities`, then lock the workers, in one statement (SQLite's writer serializes)."""
    if connection.dialect.name == "postgresql":
        names = ["/".join(_key_values(key).values()) for key in keys]
        named = sorted({"/".join(key) for key in activities if key})
        _statement(connection.dialect, "lock", 0).run(connection, {"activities": named, "keys": names})


def _claim_events(connection: Connection, snapshots: Sequence[WorkerSnapshot], now: datetime) -> list[bool]:
    """Claim the snapshots' event ids in one INSERT: whether each is new (one with no id always is).

    An id stored before, or met earlier in this batch, is a duplicate.
    """
    first: dict[tuple[str, str, str], WorkerSnapshot] = {}
    for snapshot in snapshots:
        if snapshot.event_id:
            first.setdefault((snapshot.key.account_sid, snapshot.key.workspace_sid, snapshot.event_id), snapshot)
    if not first:
        return [True] * len(snapshots)
    rows = [{"account_sid": a, "workspace_sid": w, "event_id": e, "received_at": now} for a, w, e in first]
    answer = _statement(connection.dialect, "claim_events", len(rows)).run(connection, {}, rows)
    new = {id(first[(row["account_sid"], row["workspace_sid"], row["event_id"])]) for row in answer}  # this one
    return [not snapshot.event_id or id(snapshot) in new for snapshot in snapshots]


def _activity_keys(snapshots: Sequence[WorkerSnapshot]) -> list[tuple[str, str, str] | None]:
    """The key of the activity each snapshot names (None where it names none)."""
    sids = [snapshot.activity.sid if snapshot.activity else None for snapshot in snapshots]
    keys = [(snapshot.key.account_sid, snapshot.key.workspace_sid) for snapshot in snapshots]
    return [(*key, sid) if sid else None for key, sid in zip(keys, sids, strict=True)]


def _learned(connection: Connection, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], Learned]:
    """What the guard learned about these activities, by key."""
    if not keys:
        return {}
    rows = [dict(zip(ACTIVITY_KEY, key, strict=True)) for key in keys]
    found = _statement(connection.dialect, "learned", len(rows)).run(connection, {}, rows)
    return {tuple(row[n] for n in ACTIVITY_KEY): Learned(*(row[n] for n in Learned._fields)) for row in found}  # type: ignore[misc]


def save_all(connection: Connection, states: Sequence[tuple[WorkerKey, dict[str, Any]]]) -> None:
    """Insert or replace the state rows of distinct workers (each: every column but the key) in one statement."""
    if states:
        rows = [{**_key_values(key), **row} for key, row in states]
        _statement(connection.dialect, "save_states", len(rows)).run(connection, {}, rows)


def void_lookups(connection: Connection, keys: Sequence[WorkerKey], statuses: dict[str, Any]) -> None:
    """Set `statuses` ("pending", "void", "now") on the lookups of distinct workers asked for no page, in one UPDATE."""
    rows = [_key_values(key) for key in keys]
    _statement(connection.dialect, "void_lookups", len(rows)).run(connection, statuses, rows)
