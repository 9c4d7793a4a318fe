"""GET /healthz: database reachability and the state of the alert outbox."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from guard.container import services
from guard.core.statuses import AlertStatus

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 with outbox counts when the database answers, 503 when it does not."""
    store = services().store
    problem = store.problem()
    if problem:
        return jsonify(database=problem, pending_alerts=None, failed_alerts=None), 503
    counts = store.alerts.counts()
    pending, failed = counts.get(AlertStatus.PENDING, 0), counts.get(AlertStatus.FAILED, 0)
    return jsonify(database="ok", pending_alerts=pending, failed_alerts=failed), 200
