"""Outbox delivery: leases due alerts, posts them to Slack, and schedules retries.

Delivery is at-least-once: an alert is marked delivered only after Slack said "ok". A process
that dies between Slack's answer and that mark re-sends the alert once its lease expires.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from guard.adapters.outbox import ClaimedAlert
from guard.adapters.slack import SendResult, SlackNotifier
from guard.adapters.store import Store
from guard.core.snapshot import DEDUP_WINDOW
from guard.logs import log_event
from guard.metrics import ALERTS, DELIVERY_LATENCY
from guard.pipeline import utcnow

log = logging.getLogger("guard.delivery")

NotifierLookup = Callable[[ClaimedAlert], SlackNotifier | None]


def backoff_seconds(attempts: int, cap: float) -> float:
    """Exponential backoff with full jitter in its upper half: ~1, 2, 4 … seconds, capped."""
    base = min(cap, 2.0 ** max(0, attempts - 1))
    return base * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography


class Dispatcher:
    """Delivers outbox rows, in a background thread or in the foreground (`flask deliver`)."""

    def __init__(
        self,
        store: Store,
        notifier_for: NotifierLookup,
        retry_max_seconds: float,
        lease: timedelta,
        poll_seconds: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Configure how rows are leased, sent and retried."""
        self.store = store
        self.notifier_for = notifier_for
        self.retry_max_seconds = retry_max_seconds
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0
        self._next_periodic = 0.0
        # Jobs that queue alerts on a timer (drift reminders); run about once a minute.
        self.periodic: list[Callable[[], object]] = []
        # Jobs that drain their own queue on every wake-up (webhook-path remediation).
        self.tasks: list[Callable[[], object]] = []

    def wake(self, *_args: object) -> None:
        """Ask the loop to look at the outbox now (a new alert was committed)."""
        self._wake.set()

    def start(self) -> None:
        """Start the background delivery thread (once per process)."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="alert-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the alert in flight; undelivered alerts stay in the outbox for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        """Deliver until stopped, sleeping until the next due alert, a wake-up or the poll interval."""
        log_event(log, logging.INFO, "delivery_started")
        while not self._stop.is_set():
            sleep = self.poll_seconds
            try:
                self._run_periodic()
                for task in self.tasks:
                    task()
                self.run_once()
                sleep = self._sleep_seconds()
            except Exception:
                # A database outage must not kill delivery; the rows wait in the outbox.
                log.exception("delivery_loop_error")
            self._wake.wait(sleep)
            self._wake.clear()
        log_event(log, logging.INFO, "delivery_stopped")

    def run_once(self) -> int:
        """Deliver every alert that is due now; return how many attempts were made."""
        attempts = 0
        while not self._stop.is_set():
            claimed = self.store.outbox.claim_due(self.clock(), self.lease)
            if claimed is None:
                break
            self.deliver(claimed)
            attempts += 1
        return attempts

    def deliver(self, claimed: ClaimedAlert) -> SendResult:
        """Send one leased alert and record the outcome."""
        notifier = self.notifier_for(claimed)
        if notifier is None:
            result = SendResult("failed", "no Slack webhook is configured for this account")
        else:
            result = notifier.send(claimed.payload)
        now = self.clock()
        fields = {"alert_id": claimed.id, "kind": claimed.kind, "worker_sid": claimed.key.worker_sid}
        ALERTS.labels(claimed.kind, result.outcome).inc()
        if result.outcome == "delivered":
            self.store.outbox.finish(claimed.id, "delivered", now)
            DELIVERY_LATENCY.observe(max(0.0, (now - claimed.created_at).total_seconds()))
            log_event(log, logging.INFO, "alert_delivered", attempts=claimed.attempts, **fields)
        elif result.outcome == "failed":
            self.store.outbox.finish(claimed.id, "failed", now, result.error)
            log_event(log, logging.ERROR, "alert_delivery_failed_permanently", error=result.error, **fields)
        else:
            delay = backoff_seconds(claimed.attempts, self.retry_max_seconds)
            if result.retry_after is not None:
                # Honoured for this row, up to ALERT_RETRY_MAX_SECONDS: a broken answer cannot stall delivery.
                delay = min(max(delay, result.retry_after), self.retry_max_seconds)
            retry_at = now + timedelta(seconds=delay)
            self.store.outbox.finish(claimed.id, "pending", now, result.error, retry_at)
            log_event(
                log, logging.WARNING, "alert_delivery_retry", error=result.error, retry_in_s=round(delay, 2), **fields
            )
        return result

    def _sleep_seconds(self) -> float:
        """How long to idle: until the next due row, but never longer than the poll interval."""
        due = self.store.outbox.next_due()
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.05, (due - self.clock()).total_seconds()))

    def _run_periodic(self) -> None:
        """Run the timer jobs and prune old event ids, each at most about once a minute."""
        if time.monotonic() < self._next_periodic:
            return
        self._next_periodic = time.monotonic() + 60
        for job in self.periodic:
            job()
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + 3600
            self.store.prune_events(self.clock() - DEDUP_WINDOW)
