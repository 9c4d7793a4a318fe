"""Alerts: the one table of alert kinds (what each means, where it goes), and the alert the core raises.

A new kind of alert is one row in KINDS plus the rule in guard/core/decision.py that raises it; the log
line, the outbox and the Slack message all follow from the row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from guard.core.cause import Cause, carried_by
from guard.core.changes import Changes
from guard.core.click import worker_reference
from guard.core.history import CAME_BACK
from guard.core.late import PostedLate
from guard.core.snapshot import WorkerKey
from guard.core.state import WorkerState
from guard.core.statuses import Channel, RemediationStatus
from guard.core.verdict import Verdict


class AlertKind(StrEnum):
    """What an alert announces."""

    DRIFT = "drift"
    URGENT = "urgent"  # a broken agent that is available now: tasks reach it, calls cannot
    RESOLVED = "resolved"
    REMINDER = "reminder"
    NO_EMAIL = "no_email"
    REMEDIATION = "remediation"
    CAUSE = "cause"  # who changed it, when TaskRouter answered after the drift alert went out


class Slack(StrEnum):
    """When a kind goes to Slack (an account without a webhook gets the log line only, always)."""

    ALWAYS = "always"
    OPT_IN = "opt_in"  # only with SLACK_NOTIFY_NO_EMAIL=true


@dataclass(frozen=True)
class KindSpec:
    """One row of the table: how a kind of alert is titled, routed and logged."""

    title: str  # Slack's header, before the worker's name
    slack: Slack
    fix: bool  # carries the advice and, where the account allows them, the Remove / Intended buttons
    log_level: int
    failed_title: str | None = None  # the title when the alert reports a failure
    urgent: bool = False  # starts with SLACK_URGENT_MENTION, and the log line says "urgent": true
    lead: str = ""  # the sentence an urgent message opens with


WARNING, INFO = logging.WARNING, logging.INFO
KINDS: Mapping[AlertKind, KindSpec] = {
    # title, when it goes to Slack, whether it carries the fix, log level
    AlertKind.DRIFT: KindSpec(":rotating_light: contact_uri drift", Slack.ALWAYS, True, WARNING),
    AlertKind.URGENT: KindSpec(
        ":sos: Unreachable now",
        Slack.ALWAYS,
        True,
        logging.ERROR,
        urgent=True,
        lead="available now: calls cannot reach this agent",
    ),
    AlertKind.REMINDER: KindSpec(":repeat: Reminder", Slack.ALWAYS, True, WARNING),
    AlertKind.RESOLVED: KindSpec(":white_check_mark: Resolved", Slack.ALWAYS, False, INFO),
    AlertKind.NO_EMAIL: KindSpec(":warning: contact_uri without email", Slack.OPT_IN, False, WARNING),
    AlertKind.CAUSE: KindSpec(":mag: Who changed it", Slack.ALWAYS, False, INFO),
    AlertKind.REMEDIATION: KindSpec(
        ":broom: contact_uri removed", Slack.ALWAYS, False, INFO, failed_title=":x: contact_uri removal failed"
    ),
}


@dataclass(frozen=True)
class Routing:
    """Where one workspace's alerts go, and how they name it: from its account's configuration."""

    slack: bool = False  # the account has a Slack webhook
    slack_opt_in: bool = False  # SLACK_NOTIFY_NO_EMAIL
    buttons: bool = False  # a Slack signing secret and the account's REST credentials
    mention: str = ""  # SLACK_URGENT_MENTION, which urgent messages start with
    lookups: bool = False  # REST credentials: the guard can ask TaskRouter who changed a worker
    account_label: str = ""
    workspace_label: str = ""


@dataclass(frozen=True)
class Alert(PostedLate):
    """One alert, frozen from the worker's state when it was raised: what every sink renders."""

    kind: AlertKind
    note: str
    key: WorkerKey
    worker_name: str
    verdict: Verdict
    since: datetime | None
    created_at: datetime
    channel: Channel
    account_label: str
    workspace_label: str
    buttons: str | None = None  # the worker reference the fix buttons carry; a click re-checks it
    mention: str = ""  # who an urgent message pings
    activity_name: str | None = None
    available: bool | None = None
    changes: Changes | None = None  # what else the update changed
    cause: Cause | None = None  # who TaskRouter says made it
    cause_note: str | None = None  # why the cause is not (yet) known
    source: str | None = None  # what raised it: taskrouter, event-streams, audit, slack, reminder
    version: int | None = None
    previous_actual: str | None = None
    actor: str | None = None  # who remediated
    result: str | None = None  # the remediation's status
    came_back: bool = False  # its value came back after the guard removed it: no Remove button (history.CAME_BACK)
    answers_page: bool = False  # a resolved ending an episode someone was paged for: it goes out in the pages' turn
    posted_at: datetime | None = None  # set when posted late (core/late.py); never stored
    standing: str | None = None  # what a late page's worker is at when posted (core/late.py); never stored

    @property
    def spec(self) -> KindSpec:
        """The row of the table for this kind."""
        return KINDS[self.kind]

    @property
    def title(self) -> str:
        """The header: the kind's title, or its failure title for a failed remediation."""
        if self.kind is AlertKind.RESOLVED and self.verdict.broken and self.available:  # /status lists the agent
            return ":warning: Drift over, still unable to take calls"
        failed = self.result == RemediationStatus.FAILED and self.spec.failed_title
        unreachable_at = f":sos: Unreachable at {self.created_at:%Y-%m-%d %H:%M} UTC"
        return unreachable_at if self.standing else failed or self.spec.title

    def fields(self) -> dict[str, Any]:
        """The alert as flat JSON values: the log line and the outbox payload."""
        verdict = self.verdict.fields()
        fields: dict[str, Any] = {
            "kind": self.kind.value,
            "note": self.note,
            "account_sid": self.key.account_sid,
            "workspace_sid": self.key.workspace_sid,
            "worker_sid": self.key.worker_sid,
            "worker_name": self.worker_name,
            **verdict,
            "since": self.since.isoformat() if self.since else None,
            "created_at": self.created_at.isoformat(),
            "channel": self.channel.value,
            "account_label": self.account_label,
            "workspace_label": self.workspace_label,
            "urgent": self.spec.urgent,
            "activity": self.activity_name,
            "available": self.available,
            "changes": self.changes.as_json() if self.changes else None,
            "cause": self.cause.as_json() if self.cause else None,
            "cause_note": self.cause_note,
        }
        if self.buttons:
            fields["fix_buttons"] = self.buttons
        if self.mention:
            fields["mention"] = self.mention
        context = ("source", "version", "previous_actual", "actor", "result", "came_back")
        return fields | {name: getattr(self, name) for name in context}


