"""Slack approvals: the clicks waiting to be applied, and the workers an approver marked intended."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from guard.adapters.db import connected, lease_oldest
from guard.adapters.tables import ignore_rule, slack_click
from guard.core.approval import Action, Click
from guard.core.snapshot import WorkerKey
from guard.core.statuses import ClickStatus


class Approvals:
    """Click and ignore-rule rows; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def add_click(self, click: Click, action: Action, refusal: str | None, now: datetime) -> int | None:
        """Record a click to apply (or to refuse); None when the same request was recorded before."""
        key = click.key
        row = {
            "account_sid": key.account_sid,
            "workspace_sid": key.workspace_sid,
            "worker_sid": key.worker_sid,
            "action": action,
            "user_id": click.user_id,
            "response_url": click.response_url,
            "refusal": refusal,
            # Approved clicks on one message are one request (a double click, Slack's retry); refusals never merge.
            "dedup_key": None if refusal else f"{action}:{key.worker_sid}:{click.message_ts}",
            "status": ClickStatus.PENDING,
            "attempts": 0,
            "requested_at": now,
        }
        try:
            with connected(self.bind) as connection, connection.begin_nested():
                return int(connection.execute(slack_click.insert().values(**row)).inserted_primary_key[0])
        except IntegrityError:
            return None

    def claim_click(self, now: datetime, lease: timedelta) -> Mapping[str, Any] | None:
        """Lease the oldest click not yet answered, or return None."""
        return lease_oldest(self.bind, slack_click, _unanswered, now, lease, attempts=slack_click.c.attempts + 1)

    def finish_click(self, click_id: int, status: ClickStatus, outcome: str, now: datetime) -> None:
        """Record that a click was applied (its outcome kept for the answer), or answered, or given up on."""
        values: dict[str, Any] = {"status": status, "outcome": outcome, "lease_until": None}
        if status is not ClickStatus.APPLIED:
            values["finished_at"] = now
        with connected(self.bind) as connection:
            connection.execute(update(slack_click).where(slack_click.c.id == click_id).values(**values))

    def add_ignore_rule(self, key: WorkerKey, actor: str, value: str | None, now: datetime) -> None:
        """Mark the worker's value intended (kept if it was already)."""
        row = {**_key(key), "actor": actor, "value": value, "created_at": now}
        try:
            with connected(self.bind) as connection, connection.begin_nested():
                connection.execute(ignore_rule.insert().values(**row))
        except IntegrityError:
            pass  # marked before: the first approver and time stand

    def remove_ignore_rule(self, rule_id: int) -> Mapping[str, Any] | None:
        """Delete one rule; return it, or None when there was none."""
        with connected(self.bind) as connection:
            row = connection.execute(delete(ignore_rule).where(ignore_rule.c.id == rule_id).returning(ignore_rule))
            found = row.first()
        return None if found is None else found._mapping

    def ignore_rules(self) -> list[Mapping[str, Any]]:
        """Every rule, newest first."""
        with connected(self.bind) as connection:
            return [r._mapping for r in connection.execute(select(ignore_rule).order_by(ignore_rule.c.id.desc()))]


def _unanswered(clicks: Any) -> tuple[Any, ...]:
    """Clicks still to apply or to answer."""
    return (clicks.c.status.in_((ClickStatus.PENDING, ClickStatus.APPLIED)),)


def _key(key: WorkerKey) -> dict[str, str]:
    """A worker key as column values."""
    return {"account_sid": key.account_sid, "workspace_sid": key.workspace_sid, "worker_sid": key.worker_sid}
