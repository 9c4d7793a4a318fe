"""The alert outbox: rows written with the state change, leased atomically to one sender, and read back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, case, exists, func, select, update

from guard.adapters.db import connected
from guard.adapters.hot import HotStatement
from guard.adapters.leases import lease_oldest
from guard.adapters.pages import Pages, first_of_each_worker, page_turn, page_turn_join
from guard.adapters.tables import alert as outbox
from guard.core.alerts import Alert, AlertKind
from guard.core.cause import Cause
from guard.core.changes import Changes
from guard.core.snapshot import WorkerKey
from guard.core.statuses import AlertStatus, Channel
from guard.core.verdict import Kind, Verdict

_INSERTS: dict[tuple[str, tuple[str, ...]], HotStatement] = {}  # by dialect and the row's columns


@dataclass(frozen=True)
class Lease:
    """One claim of an outbox row: a later claim of the same row has another attempt count and lease time."""

    id: int
    attempts: int
    until: datetime


@dataclass(frozen=True)
class ClaimedAlert:
    """An outbox row leased to one sender."""

    id: int
    alert: Alert
    attempts: int
    lease: Lease


def alert_from_payload(fields: Mapping[str, Any]) -> Alert:
    """The alert back from its outbox payload (`Alert.fields()`)."""
    since = fields.get("since")
    return Alert(
        kind=AlertKind(fields["kind"]),
        note=fields.get("note") or "",
        key=WorkerKey(fields["account_sid"], fields["workspace_sid"], fields["worker_sid"]),
        worker_name=fields.get("worker_name") or "",
        verdict=Verdict.from_fields({"verdict": Kind.MISMATCH, **fields}),  # payloads of older releases lack it
        since=datetime.fromisoformat(since) if since else None,
        created_at=datetime.fromisoformat(fields["created_at"]),
        channel=Channel(fields.get("channel") or Channel.LOG),
        account_label=fields.get("account_label") or fields["account_sid"],
        workspace_label=fields.get("workspace_label") or fields["workspace_sid"],
        buttons=fields.get("fix_buttons"),
        mention=fields.get("mention") or "",
        activity_name=fields.get("activity"),
        available=fields.get("available"),
        changes=Changes.from_json(changes) if isinstance(changes := fields.get("changes"), dict) else None,
        cause=Cause.from_json(cause) if isinstance(cause := fields.get("cause"), dict) else None,
        cause_note=fields.get("cause_note"),
        source=fields.get("source"),
        version=fields.get("version"),
        previous_actual=fields.get("previous_actual"),
        actor=fields.get("actor"),
        result=fields.get("result"),
        came_back=fields.get("came_back") is True,
    )


def alert_from_row(row: Any) -> ClaimedAlert:
    """A leased outbox row as the alert it carries."""
    lease = Lease(row["id"], row["attempts"], row["lease_until"])
    return ClaimedAlert(row["id"], alert_from_payload(json.loads(row["payload"])), row["attempts"], lease)


class Alerts:
    """The outbox; bound to an engine (each call its own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind
        self.pages = Pages(bind)

    def insert(self, row: dict[str, Any]) -> int:
        """Add an alert's row to the outbox; return its id."""
        with connected(self.bind) as connection:  # on the event writer's path: compiled once (adapters/hot.py)
            cached = (connection.dialect.name, tuple(row))
            if cached not in _INSERTS:
                _INSERTS[cached] = HotStatement(outbox.insert().returning(outbox.c.id), connection.dialect, cached[1])
            [inserted] = _INSERTS[cached].run(connection, row)
            return int(inserted["id"])

    def claim_due(self, now: datetime, lease: timedelta, skip: frozenset[str] = frozenset()) -> ClaimedAlert | None:
        """Lease the next due alert whose worker has no earlier undelivered alert (pages first), or return None.

        `skip`: accounts whose webhook asked to wait (Retry-After); the others' alerts go on.
        """

        def due(a: Any) -> tuple[Any, ...]:
            """Due, pending, and no earlier pending alert for the same worker (per-worker order)."""
            waiting = (a.c.account_sid.not_in(skip),) if skip else ()
            first = a.c.id.in_(first_of_each_worker())  # a grouped min: an anti join per row was quadratic on PG
            return (a.c.status == AlertStatus.PENDING, a.c.next_attempt_at <= now, first, *waiting)

        # Pages first: when Slack takes one message a second, the agents who cannot take calls now must not wait
        # behind hundreds of other messages (a worker's own alerts keep their order: see `due`)
        row = lease_oldest(
            self.bind, outbox, due, now, lease, first=page_turn, joined=page_turn_join, attempts=outbox.c.attempts + 1
        )
        return None if row is None else alert_from_row(row)

    def finish(
        self,
        lease: Lease,
        status: AlertStatus,
        now: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
        *,
        sent: bool = True,
    ) -> bool:
        """Record a delivery outcome (delivered, failed, or pending with a retry time) if the claim's lease holds.

        False when it did not: the row is another sender's now, and its outcome, not this late one, stands.
        """
        values: dict[str, Any] = {"status": status, "lease_until": None, "last_error": error}
        if status is AlertStatus.DELIVERED:
            values["delivered_at"] = now
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        if not sent:  # put back: the error of the attempt before stays, and this claim is no attempt
            del values["last_error"]
            values["attempts"] = lease.attempts - 1
        held = (
            outbox.c.id == lease.id,
            outbox.c.status == AlertStatus.PENDING,
            outbox.c.attempts == lease.attempts,
            outbox.c.lease_until == lease.until,
        )
        with connected(self.bind) as connection:
            return connection.execute(update(outbox).where(*held).values(**values)).rowcount == 1

    def put_back(self, lease: Lease, retry_at: datetime) -> bool:
        """Release a leased alert unsent (its webhook asked to wait): due at `retry_at`, its attempt not counted."""
        return self.finish(lease, AlertStatus.PENDING, retry_at, retry_at=retry_at, sent=False)

    def next_due(self, skip: frozenset[str] = frozenset()) -> datetime | None:
        """When the earliest pending alert (of an account not in `skip`) becomes due, or None when there is none.

        A row another sender holds is due when its lease ends, not before: else the others poll every 0.05 s meanwhile.
        So is one behind its worker's earlier alert: when that one is.
        """
        waiting = (outbox.c.account_sid.not_in(skip),) if skip else ()
        held = case(
            (outbox.c.lease_until > outbox.c.next_attempt_at, outbox.c.lease_until), else_=outbox.c.next_attempt_at
        )
        first = outbox.c.id.in_(first_of_each_worker())  # a grouped min: an anti join per row was quadratic on PG
        query = select(func.min(held)).where(outbox.c.status == AlertStatus.PENDING, first, *waiting)
        with connected(self.bind) as connection:
            return connection.execute(query).scalar()

    def requeue_failed(self, now: datetime, since: datetime | None = None) -> tuple[int, int]:
        """Queue again, due now, the alerts that failed for good (raised since `since`): (queued, left as failed).

        One whose worker has a later alert delivered is left: the channel has its newer news already.
        """
        later = outbox.alias("later")
        same_worker = (later.c[name] == outbox.c[name] for name in ("account_sid", "workspace_sid", "worker_sid"))
        overtaken = exists().where(*same_worker, later.c.id > outbox.c.id, later.c.status == AlertStatus.DELIVERED)
        failed = (outbox.c.status == AlertStatus.FAILED, *(() if since is None else (outbox.c.created_at >= since,)))
        again = {"status": AlertStatus.PENDING, "attempts": 0, "next_attempt_at": now, "lease_until": None}
        with connected(self.bind) as connection:
            queued = connection.execute(update(outbox).where(*failed, ~overtaken).values(**again)).rowcount
            left = connection.execute(select(func.count()).select_from(outbox).where(*failed)).scalar() or 0
        return queued, left

    def counts(self) -> dict[str, int]:
        """Outbox rows by status."""
        with connected(self.bind) as connection:
            rows = connection.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
            return {status: count for status, count in rows}

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest alerts with their delivery status, and the worker name and note from their payload."""
        with connected(self.bind) as connection:
            rows = [
                dict(row._mapping)
                for row in connection.execute(select(outbox).order_by(outbox.c.id.desc()).limit(limit))
            ]
        for row in rows:
            payload = json.loads(row.pop("payload"))
            row["worker_name"] = payload.get("worker_name") or row["worker_sid"]
            row["note"] = payload.get("note", "")
        return rows
