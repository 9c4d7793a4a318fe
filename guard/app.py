"""The application factory."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from guard.adapters import db
from guard.adapters.outbox import ClaimedAlert
from guard.adapters.slack import SlackNotifier
from guard.adapters.store import Store
from guard.config import ConfigError, Settings
from guard.delivery import Dispatcher
from guard.logs import configure_logging, log_event
from guard.pipeline import Guard
from guard.remediation import RemediationJobs, api_factory
from guard.services import BUILD_SERVICES, Services
from handlers.drain import DrainUnreadBody
from handlers.fast_path import IgnoredEventFastPath

log = logging.getLogger("guard")
# Exit code gunicorn treats as "worker failed to boot": the master stops instead of respawning forever.
CONFIG_ERROR_EXIT = 3
PUBLIC_BASE_URL_WARNING = (
    "PUBLIC_BASE_URL IS NOT SET: signatures are checked against the Host header each request names, so a "
    "deployment on the same Twilio account can replay its callbacks here; set PUBLIC_BASE_URL=https://<your host>"
)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from `settings` (default: the environment); a bad setting exits with one line.

    Under the Flask CLI the environment is read only when a command first asks for the services, so
    `encode`, `decode` and `check` answer with no configuration and no database.
    """
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    _register(app)
    if settings is None and click.get_current_context(silent=True) is not None:
        app.extensions[BUILD_SERVICES] = lambda: _build(app, _settings_from_env())
    else:
        _build(app, settings or _settings_from_env())
    return app


def _settings_from_env() -> Settings:
    """The environment's settings, or exit with one line naming the bad or missing variable."""
    try:
        return Settings.from_env()
    except ConfigError as err:
        print(f"guard: configuration error: {err}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT) from None


def _build(app: Flask, settings: Settings) -> Services:
    """Wire the store, pipeline and delivery to `app`, with the middleware the settings ask for."""
    # Under `flask <command>` stdout carries the command's output (JSON, CSV), so logs go to stderr.
    configure_logging(settings.log_level, cli=click.get_current_context(silent=True) is not None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.wsgi_app = IgnoredEventFastPath(app.wsgi_app, settings)  # type: ignore[method-assign]
    app.wsgi_app = DrainUnreadBody(app.wsgi_app, 4 * settings.max_body_bytes)  # type: ignore[method-assign]
    if settings.trust_proxy:
        # Heroku's router terminates TLS: trust one hop of X-Forwarded-Proto/Host/Port, no more.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]

    store = Store(db.make_engine(settings.database_url or f"sqlite:///{app.instance_path}/guard.db"))
    if store.engine.dialect.name == "sqlite":
        db.upgrade(store.engine)  # the embedded default creates and migrates itself
    guard = Guard(settings, store)
    dispatcher = Dispatcher(
        store,
        _notifiers(settings),
        retry_max_seconds=settings.retry_max_seconds,
        lease=timedelta(seconds=2 * settings.slack_timeout_seconds + 2),
    )
    guard.listeners.append(dispatcher.wake)
    dispatcher.periodic.append(guard.send_reminders)
    if settings.remediate == "remove":
        dispatcher.tasks.append(RemediationJobs(guard, api_factory(settings)).run_pending)
    built = app.extensions["guard"] = Services(settings, store, guard, dispatcher)

    if not settings.validate_signature:
        log_event(
            log, logging.WARNING, "SIGNATURE VALIDATION IS OFF: anyone can post events; never run this in production"
        )
    elif settings.port and not settings.public_base_url:
        log_event(log, logging.WARNING, PUBLIC_BASE_URL_WARNING)
    log_event(
        log, logging.INFO, "app_ready", database=store.engine.dialect.name, slack=bool(settings.slack_webhook_url)
    )
    return built


def _notifiers(settings: Settings) -> Callable[[ClaimedAlert], SlackNotifier | None]:
    """The lookup from an alert to the Slack notifier of its account (one client per webhook URL)."""
    clients: dict[str, SlackNotifier] = {}

    def notifier_for(alert: ClaimedAlert) -> SlackNotifier | None:
        """The notifier for this alert's account, or None when it has no Slack webhook."""
        url = settings.slack_url_for(alert.key.account_sid)
        if url is None:
            return None
        if url not in clients:
            clients[url] = SlackNotifier(url, settings.slack_timeout_seconds)
        return clients[url]

    return notifier_for


def _register(app: Flask) -> None:
    """Attach blueprints, error handlers and CLI commands."""
    from guard import cli
    from handlers import event_streams, health, metrics, status, taskrouter_events
    from handlers.errors import register_error_handlers
    from handlers.security import add_security_headers

    app.register_blueprint(taskrouter_events.bp)
    app.register_blueprint(event_streams.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(status.bp)
    metrics.time_requests(app)
    add_security_headers(app)
    register_error_handlers(app)
    cli.register(app)
