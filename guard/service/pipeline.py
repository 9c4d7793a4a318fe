"""The intake pipeline: snapshot -> verdict -> decision -> state + outbox, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from guard.adapters.store import Store
from guard.clock import utcnow
from guard.config import Settings
from guard.core.approval import intended_label
from guard.core.decision import Outcome, decide, decide_intended, remediation_alert, reminder
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.statuses import RemediationStatus
from guard.core.transitions import DELETED
from guard.core.verdict import Rules, Verdict
from guard.logs import log_event
from guard.metrics import VERDICTS
from guard.service.alerts import AlertQueue

log = logging.getLogger("guard.pipeline")
REMEDIATION_ACTOR = "guard (REMEDIATE=remove)"
_LOGGED = {Outcome.STALE: "stale_event", Outcome.REPLAY: "replayed_event"}


class Pipeline:
    """Judges snapshots and applies the core's decisions: state, alerts and queued removals commit together."""

    def __init__(self, settings: Settings, store: Store, alerts: AlertQueue, clock: Callable[[], datetime] = utcnow):
        """Wire the pipeline to its settings, store and alert queue."""
        self.settings = settings
        self.store = store
        self.alerts = alerts
        self.clock = clock

    def record(self, snapshot: WorkerSnapshot) -> Outcome:
        """Process one snapshot: dedup, order, judge, save, and queue an alert if the verdict moved."""
        now = self.clock()
        payloads = []
        with self.store.transaction() as tx:
            if snapshot.event_id and not tx.workers.claim_event(snapshot.key, snapshot.event_id, now):
                return Outcome.DUPLICATE
            stored = tx.workers.lock_state(snapshot.key)
            verdict = None if snapshot.deleted else self._judge(snapshot, stored)
            VERDICTS.labels(verdict.kind.value if verdict else DELETED).inc()
            remediate = self.settings.remediate == "remove"
            decision = decide(snapshot, verdict, stored, now, self.settings.alert_repeat, remediate)
            if decision.state is not None:
                tx.workers.save_state(snapshot.key, decision.state)
            if decision.alert is not None and decision.state is not None:
                payloads.append(self.alerts.queue(tx, snapshot.key, decision.state, decision.alert, now))
            if decision.remediate and decision.state is not None:
                actual = decision.state["actual"]
                tx.records.add_remediation(
                    snapshot.key, REMEDIATION_ACTOR, RemediationStatus.PENDING, actual, "queued", now
                )
        if decision.outcome in _LOGGED:
            fields: dict[str, Any] = {"worker_sid": snapshot.key.worker_sid, "source": snapshot.source}
            level = logging.WARNING if decision.outcome is Outcome.REPLAY else logging.INFO
            log_event(log, level, _LOGGED[decision.outcome], version=snapshot.version, **fields)
        self.alerts.announce(payloads)
        return decision.outcome

    def mark_intended(self, key: WorkerKey, actor: str) -> str | None:
        """Record that `actor` marked the worker's value intended, and resolve its drift; return that value."""
        now = self.clock()
        payloads = []
        with self.store.transaction() as tx:
            stored = tx.workers.lock_state(key)
            value = stored["actual"] if stored else None
            tx.approvals.add_ignore_rule(key, actor, value, now)
            decision = decide_intended(key, stored, intended_label(actor, now), now)
            if decision.state is not None:
                tx.workers.save_state(key, decision.state)
            if decision.alert is not None and decision.state is not None:
                payloads.append(self.alerts.queue(tx, key, decision.state, decision.alert, now))
        self.alerts.announce(payloads)
        return value

    def rules(self) -> Rules:
        """The verdict rules, with every value an approver marked intended (sweeps and re-checks)."""
        intended = {
            r["worker_sid"]: intended_label(r["actor"], r["created_at"]) for r in self.store.approvals.ignore_rules()
        }
        return self.settings.rules.with_intended(intended)

    def _judge(self, snapshot: WorkerSnapshot, stored: Mapping[str, Any] | None) -> Verdict:
        """The verdict on a snapshot, honouring an intended value recorded with the stored state."""
        rules = self.settings.rules
        if stored is not None and stored.get("intended_by"):
            label = intended_label(stored["intended_by"], stored["intended_at"])
            rules = rules.with_intended({snapshot.key.worker_sid: label})
        return rules.judge(snapshot.attributes, snapshot.key.worker_sid, snapshot.name)

    def record_remediation(
        self,
        key: WorkerKey,
        status: RemediationStatus,
        before: str | None,
        detail: str,
        actor: str,
        name: str = "",
        job_id: int | None = None,
    ) -> None:
        """Store who did what and when, and announce a removal or a failure in the log and Slack."""
        now = self.clock()
        payloads = []
        with self.store.transaction() as tx:
            if job_id is None:
                tx.records.add_remediation(key, actor, status, before, detail, now)
            else:
                tx.records.finish_remediation(job_id, status, before, detail, now)
            announced = remediation_alert(status, before, detail, actor, tx.workers.lock_state(key), name)
            if announced is not None:
                state, draft = announced
                payloads.append(self.alerts.queue(tx, key, state, draft, now))
        self.alerts.announce(payloads)

    def send_reminders(self) -> int:
        """Queue a reminder for each drift still open ALERT_REPEAT_HOURS after its last alert."""
        repeat = self.settings.alert_repeat
        if repeat is None:
            return 0
        now = self.clock()
        with self.store.transaction() as tx:
            payloads = [
                self.alerts.queue(
                    tx, WorkerKey(s["account_sid"], s["workspace_sid"], s["worker_sid"]), s, reminder(s), now
                )
                for s in tx.workers.take_due_reminders(now - repeat, now)
            ]
        self.alerts.announce(payloads)
        return len(payloads)
