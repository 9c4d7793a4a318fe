"""Who changed a worker: what TaskRouter's Event resource says about the update, shown as it came."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from guard.core.changes import Changes
from guard.core.text import shown

PENDING_NOTE = "who changed it: still being looked up in TaskRouter's events; a second message follows if it answers"
NO_CREDENTIALS_NOTE = "who changed it: not looked up (no REST credentials for this account)"
FIRST_SIGHT = "the guard had no earlier copy of this worker, and an earlier update may have made the change"
UNNAMED_NOTE = "who changed it: not named by TaskRouter so far"


@dataclass(frozen=True)
class Lookup:
    """What to ask TaskRouter about the update that raised a drift: its delivery id, intake and time."""

    event_id: str | None
    source: str
    occurred_ms: int | None
    hold_seconds: float = 0.0  # how long the drift alert waits for the answer (CAUSE_WAIT_SECONDS)
    since_version: int | None = None  # the guard's copy before updates it missed: the change may be older
    after_ms: int | None = None  # the time of the guard's copy before the drift: that update is not the cause


@dataclass(frozen=True)
class Cause:
    """The Event resource of a change: who TaskRouter says made it, from where (values as returned, not explained)."""

    event_sid: str | None = None
    actor_sid: str | None = None
    actor_type: str | None = None
    source: str | None = None
    source_ip_address: str | None = None
    event_date_ms: int | None = None

    def text(self) -> str:
        """A sentence for people: `changed by user US… (actor type …), source api, from 203.0.113.7, event EV… at …`."""
        when = (
            datetime.fromtimestamp(self.event_date_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            if self.event_date_ms
            else "?"
        )
        who = f"changed by {self.actor_sid or 'an unnamed actor'} (actor type {self.actor_type or '?'})"
        where = f"source {self.source or '?'}, from {self.source_ip_address or '?'}"
        return f"{who}, {where}, event {self.event_sid or '?'} at {when}"

    def as_json(self) -> dict[str, Any]:
        """The cause as JSON values."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Cause:
        """The cause back from `as_json()`; every value a short safe string, as TaskRouter's are."""
        text = {name: shown(value[name], 200) if isinstance(value.get(name), str) else None for name in _TEXT_FIELDS}
        when = value.get("event_date_ms")
        return cls(**text, event_date_ms=when if isinstance(when, int) else None)


_TEXT_FIELDS = ("event_sid", "actor_sid", "actor_type", "source", "source_ip_address")


def newest_at_or_before(causes: Sequence[Cause], at_ms: int | None, after_ms: int | None = None) -> Cause | None:
    """The latest change at or before `at_ms` (any time when unknown) and after `after_ms`.

    `after_ms` is the guard's copy before the drift: its update left the value as judged then, so neither it nor an
    older one made the drift. A whole-second time (a callback without TimestampMs) stands for its whole second.
    """
    last = None if at_ms is None else at_ms + _slack(at_ms)  # a second edit 1.2 s later is not the cause
    first = None if after_ms is None else after_ms + (_WHOLE_SECOND - 1 if after_ms % 1000 == 0 else 0)
    fitting = [
        c
        for c in causes
        if c.event_date_ms is not None
        and (last is None or c.event_date_ms <= last)
        and (first is None or c.event_date_ms > first)
    ]
    return max(fitting, key=lambda c: c.event_date_ms or 0, default=None)


_WHOLE_SECOND = 1000


def _slack(at_ms: int) -> int:
    """How far past the change its Event may be stamped: a whole second's time could be 2 s off, a millisecond's not."""
    return 2000 if at_ms % 1000 == 0 else 100


def carried_by(cause: Cause, changes: Changes | None) -> str:
    """The cause for people; said to be maybe not the maker when the guard missed updates, or saw none before it."""
    if changes is not None and changes.first_sight:
        return f"{cause.text()}: {FIRST_SIGHT}"
    if changes is None or changes.since_version is None:
        return cause.text()
    return (
        f"{cause.text()}: the update that carried the drift; updates since version {changes.since_version} never "
        "reached the guard, and one of them may have made it"
    )
