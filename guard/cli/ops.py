"""The operations: `migrate` (the release phase) and `deliver` (the background worker in the foreground)."""

from __future__ import annotations

import contextlib
import signal

import click
from flask.cli import with_appcontext

from guard.adapters import db
from guard.container import services


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Apply database migrations (the Procfile's release phase runs this)."""
    db.upgrade(services().store.engine)
    click.echo("database is at the newest migration")


@click.command("deliver")
@with_appcontext
def deliver_command() -> None:
    """Run the background jobs (deliver, remediate, remind, prune) in the foreground; stops on SIGTERM."""
    jobs = services().jobs
    signal.signal(signal.SIGTERM, lambda *_: jobs.stop(timeout=0))
    with contextlib.suppress(KeyboardInterrupt):
        jobs.run_forever()
