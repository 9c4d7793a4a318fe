"""Outbox delivery: leases due alerts, posts them to Slack, and schedules retries.

Delivery is at-least-once: an alert is marked delivered only after Slack said "ok". A process
that dies between Slack's answer and that mark re-sends the alert once its lease expires; a post
that outlives its lease records nothing (the row is another sender's by then).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from guard.adapters.alerts import Alerts, ClaimedAlert
from guard.adapters.slack import SendResult, SlackNotifier
from guard.clock import utcnow
from guard.core.late import AWAY, OVER
from guard.core.retry import retry_delay
from guard.core.snapshot import WorkerKey
from guard.core.state import WorkerState
from guard.core.statuses import AlertStatus, SendOutcome
from guard.logs import log_event
from guard.metrics import ALERTS, DELIVERY_LATENCY

log = logging.getLogger("guard.delivery")

MIN_PAUSE_SECONDS = 1.0  # a Retry-After of 0 must not turn into a tight loop of refused posts
# A page (and what it waits behind) backs off to this at most, whatever ALERT_RETRY_MAX_SECONDS says
PAGE_RETRY_MAX_SECONDS = 30.0
SLOW_POST_SECONDS = 1.0  # a failed post that took this long pauses its webhook: a gateway's late 504 holds up the rest
NO_WEBHOOK = "no Slack webhook for this account (none is configured, or TWILIO_ACCOUNTS no longer lists it)"
# Posts of several alerts failing for this long, none taken between: an outage, whose pages go out next once Slack
# takes one. One message Slack keeps refusing, or a quiet spell between two posts, is no outage: it keeps its backoff.
OUTAGE_SECONDS = 10.0
NotifierLookup = Callable[[str], SlackNotifier | None]  # an account SID to its Slack client, if it has one
Sharing = Callable[[str], frozenset[str] | None]  # an account SID to those posting to its webhook (None: all)


@dataclass
class _Failures:
    """A webhook's posts that failed since the last one Slack took: when the first and last did, and which alerts."""

    first: datetime
    last: datetime
    alerts: set[int] = field(default_factory=set)

    def outage(self) -> bool:
        """Several alerts failing for OUTAGE_SECONDS or more: Slack was down, not one message refused."""
        return len(self.alerts) > 1 and self.last - self.first >= timedelta(seconds=OUTAGE_SECONDS)


