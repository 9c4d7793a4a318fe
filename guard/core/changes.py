"""What else an update changed: the difference between two safe copies of a worker's attributes.

The copies are flat renderings (WorkerSnapshot.changes_since): nested keys as paths such as `routing.skills`,
every value a short safe rendering, the number of keys bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guard.core.text import printable

SHOWN_MAX = 20  # changes an alert lists
IGNORED_PATHS = frozenset({"contact_uri"})  # the drift itself, said elsewhere


@dataclass(frozen=True)
class Change:
    """One key an update added (before None), removed (after None) or changed."""

    path: str
    before: str | None
    after: str | None

    def text(self) -> str:
        """`routing.skills: ["es"] → ["fr"]`, `+ image_url: …`, `− roles`: one line, whatever an editor wrote."""
        path, before, after = (
            None if part is None else printable(part) for part in (self.path, self.before, self.after)
        )
        if before is None:
            return f"+ {path}: {after}"
        if after is None:
            return f"− {path} (was {before})"
        return f"{path}: {before} → {after}"


@dataclass(frozen=True)
class Changes:
    """The other keys one update changed; `first_sight` when there was no earlier copy to compare with."""

    items: tuple[Change, ...] = ()
    first_sight: bool = False
    more: int = 0  # changes past SHOWN_MAX, counted but not listed
    after: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)  # the flat copy compared
    since_version: int | None = None  # the copy compared is this older version's: updates between never came

    def heading(self) -> str:
        """What the list shows: this update's changes, or all since the last version the guard saw."""
        if self.since_version is None:
            return "What else this update changed"
        return f"What else changed since version {self.since_version} (updates in between never reached the guard)"

    def text(self) -> str:
        """One line per change, or why there is none."""
        if self.first_sight:
            return "first sight of this worker: no earlier copy of its attributes to compare with"
        if not self.items:
            where = "in the same update" if self.since_version is None else f"since version {self.since_version}"
            return f"no other attribute changed {where}"
        lines = [change.text() for change in self.items]
        return "\n".join([*lines, f"… and {self.more} more"] if self.more else lines)

    def as_json(self) -> dict[str, Any]:
        """The changes as JSON values (stored with the drift, shown by /api/workers)."""
        items = [{"path": c.path, "before": c.before, "after": c.after} for c in self.items]
        return {
            "first_sight": self.first_sight,
            "changes": items,
            "more": self.more,
            "since_version": self.since_version,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Changes:
        """The changes back from `as_json()`."""
        items = tuple(Change(i["path"], i.get("before"), i.get("after")) for i in value.get("changes") or ())
        since = value.get("since_version")
        since = since if isinstance(since, int) else None
        return cls(items, bool(value.get("first_sight")), int(value.get("more") or 0), since_version=since)


def diff(before: Mapping[str, str] | None, after: Mapping[str, str]) -> Changes:
    """The keys added, removed or changed between two copies (contact_uri aside); first sight without `before`."""
    if before is None:
        return Changes(first_sight=True, after=after)
    paths = sorted((set(before) | set(after)) - IGNORED_PATHS)
    found = [Change(p, before.get(p), after.get(p)) for p in paths if before.get(p) != after.get(p)]
    return Changes(tuple(found[:SHOWN_MAX]), more=max(0, len(found) - SHOWN_MAX), after=after)
