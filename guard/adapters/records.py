"""Remediation jobs and audit runs: what the guard did, and when it last swept."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from guard.adapters.tables import audit_run, lease_oldest, remediation


class Records:
    """Reads and short writes on the remediation and audit_run tables."""

    def __init__(self, engine: Engine) -> None:
        """Use `engine` for all access."""
        self.engine = engine

    def claim_remediation(self, now: datetime, lease: timedelta) -> Mapping[str, Any] | None:
        """Lease the oldest queued remediation (webhook path), or return None."""
        return lease_oldest(self.engine, remediation, lambda r: (r.c.status == "pending",), now, lease)

    def remediations(self, worker_sid: str | None = None) -> list[Mapping[str, Any]]:
        """Remediation records, oldest first, optionally for one worker."""
        query = select(remediation).order_by(remediation.c.id)
        if worker_sid:
            query = query.where(remediation.c.worker_sid == worker_sid)
        with self.engine.connect() as connection:
            return [row._mapping for row in connection.execute(query)]

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
        with self.engine.begin() as connection:
            connection.execute(
                audit_run.insert().values(
                    account_sid=account_sid,
                    workspace_sid=workspace_sid,
                    started_at=started,
                    finished_at=finished,
                    counts=json.dumps(counts),
                    exit_code=code,
                )
            )

    def last_audit_run(self) -> Mapping[str, Any] | None:
        """The most recent audit sweep, if any."""
        with self.engine.connect() as connection:
            row = connection.execute(select(audit_run).order_by(audit_run.c.id.desc()).limit(1)).first()
        return None if row is None else row._mapping
