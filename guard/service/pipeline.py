"""The intake pipeline: load the stored state, let the core decide once, apply the decision in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from guard.adapters.accounts import AccountDirectory
from guard.adapters.store import Store, Transaction
from guard.adapters.worker_batches import Claim
from guard.clock import utcnow
from guard.config import Settings
from guard.core.actions import decide_intended, decide_removal, reminder
from guard.core.activity import Activity
from guard.core.click import value_digest
from guard.core.decision import DUPLICATE, Decision, DecisionRules, Outcome, decide
from guard.core.history import Known
from guard.core.rules import Rules
from guard.core.snapshot import WorkerKey, WorkerSnapshot, distinct_runs
from guard.core.state import Intended
from guard.core.statuses import Channel, RemediationStatus
from guard.logs import log_event
from guard.metrics import ALERTS, VERDICTS

log = logging.getLogger("guard.pipeline")
alert_log = logging.getLogger("guard.alert")  # written whatever LOG_LEVEL says (guard/logs.py)
_LOGGED = {Outcome.STALE: "stale_event", Outcome.REPLAY: "replayed_event"}


class Pipeline:
    """Judges snapshots and applies the core's decisions: state, alerts and queued removals commit together."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        accounts: AccountDirectory,
        wake: Callable[[], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Wire the pipeline to its settings, store and accounts; `wake` starts delivery."""
        self.settings, self.store, self.accounts, self.wake, self.clock = settings, store, accounts, wake, clock

    def record(self, snapshot: WorkerSnapshot) -> Outcome:
        """Process one snapshot in a transaction of its own: dedup, order, judge, save, queue an alert if it moved."""
        now = self.clock()
        with self.store.transaction() as tx:
            [decision] = self.apply_events(tx, [snapshot], now)
        self.announce(decision)
        return decision.outcome

    def apply_events(self, tx: Transaction, snapshots: Sequence[WorkerSnapshot], now: datetime) -> list[Decision]:
        """Within `tx`, in order: claim each event, load its worker, let the core decide once, apply.

        A few statements per run of distinct workers (adapters/worker_batches.py); a worker met again
        starts a new run, so its second event is judged against what the first one left. Announce after commit.
        """
        decisions: list[Decision] = []
        for number, run in enumerate(distinct_runs(snapshots)):  # the first run locks the batch's activities too
            claims = tx.workers.claim_all(run, now, () if number else snapshots)
            judged = [self._judge(snapshot, claim, now) for snapshot, claim in zip(run, claims, strict=True)]
            tx.apply_all([(snapshot.key, decision) for snapshot, decision in zip(run, judged, strict=True)], now)
            decisions += judged
        self._log_alerts(decisions)  # once every run is written: a batch that fails before logs nothing
        return decisions

    def _judge(self, snapshot: WorkerSnapshot, claim: Claim, now: datetime) -> Decision:
        """The core's decision on a claimed snapshot (DUPLICATE for an event seen before); log a stale one."""
        fresh, stored, learned = claim
        if not fresh:
            return DUPLICATE
        if snapshot.activity is not None:  # what activity.* events or the REST API taught the guard
            snapshot = replace(snapshot, activity=snapshot.activity.as_learned(learned, snapshot.occurred_ms))
        decision = decide(snapshot, stored, self.rules_for(snapshot.key), now)
        if decision.outcome in _LOGGED:
            level = logging.WARNING if decision.outcome is Outcome.REPLAY else logging.INFO
            fields = {"worker_sid": snapshot.key.worker_sid, "source": snapshot.source, "version": snapshot.version}
            log_event(log, level, _LOGGED[decision.outcome], **fields)
        return decision

    def rules_for(self, key: WorkerKey) -> DecisionRules:
        """What a decision about a worker of this workspace follows."""
        settings = self.settings
        remediate = settings.remediate == "remove"
        routing = self.accounts.routing_for(key)
        names, wait = settings.available_activities, settings.cause_wait_seconds
        return DecisionRules(settings.rules, routing, settings.alert_repeat, remediate, names, wait)

    def mark_intended(self, key: WorkerKey, actor: str, digest: str | None = None) -> tuple[str | None, bool]:
        """Record that `actor` marked the worker's value intended, and resolve its drift: (its value now, marked?).

        Nothing is marked when the worker has no value now (a rule for "no value" would hide the next one), or
        not the one whose `digest` the click carries: the value changed since its message, under the worker's lock.
        """
        now = self.clock()
        with self.store.transaction() as tx:
            stored = tx.workers.lock(key)
            value = stored.verdict.actual if stored and not stored.deleted else None
            if value is None or (digest is not None and value_digest(value) != digest):
                return value, False
            tx.intended.add(key, actor, value, now)
            decision = decide_intended(key, stored, Intended(actor, now, value), self.accounts.routing_for(key), now)
            self.write_decisions(tx, [(key, decision)], now)
        self.announce(decision)
        return value, True

    def known(self, key: WorkerKey) -> Known | None:
        """What the guard knows of a worker (for a re-check before a removal), or None."""
        with self.store.transaction() as tx:
            stored = tx.workers.lock(key)
        return stored.known() if stored is not None and not stored.deleted else None

    def rules(self) -> Rules:
        """The verdict rules, with every value an approver marked intended (sweeps and re-checks)."""
        rules = self.store.intended.rules()
        intended = {r["worker_sid"]: (Intended(r["actor"], r["created_at"]).label, r["value"]) for r in rules}
        return self.settings.rules.with_intended(intended)

    def record_remediation(
        self,
        key: WorkerKey,
        removal: tuple[RemediationStatus, str | None, str, str],
        name: str = "",
        job_id: int | None = None,
        activity: Activity | None = None,
        sent_ms: int | None = None,
    ) -> None:
        """Store a remediation's (status, value before, detail, actor), and announce a removal or a failure."""
        status, before, detail, actor = removal
        now = self.clock()
        with self.store.transaction() as tx:
            if job_id is None:
                tx.records.add_remediation(key, actor, status, before, detail, now)
            else:
                tx.records.finish_remediation(job_id, status, before, detail, now)
            stored, routing = tx.workers.lock(key), self.accounts.routing_for(key)
            decision = decide_removal(key, stored, name, removal, routing, now, activity, sent_ms)
            self.write_decisions(tx, [(key, decision)], now)
        self.announce(decision)

    def send_reminders(self) -> int:
        """Queue a reminder for each drift still open ALERT_REPEAT_HOURS after its last alert."""
        repeat = self.settings.alert_repeat
        if repeat is None:
            return 0
        now = self.clock()
        with self.store.transaction() as tx:
            # An account taken out of the configuration: its events get 403 and no audit sweeps it, so its drifts
            # cannot end; its workers wait, unreminded, for the account to come back (README, "Several accounts")
            due = [
                item
                for item in tx.workers.take_due_reminders(now - repeat, now)
                if self.accounts.account_for(item[0].account_sid)
            ]
            due.sort(key=lambda item: item[1].available is not True)  # who cannot take calls now: queued first
            decisions = [
                (key, Decision(Outcome.RECORDED, alert=reminder(key, state, self.accounts.routing_for(key), now)))
                for key, state in due
            ]
            self.write_decisions(tx, decisions, now)
        for _, decision in decisions:
            self.announce(decision)
        return len(decisions)

    def publish(self, key: WorkerKey, decision: Decision) -> None:
        """Commit a decision that no event carried (a late answer), then announce it."""
        now = self.clock()
        with self.store.transaction() as tx:
            self.write_decisions(tx, [(key, decision)], now)
        self.announce(decision)

    def write_decisions(self, tx: Transaction, decisions: Sequence[tuple[WorkerKey, Decision]], now: datetime) -> None:
        """Write the decisions of distinct workers in `tx`, then log their alerts: the last step before the commit."""
        tx.apply_all(decisions, now)
        self._log_alerts(decision for _, decision in decisions)

    def _log_alerts(self, decisions: Iterable[Decision]) -> None:
        """Each alert's JSON log line, just before the commit (log-only mode's delivery): may repeat, never lost."""
        for decision in decisions:
            if decision.alert is not None:
                log_event(alert_log, decision.alert.spec.log_level, "alert", **decision.alert.fields())

    def announce(self, decision: Decision) -> None:
        """After commit: count the verdict and the alert, and wake delivery if Slack waits (the log line is out)."""
        if decision.verdict is not None:
            VERDICTS.labels(decision.verdict.kind.value).inc()
        alert = decision.alert
        if alert is not None:
            to_slack = alert.channel is Channel.SLACK
            ALERTS.labels(alert.kind.value, "queued" if to_slack else "logged").inc()
            if to_slack:
                self.wake()
