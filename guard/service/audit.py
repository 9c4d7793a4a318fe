"""Sweep every worker of a workspace through the REST API and judge each one."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twilio.base.exceptions import TwilioRestException

from guard.adapters.taskrouter_api import NOT_FOUND, TaskRouterApi, WorkerRecord, describe
from guard.clock import utcnow
from guard.core.activity import Activity, unreachable
from guard.core.cause import Cause
from guard.core.decision import NAME_MAX
from guard.core.evidence import Basis
from guard.core.fields import InvalidSnapshot, parse_attributes
from guard.core.history import Known
from guard.core.rules import Rules
from guard.core.text import shown
from guard.core.verdict import Kind, Verdict
from guard.logs import log_event

ERROR = "error"  # the verdict of a worker that could not be fetched or parsed
log = logging.getLogger("guard.audit")
VERDICTS = (*(k.value for k in Kind if k is not Kind.DELETED), ERROR)  # what a sweep can conclude
UNREACHABLE = "unreachable"  # counted beside the verdicts: available now and unable to ring
_UNJUDGED = {**dict.fromkeys(Verdict(Kind.OK).fields()), "verdict": ERROR}
Progress = Callable[[int, int], None]  # (workers judged so far, workers listed)


@dataclass(frozen=True)
class AuditEntry:
    """One worker in the report: its verdict, or why it could not be judged."""

    sid: str
    name: str
    judged: Verdict | None  # None: the worker could not be fetched or parsed (`error` says why)
    error: str = ""
    attributes: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    fetched_ms: int = 0
    activity: Activity | None = None  # as the Workers API says, availability included

    @property
    def unreachable(self) -> bool:
        """Available to TaskRouter now, and unable to ring."""
        return (
            self.judged is not None and self.activity is not None and unreachable(self.judged, self.activity.available)
        )

    @property
    def verdict(self) -> str:
        """The verdict's kind, or `error`."""
        return self.judged.kind.value if self.judged else ERROR

    @property
    def basis(self) -> str | None:
        """The evidence the worker was judged against, if it was."""
        return self.judged.basis.value if self.judged and self.judged.basis else None

    def as_report(self) -> dict[str, Any]:
        """The fields the json and csv reports show."""
        judged = self.judged.fields() if self.judged else _UNJUDGED | {"detail": self.error}
        activity = self.activity or Activity(None, None)
        now = {"activity": activity.name, "available": activity.available, "unreachable": self.unreachable}
        return {"sid": self.sid, "name": shown(self.name, NAME_MAX), **judged, **now}


@dataclass
class AuditReport:
    """The result of sweeping one workspace."""

    account_sid: str
    workspace_sid: str
    started_at: datetime
    entries: list[AuditEntry] = field(default_factory=list)
    finished_at: datetime | None = None
    failure: str | None = None  # the listing itself failed: the sweep is missing, not clean
    last_changes: dict[str, Cause | str] = field(
        default_factory=dict
    )  # drifting worker: who changed it last, or why unknown
    removal_failed: bool = False  # a removal asked for (--remediate --yes) failed: an error, like a failed fetch
    gone: set[str] | None = None  # TaskRouter's 404 to a fetch; None: not asked (every known worker unlisted is gone)

    def counts(self) -> dict[str, int]:
        """How many workers got each verdict (every verdict listed, zeros included)."""
        tally = Counter(entry.verdict for entry in self.entries)
        unreachable_now = sum(entry.unreachable for entry in self.entries)
        return {**{verdict: tally.get(verdict, 0) for verdict in VERDICTS}, UNREACHABLE: unreachable_now}

    def basis_counts(self) -> dict[str, int]:
        """How many workers were judged against each kind of evidence: how the account's identities are built."""
        tally = Counter(entry.basis for entry in self.entries if entry.basis)
        return {basis.value: tally.get(basis.value, 0) for basis in Basis}

    @property
    def exit_code(self) -> int:
        """Driftctl's convention: 2 when the sweep is incomplete, 1 when drift was found, else 0."""
        counts = self.counts()
        if counts[ERROR] or self.failure or self.removal_failed:
            return 2
        return 1 if counts[Kind.MISMATCH.value] else 0


