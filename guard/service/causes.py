"""Who changed a worker: TaskRouter's Event for the update behind each drift, looked up in the background.

A drift alert waits a few seconds for the answer (one Slack message, preferably). A slow or failing lookup
never holds it longer: it goes out saying why, and a late answer follows as a second message. Each lookup
is one fetch (a callback's Sid is the Event's sid) or one list, in its own job lane; a 429 or a 5xx is
tried again later, at most a few times, never by sleeping in the delivery thread.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException

from guard.adapters.accounts import AccountDirectory
from guard.adapters.causes import CauseRequest
from guard.adapters.taskrouter_api import TaskRouterApi, describe
from guard.adapters.taskrouter_lookups import SETS_ATTRIBUTES, ChangeRecord, fetch_event, list_worker_changes
from guard.config import ConfigError
from guard.core.alerts import follow_up
from guard.core.cause import Cause, newest_at_or_before
from guard.core.decision import Decision, Outcome
from guard.core.sid import is_sid
from guard.core.snapshot import WorkerKey
from guard.logs import log_event
from guard.service.pipeline import Pipeline

log = logging.getLogger("guard.causes")
RETRY_AFTER_MAX = 600.0  # a 429 asking longer is retried then (the alert went out long before, saying why)
ATTEMPTS = 4  # then the alert has long gone out, saying the lookup failed
NEAR_MS = 10 * 60 * 1000  # an Event list looks this far back from the change (then 30 days for a carried drift)
PER_ROUND = 50  # lookups per round, so a burst of drifts cannot keep the lane busy for long
# Events that set attributes. Another event can carry a drift it did not make (an activity change after an update
# the guard never received): its actor is not the cause, and the list finds the update before it.


class CauseJobs:
    """Answers the queued lookups: attaches each answer to its waiting alert, or sends it as a second message."""

    def __init__(self, pipeline: Pipeline, accounts: AccountDirectory, lease: timedelta = timedelta(seconds=60)):
        """Look up through `accounts`' quick REST clients; record through `pipeline`."""
        self.pipeline, self.accounts, self.lease = pipeline, accounts, lease
        self._held: dict[str, tuple[datetime, str]] = {}  # by account: a 429 asked its lookups to wait until then

    def run_pending(self) -> int:
        """Answer every lookup that is due (up to PER_ROUND); return how many were answered."""
        causes, clock = self.pipeline.store.causes, self.pipeline.clock
        answered = 0
        while answered < PER_ROUND and (request := causes.claim(clock(), self.lease)) is not None:
            until, why = self._held.get(request.key.account_sid, (None, ""))
            if until is not None and until > clock():  # TaskRouter asked this account to wait: not asked, no try spent
                causes.postpone(request, until, why)
                continue
            try:
                status, cause, note = self._look_up(request)
            except (TwilioException, RequestException) as err:
                if request.attempts < ATTEMPTS and _transient(err):
                    asked = min(getattr(err, "retry_after", None) or 0.0, RETRY_AFTER_MAX)  # a 429's Retry-After
                    at = clock() + timedelta(seconds=max(5 * 2**request.attempts, asked))  # 10, 20, 40 s, or as asked
                    causes.retry(request, at, describe(err))
                    if isinstance(err, TwilioRestException) and err.status == 429:  # the account's limit, not a call's
                        self._held[request.key.account_sid] = (at, describe(err))
                    continue
                status, cause, note = "failed", None, f"who changed it: the lookup failed ({describe(err)})"
            if status == "none":  # TaskRouter's Events lag behind its callbacks: the update may be listed soon
                if request.attempts < ATTEMPTS:  # 5, 10 and 20 s after the first try (attempts counts this one)
                    causes.retry(request, clock() + timedelta(seconds=5 * 2 ** (request.attempts - 1)), note)
                    continue
                note = f"{note} (asked {request.attempts} times)"
            late = causes.finish(request, status, cause, note, clock())
            answered += 1
            fields = {"worker_sid": request.key.worker_sid, "status": status, "late": late is not None}
            log_event(log, logging.INFO, "cause_looked_up", **fields)
            if late is None:
                self.pipeline.wake()  # the alert waited for this answer: it may go out now
            elif cause is not None:
                answer = follow_up(late, cause, clock(), over=self._over(request.key, late.since))
                self.pipeline.publish(request.key, Decision(Outcome.RECORDED, alert=answer))
        return answered

    def _over(self, key: WorkerKey, since: datetime | None) -> bool:
        """True when the drift an answer is about has ended: the worker fine, deleted, or in a later episode."""
        state = self.pipeline.store.workers.state(key)
        return state is None or not (state.verdict.broken or state.verdict.drifting) or state.since != since

    def _look_up(self, request: CauseRequest) -> tuple[str, Cause | None, str]:
        """(status, cause, note): found, none (TaskRouter lists no such event yet), or failed (no credentials).

        A 429 carries the wait it asked for (`retry_after`), for the next try.
        """
        try:
            api = self.accounts.lookup_api_for(request.key.account_sid, request.key.workspace_sid)
        except ConfigError as err:
            return "failed", None, f"who changed it: not looked up ({err})"
        try:
            return self._ask(api, request)
        except TwilioRestException as err:
            err.retry_after = api.retry_after if err.status == 429 else None  # type: ignore[attr-defined]
            raise

    def _ask(self, api: TaskRouterApi, request: CauseRequest) -> tuple[str, Cause | None, str]:
        """The lookup itself: the Event the delivery names, then the worker's updates before the change."""
        lookup = request.lookup
        carried = False  # TaskRouter lists the event that carried the drift, not an update: the update is before it
        if is_sid(lookup.event_id, "EV"):  # a callback's Sid, or the Event a CloudEvent's payload names
            try:
                record = fetch_event(api, lookup.event_id or "")
                if record.event_type in SETS_ATTRIBUTES:
                    return "found", record.cause(), ""
                carried = True
            except TwilioRestException as err:
                if err.status != 404:
                    raise  # not there yet, or gone: the list below decides
        cause = None
        # Most changes are minutes old. One the guard missed may be days old, but only an event TaskRouter lists
        # says the Events lag is past (else the update not listed yet would be blamed on an older one), and only
        # updates missed since a copy the guard kept say "one of them may have made it" (first sight cannot).
        wide = carried and lookup.since_version is not None
        for window_ms in (NEAR_MS, None) if wide else (NEAR_MS,):
            changes = _changes(api, request, window_ms)
            found = [record.cause() for record in changes]
            if (cause := newest_at_or_before(found, lookup.occurred_ms, lookup.after_ms)) is not None:
                break
        if cause is None:
            return "none", None, "who changed it: TaskRouter lists no worker.attributes.update event for this change"
        return "found", cause, ""


def _changes(api: TaskRouterApi, request: CauseRequest, window_ms: int | None) -> list[ChangeRecord]:
    """The worker's attribute updates up to the change, from `window_ms` before it (None: all TaskRouter keeps)."""
    at = request.lookup.occurred_ms
    start = at - window_ms if at is not None and window_ms is not None else None
    return list_worker_changes(api, request.key.worker_sid, start_ms=start, end_ms=None if at is None else at + 2000)


def _transient(err: Exception) -> bool:
    """A 429, a 5xx or a connection failure: worth another try later."""
    return not isinstance(err, TwilioRestException) or err.status == 429 or err.status >= 500
