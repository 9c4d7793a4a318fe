"""What a removal did (`Removal`), and how it is recorded: the log line, the record, and what the re-check saw."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from guard.adapters.db import OUTAGES
from guard.adapters.journal import RemovalJournal
from guard.core.activity import Activity
from guard.core.snapshot import AUDIT_SOURCE, GONE_MARGIN_MS, WorkerKey, WorkerSnapshot
from guard.core.statuses import RemediationStatus
from guard.core.verdict import Verdict
from guard.logs import log_event
from guard.service.pipeline import Pipeline

log = logging.getLogger("guard.remediation")
RECORD_TRIES, RECORD_PAUSE_SECONDS = 10, 0.5  # ~35 s of SQLite's 3 s turns: other writers (an overlapping cron)


@dataclass(frozen=True)
class Removal:
    """What remediation did to one worker's contact_uri."""

    status: RemediationStatus
    before: str | None
    detail: str
    name: str = ""
    fresh: Verdict | None = None  # skipped: the verdict of the worker as fetched fresh
    activity: Activity | None = None  # removed or skipped: the activity the fetch saw (newer than an event not in yet)
    attributes: dict[str, Any] | None = None  # skipped: the attributes fetched fresh, which the state then learns
    deleted: bool = False  # TaskRouter answered 404: the worker is gone, which the state then learns
    asked_ms: int = 0  # skipped or deleted: when the fetch was sent (an event since is newer than what it saw)
    sent_ms: int | None = None  # removed: when the update was sent (an event since with another value stands)


def record_removal(pipeline: Pipeline, key: WorkerKey, removal: Removal, actor: str, job_id: int | None = None) -> None:
    """Log what was done, then let the pipeline record it and announce a removal or a failure."""
    fields = {"status": removal.status.value, "before": removal.before, "detail": removal.detail, "name": removal.name}
    log_event(log, logging.INFO, "remediation", worker_sid=key.worker_sid, actor=actor, **fields)
    what = (removal.status, removal.before, removal.detail, actor)
    for attempt in range(1, RECORD_TRIES + 1):  # what TaskRouter did is done: it must reach the record
        try:
            pipeline.record_remediation(key, what, removal.name, job_id, removal.activity, removal.sent_ms)
            break
        except OUTAGES as err:
            if attempt == RECORD_TRIES:
                raise
            log_event(log, logging.WARNING, "remediation_record_retry", worker_sid=key.worker_sid, error=repr(err))
            time.sleep(RECORD_PAUSE_SECONDS)
    # Settled: removed, gone, or seen with a value (a later removal by hand must not pass for this one). A failure
    # keeps it: the update may have landed, and the next try must know it as the guard's own.
    seen_value = removal.fresh is not None and removal.fresh.actual is not None
    if removal.status is RemediationStatus.REMOVED or removal.deleted or seen_value:
        try:
            RemovalJournal(pipeline.store.engine, key, timedelta(0)).clear()
        except OUTAGES as err:  # a row left only says "ours" of attributes with no value, for a while: still true
            log_event(log, logging.WARNING, "journal_not_cleared", worker_sid=key.worker_sid, error=repr(err))
    if removal.attributes is not None or removal.deleted:  # the worker as it is now: a drift fixed or gone ends
        seen = {"attributes": removal.attributes or {}, "activity": removal.activity, "deleted": removal.deleted}
        try:
            asked_ms = _deletion_ms(pipeline, key, removal.asked_ms) if removal.deleted else removal.asked_ms
            pipeline.record(WorkerSnapshot(key, removal.name, occurred_ms=asked_ms, source=AUDIT_SOURCE, **seen))
        except OUTAGES as err:  # only news: the next event or audit brings it again
            log_event(log, logging.WARNING, "recheck_not_recorded", worker_sid=key.worker_sid, error=repr(err))


def _deletion_ms(pipeline: Pipeline, key: WorkerKey, asked_ms: int) -> int:
    """When a deletion the removal found is stamped: past all the guard stored, as the audit's deletions are."""
    with pipeline.store.transaction() as tx:
        stored = tx.workers.lock(key)
    return max(asked_ms, (stored.occurred_ms or 0) + 1 if stored is not None else 0) + GONE_MARGIN_MS
