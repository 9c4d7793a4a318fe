"""Leases and turns on shared rows: the outbox, clicks, removals and lookups each claimed by one process at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, exists, func, or_, select, update

from guard.adapters.db import connected

# PostgreSQL advisory lock key of the claims that change a worker by hand or by REMEDIATE (clicks, removals): a
# human's pace, so one lock for all of them costs nothing, and each claim sees the leases taken before it.
CHANGE_CLAIMS_LOCK = 0x5C11C4


def take_claim_turn(connection: Connection) -> None:
    """On PostgreSQL, wait for the other claims of changes (a no-op on SQLite, whose writes take turns anyway)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(CHANGE_CLAIMS_LOCK)))


def being_applied(table: Table, alias: Any, now: datetime, only: Callable[[Any], Any] | None = None) -> Any:
    """EXISTS: a pending, leased row of `table` (`only` those) for the worker of `alias`'s row: a change under way."""
    other = table.alias(f"applied_{table.name}")
    same_worker = [other.c[name] == alias.c[name] for name in ("account_sid", "workspace_sid", "worker_sid")]
    leased = and_(other.c.lease_until.is_not(None), other.c.lease_until >= now)
    extra = [only(other)] if only is not None else []
    return exists().where(*same_worker, other.c.status == "pending", leased, *extra)


def lease_oldest(
    bind: Engine | Connection,
    table: Table,
    conditions: Callable[[Any], tuple[Any, ...]],
    now: datetime,
    lease: timedelta,
    first: Callable[[Any], Any] | None = None,
    joined: Callable[[Any], tuple[Any, Any]] | None = None,
    **values: Any,
) -> Mapping[str, Any] | None:
    """Atomically lease the oldest row of `table` that meets `conditions(alias)` and is not leased; return it.

    `first(alias)`, an expression to sort by before the age: rows it puts first are leased before older ones.
    `joined(alias)`: a (selectable, on clause) it reads, outer-joined once rather than looked up per row.

    FOR UPDATE SKIP LOCKED lets processes sharing PostgreSQL claim different rows; SQLite's
    BEGIN IMMEDIATE serializes the claim instead. A lease that runs out (a crashed process) frees the row.
    """
    row_alias = table.alias("candidate")
    source = row_alias if joined is None else row_alias.outerjoin(*joined(row_alias))
    candidate = (
        select(row_alias.c.id)
        .select_from(source)
        .where(*conditions(row_alias), or_(row_alias.c.lease_until.is_(None), row_alias.c.lease_until < now))
        .order_by(*([first(row_alias)] if first is not None else []), row_alias.c.id)
        .limit(1)
        .with_for_update(of=row_alias, skip_locked=True)
    )
    statement = (
        update(table)
        .where(table.c.id == candidate.scalar_subquery())
        .values(lease_until=now + lease, **values)
        .returning(table)
    )
    with connected(bind) as connection:
        row = connection.execute(statement).first()
    return None if row is None else row._mapping
