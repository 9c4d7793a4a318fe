"""JSON error answers and the app-wide handlers that keep every error a clear JSON 4xx."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from guard.adapters.bounded import DatabaseSlow
from guard.adapters.db import migration_fix, not_migrated
from guard.adapters.sqlite import DatabaseFileMissing
from guard.adapters.sqlite_writers import DatabaseBusy
from guard.container import services
from guard.logs import log_event
from guard.service.slot import WriterBehind

log = logging.getLogger("guard.http")


def error_response(status: int, message: str) -> Response:
    """A JSON `{"error": ...}` answer with `status`."""
    response = jsonify(error=message)
    response.status_code = status
    return response


def bad_request(message: str, **fields: Any) -> Response:
    """400 with the reason, and a log line that names it."""
    log_event(log, logging.WARNING, "bad_request", reason=message, path=request.path, **fields)
    return error_response(400, message)


def forbidden() -> Response:
    """403 for a request whose signature does not verify (the reason is logged, not told)."""
    return error_response(403, "invalid or missing X-Twilio-Signature")


DEADLOCK = "40P01"  # PostgreSQL's SQLSTATE: one of the two transactions is rolled back, its sender retries


def database_trouble(err: Exception, path: str, engine: Engine) -> str | None:
    """Log why the database cannot take a write now and return what to answer (503), or None for anything else.

    Unreachable, the SQLite file gone, no turn within 3 s, or a PostgreSQL behind the code's migrations: nothing
    is acknowledged, so TaskRouter and Event Streams send it again. A missing table or column in a database at the
    newest migration is a bug: None, so it gets its 500 and its traceback, not a 503 for ever.
    """
    if isinstance(err, ProgrammingError | IntegrityError):
        if (missing := not_migrated(err, engine)) is None:
            return None
        log_event(log, logging.ERROR, "database_not_migrated", fix=migration_fix(engine), error=missing, path=path)
        return "database not migrated; retry later"
    fields: dict[str, str] = {}
    level = logging.ERROR
    if isinstance(err, OperationalError):  # the driver's first line: "too many connections for role …" (no password)
        reason, said = type(err.orig).__name__, "database unavailable; retry later"
        detail = (str(err.orig).strip().splitlines() or [""])[0][:300]
        url = engine.url  # a password may be the netloc's or a libpq option's (`?password=`, `?sslpassword=`)
        for secret in (url.password, url.query.get("password"), url.query.get("sslpassword")):
            detail = detail.replace(str(secret), "***") if isinstance(secret, str) and secret else detail
        fields["detail"] = detail
        if getattr(err.orig, "sqlstate", None) == DEADLOCK:  # writers here take their locks in one order
            reason, level = "deadlock", logging.WARNING
            fields["hint"] = "another transaction took the same rows in another order (a release phase's migration?)"
    elif isinstance(err, DatabaseFileMissing):
        reason, said = "file missing", "database file missing; retry later"
    # A read that got no answer in its bound (adapters/bounded.py), or the writer's batch waiting past a SQLite turn
    elif isinstance(err, DatabaseSlow) or (isinstance(err, WriterBehind) and err.stalled):
        reason, said = "no answer", "database not answering; retry later"
    elif isinstance(err, WriterBehind):  # events queued before it took its time: a burst, not an outage (yet)
        reason, said, level = "event writer behind", "database busy; retry later", logging.WARNING
    elif isinstance(err, DatabaseBusy | TimeoutError | PoolTimeout):  # no turn, or no free connection, in 3 s
        reason, said = "busy", "database busy; retry later"
    else:
        return None
    log_event(log, level, "database_unavailable", error=reason, path=path, **fields)
    return said


def register_error_handlers(app: Flask) -> None:
    """Answer a query string of no text with 400, HTTP errors as JSON, a database outage as 503, else a logged 500."""

    @app.before_request
    def _query_is_text() -> Response | None:
        """400 for a query string that is no UTF-8 (werkzeug's `request.args` would raise: a 500)."""
        try:
            request.query_string.decode("utf-8")
        except UnicodeDecodeError:
            return bad_request("the query string is not UTF-8")
        return None

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        """Werkzeug errors (404, 405, 413 …) as JSON."""
        if (err.code or 500) >= 400 and (err.code != 404 or request.method == "POST"):  # a POST: a mistyped webhook
            log_event(log, logging.WARNING, "http_error", status=err.code, reason=err.name, path=request.path)
        response = error_response(err.code or 500, err.description or err.name)
        for name, value in err.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(ProgrammingError)
    @app.errorhandler(DatabaseFileMissing)
    @app.errorhandler(DatabaseBusy)
    @app.errorhandler(TimeoutError)
    @app.errorhandler(PoolTimeout)
    def _database(err: Exception) -> Response:
        """The database cannot take the write now: 503, so the sender retries; a bug otherwise."""
        said = database_trouble(err, request.path, services().store.engine)
        return _unexpected(err) if said is None else error_response(503, said)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        """A bug: log it with its traceback and answer 500 without details."""
        log.exception("unhandled_error")
        return error_response(500, "internal error")
