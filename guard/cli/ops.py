"""The operations: `migrate` (the release phase), `deliver` (the background worker) and `resend` (after an outage)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
from datetime import timedelta
from typing import NoReturn

import click
from flask.cli import with_appcontext
from sqlalchemy import URL, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from guard.adapters import db
from guard.adapters.sqlite import RECOVERED, sqlite_file
from guard.clock import utcnow
from guard.config import DEFAULT_DATABASE_URL, Settings
from guard.container import services


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Apply database migrations (the Procfile's release phase runs this) and say what that did."""
    svc = services()
    try:  # SQLite migrates itself when the services are built: report that run rather than a second, empty one.
        before, after = svc.migrated or db.upgrade(svc.store.engine)
    except OperationalError as err:  # one line, as a bad setting gets, not a traceback of the driver's
        _unreachable(err)
    except db.DatabaseAhead as err:  # a rollback past a migration: Heroku's release phase stops on this line
        click.echo(f"error: {err}", err=True)
        raise SystemExit(2) from None
    if before == after:
        click.echo(f"database already at the newest migration, {after}")
    else:
        click.echo(f"database migrated from {before or 'empty (every table created)'} to {after}")


@click.command("deliver")
@with_appcontext
def deliver_command() -> None:
    """Run every background job until SIGTERM: alerts, clicks, removals, reminders, pruning, activities, lookups."""
    jobs = services().jobs
    signal.signal(signal.SIGTERM, lambda *_: jobs.stop(timeout=0))
    with contextlib.suppress(KeyboardInterrupt):
        jobs.run_forever()
    jobs.stop()  # the other lanes finish the job in flight (a removal, a click) before the process ends


HOURS_MAX = 1_000_000.0  # over a century: "all of them", and still a date


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """`--hours` as a number of hours (click's range lets NaN through)."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("must be a number of hours", ctx, param)
    return value


@click.command("resend")
@click.option(
    "--hours", type=click.FloatRange(0, HOURS_MAX, min_open=True), callback=_finite, help="Only the last HOURS' alerts."
)
@with_appcontext
def resend_command(hours: float | None) -> None:
    """Queue again the alerts Slack refused for good (an archived channel, a webhook removed), once it is fixed."""
    now, store = utcnow(), services(vet=_existing_file).store
    where = _shown(store.engine.url)
    try:
        if not store.alerts.counts():  # a mistyped DATABASE_URL: SQLite made a new, empty file just now
            click.echo(f"error: {where} holds no alert at all: is DATABASE_URL the service's?", err=True)
            raise SystemExit(2)
        queued, left = store.alerts.requeue_failed(now, None if hours is None else now - timedelta(hours=hours))
    except OperationalError as err:
        _unreachable(err)
    except ProgrammingError as err:  # a database that exists and was never migrated (a mistyped name, a new add-on)
        if (missing := db.not_migrated(err, store.engine)) is None:
            raise
        click.echo(f"error: {where} has no guard tables ({missing}): run `{db.MIGRATE_COMMAND}` first", err=True)
        raise SystemExit(2) from None
    said = f"{queued} failed alert{'' if queued == 1 else 's'} queued again"
    if left:
        said += f" ({left} left: a later alert of the same worker was delivered)"
    click.echo(f"{said} in {where}; delivery sends them (the service's, or `flask --app wsgi deliver`)")


def _existing_file(settings: Settings) -> None:
    """Refuse a SQLite file that does not exist (a mistyped path) before one is made: there is nothing to resend."""
    database = sqlite_file(make_url(settings.database_url or DEFAULT_DATABASE_URL))
    if database is not None and not any(os.path.exists(path) for path in (database, database + RECOVERED)):
        click.echo(f"error: {database} does not exist: is DATABASE_URL the service's?", err=True)
        raise SystemExit(2)


def _shown(url: URL) -> str:
    """The database's URL without its password, also one given as a libpq option (`?password=`)."""
    hidden = {name: "***" for name in ("password", "sslpassword") if name in url.query}
    return url.update_query_dict(hidden).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def _unreachable(err: OperationalError) -> NoReturn:
    """Say in one line that the database cannot be reached, and exit 2."""
    reason = str(err.orig).strip().splitlines()[0] if err.orig else type(err).__name__
    click.echo(f"error: the database cannot be reached: {reason}", err=True)
    raise SystemExit(2) from None
