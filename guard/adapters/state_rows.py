"""A worker_state row, with the intended-value rule joined in, read as the core's WorkerState."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from guard.core.cause import Cause
from guard.core.changes import Changes
from guard.core.evidence import Basis
from guard.core.state import Intended, WorkerState
from guard.core.trusted import NOTHING_TRUSTED, Trusted
from guard.core.verdict import Kind, Verdict


def state_from_row(row: Mapping[str, Any]) -> WorkerState:
    """A stored row (with the intended-value rule joined in, if any) as the core's WorkerState."""
    intended = None
    if row.get("intended_by"):
        intended = Intended(row["intended_by"], row["intended_at"], row.get("intended_value"))
    by_name = row["verdict"] == Kind.OK and row["basis"] == Basis.WORKER_NAME  # older rows: no name_matched kept
    kept = _json(row["trusted"])
    trusted = Trusted.from_json(kept, by_name) if isinstance(kept, dict) else NOTHING_TRUSTED
    return WorkerState(
        name=row["name"],
        verdict=Verdict.from_fields(row),
        since=row["since"],
        updated_at=row["updated_at"],
        version=row["version"],
        occurred_ms=row["occurred_ms"],
        last_alert_at=row["last_alert_at"],
        intended=intended,
        activity_sid=row["activity_sid"],
        activity_name=row["activity_name"],
        available=row["available"],
        urgent_at=row["urgent_at"],
        trusted=trusted,
        attributes=row["attributes"],
        changes=Changes.from_json(changes) if isinstance(changes := _json(row["changes"]), dict) else None,
        cause=Cause.from_json(cause) if isinstance(cause := _json(row["cause"]), dict) else None,
        removed=row["removed"],
        watched=_watched(row["watched"]),
    )


def _watched(text: str | None) -> tuple[str, ...]:
    """The watched values: a JSON list of texts; a plain value as one (the column's first build wrote it so)."""
    values = _json(text)
    if isinstance(values, list):
        return tuple(value for value in values if isinstance(value, str))
    return (text,) if text and values is None else ()


def _json(text: str | None) -> Any:
    """A JSON column's value; None when empty or unreadable (a column the guard wrote, but never trusted blindly)."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
