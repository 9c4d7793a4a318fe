"""The application factory: the HTTP edge (middleware, blueprints, error answers) and the CLI around the services."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from guard import cli
from guard.cli.exits import EXIT_ERROR
from guard.config import DEFAULT_DATABASE_URL, INSTANCE, PUBLIC_BASE_URL_WARNING, Settings
from guard.container import BUILD_SERVICES, BUSY_EXIT, build_services, settings_from_env
from guard.logs import configure_logging, log_event
from handlers import event_streams, health, metrics, slack_interactions, status, taskrouter_events
from handlers.bounds import MAX_FORM_FIELDS, BoundedIntake
from handlers.drain import DrainUnreadBody
from handlers.errors import register_error_handlers
from handlers.fast_path import TaskRouterFastPath
from handlers.security import add_security_headers

log = logging.getLogger("guard.start")  # its warnings are written whatever LOG_LEVEL says (guard/logs.py)
SHARED_ROUTER_WARNING = (
    "TRUST_PROXY IS NOT SET on a Heroku dyno: every request comes from the router's address, so 10 wrong "
    "/status passwords from anyone lock everyone out for a minute; set TRUST_PROXY=true"
)

DYNO_SQLITE_WARNING = (
    "SQLITE ON A HEROKU DYNO: its disk is wiped at every restart and deploy (the state and undelivered alerts with "
    "it), and each dyno has its own; add Heroku Postgres, which sets DATABASE_URL"
)


DEV_SERVER_WARNING = (
    "guard: `flask run` starts no background jobs: alerts stay queued, undelivered, and removals, clicks and "
    "reminders wait; run `make run` (python -m guard.web) instead"
)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from `settings` (default: the environment); a bad setting exits with one line.

    Under the Flask CLI the environment is read only when a command first asks for the services, so
    `encode`, `decode` and `check` answer with no configuration and no database.
    """
    app = Flask("guard", instance_path=str(INSTANCE))
    app.url_map.merge_slashes = False  # "//taskrouter/events" is a mistyped callback URL: a logged 404, no redirect
    blueprints = (taskrouter_events.bp, event_streams.bp, slack_interactions.bp, health.bp, metrics.bp, status.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    metrics.time_requests(app)
    add_security_headers(app)
    register_error_handlers(app)
    cli.register(app)
    if settings is None and (command := click.get_current_context(silent=True)) is not None:
        app.extensions[BUILD_SERVICES] = lambda webhooks=True, vet=None: _build_for_command(app, webhooks, vet)
        # gunicorn's hooks start the jobs (gunicorn.conf.py), not this server's; said once, not by the reloader's child
        if command.info_name == "run" and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
            click.echo(DEV_SERVER_WARNING, err=True)
    else:
        _build(app, settings or settings_from_env())
    return app


def _build_for_command(app: Flask, webhooks: bool, vet: Callable[[Settings], None] | None) -> None:
    """Build the services for a command: a database busy or full is its error (2), not "drift found" (1)."""
    settings = settings_from_env(webhooks)
    if vet is not None:
        vet(settings)  # its refusal comes before any database is opened
    try:
        _build(app, settings)
    except SystemExit as stop:
        raise SystemExit(EXIT_ERROR if stop.code == BUSY_EXIT else stop.code) from None


def _build(app: Flask, settings: Settings) -> None:
    """Add the middleware the settings ask for, and the services."""
    # Under `flask <command>` stdout carries the command's output (JSON, CSV), so logs go to stderr.
    configure_logging(settings.log_level, cli=click.get_current_context(silent=True) is not None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["MAX_FORM_PARTS"] = MAX_FORM_FIELDS  # multipart; BoundedIntake counts url-encoded fields
    services = app.extensions["guard"] = build_services(settings, DEFAULT_DATABASE_URL)
    app.wsgi_app = TaskRouterFastPath(app.wsgi_app, settings, services.accounts, services.writer)  # type: ignore[method-assign]
    app.wsgi_app = BoundedIntake(app.wsgi_app, settings.max_body_bytes)  # type: ignore[method-assign]
    app.wsgi_app = DrainUnreadBody(app.wsgi_app, 4 * settings.max_body_bytes)  # type: ignore[method-assign]
    if settings.trust_proxy:
        # Heroku's router terminates TLS and appends the client: trust one hop of X-Forwarded-*, no more.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]
    if not settings.validate_signature:
        log_event(
            log, logging.WARNING, "SIGNATURE VALIDATION IS OFF: anyone can post events; never run this in production"
        )
    elif settings.reachable_from_outside and not settings.public_base_url:
        log_event(log, logging.WARNING, PUBLIC_BASE_URL_WARNING)
    if settings.dyno and settings.status_password and not settings.trust_proxy:
        log_event(log, logging.WARNING, SHARED_ROUTER_WARNING)
    database = services.store.engine.dialect.name
    if settings.dyno and database == "sqlite":
        log_event(log, logging.WARNING, DYNO_SQLITE_WARNING)
    log_event(log, logging.INFO, "app_ready", database=database, slack=bool(settings.slack_webhook_url))
