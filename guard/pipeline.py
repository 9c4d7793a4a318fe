"""The intake pipeline: snapshot -> verdict -> state + outbox, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from guard.adapters.store import Store, StoreTransaction
from guard.config import Settings
from guard.core.snapshot import Position, WorkerKey, WorkerSnapshot, is_replay, is_stale
from guard.core.text import shown
from guard.core.transitions import DELETED, AlertKind, Prior, Transition, transition
from guard.core.verdict import Verdict
from guard.logs import log_event
from guard.metrics import ALERTS, VERDICTS

log = logging.getLogger("guard.pipeline")
REMEDIATION_ACTOR = "guard (REMEDIATE=remove)"
NAME_MAX = 256  # a worker name in the state and alerts (Slack's header takes 150 characters anyway)


class Outcome(StrEnum):
    """What happened to one snapshot."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    STALE = "stale"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Guard:
    """Judges worker snapshots, records state and queues alerts on transitions."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        """Wire the pipeline to its settings and store."""
        self.settings = settings
        self.store = store
        self.clock = clock
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def record(self, snapshot: WorkerSnapshot) -> Outcome:
        """Process one snapshot: dedup, order, judge, save, and queue an alert if the verdict moved."""
        verdict = None
        if not snapshot.deleted:
            verdict = self.settings.rules.judge(snapshot.attributes, snapshot.key.worker_sid, snapshot.name)
        VERDICTS.labels(verdict.kind.value if verdict else DELETED).inc()
        now = self.clock()
        if is_replay(snapshot, now):
            log_event(
                log, logging.WARNING, "replayed_event", worker_sid=snapshot.key.worker_sid, source=snapshot.source
            )
            return Outcome.STALE
        with self.store.transaction() as tx:
            if snapshot.event_id and not tx.claim_event(snapshot.key, snapshot.event_id, now):
                return Outcome.DUPLICATE
            stored = tx.lock_state(snapshot.key)
            if is_stale(snapshot, _position(stored)):
                log_event(
                    log, logging.INFO, "stale_event", worker_sid=snapshot.key.worker_sid, version=snapshot.version
                )
                return Outcome.STALE
            change = transition(_prior(stored), verdict, now, self.settings.alert_repeat)
            state = _state_values(snapshot, verdict, change, stored, now)
            tx.save_state(snapshot.key, state)
            payload = None
            if change.alert:
                previous = (stored or {}).get("actual")
                extra = {"previous_actual": previous, "source": snapshot.source, "version": snapshot.version}
                payload = self.queue_alert(tx, snapshot.key, state, change.alert, change.note, now, **extra)
                if change.alert is AlertKind.DRIFT and self.settings.remediate == "remove":
                    # Queued, not done here: the request path makes no network call.
                    tx.add_remediation(snapshot.key, REMEDIATION_ACTOR, "pending", state["actual"], "queued", now)
        if payload is not None:
            self.announce(payload)
        return Outcome.RECORDED

    def send_reminders(self) -> int:
        """Queue a reminder for each drift still open ALERT_REPEAT_HOURS after its last alert."""
        repeat = self.settings.alert_repeat
        if repeat is None:
            return 0
        now = self.clock()
        payloads = []
        with self.store.transaction() as tx:
            for state in tx.take_due_reminders(now - repeat, now):
                key = WorkerKey(state["account_sid"], state["workspace_sid"], state["worker_sid"])
                note = f"still drifting since {state['since']:%Y-%m-%d %H:%M} UTC"
                payload = self.queue_alert(tx, key, state, AlertKind.REMINDER, note, now, source="reminder")
                payloads.append(payload)
        for payload in payloads:
            self.announce(payload)
        return len(payloads)

    def queue_alert(
        self,
        tx: StoreTransaction,
        key: WorkerKey,
        state: Mapping[str, Any],
        kind: AlertKind,
        note: str,
        now: datetime,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add an alert to the outbox in `tx`, naming the account and workspace; return its payload."""
        account = self.settings.account_for(key.account_sid)
        labels = {
            "account_label": account.label(key.account_sid) if account else key.account_sid,
            "workspace_label": account.workspace_label(key.workspace_sid) if account else key.workspace_sid,
        }
        channel = self.channel_for(kind, key.account_sid)
        payload = alert_payload(key, state, kind, note, now, channel=channel, **labels, **extra)
        tx.enqueue_alert(key, kind, channel, payload, now)
        ALERTS.labels(kind.value, "logged" if channel == "log" else "queued").inc()
        return payload

    def channel_for(self, kind: AlertKind, account_sid: str) -> str:
        """Where an alert goes besides the log: Slack, or the log only."""
        if not self.settings.slack_url_for(account_sid):
            return "log"
        if kind is AlertKind.NO_EMAIL and not self.settings.slack_notify_no_email:
            return "log"
        return "slack"

    def announce(self, payload: dict[str, Any]) -> None:
        """Write the alert's JSON log line and, when it waits in the outbox, wake whoever delivers it."""
        level = logging.INFO if payload["kind"] in (AlertKind.RESOLVED, AlertKind.REMEDIATION) else logging.WARNING
        log_event(log, level, "alert", **payload)
        if payload.get("channel") != "log":  # a log-only alert is already delivered: nothing to wake for
            for listener in self.listeners:
                listener(payload)


