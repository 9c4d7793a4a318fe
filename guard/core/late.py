"""An alert that reaches Slack long after it was raised (Slack unreachable, the guard stopped, a flood) says when.

Held up through an outage, a page said "available now" about a moment long past, and an agent who went on
flapping queued one an hour, each pinging the channel when Slack came back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol, Self

LATE = timedelta(minutes=2)  # held up longer than this, a message says when its alert was raised


class _Spec(Protocol):
    """What this reads of an alert kind's row (guard/core/alerts.py, KindSpec)."""

    urgent: bool
    lead: str


class PostedLate:
    """How an alert reads when posted: mixed into Alert, whose fields it reads."""

    created_at: datetime
    posted_at: datetime | None
    over: bool
    mention: str

    @property
    def spec(self) -> _Spec:
        """The alert's row of the table (Alert's own)."""
        raise NotImplementedError

    def late(self, now: datetime) -> bool:
        """Posted more than LATE after it was raised."""
        return now - self.created_at > LATE

    def posted(self, now: datetime, stands: bool | None = None) -> Self:
        """As posted at `now`: a late one carries that time; a late page that no longer stands pings nobody.

        `stands`: whether the page is still the worker's latest and its agent still cannot take calls, by what the
        guard holds at `now` (None: not known, as for an activity it cannot place: the page goes out as raised).
        """
        if not self.late(now):
            return self
        over = self.spec.urgent and stands is False
        return replace(self, posted_at=now, over=over, mention="" if over else self.mention)  # type: ignore[type-var]

    def urgent_lead(self) -> str:
        """The sentence an urgent message opens with: in the past once a later message or the agent moved on."""
        if not self.over:
            return self.spec.lead
        raised = f"{self.created_at:%Y-%m-%d %H:%M} UTC"
        return f"was available at {raised} without a working contact_uri; for now, see the later messages and /status"

    def held_up(self) -> str | None:
        """What a late message says of its delay; None for one posted on time."""
        if self.posted_at is None:
            return None
        minutes = int((self.posted_at - self.created_at).total_seconds() // 60)
        delay = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
        return f"Raised {self.created_at:%Y-%m-%d %H:%M} UTC, posted {delay} later"
