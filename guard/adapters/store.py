"""The database as the service sees it: one engine, a repository per group of tables, and short transactions."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from guard.adapters.activities import Activities
from guard.adapters.alerts import Alerts
from guard.adapters.bounded import BoundedReads
from guard.adapters.causes import CauseLookups
from guard.adapters.clicks import SlackClicks
from guard.adapters.db import BUSY_REASONS, behind
from guard.adapters.intended import IntendedValues
from guard.adapters.records import Records
from guard.adapters.retention import Retention
from guard.adapters.sqlite import disk_full, file_identity, sqlite_file, writable
from guard.adapters.sqlite_writers import SQLITE_BUSY_SECONDS, Checkpoints, DatabaseBusy
from guard.adapters.worker_listing import WorkerListing
from guard.adapters.workers import WorkerStates, key_params
from guard.core.alerts import Alert, AlertKind
from guard.core.decision import REMEDIATION_ACTOR, Decision
from guard.core.snapshot import WorkerKey
from guard.core.state import WorkerState
from guard.core.statuses import AlertStatus, Channel, RemediationStatus


@dataclass(frozen=True)
class Transaction:
    """The repositories bound to one transaction: what they write commits together, or not at all."""

    workers: WorkerStates
    alerts: Alerts
    records: Records
    clicks: SlackClicks
    intended: IntendedValues
    activities: Activities
    causes: CauseLookups

    @classmethod
    def on(cls, bind: Engine | Connection) -> Transaction:
        """Repositories on `bind`."""
        repositories = (WorkerStates, Alerts, Records, SlackClicks, IntendedValues, Activities, CauseLookups)
        return cls(*(repository(bind) for repository in repositories))

    def apply(self, key: WorkerKey, decision: Decision, now: datetime) -> None:
        """Write what the core decided about one worker (see apply_all)."""
        self.apply_all([(key, decision)], now)

    def apply_all(self, decisions: Sequence[tuple[WorkerKey, Decision]], now: datetime) -> None:
        """Write what the core decided about distinct workers: states, alerts into the outbox, removals queued.

        Their states go in one statement. The one place a WorkerState and an Alert become rows
        (workers.state_from_row and alerts.alert_from_row read them back).
        """
        self.workers.write_all([(key, _state_row(d.state)) for key, d in decisions if d.state is not None])
        # Before any lookup queued below: a new drift's own lookup is not voided by the episode it ends
        self.causes.void_unpaged([key for key, decision in decisions if decision.closes], now)
        for key, decision in decisions:
            state, alert = decision.state, decision.alert
            alert_id = self.alerts.insert(_alert_row(alert, decision)) if alert is not None else None
            paged = alert is not None and (alert.spec.urgent or alert.answers_page)
            if alert is not None and alert_id is not None and paged and alert.channel is Channel.SLACK:
                self.alerts.pages.hasten_before(key, alert_id, now)  # rare: only a page, and only a backed-off one
            if decision.lookup is not None:  # with no alert, the answer waits on the state for the page to come
                self.causes.queue(alert_id, key, decision.lookup, now)
            if decision.remove and state is not None:
                value = state.verdict.actual
                self.records.add_remediation(key, REMEDIATION_ACTOR, RemediationStatus.PENDING, value, "queued", now)


def _state_row(state: WorkerState) -> dict[str, Any]:
    """A WorkerState as worker_state's columns (all but the key)."""
    return {
        "name": state.name,
        **state.verdict.fields(),
        "version": state.version,
        "occurred_ms": state.occurred_ms,
        "since": state.since,
        "updated_at": state.updated_at,
        "last_alert_at": state.last_alert_at,
        "activity_sid": state.activity_sid,
        "activity_name": state.activity_name,
        "available": state.available,
        "urgent_at": state.urgent_at,
        "trusted": json.dumps(state.trusted.as_json(), ensure_ascii=False),
        "attributes": state.attributes,
        "changes": json.dumps(state.changes.as_json(), ensure_ascii=False) if state.changes else None,
        "cause": json.dumps(state.cause.as_json(), ensure_ascii=False) if state.cause else None,
        "removed": state.removed,
        "watched": json.dumps(state.watched, ensure_ascii=False) if state.watched else None,
    }


