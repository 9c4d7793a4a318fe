"""GET /healthz: database reachability and the state of the alert outbox."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from guard.adapters.bounded import DatabaseSlow
from guard.container import services
from guard.core.statuses import AlertStatus

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 with outbox counts when the database answers (in PROBE_SECONDS) and events get written, else 503."""
    svc = services()
    try:  # a batch for ever on one connection (it hangs): this process answers events 503, whatever a probe says
        problem, counts = (
            ("event writer stuck", None) if svc.writer.stuck() else svc.store.probes.shared("health", svc.store.health)
        )
    except DatabaseSlow:  # a SQLite file answers; its probe waits for the write turn another writer holds
        problem, counts = "busy" if svc.store.turn_shared else "unreachable", None
    if problem or counts is None:
        return jsonify(database=problem, pending_alerts=None, failed_alerts=None), 503
    pending, failed = counts.get(AlertStatus.PENDING, 0), counts.get(AlertStatus.FAILED, 0)
    return jsonify(database="ok", pending_alerts=pending, failed_alerts=failed), 200
