"""The command line, `flask --app wsgi <command>`: lookups, operations and the audit."""

from __future__ import annotations

from flask import Flask

from guard.cli.audit import audit_command
from guard.cli.lookup import check_command, decode_command, encode_command
from guard.cli.ops import deliver_command, migrate_command, resend_command

COMMANDS = (
    encode_command,
    decode_command,
    check_command,
    migrate_command,
    deliver_command,
    resend_command,
    audit_command,
)


def register(app: Flask) -> None:
    """Add the commands to `app.cli`."""
    for command in COMMANDS:
        app.cli.add_command(command)