def _alert_row(alert: Alert, decision: Decision) -> dict[str, Any]:
    """An alert as an outbox row: a log-only alert is delivered the moment it is written."""
    done = alert.channel is Channel.LOG
    # Held a few seconds for the lookup of who made the change, so one Slack message can say it all.
    held = decision.lookup.hold_seconds if decision.lookup is not None and not done else 0.0
    return {
        **key_params(alert.key),
        "kind": alert.kind.value,
        "page": alert.kind is AlertKind.URGENT or alert.answers_page,  # goes out in the pages' turn (adapters/pages.py)
        "channel": alert.channel.value,
        "payload": json.dumps(alert.fields(), ensure_ascii=False),
        "status": AlertStatus.DELIVERED if done else AlertStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": alert.created_at + timedelta(seconds=held),
        "created_at": alert.created_at,
        "delivered_at": alert.created_at if done else None,
    }


PROBE_SECONDS = SQLITE_BUSY_SECONDS + 0.5  # past SQLite's own wait for its lock ("busy"); then "unreachable"
READ_SECONDS = 5.0  # a status page answers 503 past this (15,000 workers read in under 2 s under load)
# A page renders in well under a second under load; past this with every slot taken, the database does not answer
# (a burst of page loads then holds request threads this long at most, not READ_SECONDS)
PAGE_SLOT_WAIT = 0.5


class Store:
    """Entry point to the database: `transaction()` for work that commits together, the repositories for the rest."""

    def __init__(self, engine: Engine) -> None:
        """Use `engine` for all access."""
        self.engine = engine
        standalone = Transaction.on(engine)  # each call its own short transaction
        self.workers, self.alerts, self.records = standalone.workers, standalone.alerts, standalone.records
        self.clicks, self.intended, self.activities = standalone.clicks, standalone.intended, standalone.activities
        self.causes = standalone.causes
        self.listing = WorkerListing(engine)
        self._sqlite_file = sqlite_file(engine.url)
        # Which file the engine opened: a file deleted or replaced under a running process is not this one.
        self._sqlite_identity = file_identity(self._sqlite_file) if self._sqlite_file else None
        self._checkpoints = Checkpoints(engine) if self._sqlite_file else None
        self.retention = Retention(engine, between=self.checkpoint)  # the WAL stays small through a long prune
        # SQLite's writers take turns on the whole file, across processes (adapters/sqlite_writers.py).
        self.turn_shared = self._sqlite_file is not None
        self.probes = BoundedReads(slots=2, seconds=PROBE_SECONDS)  # /healthz and the /metrics gauges
        self.reads = BoundedReads(slots=4, seconds=READ_SECONDS, slot_wait=PAGE_SLOT_WAIT)  # /status, /api/workers

    def checkpoint(self) -> None:
        """SQLite: copy the WAL back into the file now and then (the event writer, between its turns)."""
        if self._checkpoints is not None:
            self._checkpoints.run_if_due()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Repositories on one transaction that commits on success and rolls back on error."""
        with self.engine.begin() as connection:
            yield Transaction.on(connection)

    def health(self) -> tuple[str | None, dict[str, int] | None]:
        """What keeps the database from working (see problem), or None and the outbox's counts by status."""
        problem = self.problem()
        if problem is not None:
            return problem, None
        try:
            return None, self.alerts.counts()
        except Exception:  # noqa: BLE001 - it answered the probe, then not this
            return "unreachable", None

    def problem(self) -> str | None:
        """What keeps the database from working ("unreachable", "file missing", "not migrated"), or None."""
        if self._sqlite_file and file_identity(self._sqlite_file) != self._sqlite_identity:
            return "file missing"  # SQLite would keep writing to the unlinked file: transactions are refused
        if self._sqlite_file and not writable(self._sqlite_file):
            return "read-only"  # reads answer, and every write fails
        if self._sqlite_file and disk_full(self._sqlite_file):
            return "disk full"  # reads answer, and writes fail or soon will
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
            missing = not self._sqlite_file and behind(self.engine)  # SQLite migrates as it starts
        except Exception as err:  # noqa: BLE001 - any failure means "unreachable" to the health check
            # but SQLite's write lock held past its 3 s by another process: the file answers, writes wait
            locked = isinstance(err, DatabaseBusy) or any(reason in str(err) for reason in BUSY_REASONS)
            return "busy" if locked else "unreachable"
        return "not migrated" if missing else None  # events get 503 until the release phase runs
