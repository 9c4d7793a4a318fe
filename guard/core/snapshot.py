"""The worker snapshot both intake paths hand to the pipeline, and the ordering rule for it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class WorkerKey:
    """Identifies a worker across accounts and workspaces."""

    account_sid: str
    workspace_sid: str
    worker_sid: str


@dataclass(frozen=True)
class WorkerSnapshot:
    """What an event (or an audit fetch) says about one worker at one moment."""

    key: WorkerKey
    name: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    deleted: bool = False
    version: int | None = None
    occurred_ms: int | None = None
    event_id: str | None = None
    source: str = "taskrouter"


@dataclass(frozen=True)
class Position:
    """Where the stored state of a worker sits in its history."""

    version: int | None
    occurred_ms: int | None
    deleted: bool


def is_stale(snapshot: WorkerSnapshot, stored: Position | None) -> bool:
    """True when `snapshot` is older than what is stored, so it must not overwrite it.

    Compares WorkerVersion when both sides have one, else the event time. A deletion
    is final for its version: a later-arriving update with the same version is stale.
    """
    if stored is None:
        return False
    if snapshot.version is not None and stored.version is not None:
        mine, theirs = snapshot.version, stored.version
    elif snapshot.occurred_ms is not None and stored.occurred_ms is not None:
        mine, theirs = snapshot.occurred_ms, stored.occurred_ms
    else:
        return False
    if stored.deleted and not snapshot.deleted:
        return mine <= theirs
    return mine < theirs


class InvalidSnapshot(ValueError):
    """An event that cannot describe a worker; the message says which field and why."""


_SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def require_sid(value: Any, field_name: str, prefix: str) -> str:
    """Return `value` if it is a Twilio SID with `prefix` (e.g. WK), else raise InvalidSnapshot."""
    if not value:
        raise InvalidSnapshot(f"{field_name} is missing")
    if not isinstance(value, str) or not _SID_RE.match(value) or not value.startswith(prefix):
        raise InvalidSnapshot(f"{field_name} is not a {prefix}… SID")
    return value


def parse_attributes(raw: Any, field_name: str, optional: bool = False) -> dict[str, Any]:
    """Parse worker attributes (a JSON string) into a dict, rejecting anything that is not an object.

    With `optional` (a deleted worker, whose attributes do not matter), absent or blank means {}.
    """
    if optional and (raw is None or raw == ""):
        return {}
    if not isinstance(raw, str):
        raise InvalidSnapshot(f"{field_name} is missing" if raw is None else f"{field_name} must be a JSON string")
    try:
        attributes = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidSnapshot(f"{field_name} is not valid JSON") from None
    if not isinstance(attributes, dict):
        raise InvalidSnapshot(f"{field_name} is not a JSON object")
    for name in ("email", "contact_uri"):
        if isinstance(attributes.get(name), str):
            storable_text(attributes[name], f"{field_name}.{name}")
    return attributes


def optional_int(value: Any, field_name: str) -> int | None:
    """Parse an optional non-negative integer sent as a number or a string of digits."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidSnapshot(f"{field_name} must be an integer")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidSnapshot(f"{field_name} must be a non-negative integer")
    return int(text)


def storable_text(value: Any, field_name: str, limit: int = 4096) -> str:
    """Return `value` if it is text a database can hold (no NUL, no lone surrogate, bounded)."""
    if not isinstance(value, str):
        raise InvalidSnapshot(f"{field_name} must be a string")
    if "\x00" in value:
        raise InvalidSnapshot(f"{field_name} has a NUL character")
    if len(value) > limit:
        raise InvalidSnapshot(f"{field_name} is longer than {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSnapshot(f"{field_name} is not valid Unicode") from None
    return value


def optional_time_ms(value: Any, field_name: str) -> int | None:
    """Parse an optional ISO 8601 time (Event Streams' `timestamp`) into epoch milliseconds."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidSnapshot(f"{field_name} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidSnapshot(f"{field_name} must be an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
