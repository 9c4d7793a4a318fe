"""What the guard did: remediations (queued, leased, finished) and audit runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from guard.adapters.db import being_applied, connected, lease_oldest, take_claim_turn
from guard.adapters.tables import audit_run, remediation, slack_click
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
                queued = select(remediation.c.id).where(
                    remediation.c.account_sid == key.account_sid,
                    remediation.c.workspace_sid == key.workspace_sid,
                    remediation.c.worker_sid == key.worker_sid,
                    remediation.c.status == RemediationStatus.PENDING,
                )
                if connection.execute(queued).first() is not None:
                    return None
            row = {
                "account_sid": key.account_sid,
                "workspace_sid": key.workspace_sid,
                "worker_sid": key.worker_sid,
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
    ) -> None:
        """Remember one audit sweep."""
        row = {
            "account_sid": account_sid,
            "workspace_sid": workspace_sid,
            "started_at": started,
            "finished_at": finished,
            "counts": json.dumps(counts),
            "exit_code": code,
        }
        with connected(self.bind) as connection:
            connection.execute(audit_run.insert().values(**row))

    def last_audit_run(self) -> Mapping[str, Any] | None:
        """The most recent audit sweep, if any."""
        with connected(self.bind) as connection:
            row = connection.execute(select(audit_run).order_by(audit_run.c.id.desc()).limit(1)).first()
        return None if row is None else row._mapping


def _queued(removals: Any, now: datetime) -> tuple[Any, ...]:
    """Removals queued by REMEDIATE=remove; one waits while an approver's click on its worker is applied."""
    clicking = being_applied(slack_click, removals, now, only=lambda click: click.c.action != Action.REFUSE)
    return (removals.c.status == RemediationStatus.PENDING, ~clicking)
