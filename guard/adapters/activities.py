"""The activities the guard learned per workspace (the activity table), and the workers in one of them."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, select, text

from guard.adapters.db import connected
from guard.adapters.tables import activity, processed_event, worker_state
from guard.core.activity import ActivityFact
from guard.core.snapshot import WorkerKey


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The upsert and the event claim, built once per dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(activity)
    new, old = upsert.excluded, activity.c
    # An older fact never overwrites a newer one. The list is stamped when it was asked: an event's fact of that
    # same millisecond may be newer than what it read, so the list loses the tie.
    tie_won = and_(new.learned_ms == old.learned_ms, or_(new.source != "api", old.source == "api"))
    newer = or_(new.learned_ms > old.learned_ms, tie_won)
    columns = ("name", "available", "learned_ms", "source")
    return {
        "learn": upsert.on_conflict_do_update(
            index_elements=["account_sid", "workspace_sid", "activity_sid"],
            set_={name: upsert.excluded[name] for name in columns},
            where=newer,
        ),
        "claim_event": insert(processed_event).on_conflict_do_nothing().returning(processed_event.c.event_id),
    }


class Activities:
    """Learned activities; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def lock(self, fact: ActivityFact) -> None:
        """PostgreSQL: hold the fact's activity until commit, against worker batches naming it (they share it).

        A batch judging a worker into the activity before the fact commits would read the old answer, and the
        fact would not see the worker yet: this orders the two. SQLite's single writer orders them already.
        """
        with connected(self.bind) as connection:
            if connection.dialect.name == "postgresql":
                key = "/".join((fact.account_sid, fact.workspace_sid, fact.sid))
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})

    def seen(self, fact: ActivityFact) -> bool:
        """Whether the fact's event id was claimed before (a fact without an id never was)."""
        if not fact.event_id:
            return False
        query = select(processed_event.c.event_id).where(
            processed_event.c.account_sid == fact.account_sid,
            processed_event.c.workspace_sid == fact.workspace_sid,
            processed_event.c.event_id == fact.event_id,
        )
        with connected(self.bind) as connection:
            return connection.execute(query).first() is not None

    def claim_event(self, fact: ActivityFact, now: datetime) -> bool:
        """Record the fact's event id; False for a duplicate delivery (a fact without an id is always new)."""
        if not fact.event_id:
            return True
        row = {"account_sid": fact.account_sid, "workspace_sid": fact.workspace_sid, "event_id": fact.event_id}
        with connected(self.bind) as connection:
            statement = _statements(connection.dialect.name)["claim_event"]
            return connection.execute(statement, {**row, "received_at": now}).first() is not None

    def learned(self, account_sid: str, workspace_sid: str, activity_sid: str) -> bool | None:
        """Whether the activity routes tasks, as learned; None when the guard never learned it."""
        query = select(activity.c.available).where(
            activity.c.account_sid == account_sid,
            activity.c.workspace_sid == workspace_sid,
            activity.c.activity_sid == activity_sid,
        )
        with connected(self.bind) as connection:
            return connection.execute(query).scalar()

    def learned_name(self, account_sid: str, workspace_sid: str, activity_sid: str) -> str | None:
        """The activity's name as the newest fact learned gave it; None when the guard never learned it."""
        query = select(activity.c.name).where(
            activity.c.account_sid == account_sid,
            activity.c.workspace_sid == workspace_sid,
            activity.c.activity_sid == activity_sid,
        )
        with connected(self.bind) as connection:
            return connection.execute(query).scalar() or None

    def learn(self, fact: ActivityFact) -> None:
        """Remember what the fact says (a newer fact wins), or forget a deleted activity."""
        key = {"account_sid": fact.account_sid, "workspace_sid": fact.workspace_sid, "activity_sid": fact.sid}
        with connected(self.bind) as connection:
            if fact.deleted or fact.available is None:
                connection.execute(delete(activity).filter_by(**key))
                return
            row = {**key, "name": fact.name, "available": fact.available, "learned_ms": fact.occurred_ms}
            connection.execute(_statements(connection.dialect.name)["learn"], {**row, "source": fact.source})

    def workers_in(
        self, fact: ActivityFact, available: bool | None, after: str, limit: int, name: str | None = None
    ) -> list[WorkerKey]:
        """Up to `limit` workers in the fact's activity, by sid after `after`, not at `available` (or not `name`d)."""
        differs = worker_state.c.available.is_distinct_from(available)
        if name:
            differs = or_(differs, worker_state.c.activity_name.is_distinct_from(name))
        query = (
            select(worker_state.c.worker_sid)
            .where(
                worker_state.c.account_sid == fact.account_sid,
                worker_state.c.workspace_sid == fact.workspace_sid,
                worker_state.c.activity_sid == fact.sid,
                differs,
                worker_state.c.worker_sid > after,
            )
            .order_by(worker_state.c.worker_sid)
            .limit(limit)
        )  # locked in this order: the event writer's, so neither deadlocks
        with connected(self.bind) as connection:
            sids = connection.execute(query).scalars().all()
        return [WorkerKey(fact.account_sid, fact.workspace_sid, sid) for sid in sids]

    def workspaces(self) -> set[tuple[str, str]]:
        """Every (account, workspace) the guard holds worker state for."""
        query = select(worker_state.c.account_sid, worker_state.c.workspace_sid).distinct()
        with connected(self.bind) as connection:
            return {(row.account_sid, row.workspace_sid) for row in connection.execute(query)}

    def unplaced(self) -> list[tuple[str, str, str, str]]:
        """The activities workers are in whose availability the guard does not know: (account, workspace, sid, name)."""
        columns = ("account_sid", "workspace_sid", "activity_sid", "activity_name")
        query = (
            select(*(worker_state.c[name] for name in columns))
            .where(worker_state.c.available.is_(None), worker_state.c.activity_sid.is_not(None))
            .distinct()
        )
        with connected(self.bind) as connection:
            return [(row[0], row[1], row[2], row[3] or "") for row in connection.execute(query)]
