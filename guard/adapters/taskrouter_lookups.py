"""Read-only TaskRouter lookups: a workspace's activities, and the Events that say who changed a worker.

Both go through the TaskRouterApi's twilio client, so they share its retrying adapter (429 after Retry-After,
5xx, connection errors) and its base URL; a failure surfaces as twilio's TwilioRestException, as for workers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from guard.adapters.taskrouter_api import TaskRouterApi, answered
from guard.core.cause import Cause

RETENTION_MS = 30 * 24 * 3600 * 1000  # TaskRouter keeps Events for 30 days
# The order of the Events list is not documented, so a lookup reads its whole window and sorts it. One worker's
# changes of one type over 30 days fit in a page of 1000; this only bounds a server that keeps paging.
MAX_EVENTS = 20_000

SETS_ATTRIBUTES = ("worker.attributes.update", "worker.created")  # the events that write a worker's attributes


@dataclass(frozen=True)
class ActivityRecord:
    """An Activity of the workspace; `available` says whether a worker in it gets tasks."""

    sid: str
    name: str
    available: bool | None  # None: TaskRouter did not say (the spec lets it be null)


@dataclass(frozen=True)
class ChangeRecord:
    """One TaskRouter Event, as far as it tells who changed what; every field is as the API gave it."""

    sid: str
    event_type: str | None
    event_date_ms: int | None
    actor_sid: str | None
    actor_type: str | None
    actor_url: str | None
    source: str | None
    source_ip_address: str | None
    resource_sid: str | None
    description: str | None

    def cause(self) -> Cause:
        """Who this Event says made the change, as it says it."""
        fields = (self.sid, self.actor_sid, self.actor_type, self.source, self.source_ip_address)
        return Cause(*fields, event_date_ms=self.event_date_ms)


def list_activities(api: TaskRouterApi) -> list[ActivityRecord]:
    """Every Activity of the workspace, following next_page_url."""
    activities = api.client.taskrouter.v1.workspaces(api.workspace_sid).activities
    return [
        ActivityRecord(a.sid or "", a.friendly_name or "", a.available if isinstance(a.available, bool) else None)
        for a in api.each(activities)
    ]


def fetch_event(api: TaskRouterApi, event_sid: str) -> ChangeRecord:
    """One Event by its SID (a callback's `Sid`)."""
    event = api.client.taskrouter.v1.workspaces(api.workspace_sid).events(event_sid)
    return _change(answered(event.fetch, f"Events/{event_sid}"))


def list_worker_changes(
    api: TaskRouterApi,
    worker_sid: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 20,
    created_too: bool = False,
) -> list[ChangeRecord]:
    """The worker's attribute updates between start_ms (default: 30 days back) and end_ms, newest first.

    `created_too`, with none: its creation, which sets attributes too (provisioning scripts write contact_uri
    there); asked apart, as the Events list takes one EventType. Only where no update can be missing from the
    list: an update not listed yet (the Events index lags) would otherwise be blamed on whoever created the worker.
    """
    for event_type in SETS_ATTRIBUTES if created_too else SETS_ATTRIBUTES[:1]:
        if changes := _list_changes(api, worker_sid, event_type, start_ms, end_ms, limit):
            return changes
    return []


def _list_changes(
    api: TaskRouterApi, worker_sid: str, event_type: str, start_ms: int | None, end_ms: int | None, limit: int
) -> list[ChangeRecord]:
    """The worker's Events of `event_type` between start_ms (default: 30 days back) and end_ms, newest first."""
    if start_ms is None:
        # Without StartDate (or Minutes) the API returns only the last 15 minutes.
        start_ms = int(time.time() * 1000) - RETENTION_MS
    filters: dict[str, Any] = {
        "worker_sid": worker_sid,
        "event_type": event_type,
        # StartDate and EndDate have whole seconds: widen to them here, and cut to the milliseconds below.
        "start_date": _at_second(start_ms // 1000),
    }
    if end_ms is not None:
        filters["end_date"] = _at_second(math.ceil(end_ms / 1000))
    events = api.client.taskrouter.v1.workspaces(api.workspace_sid).events
    changes = []
    for number, event in enumerate(api.each(events, **filters)):
        if number >= MAX_EVENTS:
            break
        change = _change(event)
        when = change.event_date_ms
        if when is None or (when >= start_ms and (end_ms is None or when <= end_ms)):
            changes.append(change)
    changes.sort(key=lambda change: (change.event_date_ms is not None, change.event_date_ms or 0), reverse=True)
    return changes[: max(limit, 0)]


def _at_second(seconds: int) -> datetime:
    """A UTC moment, which twilio sends as YYYY-MM-DDTHH:MM:SSZ."""
    return datetime.fromtimestamp(seconds, UTC)


def _change(event: Any) -> ChangeRecord:
    """A ChangeRecord from twilio's EventInstance."""
    return ChangeRecord(
        sid=event.sid or "",
        event_type=event.event_type,
        event_date_ms=_int(event.event_date_ms),
        actor_sid=event.actor_sid,
        actor_type=event.actor_type,
        actor_url=event.actor_url,
        source=event.source,
        source_ip_address=event.source_ip_address,
        resource_sid=event.resource_sid,
        description=event.description,
    )


def _int(value: Any) -> int | None:
    """An integer field that may come as a number, a numeric string or null."""
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
