"""What operators read: workers by verdict with their latest remediation, searched and sorted (/status, /api)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, or_, select

from guard.adapters.db import connected
from guard.adapters.tables import remediation, worker_state
from guard.core.statuses import RemediationStatus
from guard.core.text import shown
from guard.core.verdict import Kind

PK = ("account_sid", "workspace_sid", "worker_sid")
PRIVATE = ("attributes", "trusted")  # the copy of every attribute stays in the database; changes and cause are shown
LIKE_ESCAPE = "\\"
DEFAULT_SORT = "since_desc"
SORTS = {
    "since_desc": worker_state.c.since.desc(),
    "since_asc": worker_state.c.since.asc(),
    "name": worker_state.c.name.asc(),
}


# Available to TaskRouter and unable to ring: a wrong contact_uri, or none yet (see guard/core/activity.py).
# Verdict.broken in SQL: pending, or a mismatch whose value is not the one expected (that one the browser registers).
_RINGS_ANYWAY = and_(
    worker_state.c.actual.is_not(None),
    worker_state.c.expected.is_not(None),
    worker_state.c.actual == worker_state.c.expected,
)
BROKEN = or_(worker_state.c.verdict == Kind.PENDING, and_(worker_state.c.verdict == Kind.MISMATCH, ~_RINGS_ANYWAY))
UNREACHABLE_NOW = and_(worker_state.c.available.is_(True), BROKEN)


def _this_episode(fix: Any) -> Any:
    """True for a remediation of the worker's current episode: an earlier drift's "removed" says nothing of this one.

    Queued ones always show; a removal while its value is still gone (`removed`, and no value since); anything
    asked since the verdict.
    """
    gone = and_(worker_state.c.removed.is_not(None), worker_state.c.actual.is_(None))
    still_removed = and_(fix.c.status == RemediationStatus.REMOVED, gone)
    return or_(fix.c.status == RemediationStatus.PENDING, still_removed, fix.c.requested_at >= worker_state.c.since)


LISTED_MAX = 20_000  # rows a page or an answer lists at most: a browser still renders it, in seconds


class Listed(list[dict[str, Any]]):
    """The rows listed, and whether more matched than were listed."""

    truncated = False


def contains_pattern(text_: str) -> str:
    """A LIKE pattern that finds `text_` literally: % and _ are escaped, NUL is searched as the state shows it."""
    literal = shown(text_).replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", r"\%").replace("_", r"\_")
    return f"%{literal}%"


class WorkerListing:
    """Read-only listings of worker state for people."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def verdict_counts(self) -> dict[str, int]:
        """How many workers have each verdict now."""
        query = select(worker_state.c.verdict, func.count()).group_by(worker_state.c.verdict)
        with connected(self.bind) as connection:
            return {verdict: count for verdict, count in connection.execute(query)}

    def unreachable_count(self, verdict: str | None = None) -> int:
        """How many workers (of one verdict) cannot take calls right now: available, and a wrong contact_uri or none."""
        where = UNREACHABLE_NOW if verdict is None else and_(UNREACHABLE_NOW, worker_state.c.verdict == verdict)
        with connected(self.bind) as connection:
            return connection.execute(select(func.count()).where(where)).scalar() or 0

    def listing(
        self,
        verdict: str | None = None,
        search: str = "",
        sort: str = DEFAULT_SORT,
        limit: int | None = None,
        cannot_ring: bool = False,
        named: Sequence[tuple[str, str | None]] = (),
    ) -> Listed:
        """Workers (of one verdict, matching `search`) with their activity and latest remediation.

        `sort` is a SORTS key, after who cannot take calls now; `cannot_ring` lists the workers in drift and those.
        `named`: the (account, workspace or None) whose configured names `search` matched: their workers match too.
        """
        latest = (
            select(func.max(remediation.c.id).label("id"))
            .group_by(remediation.c.account_sid, remediation.c.workspace_sid, remediation.c.worker_sid)
            .subquery()
        )
        last_fix = select(remediation).where(remediation.c.id.in_(select(latest.c.id))).subquery()
        same_worker = and_(*(last_fix.c[name] == worker_state.c[name] for name in PK), _this_episode(last_fix))
        unreachable = case((UNREACHABLE_NOW, True), else_=False)
        shown_columns = [column for column in worker_state.c if column.name not in PRIVATE]
        query = select(
            *shown_columns,
            worker_state.c.activity_name.label("activity"),
            unreachable.label("unreachable"),
            last_fix.c.status.label("remediation_status"),
            last_fix.c.finished_at.label("remediation_at"),
        ).select_from(worker_state.outerjoin(last_fix, same_worker))
        query = query.where(worker_state.c.verdict == verdict if verdict else worker_state.c.verdict != Kind.DELETED)
        if cannot_ring:
            query = query.where(or_(worker_state.c.verdict == Kind.MISMATCH, UNREACHABLE_NOW))
        if search:
            pattern = contains_pattern(search)
            columns = ("name", "email", "worker_sid", "actual", "account_sid", "workspace_sid")
            matches = [worker_state.c[column].ilike(pattern, escape=LIKE_ESCAPE) for column in columns]
            for account, workspace in named:  # "Staging" finds the workers of the account or workspace so named
                place = [worker_state.c.account_sid == account]
                matches.append(
                    and_(*place, *(() if workspace is None else (worker_state.c.workspace_sid == workspace,)))
                )
            query = query.where(or_(*matches))
        first = (unreachable.desc(),)  # whatever the sort: a list cut at LISTED_MAX keeps who cannot take calls
        limit = limit or LISTED_MAX
        query = query.order_by(*first, SORTS[sort], worker_state.c.worker_sid).limit(limit + 1)
        with connected(self.bind) as connection:
            rows = Listed(dict(row._mapping) for row in connection.execute(query))
        rows.truncated = len(rows) > limit  # one more than shown: the list says it was cut
        del rows[limit:]
        return rows
