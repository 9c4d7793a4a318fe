"""The decisions no worker event carries: a value marked intended, a removal, a reminder, a learned activity.

Each returns a Decision the service applies like an event's (guard/core/decision.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from guard.core.activity import Activity, unreachable
from guard.core.alerts import Alert, AlertKind, Routing, raise_alert
from guard.core.decision import NAME_MAX, Decision, DecisionRules, Outcome
from guard.core.history import still_watched
from guard.core.snapshot import WorkerKey
from guard.core.state import Intended, WorkerState
from guard.core.statuses import RemediationStatus
from guard.core.text import shown
from guard.core.transitions import STILL_UNREACHABLE, transition
from guard.core.verdict import Kind, Verdict


def decide_intended(
    key: WorkerKey, stored: WorkerState | None, intended: Intended, routing: Routing, now: datetime
) -> Decision:
    """An approver marked the worker's value intended: it is ignored from now on, and its drift resolved."""
    if stored is None or stored.deleted:
        return Decision(Outcome.RECORDED)
    detail = f"value marked intended by {intended.label}"
    note = f"{detail}; the guard ignores this worker until the rule is removed on /status"
    return now_ignored(key, stored, detail, note, routing, now, intended=intended)


def now_ignored(
    key: WorkerKey, stored: WorkerState, detail: str, note: str, routing: Routing, now: datetime, **kept: Any
) -> Decision:
    """The worker is ignored from now on (`detail` says why): its drift or page resolved, saying `note`."""
    verdict = Verdict(Kind.IGNORED, stored.verdict.email, None, stored.verdict.actual, detail=detail)
    change = transition(stored, verdict, now)
    last_alert_at = now if change.alert else stored.last_alert_at
    state = replace(stored, verdict=verdict, since=change.since, updated_at=now, last_alert_at=last_alert_at, **kept)
    state = replace(state, urgent_at=None)  # ignored: the broken episode is over
    if change.alert is None:
        return Decision(Outcome.RECORDED, state=state, closes=True)
    answers_page = change.alert is AlertKind.RESOLVED and stored.urgent_at is not None  # in the pages' turn
    alert = raise_alert(change.alert, note, key, state, routing, now, answers_page=answers_page)
    return Decision(Outcome.RECORDED, state=state, alert=alert, closes=True)


def decide_available(
    key: WorkerKey,
    stored: WorkerState,
    available: bool | None,
    rules: DecisionRules,
    now: datetime,
    name: str | None = None,
) -> Decision:
    """The guard learned whether the worker's activity routes tasks (and its `name`): store it; page if unreachable."""
    change = transition(stored, stored.verdict, now, None, available, stored.activity_sid)  # learned, not moved
    last_alert_at = now if change.alert else stored.last_alert_at
    state = replace(
        stored,
        available=available,
        activity_name=name or stored.activity_name,
        urgent_at=change.urgent_at,
        updated_at=now,
        last_alert_at=last_alert_at,
    )
    if change.alert is None:
        return Decision(Outcome.RECORDED, state=state)
    alert = raise_alert(change.alert, change.note, key, state, rules.routing, now, source="activity")
    return Decision(Outcome.RECORDED, state=state, alert=alert)


NO_VALUE = "no contact_uri until the agent signs out and in again"


def _overtaken(stored: WorkerState, sent_ms: int | None) -> bool:
    """True when an event recorded since the update was sent began the state's episode (its own update, a login).

    Both times are this clock's; a value back, or another, then stands (a stamp of TaskRouter's could be skewed).
    """
    return sent_ms is not None and not stored.deleted and stored.since.timestamp() * 1000 > sent_ms


def reminder(key: WorkerKey, state: WorkerState, routing: Routing, now: datetime) -> Alert:
    """The reminder for a drift (or an available agent with no value) open ALERT_REPEAT_HOURS after its last alert."""
    since = f"since {state.since:%Y-%m-%d %H:%M} UTC"
    # An agent without a value: the time is the value's (it may have gone days before the agent became available)
    no_value = f"still unable to take calls (available, with no contact_uri {since}): {NO_VALUE}"
    drifting = f"still drifting {since}"
    if unreachable(state.verdict, state.available):  # as the page said: the reminder says it again
        drifting = f"{drifting}; available now: calls cannot reach this agent"
    note = drifting if state.verdict.drifting else no_value
    return raise_alert(AlertKind.REMINDER, note, key, state, routing, now, source="reminder")


