"""Activities and Events of the fake TaskRouter API: state, helpers, and resources in Twilio's JSON shape.

Field names follow Twilio's OpenAPI description (twilio-oai, taskrouter.v1.workspace.activity and .event);
tests/conformance runs them through Prism against it.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "AC" + "a" * 32
OFFLINE_SID = "WA" + "0" * 32  # what a worker starts in, like Flex's default activity
# Flex's default activities; only Available routes tasks.
FLEX_ACTIVITIES = {"Offline": False, "Available": True, "Unavailable": False, "Break": False}
RETENTION_MS = 30 * 24 * 3600 * 1000  # TaskRouter keeps Events for 30 days
DEFAULT_MINUTES = 15  # the Events list's window when neither StartDate nor Minutes is given
_event_numbers = itertools.count(1)


def iso_seconds(ms: int) -> str:
    """A moment as Twilio writes event_date: whole seconds, UTC, with a Z."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> int:
    """StartDate/EndDate (YYYY-MM-DDTHH:MM:SSZ, as twilio-python sends them) in epoch milliseconds."""
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() * 1000)


class LookupState:
    """The Activities and Events half of FakeTaskRouter (which provides url, lock and workspaces)."""

    url: str
    lock: threading.Lock
    workspaces: dict[str, dict[str, dict[str, Any]]]
    activities: dict[str, dict[str, dict[str, Any]]]
    events: dict[str, dict[str, dict[str, Any]]]

    def add_activity(self, workspace_sid: str, sid: str, name: str, available: bool | None) -> str:
        """Create an Activity; returns its SID."""
        self.activities.setdefault(workspace_sid, {})[sid] = {"sid": sid, "friendly_name": name, "available": available}
        return sid

    def add_flex_activities(self, workspace_sid: str) -> dict[str, str]:
        """Flex's four default activities (Offline has the SID workers start with); returns name -> SID."""
        return {
            name: self.add_activity(workspace_sid, OFFLINE_SID if name == "Offline" else f"WA{n:032x}", name, available)
            for n, (name, available) in enumerate(FLEX_ACTIVITIES.items())
        }

    def set_activity(self, workspace_sid: str, worker_sid: str, activity_sid: str) -> None:
        """Move a worker to one of the workspace's activities (a write, so its version and ETag move too)."""
        activity = self.activities[workspace_sid][activity_sid]
        with self.lock:
            worker = self.workspaces[workspace_sid][worker_sid]
            worker.update(activity_sid=activity_sid, activity_name=activity["friendly_name"])
            worker["available"] = activity["available"]
            worker["version"] += 1

    def add_event(
        self,
        workspace_sid: str,
        event_type: str,
        worker_sid: str | None = None,
        at_ms: int | None = None,
        **fields: Any,
    ) -> str:
        """Log an Event (by default the account changed the worker through the API, now); returns its SID.

        `fields` override the resource's own: actor_sid, actor_type, actor_url, source, source_ip_address,
        description, event_data, sid.
        """
        sid = fields.pop("sid", None) or f"EVf{next(_event_numbers):031x}"  # never a delivery helper's EV0…
        worker = self.workspaces.get(workspace_sid, {}).get(worker_sid or "")
        name = worker["friendly_name"] if worker else None
        event = {
            "sid": sid,
            "event_type": event_type,
            "event_date_ms": int(time.time() * 1000) if at_ms is None else at_ms,
            "worker_sid": worker_sid,
            "resource_sid": worker_sid,
            "resource_type": "worker" if worker_sid else None,
            "actor_sid": ACCOUNT,
            "actor_type": "account",
            "actor_url": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}",
            "source": "api",
            "source_ip_address": "203.0.113.7",  # a documentation address
            "description": f"Worker {name} event {event_type}" if name else event_type,
            "event_data": _worker_data(workspace_sid, worker_sid, worker) if worker_sid else {},
        }
        event.update(fields)
        self.events.setdefault(workspace_sid, {})[sid] = event
        return sid

    def listed_activities(self, workspace_sid: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """The activities the Activities list shows, filtered by FriendlyName and Available."""
        name = query.get("FriendlyName", [None])[0]
        wanted = query.get("Available", [None])[0]
        return [
            activity
            for activity in self.activities.get(workspace_sid, {}).values()
            if (name is None or activity["friendly_name"] == name)
            and (wanted is None or activity["available"] == (wanted.lower() in ("true", "1", "yes")))
        ]

    def listed_events(self, workspace_sid: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """The events the Events list shows, newest first: 15 minutes back unless told, 30 days at most.

        Raises ValueError on a malformed StartDate, EndDate or Minutes.
        """
        first = {name: values[0] for name, values in query.items()}
        now = int(time.time() * 1000)
        if "StartDate" in first:
            start = parse_iso(first["StartDate"])
        else:
            start = now - int(first.get("Minutes", DEFAULT_MINUTES)) * 60_000
        start = max(start, now - RETENTION_MS)
        end = parse_iso(first["EndDate"]) if "EndDate" in first else None
        chosen = [
            event
            for event in self.events.get(workspace_sid, {}).values()
            if event["event_date_ms"] >= start
            and (end is None or event["event_date_ms"] <= end)
            and first.get("WorkerSid", event["worker_sid"]) == event["worker_sid"]
            and first.get("EventType", event["event_type"]) == event["event_type"]
        ]
        return sorted(chosen, key=lambda event: event["event_date_ms"], reverse=True)

    def activity_json(self, workspace_sid: str, activity: dict[str, Any]) -> dict[str, Any]:
        """An Activity resource shaped like Twilio's."""
        workspace_url = f"{self.url}/v1/Workspaces/{workspace_sid}"
        return {
            "account_sid": ACCOUNT,
            "available": activity["available"],
            "date_created": "2026-01-05T09:00:00Z",
            "date_updated": "2026-01-05T09:00:00Z",
            "friendly_name": activity["friendly_name"],
            "sid": activity["sid"],
            "url": f"{workspace_url}/Activities/{activity['sid']}",
            "workspace_sid": workspace_sid,
            "links": {"workspace": workspace_url},
        }

    def event_json(self, workspace_sid: str, event: dict[str, Any]) -> dict[str, Any]:
        """An Event resource shaped like Twilio's."""
        workspace_url = f"{self.url}/v1/Workspaces/{workspace_sid}"
        resource = event["resource_sid"]
        return {
            "account_sid": ACCOUNT,
            **{name: event[name] for name in ("actor_sid", "actor_type", "actor_url", "description", "event_data")},
            "event_date": iso_seconds(event["event_date_ms"]),
            **{name: event[name] for name in ("event_date_ms", "event_type", "resource_sid", "resource_type")},
            "resource_url": f"{workspace_url}/Workers/{resource}" if event["resource_type"] == "worker" else None,
            **{name: event[name] for name in ("sid", "source", "source_ip_address")},
            "workspace_sid": workspace_sid,
            "url": f"{workspace_url}/Events/{event['sid']}",
        }


def _worker_data(workspace_sid: str, worker_sid: str, worker: dict[str, Any] | None) -> dict[str, Any]:
    """A worker event's event_data, like the description's example (worker_* fields, strings)."""
    data = {"worker_sid": worker_sid, "workspace_sid": workspace_sid, "workspace_name": "Flex Task Assignment"}
    if worker:
        data.update(
            worker_name=worker["friendly_name"],
            worker_attributes=worker["attributes"],
            worker_activity_sid=worker["activity_sid"],
            worker_activity_name=worker["activity_name"],
        )
    return data
