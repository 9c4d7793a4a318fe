"""`audit --alert`: a sweep's judged workers handed to the webhook pipeline, and the workers it proves gone."""

from __future__ import annotations

from guard.adapters.taskrouter_api import TaskRouterApi, WorkerRecord
from guard.core.snapshot import AUDIT_SOURCE, WorkerKey, WorkerSnapshot
from guard.service.audit import ERROR, AuditReport, deleted_answer
from guard.service.pipeline import Pipeline


def feed_pipeline(
    pipeline: Pipeline, report: AuditReport, api: TaskRouterApi | None = None, concurrency: int = 8
) -> None:
    """Hand every judged worker to the webhook pipeline, and close state for workers that are gone.

    With `api`, a worker the listing left out is fetched first: pages shift when a worker is deleted while they are
    read, so only TaskRouter's own 404 proves it gone.
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
    unseen = sorted(known.keys() - seen)
    if api is not None:
        gone = dict.fromkeys(unseen, False)  # any other answer (present, an error) proves nothing

        def fetched(sid: str, result: WorkerRecord | Exception) -> None:
            """Twilio's 404 proves it gone."""
            gone[sid] = deleted_answer(result)

        api.fetch_many(unseen, concurrency, fetched)
        unseen = [sid for sid in unseen if gone[sid]]
    for sid in unseen:
        gone_ms = max(listed_ms, (known[sid] or 0) + 1)
        key = WorkerKey(report.account_sid, report.workspace_sid, sid)
        pipeline.record(WorkerSnapshot(key, deleted=True, occurred_ms=gone_ms, source=AUDIT_SOURCE))
