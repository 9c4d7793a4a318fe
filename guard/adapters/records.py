"""What the guard did: remediations (queued, leased, finished) and audit runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, func, select, update

from guard.adapters.db import connected
from guard.adapters.leases import being_applied, lease_oldest, take_claim_turn
from guard.adapters.tables import audit_run, remediation, slack_click
from guard.adapters.worker_batches import lock_workers
from guard.adapters.workers import key_params
from guard.core.click import Action
from guard.core.snapshot import WorkerKey
from guard.core.statuses import RemediationStatus


class Records:
    """Remediation and audit-run rows; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def add_remediation(
        self, key: WorkerKey, actor: str, status: RemediationStatus, before: str | None, detail: str, now: datetime
    ) -> int | None:
        """Record a remediation; a `pending` request is skipped (None) when one is already queued for the worker."""
        with connected(self.bind) as connection:
            if status is RemediationStatus.PENDING:
                queued = select(remediation.c.id).where(*_of(remediation, key), _pending(remediation))
                if connection.execute(queued).first() is not None:
                    return None
            row = {
                **key_params(key),
                "actor": actor,
                "status": status,
                "before_value": before,
                "detail": detail,
                "requested_at": now,
                "finished_at": None if status is RemediationStatus.PENDING else now,
            }
            return int(connection.execute(remediation.insert().values(**row)).inserted_primary_key[0])

    def finish_remediation(
        self, job_id: int, status: RemediationStatus, before: str | None, detail: str, now: datetime
    ) -> None:
        """Record the outcome of a queued remediation."""
        values = {"status": status, "before_value": before, "detail": detail, "finished_at": now, "lease_until": None}
        with connected(self.bind) as connection:
            connection.execute(update(remediation).where(remediation.c.id == job_id).values(**values))

    def retry_remediation(self, job_id: int, at: datetime) -> None:
        """Let a queued remediation, still pending, be claimed again from `at` (its lease ends then)."""
        pending = and_(remediation.c.id == job_id, remediation.c.status == RemediationStatus.PENDING)
        with connected(self.bind) as connection:
            connection.execute(update(remediation).where(pending).values(lease_until=at))

    def take_removal(self, key: WorkerKey, actor: str, now: datetime, lease: timedelta) -> int | None:
        """Lease a removal of `key`'s worker for a caller about to apply it (an audit); None while one is under way.

        Like a claim, it takes turns with the worker's clicks and removals: None while an approver's click or
        another removal of the worker is being applied. A removal queued by REMEDIATE=remove is taken over.
        """
        with connected(self.bind) as connection:
            take_claim_turn(connection)
            lock_workers(connection, [key])  # PostgreSQL: a removal the event writer is queuing commits first
            clicking = select(slack_click.c.id).where(
                *_of(slack_click, key),
                _pending(slack_click),
                _leased(slack_click, now),
                slack_click.c.action != Action.REFUSE,
            )
            queued = select(remediation.c.id, remediation.c.lease_until).where(
                *_of(remediation, key), _pending(remediation)
            )
            removals = connection.execute(queued.order_by(remediation.c.id)).all()
            if connection.execute(clicking).first() is not None or any(
                row.lease_until is not None and row.lease_until >= now for row in removals
            ):
                return None
            taken = {"actor": actor, "lease_until": now + lease}
            if removals:  # taken over only if still queued: nothing else may have finished it meanwhile
                queued_still = and_(remediation.c.id == removals[0].id, _pending(remediation))
                taken_over = connection.execute(update(remediation).where(queued_still).values(**taken)).rowcount
                return int(removals[0].id) if taken_over else None
            row = {**key_params(key), **taken, "status": RemediationStatus.PENDING, "detail": "", "requested_at": now}
            return int(connection.execute(remediation.insert().values(**row)).inserted_primary_key[0])

    def abandon_expired(self, now: datetime, detail: str) -> int:
        """Record as failed the removals still pending whose lease ran out: the process applying them died."""
        expired = and_(_pending(remediation), remediation.c.lease_until.is_not(None), remediation.c.lease_until < now)
        values = {"status": RemediationStatus.FAILED, "detail": detail, "finished_at": now, "lease_until": None}
        with connected(self.bind) as connection:
            take_claim_turn(connection)  # PostgreSQL: never while an audit takes such a row over (take_removal)
            return connection.execute(update(remediation).where(expired).values(**values)).rowcount

    def claim_remediation(self, now: datetime, lease: timedelta) -> Mapping[str, Any] | None:
        """Lease the oldest queued remediation (webhook path), or return None."""
        with connected(self.bind) as connection:
            take_claim_turn(connection)  # PostgreSQL: each claim sees the leases taken before it
            return lease_oldest(connection, remediation, partial(_queued, now=now), now, lease)

    def add_audit_run(
        self,
        account_sid: str,
        workspace_sid: str,
        started: datetime,
        finished: datetime,
        counts: dict[str, int],
        code: int,
        alerted: bool = False,
    ) -> None:
        """Remember one audit sweep (`alerted`: its verdicts were fed to the state)."""
        row = {
            "account_sid": account_sid,
            "workspace_sid": workspace_sid,
            "started_at": started,
            "finished_at": finished,
            "counts": json.dumps(counts),
            "exit_code": code,
            "alerted": alerted,
        }
        with connected(self.bind) as connection:
            connection.execute(audit_run.insert().values(**row))

    def latest_audit_runs(self) -> list[Mapping[str, Any]]:
        """The most recent audit sweep of each workspace."""
        newest = select(func.max(audit_run.c.id)).group_by(audit_run.c.account_sid, audit_run.c.workspace_sid)
        with connected(self.bind) as connection:
            rows = connection.execute(select(audit_run).where(audit_run.c.id.in_(newest)).order_by(audit_run.c.id))
            return [row._mapping for row in rows]

    def last_audit_run(self) -> Mapping[str, Any] | None:
        """The most recent audit sweep, if any."""
        with connected(self.bind) as connection:
            row = connection.execute(select(audit_run).order_by(audit_run.c.id.desc()).limit(1)).first()
        return None if row is None else row._mapping


def _queued(removals: Any, now: datetime) -> tuple[Any, ...]:
    """Removals queued by REMEDIATE=remove; one waits while a click or another removal of its worker is applied.

    The other removal: an audit's, taken while this one was being queued.
    """
    clicking = being_applied(slack_click, removals, now, only=lambda click: click.c.action != Action.REFUSE)
    removing = being_applied(remediation, removals, now)
    return (removals.c.status == RemediationStatus.PENDING, ~clicking, ~removing)


def _of(table: Table, key: WorkerKey) -> list[ColumnElement[bool]]:
    """`table`'s rows of one worker."""
    return [table.c[name] == value for name, value in key_params(key).items()]


def _pending(table: Table) -> ColumnElement[bool]:
    """A removal or click still to apply."""
    return table.c.status == "pending"


def _leased(table: Table, now: datetime) -> ColumnElement[bool]:
    """Being applied: leased, and the lease has not run out."""
    return and_(table.c.lease_until.is_not(None), table.c.lease_until >= now)
