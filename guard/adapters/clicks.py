"""Slack clicks: the button presses waiting to be applied and answered (the slack_click table)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError

from guard.adapters.db import connected
from guard.adapters.leases import being_applied, lease_oldest, take_claim_turn
from guard.adapters.tables import remediation, slack_click
from guard.adapters.workers import key_params
from guard.core.click import Action, Click
from guard.core.statuses import ClickStatus

WORKER_KEY = ("account_sid", "workspace_sid", "worker_sid")


class SlackClicks:
    """Click rows; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def add_click(self, click: Click, action: Action, refusal: str | None, now: datetime) -> int | None:
        """Record a click to apply (or to refuse); None when the same request was recorded before."""
        key = click.key
        worker = f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"
        row = {
            **key_params(key),
            "action": action,
            "user_id": click.user_id,
            "response_url": click.response_url,
            "refusal": refusal,
            "value_digest": click.value_digest,
            # Clicks on one message are one request (a double click, Slack's retry, a replay): an approved one
            # whoever clicks, a refused one per user, so each refused user gets one row and one answer.
            # A worker is its account's and workspace's (one SID may be in two); a message_ts is unique per channel only
            "dedup_key": f"{action}:{click.action}:{click.user_id}:{worker}:{click.message_ts}"
            if refusal
            else f"{action}:{worker}:{click.message_ts}",
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
        with connected(self.bind) as connection:
            take_claim_turn(connection)  # PostgreSQL: each claim sees the leases taken before it
            unanswered = partial(_unanswered, now=now)
            return lease_oldest(connection, slack_click, unanswered, now, lease, attempts=slack_click.c.attempts + 1)

    def finish_click(
        self,
        click_id: int,
        status: ClickStatus,
        outcome: str,
        now: datetime,
        hold: timedelta | None = None,
        reopen: bool = False,
    ) -> None:
        """Record that a click was applied (its outcome kept for the answer), or answered, or given up on.

        `reopen`: the click did nothing (it failed, or its approver was revoked): a new click on its message counts.
        """
        values: dict[str, Any] = {"status": status, "outcome": outcome, **({"dedup_key": None} if reopen else {})}
        if status is not ClickStatus.APPLIED:
            values.update(finished_at=now, lease_until=None)
        elif hold is not None:  # the removal's long lease is over: answering again waits only this long
            values.update(lease_until=now + hold)
        # An applied click keeps a lease: this process answers it next, and nobody else until the lease runs
        # out (a crash, or an answer that failed for now), so one click is never answered twice at once.
        with connected(self.bind) as connection:
            connection.execute(update(slack_click).where(slack_click.c.id == click_id).values(**values))

    def acted_before(self, row: Mapping[str, Any]) -> bool:
        """True when the other button of this approved click's message was applied first: its outcome is shown."""
        action, message = (row["dedup_key"] or ":").split(":", 1)  # "{action}:{worker}:{message_ts}"
        others = [f"{other}:{message}" for other in (Action.REMOVE, Action.IGNORE) if other != action]
        query = select(slack_click.c.id).where(
            slack_click.c.dedup_key.in_(others), slack_click.c.status.in_((ClickStatus.APPLIED, ClickStatus.ANSWERED))
        )
        with connected(self.bind) as connection:
            return action in (Action.REMOVE, Action.IGNORE) and connection.execute(query.limit(1)).first() is not None


def _unanswered(clicks: Any, now: datetime) -> tuple[Any, ...]:
    """Clicks still to apply or to answer; an approved click waits while another of its worker's is applied.

    A Remove and an Intended clicked at once, taken by two processes, could otherwise interleave: the value
    marked intended between the removal's re-check and its update, then removed all the same. Of a worker's
    approved clicks, the oldest goes first, and none while another is being applied (PostgreSQL numbers rows
    before they commit, so the oldest may arrive second). A refusal changes nothing and never waits.
    """
    other = slack_click.alias("other")
    approved = other.c.action != Action.REFUSE
    applying = or_(other.c.id < clicks.c.id, and_(other.c.lease_until.is_not(None), other.c.lease_until >= now))
    same_worker = [getattr(other.c, name) == getattr(clicks.c, name) for name in WORKER_KEY]
    waits = exists().where(
        *same_worker, other.c.id != clicks.c.id, other.c.status == ClickStatus.PENDING, approved, applying
    )
    removing = being_applied(remediation, clicks, now)  # REMEDIATE=remove's removal of this worker, under way
    waiting = and_(clicks.c.status == ClickStatus.PENDING, clicks.c.action != Action.REFUSE, or_(waits, removing))
    return (clicks.c.status.in_((ClickStatus.PENDING, ClickStatus.APPLIED)), ~waiting)
