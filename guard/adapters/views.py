"""Read-only queries behind the status page and /api/workers."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from guard.adapters.tables import alert, remediation, worker_state
from guard.core.text import shown

LIKE_ESCAPE = "\\"
DEFAULT_SORT = "since_desc"
SORTS = {
    "since_desc": worker_state.c.since.desc(),
    "since_asc": worker_state.c.since.asc(),
    "name": worker_state.c.name.asc(),
}


def contains_pattern(text: str) -> str:
    """A LIKE pattern that finds `text` literally: % and _ are escaped, NUL is searched as the state shows it."""
    literal = shown(text).replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", r"\%").replace("_", r"\_")
    return f"%{literal}%"


class Views:
    """Worker lists, counts and recent alerts for operators."""

    def __init__(self, engine: Engine) -> None:
        """Read through `engine`."""
        self.engine = engine

    def workers(
        self, verdict: str | None = None, text: str = "", sort: str = DEFAULT_SORT, limit: int = 20_000
    ) -> list[dict[str, Any]]:
        """Workers (optionally of one verdict, matching `text`) with their latest remediation; `sort` is a SORTS key."""
        latest = (
            select(func.max(remediation.c.id).label("id"))
            .group_by(remediation.c.account_sid, remediation.c.workspace_sid, remediation.c.worker_sid)
            .subquery()
        )
        last_fix = select(remediation).where(remediation.c.id.in_(select(latest.c.id))).subquery()
        same_worker = and_(
            last_fix.c.account_sid == worker_state.c.account_sid,
            last_fix.c.workspace_sid == worker_state.c.workspace_sid,
            last_fix.c.worker_sid == worker_state.c.worker_sid,
        )
        query = select(
            worker_state,
            last_fix.c.status.label("remediation_status"),
            last_fix.c.finished_at.label("remediation_at"),
        ).select_from(worker_state.outerjoin(last_fix, same_worker))
        if verdict:
            query = query.where(worker_state.c.verdict == verdict)
        else:
            query = query.where(worker_state.c.verdict != "deleted")
        if text:
            pattern = contains_pattern(text)
            columns = (worker_state.c.name, worker_state.c.email, worker_state.c.worker_sid, worker_state.c.actual)
            query = query.where(or_(*(column.ilike(pattern, escape=LIKE_ESCAPE) for column in columns)))
        query = query.order_by(SORTS[sort], worker_state.c.worker_sid).limit(limit)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest alerts with their delivery status."""
        query = select(alert).order_by(alert.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        for row in rows:
            payload = json.loads(row.pop("payload"))
            row["worker_name"] = payload.get("worker_name") or row["worker_sid"]
            row["note"] = payload.get("note", "")
        return rows
