"""What to do with a worker snapshot, a reminder or a remediation outcome: decided here, applied by the service.

The service layer reads the stored state, asks for a Decision, and applies it in one transaction: the new state,
the alert (if the verdict moved), and whether to queue a remediation. Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from guard.core.snapshot import Position, WorkerKey, WorkerSnapshot, is_replay, is_stale
from guard.core.statuses import RemediationStatus
from guard.core.text import shown
from guard.core.transitions import DELETED, AlertKind, Prior, Transition, transition
from guard.core.verdict import Kind, Verdict

NAME_MAX = 256  # a worker name in the state and alerts (Slack's header takes 150 characters anyway)


class Outcome(StrEnum):
    """What happened to one snapshot."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # its event id was seen before
    STALE = "stale"  # older than the stored state
    REPLAY = "replay"  # older than the dedup window


@dataclass(frozen=True)
class AlertDraft:
    """An alert to queue: its kind, its note, and fields for the payload beyond the worker's state."""

    kind: AlertKind
    note: str
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The new state to save (None: save nothing), the alert to queue, and whether to queue a removal."""

    outcome: Outcome
    state: Mapping[str, Any] | None = None
    alert: AlertDraft | None = None
    remediate: bool = False


def decide(
    snapshot: WorkerSnapshot,
    verdict: Verdict | None,
    stored: Mapping[str, Any] | None,
    now: datetime,
    repeat: timedelta | None = None,
    remediate: bool = False,
) -> Decision:
    """Decide for one snapshot (`verdict` None: the worker was deleted) against the `stored` state."""
    if is_replay(snapshot, now):
        return Decision(Outcome.REPLAY)
    if is_stale(snapshot, _position(stored)):
        return Decision(Outcome.STALE)
    change = transition(_prior(stored), verdict, now, repeat)
    state = _state_values(snapshot, verdict, change, stored, now)
    if change.alert is None:
        return Decision(Outcome.RECORDED, state)
    extra = {"previous_actual": (stored or {}).get("actual"), "source": snapshot.source, "version": snapshot.version}
    draft = AlertDraft(change.alert, change.note, extra)
    # Queued, never done in the request: the request path makes no network call.
    return Decision(Outcome.RECORDED, state, draft, remediate=remediate and change.alert is AlertKind.DRIFT)


def decide_intended(key: WorkerKey, stored: Mapping[str, Any] | None, label: str, now: datetime) -> Decision:
    """An approver marked the worker's value intended: it is ignored from now on, and its drift resolved."""
    if stored is None or stored["verdict"] == DELETED:
        return Decision(Outcome.RECORDED)
    detail = f"value marked intended by {label}"
    verdict = Verdict(Kind.IGNORED, stored["email"], None, stored["actual"], detail=detail)
    change = transition(_prior(stored), verdict, now)
    state = _state_values(WorkerSnapshot(key, source="slack"), verdict, change, stored, now)
    if change.alert is None:
        return Decision(Outcome.RECORDED, state)
    note = f"{detail}; the guard ignores this worker until the rule is removed on /status"
    return Decision(Outcome.RECORDED, state, AlertDraft(change.alert, note, {"source": "slack"}))


def reminder(state: Mapping[str, Any]) -> AlertDraft:
    """The reminder for a drift still open ALERT_REPEAT_HOURS after its last alert."""
    return AlertDraft(
        AlertKind.REMINDER, f"still drifting since {state['since']:%Y-%m-%d %H:%M} UTC", {"source": "reminder"}
    )


def remediation_alert(
    status: RemediationStatus, before: str | None, detail: str, actor: str, stored: Mapping[str, Any] | None, name: str
) -> tuple[dict[str, Any], AlertDraft] | None:
    """The state to show and the alert for a remediation outcome: a removal or a failure is announced, not the rest."""
    if status not in (RemediationStatus.REMOVED, RemediationStatus.FAILED):
        return None
    state = dict(stored or {"name": shown(name, NAME_MAX)})
    state["actual"] = before or state.get("actual")
    note = detail if status is RemediationStatus.REMOVED else f"remediation failed: {detail}"
    return state, AlertDraft(AlertKind.REMEDIATION, note, {"actor": actor, "result": status.value})


def alert_payload(
    key: WorkerKey, state: Mapping[str, Any], draft: AlertDraft, now: datetime, **labels: Any
) -> dict[str, Any]:
    """Everything a sink needs to render the alert, frozen from the worker's state when it was raised."""
    return {
        "kind": draft.kind.value,
        "note": draft.note,
        "account_sid": key.account_sid,
        "workspace_sid": key.workspace_sid,
        "worker_sid": key.worker_sid,
        "worker_name": state.get("name") or "",
        "email": state.get("email"),
        "expected": state.get("expected"),
        "actual": state.get("actual"),
        "diagnosis": state.get("diagnosis"),
        "detail": state.get("detail") or "",
        "basis": state.get("basis"),
        "since": state["since"].isoformat() if state.get("since") else None,
        "created_at": now.isoformat(),
        **labels,
        **draft.extra,
    }


def _position(stored: Mapping[str, Any] | None) -> Position | None:
    """The ordering position of the stored state."""
    if stored is None:
        return None
    return Position(stored["version"], stored["occurred_ms"], stored["verdict"] == DELETED)


def _prior(stored: Mapping[str, Any] | None) -> Prior | None:
    """The stored state as the transition rules see it."""
    if stored is None:
        return None
    return Prior(stored["verdict"], stored["expected"], stored["actual"], stored["since"], stored["last_alert_at"])


def _newest(a: int | None, b: int | None) -> int | None:
    """The larger of two optional positions."""
    return b if a is None else a if b is None else max(a, b)


def _state_values(
    snapshot: WorkerSnapshot,
    verdict: Verdict | None,
    change: Transition,
    stored: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """The columns to store for a worker after this snapshot."""
    previous = stored or {}
    return {
        "name": shown(snapshot.name, NAME_MAX) if snapshot.name else previous.get("name") or "",
        "email": verdict.email if verdict else previous.get("email"),
        "verdict": verdict.kind.value if verdict else DELETED,
        "expected": verdict.expected if verdict else None,
        "actual": verdict.actual if verdict else None,
        "diagnosis": verdict.diagnosis.value if verdict and verdict.diagnosis else None,
        "detail": verdict.detail if verdict else change.note,
        "basis": verdict.basis.value if verdict and verdict.basis else None,
        "version": _newest(snapshot.version, previous.get("version")),
        "occurred_ms": _newest(snapshot.occurred_ms, previous.get("occurred_ms")),
        "since": change.since,
        "updated_at": now,
        "last_alert_at": now if change.alert else previous.get("last_alert_at"),
    }
