"""GET /status (HTML) and GET /api/workers (JSON) for operators, behind HTTP basic auth."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request, url_for

from guard.adapters.worker_listing import DEFAULT_SORT, SORTS
from guard.clock import utcnow
from guard.container import services
from guard.core.cause import Cause, carried_by
from guard.core.changes import Changes
from guard.core.evidence import basis_text
from guard.core.snapshot import WorkerKey
from guard.core.statuses import AlertStatus
from guard.core.text import printable
from guard.core.verdict import Kind
from guard.logs import log_event
from guard.metrics import intake_outcomes
from handlers.errors import bad_request, error_response
from handlers.headline import headline
from handlers.login_throttle import failed_login, refused
from handlers.reads import bounded_read

bp = Blueprint("status", __name__, template_folder="templates")
log = logging.getLogger("guard.status")
VERDICTS = tuple(kind.value for kind in Kind)
QUIET_VERDICTS = (Kind.OK, Kind.PENDING, Kind.IGNORED, Kind.NO_EMAIL)
LARGEST_ID = 2**63 - 1  # BIGINT (SQLite's INTEGER too): a larger id names no row, and would overflow the query


@bp.before_request
def require_login() -> Response | None:
    """404 when no STATUS_PASSWORD is set (never open to the world); 401 unless the credentials match."""
    settings = services().settings
    if not settings.status_password:
        abort(404)
    if (waits := refused()) is not None:
        return waits
    try:
        auth, garbled = request.authorization, False
    except ValueError:  # werkzeug's base64 decode of a header that is no ASCII: a failed login, never a 500
        auth, garbled = None, True
    garbled = garbled or (auth is None and bool(request.headers.get("Authorization")))  # `Basic !!!!`: no base64
    user = (auth.username or "") if auth and auth.type == "basic" else ""
    password = (auth.password or "") if auth and auth.type == "basic" else ""
    # Both comparisons always run, in constant time, so timing tells nothing about which one failed.
    user_ok = hmac.compare_digest(user.encode(), settings.status_user.encode())
    password_ok = hmac.compare_digest(password.encode(), settings.status_password.encode())
    if user_ok & password_ok:
        return None
    if auth is not None or garbled:  # no credentials at all: a browser's challenge, not a guess
        # Whether the user name was right, never the name sent: a password typed into that field would be logged.
        failed_login(log, "status_login_failed", user_known=user_ok)
    response = error_response(401, "authentication required")
    response.headers["WWW-Authenticate"] = 'Basic realm="contact_uri guard", charset="UTF-8"'
    return response


@bp.after_request
def no_store(response: Response) -> Response:
    """Status data is live and sensitive: never cache it."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/status")
@bounded_read
def status_page() -> Response:
    """The overview: health, workers in drift, counts, recent alerts."""
    store = services().store
    text = _search_text()
    sort = request.args.get("sort", "")
    sort = sort if sort in SORTS else DEFAULT_SORT  # the page is forgiving; the JSON API says 400
    g.csp_nonce = secrets.token_urlsafe(16)
    verdicts, health = store.listing.verdict_counts(), _health()
    # the headline counts every worker, whatever the search: a filter never reads as "all clear"
    totals = (store.listing.unreachable_count(), verdicts.get(Kind.MISMATCH, 0), sum(verdicts.values()))
    drift = store.listing.listing(None, text, sort, cannot_ring=True, named=services().accounts.named(text))
    context = {
        "health": health,
        "headline": headline(totals, health["failed_deliveries"], intake_outcomes(), store.records.latest_audit_runs()),
        "drift": [_display(w) for w in drift],
        "truncated": drift.truncated,  # past LISTED_MAX rows: the page says so
        "counts": {v: verdicts.get(v, 0) for v in QUIET_VERDICTS},  # "other workers": less those listed above
        "listed_pending": store.listing.unreachable_count(Kind.PENDING),
        "alerts": [_display(a) for a in store.alerts.recent()],
        "intended": [{**_display(r), "token": _removal_token(r)} for r in store.intended.rules()],
        "q": text,
        "sort": sort,
        "nonce": g.csp_nonce,
        "as_of": f"{utcnow():%Y-%m-%d %H:%M:%S} UTC",  # the page does not refresh itself: say when it was true
    }
    response = Response(render_template("status.html", **context))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{g.csp_nonce}'; script-src 'nonce-{g.csp_nonce}'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


@bp.post(f"/status/intended/<int(max={LARGEST_ID}):rule_id>/remove")
def remove_intended(rule_id: int) -> Response:
    """Remove a rule an approver made from Slack; the next event or audit judges the worker as usual."""
    sent = request.form.get("token", "")
    intended = services().store.intended
    rule = intended.rule(rule_id)
    # Browsers resend basic-auth credentials on any site's form: the token proves the form came from our page.
    if rule is not None and not hmac.compare_digest(sent.encode(), _removal_token(rule).encode()):
        # What a cross-site forgery looks like (or a page older than the rule): said, as every refusal is
        log_event(log, logging.WARNING, "status_form_refused", rule_id=rule_id, why="missing or wrong form token")
        return error_response(403, "missing or wrong form token; reload /status")
    removed = intended.remove(rule_id, rule["created_at"]) if rule is not None else None
    if removed is None:
        return error_response(404, "no such rule")
    log_event(log, logging.INFO, "intended_rule_removed", worker_sid=removed["worker_sid"], actor=removed["actor"])
    return redirect(url_for("status.status_page"), code=303)


