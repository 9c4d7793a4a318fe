"""Twilio's prescribed fix: remove a wrong contact_uri so Flex regenerates it. Never write one."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException

from guard.adapters.db import OUTAGES
from guard.adapters.journal import RemovalJournal, attributes_digest
from guard.adapters.records import Records
from guard.adapters.taskrouter_api import (
    NOT_FOUND,
    AnswerUnread,
    PreconditionFailed,
    TaskRouterApi,
    describe,
    longest_call_seconds,
)
from guard.clock import utcnow
from guard.core.activity import Activity
from guard.core.click import value_digest
from guard.core.deep_json import without
from guard.core.fields import InvalidSnapshot, parse_attributes
from guard.core.history import CAME_BACK, Known, came_back
from guard.core.rules import Rules
from guard.core.snapshot import WorkerKey
from guard.core.statuses import RemediationStatus
from guard.core.verdict import Verdict
from guard.service.pipeline import Pipeline
from guard.service.removals import Removal, record_removal

log = logging.getLogger("guard.remediation")
ApiFor = Callable[[str, str], TaskRouterApi]
CONFLICT_RETRIES = 3  # refetch-and-retry rounds after a 412
CALLS = 2 * (1 + CONFLICT_RETRIES)  # a fetch and an update per round: the most one removal makes
REGISTERS = "its contact_uri is the identity the guard knew (what the browser registers): removing it would break it"
NO_EMAIL_KEPT = "no email to derive its value from: nothing says Flex would write one back, so nothing is removed"
REMOVED_DETAIL = "removed; Flex regenerates it at next login: the agent must sign out and in again"
BUSY_DETAIL = "an approver's click or another removal of this worker is being applied: nothing sent; audit again"
INTERRUPTED_DETAIL = "interrupted: whether the value was removed is not known; audit again"
CHANGED_DETAIL = "its contact_uri changed since this message showed it: nothing removed (see the newest alert)"
DELETED_DETAIL = "the worker was deleted in TaskRouter: nothing to remove"
JOURNAL_BUSY_DETAIL = "the database was busy: nothing was sent; try again"
LANDED = "sent by a try whose process stopped before its answer"
NO_ETAG_DETAIL = "TaskRouter sent no ETag, so the removal could not be made conditional (If-Match): nothing sent"


def remove_contact_uri(
    api: TaskRouterApi,
    worker_sid: str,
    rules: Rules,
    apply: bool,
    known: Known | None = None,
    shown: str | None = None,
    journal: RemovalJournal | None = None,
) -> Removal:
    """Fetch fresh, re-check with the current rules, remove contact_uri with If-Match; retry a 412 up to 3 times.

    The re-check judges the fresh worker, name included, so a value that matches its Flex identity is never removed;
    with what the guard `known` of it, a rewritten identity or evidence edited to fit is still a mismatch.
    `shown`: a click's digest of the value its message showed; another wrong value nobody has seen is kept.
    `journal`: what an update will leave is recorded before it is sent; one an earlier try sent and never recorded
    (its process died) is recognised here as the guard's own removal.
    """
    sent: tuple[str | None, dict[str, Any]] | None = None  # the value an update of ours removed, and what it left
    sent_ms: int | None = None  # when it was sent
    unread: str | None = None  # why the last update's answer could not be read: the next fetch tells if it landed
    try:
        landed = journal.landed(int(utcnow().timestamp() * 1000)) if journal is not None else None
    except OUTAGES:
        return Removal(RemediationStatus.FAILED, None, JOURNAL_BUSY_DETAIL)
    try:
        for _ in range(1 + CONFLICT_RETRIES):
            asked_ms = int(utcnow().timestamp() * 1000)
            record = api.fetch_worker(worker_sid)
            attributes = parse_attributes(record.attributes_json, "attributes")
            verdict = rules.judge(attributes, worker_sid, record.name, known)
            seen = (
                Activity(record.activity_sid, record.activity_name, record.available) if record.activity_sid else None
            )
            if sent is not None and attributes == sent[1]:  # ours landed, its answer was lost (its retry got 412)
                done = (RemediationStatus.REMOVED, sent[0], REMOVED_DETAIL, record.name)
                return Removal(*done, activity=seen, sent_ms=sent_ms)
            if landed is not None and verdict.actual is None and attributes_digest(attributes) == landed.digest:
                done = (RemediationStatus.REMOVED, landed.value, f"{REMOVED_DETAIL} ({LANDED})", record.name)
                return Removal(*done, activity=seen, sent_ms=landed.sent_ms)  # an earlier try's, its answer lost
            if (
                shown is not None
                and verdict.drifting
                and verdict.actual is not None
                and value_digest(verdict.actual) != shown
            ):
                # Recorded as fetched, as a kept value is: its event may be lost, and the answer points to its alert
                unseen = (
                    RemediationStatus.SKIPPED,
                    verdict.actual,
                    CHANGED_DETAIL,
                    record.name,
                    verdict,
                    seen,
                    attributes,
                )
                return Removal(*unseen, asked_ms=asked_ms)
            # A wiped worker has no value to remove (Flex writes one at the next login); one that came back stays.
            if not verdict.removable or came_back(known, verdict.actual):
                why = _why_kept(verdict, known)
                kept = (RemediationStatus.SKIPPED, verdict.actual, why, record.name, verdict, seen, attributes)
                return Removal(*kept, asked_ms=asked_ms)
            if not record.etag:  # an unconditional update could overwrite a change made since the fetch
                return Removal(RemediationStatus.FAILED, verdict.actual, NO_ETAG_DETAIL, record.name)
            if not apply:
                detail = "dry run: would remove contact_uri"
                return Removal(RemediationStatus.WOULD_REMOVE, verdict.actual, detail, record.name)
            # Cut from the text as TaskRouter sent it: every other attribute goes back exactly as it was written.
            remaining = without(record.attributes_json or "", "contact_uri")
            sent = (verdict.actual, parse_attributes(remaining, "attributes"))
            sent_ms = int(utcnow().timestamp() * 1000)
            try:
                if journal is not None:
                    journal.sending(verdict.actual, sent[1], sent_ms)
            except OUTAGES:  # the journal could not be written first: nothing was sent
                return Removal(RemediationStatus.FAILED, verdict.actual, JOURNAL_BUSY_DETAIL, record.name)
            try:
                api.update_attributes(worker_sid, remaining, if_match=record.etag)
            except PreconditionFailed:
                continue  # someone else changed the worker in between (or our retried update did): look again
            except AnswerUnread as err:
                unread = str(err)
                continue  # a success with a page for an answer: the next fetch shows whether ours landed
            except TwilioRestException as err:
                # Refused: nothing applied, nothing to remember. Not a 429: it may answer a retry of an update that
                # landed (its answer lost), and the retry that would tell was never made.
                if journal is not None and err.status < 500 and err.status != 429:
                    with contextlib.suppress(*OUTAGES):  # a row left: only its horizon's worth of "ours"
                        journal.clear()
                raise  # TaskRouter's own answer, said as it is (a 403's permission, a 404's deletion)
            done = (RemediationStatus.REMOVED, verdict.actual, REMOVED_DETAIL, record.name)
            return Removal(*done, activity=seen, sent_ms=sent_ms)
        detail = f"the worker changed under us {1 + CONFLICT_RETRIES} times (HTTP 412)"
        if unread is not None:
            detail = f"the update's answer could not be read ({unread}), and the value is still there"
        return Removal(RemediationStatus.FAILED, None, detail)
    except (TwilioException, RequestException, InvalidSnapshot) as err:
        if _gone(api, err):  # deleted since: no failure to try again
            return Removal(RemediationStatus.SKIPPED, None, DELETED_DETAIL, deleted=True, asked_ms=asked_ms)
        detail = str(err) if isinstance(err, InvalidSnapshot) else describe(err)
        return Removal(RemediationStatus.FAILED, None, detail)
    except Exception as err:  # a bug or an input nobody foresaw: recorded as a failure, never a stuck job
        log.exception("remediation_failed", extra={"fields": {"worker_sid": worker_sid}})
        return Removal(RemediationStatus.FAILED, None, f"unexpected error: {type(err).__name__}")


def _gone(api: TaskRouterApi, err: Exception) -> bool:
    """True for Twilio's own 404 on the worker (not a proxy's page) in a workspace that answers these credentials."""
    return isinstance(err, TwilioRestException) and err.status == 404 and err.code == NOT_FOUND and api.reachable()


def remove_now(
    pipeline: Pipeline, records: Records, api: TaskRouterApi, key: WorkerKey, actor: str, lease: timedelta
) -> Removal:
    """Apply a removal now (an audit's), in turn with the worker's clicks and queued removals, and record it."""
    job_id = records.take_removal(key, actor, pipeline.clock(), lease)
    if job_id is None:
        return Removal(RemediationStatus.SKIPPED, None, BUSY_DETAIL)
    try:  # read after the turn is taken: an Intended applied before it is known, and none is applied until it ends
        journal = RemovalJournal(pipeline.store.engine, key, lease)
        removal = remove_contact_uri(api, key.worker_sid, pipeline.rules(), True, pipeline.known(key), journal=journal)
    except BaseException:  # Ctrl-C: end the turn now, not when the lease runs out (the worker's clicks wait for it)
        records.finish_remediation(job_id, RemediationStatus.FAILED, None, INTERRUPTED_DETAIL, pipeline.clock())
        raise
    record_removal(pipeline, key, removal, actor, job_id=job_id)
    return removal


def removal_lease(retries: int) -> timedelta:
    """How long a removal (a click's, or REMEDIATE's) is held: past the longest it can take, so never run twice."""
    return timedelta(seconds=CALLS * longest_call_seconds(retries) + 60)


def _why_kept(verdict: Verdict, known: Known | None) -> str:
    """Why a re-checked worker keeps its contact_uri."""
    if not verdict.drifting:
        return f"no longer a mismatch (now {verdict.kind})"
    if verdict.actual is None:
        return "no contact_uri to remove"
    if came_back(known, verdict.actual):
        return CAME_BACK
    return NO_EMAIL_KEPT if verdict.expected is None else REGISTERS
