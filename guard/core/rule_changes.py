"""IGNORE_WORKERS and INTENDED_CONTACT_URIS change with a restart: the stored verdicts they flip, decided again.

A worker sends no event because a setting changed: without this, an agent newly covered stayed listed and counted
as unable to take calls (and reminded of), and one no longer covered stayed "ignored", its drift hidden, until its
next event. Both are judged as that event would be: on the copy of the attributes the state keeps.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from guard.core.actions import now_ignored
from guard.core.decision import Decision, DecisionRules, decide
from guard.core.evidence import IDENTITY_ATTRIBUTE, usable_text
from guard.core.ignore import RULE_REASONS
from guard.core.snapshot import KEYS_MAX, VALUE_MAX, WorkerKey, WorkerSnapshot
from guard.core.state import WorkerState
from guard.core.text import shown
from guard.core.verdict import Kind

WATCHED = (Kind.MISMATCH, Kind.PENDING, Kind.NO_EMAIL)  # what the views list, count or remind of
FLIPPABLE = (*WATCHED, Kind.IGNORED)
SOURCE = "config"
JUDGED = ("email", "contact_uri", IDENTITY_ATTRIBUTE)
REJUDGED = "judged again at the start on the attributes last received: a setting that ignored it no longer does"


def decide_rules(key: WorkerKey, stored: WorkerState, rules: DecisionRules, now: datetime) -> Decision | None:
    """The decision when the rules now say otherwise than the stored verdict (ignored or not); None when they agree."""
    verdict, judging, copy = stored.verdict, rules.judging, _faithful_copy(stored)
    if stored.intended is not None:
        judging = judging.with_intended({key.worker_sid: (stored.intended.label, stored.intended.value)})
    # As the judge checks them: the email the worker has now, else the one it knew (a verdict forced by the
    # history carries the one before: an identity rewritten along with the email)
    email = usable_text(copy.get("email")) if copy is not None else None
    reason = judging.ignore.reason(key.worker_sid, email or stored.known().email, verdict.actual)
    if reason is not None and verdict.kind in WATCHED:
        note = f"worker is now ignored: {reason} (the setting changed since its last event)"
        return now_ignored(key, stored, reason, note, rules.routing, now)
    if reason is None and verdict.kind is Kind.IGNORED and verdict.detail.startswith(RULE_REASONS) and copy:
        # Its own version and no time of its own: the same update seen again, never older than the state
        snapshot = WorkerSnapshot(
            key, stored.name, copy, version=stored.version, source=SOURCE, attributes_text=stored.attributes
        )
        decision = decide(snapshot, stored, rules, now)
        if decision.state is None:
            return None
        # No update happened: nothing "else changed", and the alert says why it comes now
        state = replace(decision.state, changes=None)
        alert = decision.alert and replace(
            decision.alert, note=f"{decision.alert.note}; {REJUDGED}", changes=None, previous_actual=None
        )
        return replace(decision, state=state, alert=alert)
    return None


def _faithful_copy(stored: WorkerState) -> dict[str, Any] | None:
    """The attributes the state keeps, when what the judge reads is there as it came; else None (its next event).

    A copy past 16 KB is kept flattened: values cut at VALUE_MAX characters, keys past KEYS_MAX dropped.
    """
    try:
        copy = json.loads(stored.attributes or "")
    except (ValueError, RecursionError):
        return None
    if not isinstance(copy, dict) or len(copy) >= KEYS_MAX:
        return None
    cut = any(
        isinstance(value := copy.get(name), str) and len(value) == VALUE_MAX and value.endswith("…") for name in JUDGED
    )
    raw = copy.get("contact_uri")
    return None if cut or (None if raw is None else shown(raw)) != stored.verdict.actual else copy