class Delivery:
    """Sends what the outbox holds: every due alert, one attempt each, with the outcome recorded."""

    def __init__(
        self,
        alerts: Alerts,
        notifier_for: NotifierLookup,
        retry_max_seconds: float,
        lease: timedelta,
        stopping: threading.Event | None = None,
        clock: Callable[[], datetime] = utcnow,
        sharing: Sharing = lambda account_sid: frozenset({account_sid}),
        worker_state: Callable[[WorkerKey], WorkerState | None] = lambda key: None,
    ) -> None:
        """Configure how rows are leased, sent and retried; once `stopping` is set, no new attempt starts."""
        self.alerts = alerts
        self.stopping = stopping or threading.Event()
        self.notifier_for = notifier_for
        self.retry_max_seconds = retry_max_seconds
        self.lease = lease
        self.clock = clock
        self.worker_state = worker_state  # what the guard holds of a worker now: does a late page still ping?
        self.paused: dict[str, datetime] = {}  # account SID -> until: its webhook said wait (a 429's Retry-After)
        self.webhooks_paused: dict[str, datetime] = {}  # the same by webhook: accounts may share SLACK_WEBHOOK_URL
        self.sharing = sharing
        self.failing: dict[str, _Failures] = {}  # by webhook: the posts that failed here since one Slack took

    def _standing(self, key: WorkerKey, raised: datetime) -> str | None:
        """What a page's worker is at now (core/late.py: AWAY, OVER; None: as raised, or not known)."""
        try:
            state = self.worker_state(key)
        except SQLAlchemyError:  # not known: the page goes out as raised
            return None
        if state is None:
            return None
        if state.urgent_at != raised:  # a later page of the worker, or the episode over
            return OVER
        return AWAY if state.available is False else None  # an activity the guard cannot place is never guessed

    def run_once(self) -> int:
        """Deliver every alert that is due now: one attempt each, its outcome recorded; return how many."""
        attempts = 0
        while not self.stopping.is_set() and (claimed := self._claim()) is not None:
            alert, now = claimed.alert, self.clock()
            alert = alert.posted(now, self._standing(alert.key, alert.created_at) if alert.spec.urgent else None)
            notifier = self.notifier_for(alert.key.account_sid)
            # Another account's 429 on this webhook (pauses end before each claim): wait with it, unsent
            if notifier is not None and (until := self.webhooks_paused.get(notifier.webhook)) is not None:
                self.paused[alert.key.account_sid] = until
                self.alerts.put_back(claimed.lease, until) or self._lost(
                    {"alert_id": claimed.id, "kind": alert.kind.value}
                )
                continue
            started = time.monotonic()
            result = notifier.send(alert) if notifier is not None else SendResult(SendOutcome.FAILED, NO_WEBHOOK)
            slow = time.monotonic() - started >= SLOW_POST_SECONDS
            now = self.clock()
            fields = {"alert_id": claimed.id, "kind": alert.kind.value, "worker_sid": alert.key.worker_sid}
            if result.outcome is SendOutcome.DELIVERED:
                held = self.alerts.finish(claimed.lease, AlertStatus.DELIVERED, now)
                said = (logging.INFO, "alert_delivered", {"attempts": claimed.attempts})
                failures = self.failing.pop(notifier.webhook, None) if notifier is not None else None
                if failures is not None and failures.outage():  # Slack is back: the pages go next
                    self.alerts.pages.release(self.sharing(alert.key.account_sid), now)
            elif result.outcome is SendOutcome.FAILED:
                held = self.alerts.finish(claimed.lease, AlertStatus.FAILED, now, result.error)
                said = (logging.ERROR, "alert_delivery_failed_permanently", {"error": result.error})
            else:
                paged = alert.spec.urgent or self.alerts.pages.waits_behind(claimed.id)
                cap = min(self.retry_max_seconds, PAGE_RETRY_MAX_SECONDS) if paged else self.retry_max_seconds
                delay = retry_delay(claimed.attempts, cap, result.retry_after)
                failures = self.failing.setdefault(notifier.webhook, _Failures(now, now))  # type: ignore[union-attr]
                failures.last = now
                failures.alerts.add(claimed.id)
                if result.retry_after is not None:  # rate limited: the account's posts wait, this one first after
                    delay = max(MIN_PAUSE_SECONDS, min(self.retry_max_seconds, result.retry_after))
                # Rate limited, or no answer at all or a slow one (each post to a hung webhook waits out the timeout,
                # and other accounts' alerts behind them): the webhook's posts wait; unanswered, a page's wait at most
                if result.retry_after is not None or result.unanswered or slow:
                    pause = delay if result.retry_after is not None else min(delay, PAGE_RETRY_MAX_SECONDS)
                    self.paused[alert.key.account_sid] = now + timedelta(seconds=pause)
                    self.webhooks_paused[notifier.webhook] = now + timedelta(seconds=pause)  # type: ignore[union-attr]
                retry_at = now + timedelta(seconds=delay)
                held = self.alerts.finish(claimed.lease, AlertStatus.PENDING, now, result.error, retry_at)
                said = (logging.WARNING, "alert_delivery_retry", {"error": result.error, "retry_in_s": round(delay, 2)})
            if not held:  # the post outlived its lease: the sender that took the row over decides what it became
                self._lost(fields)
            else:
                ALERTS.labels(alert.kind.value, result.outcome.value).inc()
                if result.outcome is SendOutcome.DELIVERED:
                    DELIVERY_LATENCY.observe(max(0.0, (now - alert.created_at).total_seconds()))
                level, event, details = said
                log_event(log, level, event, **details, **fields)
            attempts += 1
        return attempts

    def _lost(self, fields: dict[str, str | int]) -> None:
        """Log an outcome dropped because the post outlived its lease (another sender owns the row now)."""
        log_event(log, logging.WARNING, "alert_lease_lost", **fields)

    def _paused_accounts(self) -> frozenset[str]:
        """Accounts whose webhook's Retry-After still holds: hundreds of posts meanwhile would only be refused."""
        now = self.clock()
        self.paused = {sid: until for sid, until in self.paused.items() if until > now}
        self.webhooks_paused = {url: until for url, until in self.webhooks_paused.items() if until > now}
        return frozenset(self.paused)

    def _claim(self) -> ClaimedAlert | None:
        """The next due alert of an account not paused, leased (pages first)."""
        return self.alerts.claim_due(self.clock(), self.lease, skip=self._paused_accounts())

    def seconds_until_due(self, longest: float) -> float:
        """How long nothing is due: until the next alert of an account not paused, or a pause ends (≤ `longest`)."""
        due = self.alerts.next_due(skip=self._paused_accounts())
        moments = [*([due] if due is not None else []), *self.paused.values()]
        if not moments:
            return longest
        return min(longest, max(0.05, (min(moments) - self.clock()).total_seconds()))
