"""Queueing alerts with the state change that caused them, and announcing them once committed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from guard.adapters.store import Transaction
from guard.config import Settings
from guard.core.approval import worker_reference
from guard.core.decision import AlertDraft, alert_payload
from guard.core.snapshot import WorkerKey
from guard.core.statuses import Channel
from guard.core.transitions import AlertKind
from guard.logs import log_event
from guard.metrics import ALERTS

log = logging.getLogger("guard.pipeline")


class AlertQueue:
    """Writes alerts into the outbox inside the caller's transaction; after commit, logs them and wakes delivery."""

    def __init__(self, settings: Settings, wake: Callable[[], None]) -> None:
        """Label alerts from `settings`; call `wake` when one waits for delivery."""
        self.settings = settings
        self.wake = wake

    def queue(
        self, tx: Transaction, key: WorkerKey, state: Mapping[str, Any], draft: AlertDraft, now: datetime
    ) -> dict[str, Any]:
        """Add the alert to the outbox in `tx`, naming the account and workspace; return its payload."""
        account = self.settings.account_for(key.account_sid)
        channel = self.channel_for(draft.kind, key.account_sid)
        buttons = {}
        if draft.kind in (AlertKind.DRIFT, AlertKind.REMINDER) and self.settings.fix_buttons_for(key.account_sid):
            buttons = {"fix_buttons": worker_reference(key)}  # a reference: a click is re-checked, never trusted
        payload = alert_payload(
            key,
            state,
            draft,
            now,
            channel=channel.value,
            account_label=account.label(key.account_sid) if account else key.account_sid,
            workspace_label=account.workspace_label(key.workspace_sid) if account else key.workspace_sid,
            **buttons,
        )
        tx.alerts.enqueue(key, draft.kind, channel, payload, now)
        ALERTS.labels(draft.kind.value, "logged" if channel is Channel.LOG else "queued").inc()
        return payload

    def channel_for(self, kind: AlertKind, account_sid: str) -> Channel:
        """Where an alert goes besides the log: Slack, or the log only."""
        if not self.settings.slack_url_for(account_sid):
            return Channel.LOG
        if kind is AlertKind.NO_EMAIL and not self.settings.slack_notify_no_email:
            return Channel.LOG
        return Channel.SLACK

    def announce(self, payloads: Iterable[dict[str, Any]]) -> None:
        """Write each committed alert's JSON log line, and wake delivery if one waits in the outbox."""
        waiting = False
        for payload in payloads:
            level = logging.INFO if payload["kind"] in (AlertKind.RESOLVED, AlertKind.REMEDIATION) else logging.WARNING
            log_event(log, level, "alert", **payload)
            waiting = waiting or payload.get("channel") != Channel.LOG  # a log-only alert is already delivered
        if waiting:
            self.wake()