def combined_exit_code(reports: list[AuditReport]) -> int:
    """The exit code of several sweeps: any error wins, then any drift."""
    codes = {report.exit_code for report in reports}
    return 2 if 2 in codes else 1 if 1 in codes else 0


def judge_record(
    record: WorkerRecord, rules: Rules, known: Known | None = None, asked_ms: int | None = None
) -> AuditEntry:
    """Turn one fetched worker into a report entry, judged with what the guard `known` of it (as events are).

    `asked_ms`: when its listing or fetch was asked for. The copy counts from then, not from when it is judged:
    an edit made while later pages were read is newer, and its event must win over this copy.
    """
    fetched_ms = asked_ms or _now_ms()
    try:
        attributes = parse_attributes(record.attributes_json, "attributes")
    except InvalidSnapshot as err:
        return failed(record, str(err), fetched_ms)
    verdict = rules.judge(attributes, record.sid, record.name, known)
    activity = _activity(record)
    return AuditEntry(record.sid, record.name, verdict, attributes=attributes, fetched_ms=fetched_ms, activity=activity)


def failed(record: WorkerRecord, why: str, fetched_ms: int = 0) -> AuditEntry:
    """The `error` entry of a worker that could not be judged, with the activity the listing gave; one log line."""
    log_event(log, logging.WARNING, "audit_worker_failed", worker_sid=record.sid, error=why)
    return AuditEntry(record.sid, record.name, None, why, fetched_ms=fetched_ms, activity=_activity(record))


def deleted_answer(result: WorkerRecord | Exception) -> bool:
    """A fetch's Twilio 404 (not a proxy's page): the worker is deleted, in a workspace that was just listed."""
    return isinstance(result, TwilioRestException) and result.status == 404 and result.code == NOT_FOUND


def _now_ms() -> int:
    """The guard's clock, in milliseconds."""
    return int(utcnow().timestamp() * 1000)


def _activity(record: WorkerRecord) -> Activity | None:
    """The worker's activity as the Workers API gave it, availability included, if it named one."""
    named = record.activity_sid or record.activity_name
    return Activity(record.activity_sid, record.activity_name, record.available) if named else None


def sweep(
    api: TaskRouterApi,
    account_sid: str,
    rules: Rules,
    concurrency: int = 8,
    progress: Progress | None = None,
    history: Mapping[str, Known] | None = None,
) -> AuditReport:
    """List every worker and judge it, fetching one by one (bounded) when the listing hides attributes.

    `history` (by worker sid) is what the guard knew before: a rewritten identity, attributes wiped or
    evidence edited to fit are drift in the report as they are for events, not a fresh worker that looks fine.
    """
    history = history or {}
    report = AuditReport(account_sid, api.workspace_sid, utcnow())
    listed_ms = _now_ms()
    # A worker listed twice (pages shifted by a worker created or deleted meanwhile) is one worker: its last copy
    listed = list({record.sid: record for record in api.list_workers()}.values())
    entries: dict[str, AuditEntry] = {}
    # Known and listed nowhere: deleted, or left out as pages shifted under a deletion. A fetch tells which.
    listed_sids = {record.sid for record in listed}
    listed += [WorkerRecord(sid, known.name, None) for sid, known in history.items() if sid not in listed_sids]
    hidden = [record for record in listed if record.attributes_json is None]
    report.gone = set()
    for record in listed:
        if record.attributes_json is not None:
            entries[record.sid] = judge_record(record, rules, history.get(record.sid), listed_ms)
    if progress:
        progress(len(entries), len(listed))
    by_sid = {record.sid: record for record in hidden}

    def fetched(sid: str, result: WorkerRecord | Exception) -> None:
        """Judge one fetched worker, or report why it could not be fetched."""
        if deleted_answer(result):  # Twilio's own 404, in the workspace just listed: not part of the report
            report.gone.add(sid)  # type: ignore[union-attr]
        elif isinstance(result, Exception):
            entries[sid] = failed(by_sid[sid], f"fetch failed: {describe(result)}")
        else:
            entries[sid] = judge_record(result, rules, history.get(sid), fetched_from)
        if progress:
            progress(len(entries), len(listed))

    fetched_from = _now_ms()
    api.fetch_many(list(by_sid), concurrency, fetched)
    report.entries = [entries[record.sid] for record in listed if record.sid in entries]
    report.finished_at = utcnow()
    return report