@bp.get("/api/workers")
@bounded_read
def api_workers() -> Response | tuple[Response, int]:
    """The same data as JSON: `?verdict=mismatch`, `?q=text`, `?sort=since_desc|since_asc|name`."""
    verdict = request.args.get("verdict") or None
    if verdict and verdict not in VERDICTS:
        return bad_request(f"verdict must be one of: {', '.join(VERDICTS)}")
    sort = request.args.get("sort") or DEFAULT_SORT
    if sort not in SORTS:
        return bad_request(f"sort must be one of: {', '.join(SORTS)}")
    store = services().store
    text = _search_text()
    workers = store.listing.listing(verdict, text, sort, named=services().accounts.named(text))
    counts, unreachable = store.listing.verdict_counts(), store.listing.unreachable_count()
    rows = [_jsonable(w) for w in workers]
    return jsonify(counts=counts, unreachable=unreachable, health=_health(), workers=rows, truncated=workers.truncated)


def _removal_token(rule: Mapping[str, Any]) -> str:
    """The form token for removing one rule: only a page served with the status password can hold it.

    It names the rule's worker and time (SQLite gives a deleted rule's id to the next one), and its key holds the
    accounts' auth tokens too: a saved page is no way to test password guesses offline.
    """
    settings = services().settings
    parts = [settings.status_password or "", *(account.auth_token or "" for account in settings.accounts)]
    key = hashlib.sha256("\0".join(parts).encode()).digest()
    message = f"remove-intended:{rule['id']}:{rule['worker_sid']}:{rule['created_at']}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _search_text() -> str:
    """The filter text, capped so a huge query string cannot become a huge LIKE pattern."""
    return request.args.get("q", "")[:100]


def _health() -> dict[str, Any]:
    """Database, outbox and last-audit figures for the header."""
    store = services().store
    counts = store.alerts.counts()
    last = store.records.last_audit_run()
    audit = None
    if last:
        audit = {"finished_at": last["finished_at"].isoformat(), "exit_code": last["exit_code"]}
        audit["counts"] = json.loads(last["counts"])
        audit["workspace_sid"] = last["workspace_sid"]
    return {
        "database": "ok",  # the queries above would have raised (503) otherwise
        "outbox_backlog": counts.get(AlertStatus.PENDING, 0),
        "failed_deliveries": counts.get(AlertStatus.FAILED, 0),
        "last_audit": audit,
    }


def _display(row: dict[str, Any]) -> dict[str, Any]:
    """Add human time fields, what else changed and who changed it to a row for the template."""
    row = _parsed(row)
    row["basis_text"] = basis_text(row.get("basis"))
    if services().settings.listed_accounts and row.get("account_sid"):  # several accounts: say whose it is
        routing = services().accounts.routing_for(WorkerKey(row["account_sid"], row["workspace_sid"], ""))
        row["where"] = f"{routing.account_label} · {routing.workspace_label}"
    if row.get("changes"):
        changes = Changes.from_json(row["changes"])
        row["changes_text"], row["changes_heading"] = changes.text(), changes.heading()
    if row.get("cause"):
        changes = Changes.from_json(row["changes"]) if row.get("changes") else None
        row["cause_text"] = carried_by(Cause.from_json(row["cause"]), changes)
    for name in ("since", "created_at", "remediation_at"):
        if isinstance(row.get(name), datetime):
            row[f"{name}_text"] = f"{row[name]:%Y-%m-%d %H:%M} UTC"
            row[f"{name}_ago"] = _ago(row[name])
            row[f"{name}_iso"] = row[name].isoformat()
    # What an attribute editor wrote cannot pass for the guard's words (a U+202E reverses a value on screen)
    return {k: "\n".join(map(printable, v.split("\n"))) if isinstance(v, str) else v for k, v in row.items()}


def _ago(moment: datetime) -> str:
    """'5 min ago', '3 h ago', '2 d ago'."""
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A worker row with times as ISO strings, and what else changed and who changed it as objects."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in _parsed(row).items()}


def _parsed(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its JSON columns (changes, cause) read; an unreadable one, or one holding no object, as absent."""
    row = dict(row)
    for name in ("changes", "cause"):
        try:
            row[name] = json.loads(row[name]) if isinstance(row.get(name), str) else row.get(name)
        except ValueError:
            row[name] = None
        row[name] = row[name] if isinstance(row[name], dict) else None
    return row
