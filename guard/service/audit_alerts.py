"""`audit --alert`: a sweep's judged workers handed to the webhook pipeline, and the workers it proves gone."""

from __future__ import annotations

from guard.core.snapshot import AUDIT_SOURCE, WorkerKey, WorkerSnapshot
from guard.service.audit import ERROR, AuditReport
from guard.service.pipeline import Pipeline


def feed_pipeline(pipeline: Pipeline, report: AuditReport) -> None:
    """Hand every judged worker to the webhook pipeline, and close state for workers that are gone.

    Gone: TaskRouter answered 404 to the sweep's fetch of a worker the guard knows and the listing left out (pages
    shift when a worker is deleted while they are read: only a fetch proves it); a report not swept takes every
    known worker it does not list for gone.
    """
    for entry in report.entries:
        if entry.verdict == ERROR or entry.attributes is None:
            continue
        key = WorkerKey(report.account_sid, report.workspace_sid, entry.sid)
        pipeline.record(
            WorkerSnapshot(
                key,
                entry.name,
                entry.attributes,
                occurred_ms=entry.fetched_ms,
                source=AUDIT_SOURCE,
                activity=entry.activity,
            )
        )
    if any(entry.verdict == ERROR for entry in report.entries):
        return  # an incomplete sweep cannot prove that a worker is gone
    # Gone when the listing began: a worker the guard first heard of since may just be too new to be listed. The
    # deletion is stamped then, or just after what was stored of the worker (TaskRouter's clock may be ahead):
    # an event made since still outranks it, also one that lands while the sweep records its deletions.
    seen, listed_ms = {entry.sid for entry in report.entries}, int(report.started_at.timestamp() * 1000)
    known = pipeline.store.workers.known_workers(report.account_sid, report.workspace_sid, report.started_at)
    unseen = sorted(known.keys() - seen if report.gone is None else (known.keys() - seen) & report.gone)
    for sid in unseen:
        gone_ms = max(listed_ms, (known[sid] or 0) + 1)
        key = WorkerKey(report.account_sid, report.workspace_sid, sid)
        pipeline.record(WorkerSnapshot(key, deleted=True, occurred_ms=gone_ms, source=AUDIT_SOURCE))