def raise_alert(
    kind: AlertKind, note: str, key: WorkerKey, state: WorkerState, routing: Routing, now: datetime, **context: Any
) -> Alert:
    """The alert of `kind` about a worker in `state`, routed as its account asks.

    The fix buttons need a value to act on: a worker with no contact_uri (pending) gets none. A value that came
    back after its removal is never removed again: every alert about it says so.
    """
    spec = KINDS[kind]
    to_slack = routing.slack and (spec.slack is Slack.ALWAYS or routing.slack_opt_in)
    fixable = spec.fix and routing.buttons and state.verdict.actual is not None
    back = spec.fix and state.came_back
    if back:
        note = f"{note}; {CAME_BACK}" if note else CAME_BACK
    return Alert(
        kind=kind,
        note=note,
        key=key,
        worker_name=state.name,
        verdict=state.verdict,
        since=state.since,
        created_at=now,
        channel=Channel.SLACK if to_slack else Channel.LOG,
        account_label=routing.account_label or key.account_sid,
        workspace_label=routing.workspace_label or key.workspace_sid,
        buttons=worker_reference(key) if fixable else None,
        mention=routing.mention if spec.urgent else "",
        # A deleted worker has no activity: its last one says nothing about who can take calls now
        activity_name=None if state.deleted else state.activity_name,
        available=None if state.deleted else state.available,
        changes=state.changes if spec.fix else None,
        cause=state.cause if spec.fix else None,
        came_back=back,
        **context,
    )


def follow_up(alert: Alert, cause: Cause, now: datetime, over: bool = False) -> Alert:
    """The second message, when TaskRouter named who changed a worker after its drift alert went out.

    `over`: that drift has ended since (fixed, or the worker deleted): the message says so, not as if current.
    """
    note = f"about the {alert.kind.value} alert of {alert.created_at:%Y-%m-%d %H:%M:%S} UTC: "
    note += carried_by(cause, alert.changes) + ("; that drift is over now" if over else "")
    return replace(
        alert, kind=AlertKind.CAUSE, note=note, created_at=now, buttons=None, mention="", cause=cause, cause_note=None
    )