def decide_removal(
    key: WorkerKey,
    stored: WorkerState | None,
    name: str,
    removal: tuple[RemediationStatus, str | None, str, str],
    routing: Routing,
    now: datetime,
    activity: Activity | None = None,
    sent_ms: int | None = None,
) -> Decision:
    """A remediation's (status, value before, detail, actor): a removal leaves the worker pending, and is announced.

    `activity` is what the removal's fresh fetch saw: newer than the stored one (an event not in yet).
    `sent_ms`: when the update was sent (this clock). A state an event recorded since began stands.

    The state says at once what is left (Flex writes the value at the agent's next login), whether or not the
    update's own event ever arrives.
    """
    status, before, detail, actor = removal
    if status not in (RemediationStatus.REMOVED, RemediationStatus.FAILED):
        return Decision(Outcome.RECORDED)
    if stored is None:  # remediated without state (an audit that did not --alert): what the removal saw
        stored = WorkerState(shown(name, NAME_MAX), Verdict(Kind.MISMATCH, actual=before), now, now)
    elif status is RemediationStatus.REMOVED and _overtaken(stored, sent_ms):
        note = f"{detail}; {STILL_UNREACHABLE}" if unreachable(stored.verdict, stored.available) else detail
        shown_state = replace(stored, verdict=replace(stored.verdict, actual=before))
        alert = raise_alert(
            AlertKind.REMEDIATION, note, key, shown_state, routing, now, actor=actor, result=status.value
        )
        removing = shown(before) if before and stored.verdict.broken else stored.removed  # a value back is watched
        watched = still_watched(stored.removed, stored.watched, removing)
        state = replace(stored, removed=removing, watched=watched, last_alert_at=now)
        return Decision(Outcome.RECORDED, state=state, alert=alert)
    before_fetch = stored
    if activity is not None and activity.available is not None:
        stored = replace(stored, activity_sid=activity.sid, activity_name=activity.name, available=activity.available)
    shown_state = replace(stored, verdict=replace(stored.verdict, actual=before or stored.verdict.actual))
    note = detail if status is RemediationStatus.REMOVED else f"remediation failed: {detail}"
    if status is RemediationStatus.REMOVED and stored.available:
        note = f"{note}; {STILL_UNREACHABLE}"
    alert = raise_alert(AlertKind.REMEDIATION, note, key, shown_state, routing, now, actor=actor, result=status.value)
    if status is not RemediationStatus.REMOVED or stored.deleted:  # removed: no value now, whatever it was judged
        return Decision(Outcome.RECORDED, alert=alert)
    pending = replace(stored, verdict=stored.verdict.removed(actor), since=now, updated_at=now, last_alert_at=now)
    # Remember the value (history.CAME_BACK), and move the position to when the update was sent, past the stored one
    # even if this clock is behind TaskRouter's: a copy of an older update (the other intake, an earlier fetch) is
    # stale now, not a value back; an event made after it is newer (decision._after_removal).
    at_ms = max((stored.occurred_ms or 0) + 1, sent_ms if sent_ms is not None else int(now.timestamp() * 1000))
    removing = shown(before) if before else stored.removed
    watched = still_watched(stored.removed, stored.watched, removing)
    pending = replace(pending, removed=removing, watched=watched, occurred_ms=at_ms)
    # The fetch saw the agent available and the guard had not paged it: this removal is the page, or nobody ever is
    # (the removal's own update would find the agent already unreachable)
    pending = replace(pending, changes=None, cause=None)  # the drift's update's: not this removal's
    page = transition(before_fetch, pending.verdict, now, None, stored.available, stored.activity_sid)
    # Its message says the agent must sign in again: unlike a "resolved", it keeps the page's quiet (a script the
    # guard keeps undoing would otherwise page at each of a flapping agent's returns)
    if page.alert is AlertKind.URGENT:
        pending = replace(pending, urgent_at=page.urgent_at)
        note = f"{page.note} (removed by {actor}; it was {shown(before) if before else 'no value'})"
        alert = raise_alert(AlertKind.URGENT, note, key, pending, routing, now, actor=actor, result=status.value)
    return Decision(Outcome.RECORDED, state=pending, alert=alert)
