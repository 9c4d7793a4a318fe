"""Parsing what a sender wrote into a snapshot's fields: each bad one refused with a message that names it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from guard.core.activity import Activity
from guard.core.deep_json import top_level
from guard.core.sid import is_sid
from guard.core.text import shown, storable_problem

MAX_BIGINT = 2**63 - 1  # what a BIGINT column holds, on PostgreSQL and SQLite alike
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last moment a datetime can name


class InvalidSnapshot(ValueError):
    """An event that cannot describe a worker; the message says which field and why."""


def require_sid(value: Any, field_name: str, prefix: str) -> str:
    """Return `value` if it is a Twilio SID with `prefix` (e.g. WK), else raise InvalidSnapshot."""
    if not value:
        raise InvalidSnapshot(f"{field_name} is missing")
    if not is_sid(value, prefix):
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
        try:
            attributes = json.loads(raw)
        except (RecursionError, ValueError):  # nested past the parser's depth, or a number past its digits (or bad)
            attributes = top_level(raw)  # the top level is still judged; ValueError when it is not JSON at all
    except (ValueError, RecursionError):
        raise InvalidSnapshot(f"{field_name} is not valid JSON") from None
    if not isinstance(attributes, dict):
        raise InvalidSnapshot(f"{field_name} is not a JSON object")
    return attributes  # values are judged as they are; the state keeps a safe rendering (guard.core.text)


def optional_int(value: Any, field_name: str, maximum: int = MAX_BIGINT) -> int | None:
    """Parse an optional integer from 0 to `maximum`, sent as a number or a string of digits."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidSnapshot(f"{field_name} must be an integer")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        raise InvalidSnapshot(f"{field_name} must be a non-negative integer")
    if len(text) > len(str(maximum)) or int(text) > maximum:
        raise InvalidSnapshot(f"{field_name} is out of range (at most {maximum})")
    return int(text)


def storable_text(value: Any, field_name: str, limit: int) -> str:
    """Return `value` if it is text a database can hold as it is (an id: no NUL, no lone surrogate, bounded)."""
    if not isinstance(value, str):
        raise InvalidSnapshot(f"{field_name} must be a string")
    problem = storable_problem(value, limit)
    if problem:
        raise InvalidSnapshot(f"{field_name} cannot be stored: {problem}")
    return value


def parse_activity(sid: Any, name: Any, sid_field: str) -> Activity | None:
    """The activity a worker event names, or None when it names none."""
    if not sid and not name:
        return None
    if sid and not is_sid(sid, "WA"):
        raise InvalidSnapshot(f"{sid_field} is not a WA… SID")
    return Activity(sid or None, shown(name, 128) if isinstance(name, str) and name else None)


def parse_available(value: Any, field_name: str) -> bool:
    """TaskRouter's ActivityAvailable: true or false (as JSON, or as the strings a form carries)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidSnapshot(f"{field_name} must be true or false")


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
    milliseconds = int(moment.timestamp() * 1000)
    if not 0 <= milliseconds <= MAX_EPOCH_MS:  # as TaskRouter's Timestamp: a time past it would outrank every event
        raise InvalidSnapshot(f"{field_name} is out of range (1970 to 9999)")
    return milliseconds
