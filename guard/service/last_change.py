"""The audit names the last change of every drifting worker: TaskRouter's newest Event that set its attributes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException

from guard.adapters.taskrouter_api import TaskRouterApi, describe
from guard.adapters.taskrouter_lookups import list_worker_changes
from guard.core.cause import Cause
from guard.core.verdict import Kind
from guard.service.audit import AuditReport

NO_CHANGE = "no worker.attributes.update or worker.created in TaskRouter's 30 days of events"


def find_last_changes(api: TaskRouterApi, report: AuditReport, concurrency: int) -> None:
    """Look up the newest attribute update of each drifting worker (TaskRouter keeps 30 days), `concurrency` at once.

    429s wait for their Retry-After and 5xx are retried, as for the sweep (the client's retrying adapter). Once one
    lookup fails so (a 429, a 5xx, no connection), the ones not begun are not asked: the report, its alerts and
    removals wait for no more retries of an API that is down or limiting the account.
    """
    drifting = [entry.sid for entry in report.entries if entry.verdict == Kind.MISMATCH]
    if not drifting:
        return
    failed: list[str] = []  # why the Events API gave up, once it has
    newest = lambda sid: _newest(api, sid, failed)  # noqa: E731 - one call
    with ThreadPoolExecutor(max_workers=min(concurrency, len(drifting)), thread_name_prefix="last-change") as pool:
        report.last_changes = dict(zip(drifting, pool.map(newest, drifting), strict=True))


def _newest(api: TaskRouterApi, worker_sid: str, failed: list[str]) -> Cause | str:
    """The newest change of one worker, or why there is none; `failed` says why the API gave up, and records it."""
    if failed:
        return f"not looked up: an earlier lookup failed ({failed[0]})"
    try:
        changes = list_worker_changes(api, worker_sid, limit=1, created_too=True)  # the value now: the newest
    except (TwilioException, RequestException) as err:
        if not isinstance(err, TwilioRestException) or err.status == 429 or err.status >= 500:
            failed.append(describe(err))
        return f"lookup failed: {describe(err)}"
    return changes[0].cause() if changes else NO_CHANGE
