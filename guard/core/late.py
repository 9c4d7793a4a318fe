"""An alert that reaches Slack long after it was raised (Slack unreachable, the guard stopped, a flood) says when.

Held up through an outage, a page said "available now" about a moment long past, and an agent who went on
flapping queued one an hour, each pinging the channel when Slack came back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol, Self

LATE = timedelta(minutes=2)  # held up longer than this, a message says when its alert was raised


class _Verdict(Protocol):
    """What this reads of an alert's verdict (guard/core/verdict.py)."""

    actual: str | None


class _Spec(Protocol):
    """What this reads of an alert kind's row (guard/core/alerts.py, KindSpec)."""

    urgent: bool
    lead: str


# What the guard holds of a late page's worker when it is posted (None: not known, as for an activity it cannot place)
AWAY = (
    "away"  # its latest page, the agent in an activity known to route no tasks: still pinged (the hour rule counts it)
)
OVER = "over"  # a later page of the worker, or the episode over: nobody pinged


class PostedLate:
    """How an alert reads when posted: mixed into Alert, whose fields it reads."""

    created_at: datetime
    posted_at: datetime | None
    standing: str | None
    mention: str
    verdict: _Verdict

    @property
    def spec(self) -> _Spec:
        """The alert's row of the table (Alert's own)."""
        raise NotImplementedError

    def late(self, now: datetime) -> bool:
        """Posted more than LATE after it was raised."""
        return now - self.created_at > LATE

    def posted(self, now: datetime, standing: str | None = None) -> Self:
        """As posted at `now`: a late one carries that time; a page outdone by a later one pings nobody.

        Outdone: a later page of the worker, or the episode over. The worker's latest page still pings, the agent away
        or not: the core counts it as paged (one page an hour), so a silent one would leave the agent's return unpaged.
        """
        standing = standing if self.spec.urgent else None
        if not self.late(now):  # on time, yet over already (fixed while its cause was looked up): nobody pinged
            return replace(self, standing=OVER, mention="") if standing == OVER else self  # type: ignore[type-var]
        mention = "" if standing == OVER else self.mention
        return replace(self, posted_at=now, standing=standing, mention=mention)  # type: ignore[type-var]

    def urgent_lead(self) -> str:
        """The sentence an urgent message opens with: in the past once a later message or the agent moved on."""
        raised = f"was available at {self.created_at:%Y-%m-%d %H:%M} UTC without a working contact_uri"
        if self.standing == OVER:
            return f"{raised}; for now, see the later messages and /status"
        if self.standing == AWAY:  # with no value, Flex writes one at the next login: back, the agent rings
            back = "unable to take calls once back" if self.verdict.actual else "Flex writes one at the next login"
            return f"{raised}; in an activity that routes no tasks now: {back}"
        return self.spec.lead

    def held_up(self) -> str | None:
        """What a late message says of its delay; None for one posted on time."""
        if self.posted_at is None:
            return None
        minutes = int((self.posted_at - self.created_at).total_seconds() // 60)
        delay = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
        return f"Raised {self.created_at:%Y-%m-%d %H:%M} UTC, posted {delay} later"
