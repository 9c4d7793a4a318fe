"""An alert that reaches Slack long after it was raised (Slack unreachable, the guard stopped) says when it was."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from guard.core.alerts import Alert
from guard.core.transitions import URGENT_QUIET

LATE = timedelta(minutes=2)  # held up longer than this, a message says when its alert was raised


def as_posted(alert: Alert, now: datetime) -> Alert:
    """`alert` as posted at `now`: a late one carries that time, and an urgent one an hour late pings nobody.

    Held up through an outage, a page said "available now" about a moment long past; and an agent who went on
    flapping queued one an hour, all sent together when Slack came back, each pinging the channel.
    """
    late = now - alert.created_at
    if late < LATE:
        return alert
    return replace(alert, posted_at=now, mention=alert.mention if late < URGENT_QUIET else "")


def urgent_lead(alert: Alert) -> str:
    """The sentence an urgent message opens with: "now" only when it is posted on time."""
    if alert.posted_at is None:
        return alert.spec.lead
    return f"available at {alert.created_at:%H:%M} UTC: calls could not reach this agent then"


def held_up(alert: Alert) -> str | None:
    """What a late message says of its delay; None for one posted on time."""
    if alert.posted_at is None:
        return None
    minutes = int((alert.posted_at - alert.created_at).total_seconds() // 60)
    delay = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
    raised = f"{alert.created_at:%Y-%m-%d %H:%M} UTC"
    return f"Raised {raised}, posted {delay} late (Slack could not be reached, or the guard was stopped)"