def _position(stored: Mapping[str, Any] | None) -> Position | None:
    """The ordering position of the stored state."""
    if stored is None:
        return None
    return Position(stored["version"], stored["occurred_ms"], stored["verdict"] == DELETED)


def _prior(stored: Mapping[str, Any] | None) -> Prior | None:
    """The stored state as the transition rules see it."""
    if stored is None:
        return None
    return Prior(stored["verdict"], stored["expected"], stored["actual"], stored["since"], stored["last_alert_at"])


def _newest(a: int | None, b: int | None) -> int | None:
    """The larger of two optional positions."""
    return b if a is None else a if b is None else max(a, b)


def _state_values(
    snapshot: WorkerSnapshot,
    verdict: Verdict | None,
    change: Transition,
    stored: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """The columns to store for a worker after this snapshot."""
    previous = stored or {}
    return {
        "name": shown(snapshot.name, NAME_MAX) if snapshot.name else previous.get("name") or "",
        "email": verdict.email if verdict else previous.get("email"),
        "verdict": verdict.kind.value if verdict else DELETED,
        "expected": verdict.expected if verdict else None,
        "actual": verdict.actual if verdict else None,
        "diagnosis": verdict.diagnosis.value if verdict and verdict.diagnosis else None,
        "detail": verdict.detail if verdict else change.note,
        "basis": verdict.basis.value if verdict and verdict.basis else None,
        "version": _newest(snapshot.version, previous.get("version")),
        "occurred_ms": _newest(snapshot.occurred_ms, previous.get("occurred_ms")),
        "since": change.since,
        "updated_at": now,
        "last_alert_at": now if change.alert else previous.get("last_alert_at"),
    }


def alert_payload(
    key: WorkerKey, state: Mapping[str, Any], kind: AlertKind, note: str, now: datetime, **extra: Any
) -> dict[str, Any]:
    """Everything a sink needs to render the alert, frozen from the worker's state when it was raised."""
    return {
        "kind": kind.value,
        "note": note,
        "account_sid": key.account_sid,
        "workspace_sid": key.workspace_sid,
        "worker_sid": key.worker_sid,
        "worker_name": state.get("name") or "",
        "email": state.get("email"),
        "expected": state.get("expected"),
        "actual": state.get("actual"),
        "diagnosis": state.get("diagnosis"),
        "detail": state.get("detail") or "",
        "basis": state.get("basis"),
        "since": state["since"].isoformat() if state.get("since") else None,
        "created_at": now.isoformat(),
        **extra,
    }
