"""IGNORE_WORKERS and INTENDED_CONTACT_URIS change with a restart: the stored verdicts they flip, decided again.

A worker sends no event because a setting changed: without this, an agent newly covered stayed listed and counted
as unable to take calls (and reminded of), and one no longer covered stayed "ignored", its drift hidden, until its
next event.
"""

from __future__ import annotations

import json
from datetime import datetime

from guard.core.actions import now_ignored
from guard.core.decision import Decision, DecisionRules, decide
from guard.core.ignore import RULE_REASONS
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.state import WorkerState
from guard.core.text import shown
from guard.core.verdict import Kind

WATCHED = (Kind.MISMATCH, Kind.PENDING, Kind.NO_EMAIL)  # what the views list, count or remind of
FLIPPABLE = (*WATCHED, Kind.IGNORED)
SOURCE = "config"


def decide_rules(key: WorkerKey, stored: WorkerState, rules: DecisionRules, now: datetime) -> Decision | None:
    """The decision when the rules now say otherwise than the stored verdict (ignored or not); None when they agree."""
    verdict, judging = stored.verdict, rules.judging
    if stored.intended is not None:
        judging = judging.with_intended({key.worker_sid: (stored.intended.label, stored.intended.value)})
    reason = judging.ignore.reason(key.worker_sid, verdict.email or stored.trusted.email, verdict.actual)
    if reason is not None and verdict.kind in WATCHED:
        note = f"worker is now ignored: {reason} (the setting changed since its last event)"
        return now_ignored(key, stored, reason, note, rules.routing, now)
    if reason is None and verdict.kind is Kind.IGNORED and verdict.detail.startswith(RULE_REASONS):
        return _judged_again(key, stored, rules, now)
    return None


def _judged_again(key: WorkerKey, stored: WorkerState, rules: DecisionRules, now: datetime) -> Decision | None:
    """No rule covers the worker any more: judged on the copy of its attributes the state keeps, as an event would be.

    None when that copy is not the value that was judged (a long one is kept flattened and cut): its next event
    judges it.
    """
    try:
        attributes = json.loads(stored.attributes or "")
    except (ValueError, RecursionError):
        return None
    raw = attributes.get("contact_uri") if isinstance(attributes, dict) else None
    if not isinstance(attributes, dict) or (None if raw is None else shown(raw)) != stored.verdict.actual:
        return None
    # Its own version and no time of its own: the same update seen again, never older than the state (nor a replay)
    snapshot = WorkerSnapshot(
        key, stored.name, attributes, version=stored.version, source=SOURCE, attributes_text=stored.attributes
    )
    decision = decide(snapshot, stored, rules, now)
    return decision if decision.state is not None else None
