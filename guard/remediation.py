"""Twilio's prescribed fix: remove a wrong contact_uri so Flex regenerates it. Never write one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from requests import RequestException
from twilio.base.exceptions import TwilioException

from guard.adapters.taskrouter_api import PreconditionFailed, TaskRouterApi, describe
from guard.config import Settings
from guard.core.snapshot import InvalidSnapshot, WorkerKey, parse_attributes
from guard.core.text import shown
from guard.core.transitions import AlertKind
from guard.core.verdict import Kind, Rules
from guard.logs import log_event
from guard.pipeline import NAME_MAX, Guard

log = logging.getLogger("guard.remediation")
CONFLICT_RETRIES = 3  # refetch-and-retry rounds after a 412
ApiFor = Callable[[str, str], TaskRouterApi]


@dataclass(frozen=True)
class Outcome:
    """What remediation did to one worker: removed, would_remove, skipped or failed."""

    status: str
    before: str | None
    detail: str
    name: str = ""


def remove_contact_uri(api: TaskRouterApi, worker_sid: str, rules: Rules, apply: bool) -> Outcome:
    """Fetch fresh, re-check with the current rules, remove contact_uri with If-Match; retry a 412 up to 3 times.

    The re-check judges the fresh worker, name included, so a value that matches its Flex identity is never removed.
    """
    try:
        for _ in range(1 + CONFLICT_RETRIES):
            record = api.fetch_worker(worker_sid)
            attributes = parse_attributes(record.attributes_json, "attributes")
            verdict = rules.judge(attributes, worker_sid, record.name)
            if verdict.kind is not Kind.MISMATCH:
                return Outcome("skipped", verdict.actual, f"no longer a mismatch (now {verdict.kind})", record.name)
            if not apply:
                return Outcome("would_remove", verdict.actual, "dry run: would remove contact_uri", record.name)
            remaining = {name: value for name, value in attributes.items() if name != "contact_uri"}
            try:
                api.update_attributes(worker_sid, remaining, if_match=record.etag)
            except PreconditionFailed:
                continue  # someone else changed the worker in between: look again
            return Outcome("removed", verdict.actual, "removed; Flex regenerates it at next login", record.name)
        return Outcome("failed", None, f"the worker changed under us {1 + CONFLICT_RETRIES} times (HTTP 412)")
    except (TwilioException, RequestException, InvalidSnapshot) as err:
        return Outcome("failed", None, describe(err) if not isinstance(err, InvalidSnapshot) else str(err))


def record_outcome(guard: Guard, key: WorkerKey, outcome: Outcome, actor: str, job_id: int | None = None) -> None:
    """Store who did what and when, and announce a removal or a failure in the log and Slack."""
    now = guard.clock()
    payload = None
    with guard.store.transaction() as tx:
        if job_id is None:
            tx.add_remediation(key, actor, outcome.status, outcome.before, outcome.detail, now)
        else:
            tx.finish_remediation(job_id, outcome.status, outcome.before, outcome.detail, now)
        if outcome.status in ("removed", "failed"):
            state = dict(tx.lock_state(key) or {"name": shown(outcome.name, NAME_MAX)})
            state["actual"] = outcome.before or state.get("actual")
            note = outcome.detail if outcome.status == "removed" else f"remediation failed: {outcome.detail}"
            payload = guard.queue_alert(
                tx, key, state, AlertKind.REMEDIATION, note, now, actor=actor, result=outcome.status
            )
    log_event(log, logging.INFO, "remediation", worker_sid=key.worker_sid, actor=actor, **outcome.__dict__)
    if payload is not None:
        guard.announce(payload)


class RemediationJobs:
    """Runs the removals the webhook path queued (REMEDIATE=remove), outside the request."""

    def __init__(self, guard: Guard, api_for: ApiFor, lease: timedelta = timedelta(minutes=2)) -> None:
        """Use `api_for(account_sid, workspace_sid)` to reach each workspace's API."""
        self.guard = guard
        self.api_for = api_for
        self.lease = lease

    def run_pending(self) -> int:
        """Process every queued remediation; return how many were handled."""
        handled = 0
        while (job := self.guard.store.records.claim_remediation(self.guard.clock(), self.lease)) is not None:
            key = WorkerKey(job["account_sid"], job["workspace_sid"], job["worker_sid"])
            api = self.api_for(key.account_sid, key.workspace_sid)
            outcome = remove_contact_uri(api, key.worker_sid, self.guard.settings.rules, apply=True)
            record_outcome(self.guard, key, outcome, job["actor"], job_id=job["id"])
            handled += 1
        return handled


def api_factory(settings: Settings) -> ApiFor:
    """A cached `(account_sid, workspace_sid) -> TaskRouterApi`, with that account's REST credentials."""
    cache: dict[tuple[str, str], TaskRouterApi] = {}

    def api_for(account_sid: str, workspace_sid: str) -> TaskRouterApi:
        """The API client for one workspace."""
        key = (account_sid, workspace_sid)
        if key not in cache:
            credentials = settings.rest_credentials(settings.account_for(account_sid))
            cache[key] = TaskRouterApi.for_workspace(settings, credentials, workspace_sid)
        return cache[key]

    return api_for
