"""Flask CLI commands: `flask --app wsgi <command>`."""

from __future__ import annotations

import contextlib
import signal
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext

from guard.adapters import db
from guard.core.contact_uri import DecodeError, contact_uri_for, decode
from guard.core.verdict import Kind, judge
from guard.services import services

# Exit codes follow driftctl: 0 nothing wrong, 1 drift found, 2 error.
EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


@click.command("encode")
@click.argument("email")
def encode_command(email: str) -> None:
    """Print the contact_uri Flex derives from EMAIL, or exit 2 when EMAIL is blank."""
    if not email.strip():
        click.echo("error: the email is empty", err=True)
        raise SystemExit(EXIT_ERROR)
    click.echo(contact_uri_for(email))


@click.command("decode")
@click.argument("uri")
def decode_command(uri: str) -> None:
    """Print the email a contact_uri encodes, or exit 2 with the reason it is malformed."""
    try:
        click.echo(decode(uri))
    except DecodeError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_ERROR) from None


@click.command("check")
@with_appcontext
@click.option("--email", default=None, help="The worker's email attribute.")
@click.option("--contact-uri", "contact_uri", default=None, help="The worker's contact_uri attribute.")
def check_command(email: str | None, contact_uri: str | None) -> None:
    """Print the verdict and diagnosis; exit 0 for ok or pending, 1 for drift."""
    attributes: dict[str, Any] = {"email": email, "contact_uri": contact_uri}
    verdict = judge(attributes, ignore=services().settings.ignore)
    click.echo(f"verdict:  {verdict.kind}")
    if verdict.expected:
        click.echo(f"expected: {verdict.expected}")
    if verdict.actual:
        click.echo(f"actual:   {verdict.actual}")
    if verdict.detail:
        click.echo(f"detail:   {verdict.detail}")
    raise SystemExit(EXIT_DRIFT if verdict.kind is Kind.MISMATCH else EXIT_OK)


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Apply database migrations (the Procfile's release phase runs this)."""
    db.upgrade(services().store.engine)
    click.echo("database is at the newest migration")


@click.command("deliver")
@with_appcontext
def deliver_command() -> None:
    """Deliver queued alerts in the foreground (a Procfile `worker:` process); stops on SIGTERM."""
    dispatcher = services().dispatcher
    signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop(timeout=0))
    with contextlib.suppress(KeyboardInterrupt):
        dispatcher.run_forever()


def register(app: Flask) -> None:
    """Add the commands to `app.cli`."""
    from guard.audit_cli import audit_command

    commands = (encode_command, decode_command, check_command, migrate_command, deliver_command, audit_command)
    for command in commands:
        app.cli.add_command(command)
