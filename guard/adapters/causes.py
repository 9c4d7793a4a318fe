"""The cause lookups: who made the change that raised a drift, queued with its alert and answered in the background."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select, update

from guard.adapters.alerts import alert_from_payload
from guard.adapters.db import connected
from guard.adapters.leases import lease_oldest
from guard.adapters.tables import alert as outbox
from guard.adapters.tables import cause_lookup, worker_state
from guard.adapters.worker_batches import lock_workers, void_lookups
from guard.adapters.workers import key_params
from guard.core.alerts import Alert, AlertKind
from guard.core.cause import Cause, Lookup
from guard.core.snapshot import WorkerKey
from guard.core.statuses import AlertStatus
from guard.core.verdict import Kind

PENDING = "pending"
VOID = "void"  # asked for no page, in an episode that ended before the answer


@dataclass(frozen=True)
class CauseRequest:
    """A leased lookup: the worker, its drift alert, and what to ask TaskRouter."""

    id: int
    key: WorkerKey
    alert_id: int | None  # None: no alert waits (a removal while the agent was away): the state keeps the answer
    lookup: Lookup
    attempts: int
    lease_until: datetime | None = None  # the claim's: a process whose lease ran out answers nothing


class CauseLookups:
    """The cause_lookup queue; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def queue(self, alert_id: int | None, key: WorkerKey, lookup: Lookup, now: datetime) -> None:
        """Ask for the cause of the change behind `alert_id`."""
        row = {**key_params(key), "alert_id": alert_id, "event_id": lookup.event_id, "source": lookup.source}
        row |= {"occurred_ms": lookup.occurred_ms, "since_version": lookup.since_version, "after_ms": lookup.after_ms}
        row |= {"status": PENDING, "attempts": 0, "next_attempt_at": now}
        with connected(self.bind) as connection:
            connection.execute(cause_lookup.insert(), {**row, "created_at": now})

    def claim(self, now: datetime, lease: timedelta) -> CauseRequest | None:
        """Lease the oldest lookup that is due, or return None."""
        due = lambda c: (c.c.status == PENDING, c.c.next_attempt_at <= now)  # noqa: E731 - one condition
        # A page's lookup first: thousands asked for the state only (a script stripping agents who are away) wait
        paged_first = lambda c: c.c.alert_id.is_(None)  # noqa: E731 - one expression
        row = lease_oldest(self.bind, cause_lookup, due, now, lease, paged_first, attempts=cause_lookup.c.attempts + 1)
        if row is None:
            return None
        key = WorkerKey(row["account_sid"], row["workspace_sid"], row["worker_sid"])
        since, after = row["since_version"], row["after_ms"]
        lookup = Lookup(row["event_id"], row["source"], row["occurred_ms"], since_version=since, after_ms=after)
        return CauseRequest(row["id"], key, row["alert_id"], lookup, row["attempts"], row["lease_until"])

    def retry(self, request: CauseRequest, at: datetime, detail: str) -> None:
        """Try again at `at` (a 429's Retry-After, a 5xx's backoff)."""
        values = {"next_attempt_at": at, "lease_until": None, "detail": detail}
        with connected(self.bind) as connection:
            connection.execute(update(cause_lookup).where(*_held(request)).values(**values))

    def postpone(self, request: CauseRequest, at: datetime, detail: str) -> None:
        """Hold a lookup not asked (its account must wait) until `at`, its claim's try not spent."""
        values = {"next_attempt_at": at, "lease_until": None, "detail": detail, "attempts": cause_lookup.c.attempts - 1}
        with connected(self.bind) as connection:
            connection.execute(update(cause_lookup).where(*_held(request)).values(**values))

    def finish(self, request: CauseRequest, status: str, cause: Cause | None, note: str, now: datetime) -> Alert | None:
        """Record the answer; attach it to the alert if that still waits, else return the alert it came too late for.

        The worker's state keeps the cause while it is broken (/status, /api/workers, reminders).
        """
        with connected(self.bind) as connection:
            lock_workers(connection, [request.key])  # first, as event batches do: then its rows, in their order
            this = cause_lookup.c.id == request.id
            unpaged = request.alert_id is None  # for the state and the page to come, while its episode lasts
            values = {"status": status, "detail": note, "lease_until": None, "finished_at": now}
            # One statement: PostgreSQL re-reads the row once a void being committed is, so it never answers it.
            # A lease that ran out went to another process, whose answer counts: this one is not sent twice.
            answered = update(cause_lookup).where(*_held(request), cause_lookup.c.status == PENDING).values(**values)
            if connection.execute(answered).rowcount == 0:
                void = update(cause_lookup).where(*_held(request), cause_lookup.c.status == VOID)
                connection.execute(void.values(detail=note, lease_until=None))
                return None
            if cause is not None:
                drifting = and_(*(worker_state.c[n] == v for n, v in key_params(request.key).items()))
                broken = worker_state.c.verdict.in_((Kind.MISMATCH, Kind.PENDING))
                # Only the episode it was asked for: one that began since (a removal after the drift) is another's.
                # An unpaged one is voided when its episode ends, so an edit within it (the email) keeps it.
                asked = select(cause_lookup.c.created_at).where(this).scalar_subquery()
                episode = broken if unpaged else and_(broken, worker_state.c.since <= asked)
                state = update(worker_state).where(drifting, episode)
                connection.execute(state.values(cause=json.dumps(cause.as_json())))
            alert_id = request.alert_id if request.alert_id is not None else self._page_since(connection, request)
            return None if alert_id is None else self._attach(connection, alert_id, cause, note, now)

    def void_unpaged(self, keys: Sequence[WorkerKey], now: datetime) -> None:
        """These workers' broken episodes ended (a value back): lookups asked for no page belong to no later one."""
        if keys:
            with connected(self.bind) as connection:
                void_lookups(connection, keys, {"pending": PENDING, "void": VOID, "now": now})

    def _page_since(self, connection: Connection, request: CauseRequest) -> int | None:
        """The page raised since a lookup asked with none (the agent came back before the answer): it gets it.

        Only while the episode it was asked for lasts: one that ended meanwhile voided it (`void_unpaged`).
        """
        asked = select(cause_lookup.c.created_at).where(cause_lookup.c.id == request.id).scalar_subquery()
        worker = (outbox.c[name] == value for name, value in key_params(request.key).items())
        page = select(outbox.c.id).where(*worker, outbox.c.kind == AlertKind.URGENT, outbox.c.created_at >= asked)
        return connection.execute(page.order_by(outbox.c.id.desc()).limit(1)).scalar()

    def _attach(
        self, connection: Connection, alert_id: int, cause: Cause | None, note: str, now: datetime
    ) -> Alert | None:
        """Put the answer into the waiting alert and release it now; the alert itself when it already went out."""
        waiting = and_(
            outbox.c.id == alert_id,
            outbox.c.status == AlertStatus.PENDING,
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
        )
        row = connection.execute(select(outbox.c.payload).where(waiting).with_for_update()).first()
        if row is None:
            sent = connection.execute(select(outbox.c.payload).where(outbox.c.id == alert_id)).first()
            return None if sent is None else alert_from_payload(json.loads(sent.payload))
        payload: dict[str, Any] = json.loads(row.payload)
        payload |= {"cause": cause.as_json() if cause else None, "cause_note": None if cause else note}
        released = {"payload": json.dumps(payload, ensure_ascii=False), "next_attempt_at": now}
        connection.execute(update(outbox).where(outbox.c.id == alert_id).values(**released))
        return None


def _held(request: CauseRequest) -> tuple[Any, ...]:
    """The lookup's row while the lease `request` claimed holds (not taken over by another process since)."""
    return cause_lookup.c.id == request.id, cause_lookup.c.lease_until == request.lease_until
