"""Prometheus metrics. Under gunicorn they run in multiprocess mode so figures add up across workers.

Counters and histograms live in each process (files under PROMETHEUS_MULTIPROC_DIR); the gauges
(workers in drift, pending first login, unreachable, outbox backlog, database up) are read at scrape time,
so every process reports the same truth.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from guard.config.env import ConfigError, EnvReader

try:  # before prometheus_client opens its files there: a missing directory was a traceback at import (`migrate`)
    EnvReader(os.environ).directory("PROMETHEUS_MULTIPROC_DIR")
except ConfigError as err:
    print(f"guard: configuration error: {err}", file=sys.stderr)
    sys.exit(3)

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from guard.adapters.sqlite import DatabaseFileMissing
from guard.adapters.sqlite_writers import DatabaseBusy
from guard.adapters.store import Store
from guard.core.statuses import AlertStatus
from guard.core.verdict import Kind

log = logging.getLogger("guard.metrics")
EVENTS = Counter("guard_events_received_total", "Webhook events received.", ["source", "event_type", "outcome"])
VERDICTS = Counter("guard_verdicts_total", "Verdicts reached on worker snapshots.", ["verdict"])
# What each acknowledged worker event came to: duplicates show the senders' retries, stale ones late deliveries
WORKER_EVENTS = Counter(
    "guard_worker_events_total", "Worker events committed, by what the guard made of them.", ["source", "outcome"]
)
ALERTS = Counter("guard_alerts_total", "Alerts by kind and delivery result.", ["kind", "result"])
REQUEST_LATENCY = Histogram(
    "guard_request_duration_seconds", "HTTP request latency (ignored TaskRouter events are not timed).", ["endpoint"]
)
DELIVERY_LATENCY = Histogram(
    "guard_alert_delivery_latency_seconds",
    "Time from an alert's creation to its delivery to Slack.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, float("inf")),
)

# Event types are client-supplied, so every label value comes from this fixed set (TaskRouter's event reference).
_RESOURCE_EVENTS = {
    "activity": "created updated deleted",
    "reservation": "created accepted rejected timeout canceled rescinded completed failed wrapup",
    "task": "created updated canceled wrapup completed deleted system-deleted transfer-initiated "
    "transfer-attempt-failed transfer-failed transfer-canceled transfer-completed",
    "task-channel": "created updated deleted",
    "task-queue": "created updated deleted entered moved timeout expression.updated",
    "worker": "created deleted activity.update attributes.update capacity.update channel.availability.update",
    "workflow": "created updated deleted entered target-matched skipped timeout",
    "workspace": "created updated deleted",
}
KNOWN_EVENT_TYPES = frozenset(
    f"{resource}.{name}" for resource, names in _RESOURCE_EVENTS.items() for name in names.split()
)
UNVERIFIED = "unverified"  # the label of every request whose signature failed: it names nothing it sent


def event_type_label(event_type: str | None) -> str:
    """The label for an event type: a known type, `<resource>.other`, `other` or `none`; never the raw value."""
    if not event_type:
        return "none"
    event_type = event_type.removeprefix("com.twilio.taskrouter.")
    if event_type in KNOWN_EVENT_TYPES:
        return event_type
    resource = event_type.split(".", 1)[0]
    return f"{resource}.other" if resource in _RESOURCE_EVENTS else "other"


def count_event(source: str, event_type: str | None, outcome: str) -> None:
    """Count one webhook event (accepted, ignored, bad_request, bad_signature or too_large)."""
    label = UNVERIFIED if outcome in ("bad_signature", "too_large") else event_type_label(event_type)
    EVENTS.labels(source, label, outcome).inc()


class StoreGauges(Collector):
    """Gauges computed from the database when Prometheus scrapes."""

    def __init__(self, store: Store) -> None:
        """Read from `store`."""
        self.store = store

    def collect(self) -> Iterator[Any]:
        """Whether the database answered; then workers in drift, pending first login, unreachable, the backlog."""
        up = GaugeMetricFamily("guard_database_up", "1 when the database answered this scrape (0: no database gauges).")
        try:  # off the request thread, for PROBE_SECONDS at most: a hung database must not hang the scrape
            gauges = self.store.probes.shared("gauges", lambda: list(self._from_database()))
        except (SQLAlchemyError, DatabaseFileMissing, DatabaseBusy, OSError) as err:  # the counters still answer
            log.warning("metrics_database_unavailable", extra={"fields": {"error": type(err).__name__}})
            gauges = []
        up.add_metric([], 1 if gauges else 0)
        yield from (up, *gauges)

    def _from_database(self) -> Iterator[Any]:
        """The gauges read from the database."""
        counts = self.store.listing.verdict_counts()
        drift = GaugeMetricFamily("guard_workers_in_drift", "Workers whose contact_uri is wrong now.")
        drift.add_metric([], counts.get(Kind.MISMATCH, 0))
        pending = GaugeMetricFamily(
            "guard_workers_pending_first_login",
            "Workers with no contact_uri until their next login (a first login, or a value removed), available or not.",
        )
        pending.add_metric([], counts.get(Kind.PENDING, 0))
        unreachable = GaugeMetricFamily(
            "guard_workers_unreachable", "Workers available to TaskRouter now whose browser cannot ring."
        )
        unreachable.add_metric([], self.store.listing.unreachable_count())
        backlog = GaugeMetricFamily("guard_outbox_backlog", "Alerts waiting to be delivered.")
        backlog.add_metric([], self.store.alerts.counts().get(AlertStatus.PENDING, 0))
        yield from (drift, pending, unreachable, backlog)


def _counters() -> CollectorRegistry:
    """The counters and histograms: multiprocess aggregate under gunicorn, this process otherwise."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (EVENTS, VERDICTS, WORKER_EVENTS, ALERTS, REQUEST_LATENCY, DELIVERY_LATENCY):
            registry.register(collector)
    return registry


def exposition(store: Store) -> bytes:
    """The text exposition: the counters, then the gauges read from the database."""
    registry = _counters()
    registry.register(StoreGauges(store))
    return generate_latest(registry)


def intake_outcomes() -> dict[str, int]:
    """Webhook events received since the start, by outcome, over every process (what /status warns about)."""
    totals: dict[str, int] = {}
    for family in _counters().collect():
        for sample in family.samples if family.name == "guard_events_received" else ():
            if sample.name.endswith("_total"):
                outcome = sample.labels["outcome"]
                totals[outcome] = totals.get(outcome, 0) + int(sample.value)
    return totals
