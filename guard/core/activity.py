"""Which activity a worker is in, whether that activity routes tasks to it, and who cannot take calls right now.

Worker events name the activity but not whether it is available (see FACTS: only activity.* events and the REST
API say so). The guard learns it, best source first: what the source itself says (the REST Workers list and
Activities list), what activity.* events taught it (kept per workspace), and last the names in
AVAILABLE_ACTIVITIES. An activity it cannot place is unknown, never guessed to be available.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import NamedTuple

from guard.core.verdict import Verdict


class Learned(NamedTuple):
    """What the guard learned about an activity: whether it routes tasks, its name, when TaskRouter said so."""

    available: bool
    name: str
    learned_ms: int


@dataclass(frozen=True)
class Activity:
    """The activity a worker event names; `available` when its source says, `learned` what the guard knows."""

    sid: str | None
    name: str | None
    available: bool | None = None
    learned: bool | None = None

    def with_learned(self, learned: bool | None) -> Activity:
        """The same activity, with what the guard learned about it."""
        return self if learned is None else replace(self, learned=learned)

    def as_learned(self, learned: Learned | None, occurred_ms: int | None) -> Activity:
        """With what the guard learned; a fact newer than the event names it (an event made before a rename)."""
        if learned is None:
            return self
        newer = bool(learned.name) and occurred_ms is not None and learned.learned_ms > occurred_ms
        return replace(self, learned=learned.available, name=learned.name if newer else self.name)

    def resolve(self, available_names: Collection[str]) -> bool | None:
        """True or False when known, best source first; None when the guard cannot place it."""
        if self.available is not None:
            return self.available
        if self.learned is not None:
            return self.learned
        if self.name and self.name.casefold() in available_names:
            return True
        return None


@dataclass(frozen=True)
class ActivityFact:
    """What an activity.* event (or the REST Activities list) says about one activity of a workspace."""

    account_sid: str
    workspace_sid: str
    sid: str
    name: str
    available: bool | None  # None only for a deletion that did not say
    deleted: bool = False
    occurred_ms: int = 0
    event_id: str | None = None
    source: str = "taskrouter"


def unreachable(verdict: Verdict, available: bool | None) -> bool:
    """Available to TaskRouter, so tasks are routed to it, and unable to ring: the outage an admin must see now."""
    return available is True and verdict.broken


def parse_names(text: str) -> frozenset[str]:
    """AVAILABLE_ACTIVITIES: comma-separated activity names, compared case-insensitively."""
    return frozenset(name.strip().casefold() for name in text.split(",") if name.strip())
