"""The worker snapshot both intake paths hand to the pipeline, and the ordering rule for it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from guard.core.activity import Activity
from guard.core.changes import Changes, diff
from guard.core.deep_json import TOO_DEEP, TOO_LONG
from guard.core.text import shown, storable_problem

VALUE_MAX, KEYS_MAX, DEPTH_MAX = 120, 200, 8  # the flat rendering of attributes: characters per value, keys, depth
COPY_MAX = 16_384  # characters of attributes' text the state keeps as it came
DEDUP_WINDOW = timedelta(days=2)  # how long event ids are kept; older events are refused as replays
AHEAD = timedelta(hours=1)  # clock skew allowed; an event further ahead would outrank every later one
AUDIT_SOURCE = "audit"  # a snapshot the guard fetched itself, never a delivery
# A deletion TaskRouter answered (its 404 on a removal's fetch) is stamped this far past what the guard saw: its
# clock may run ahead of ours, and no event can follow a deletion. (An audit's inferred one is not: an event made
# after its listing began proves the worker was there.)
GONE_MARGIN_MS = 60_000


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
    whole_seconds: bool = False  # a callback without TimestampMs: rounded down to its second, it may be a second later
    source: str = "taskrouter"
    activity: Activity | None = None  # None: the event named no activity (the stored one stands)
    attributes_text: str | None = None  # the attributes' JSON as sent, for the copy the state keeps
    event_sid: str | None = None  # the TaskRouter Event (EV…) a delivery reports, when not its event_id (a callback's)

    @property
    def fetched(self) -> bool:
        """True for a worker the guard fetched itself (an audit, a re-check): stamped when it was asked."""
        return self.source == AUDIT_SOURCE

    def stored_copy(self) -> str:
        """The attributes as the state keeps them: their JSON text as sent when that is safe and short enough.

        Whoever edits a worker controls this text: past COPY_MAX characters, or holding what a database
        cannot store, the copy is the flat, bounded rendering instead (see `changes_since`).
        """
        text = self.attributes_text  # with a value too deep to parse, the next update could not read it back
        if (
            text is not None
            and len(text) <= COPY_MAX
            and not storable_problem(text, COPY_MAX)
            and all(value is not TOO_DEEP and value is not TOO_LONG for value in self.attributes.values())  # stand-ins
        ):
            return text
        return json.dumps(self.changes_since(None).after)  # the flat rendering, bounded

    def changes_since(self, before: str | None) -> Changes:
        """What this update changed against the copy kept from the one before (None: first sight).

        Both sides are flattened: nested objects as dotted paths (`routing.skills`), every value a short safe
        text, at most KEYS_MAX keys, so what an editor wrote cannot blow up the alert or the state.
        """
        try:
            earlier = json.loads(before) if before is not None else None
        except (ValueError, RecursionError):
            earlier = None
        flats: list[dict[str, str]] = []
        for attributes in (earlier if isinstance(earlier, dict) else {}, self.attributes):
            flat: dict[str, str] = {}
            stack: list[tuple[str, Any, int]] = [("", attributes, 0)]
            while stack and len(flat) < KEYS_MAX:
                prefix, value, depth = stack.pop()
                if isinstance(value, Mapping) and value and depth < DEPTH_MAX:
                    items = reversed(list(value.items()))
                    stack.extend((f"{prefix}{shown(key, 60)}.", item, depth + 1) for key, item in items)
                elif prefix:
                    try:
                        text = value if isinstance(value, str) else json.dumps(value, default=str)
                    except RecursionError:  # parsed near the parser's depth, rendered deeper in the stack
                        text = TOO_DEEP
                    flat[prefix[:-1]] = shown(text, VALUE_MAX)
            flats.append(flat)
        return diff(flats[0] if isinstance(earlier, dict) else None, flats[1])

    def is_replay(self, now: datetime) -> bool:
        """True for an event outside the window (outside_window): refused, not applied. An audit's fetch is now."""
        return self.source != AUDIT_SOURCE and self.occurred_ms is not None and outside_window(self.occurred_ms, now)


def outside_window(occurred_ms: int, now: datetime) -> bool:
    """True for a time older than the dedup window (its id may be forgotten) or more than AHEAD of this clock.

    TaskRouter retries a callback once and Event Streams for up to 4 hours: nothing genuine is two days late, or
    from the future, where it would outrank every later event of the worker.
    """
    return not (now - DEDUP_WINDOW).timestamp() * 1000 <= occurred_ms <= (now + AHEAD).timestamp() * 1000


def distinct_runs(snapshots: Sequence[WorkerSnapshot]) -> Iterator[list[WorkerSnapshot]]:
    """The snapshots in order, cut wherever a worker comes again."""
    run: list[WorkerSnapshot] = []
    for snapshot in snapshots:
        if snapshot.key in {other.key for other in run}:
            yield run
            run = []
        run.append(snapshot)
    if run:
        yield run
