"""The lookups: `encode`, `decode` and `check`. Pure core calls, so they need no configuration and no database."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click

from guard.cli.exits import EXIT_DRIFT, EXIT_ERROR, EXIT_OK
from guard.config.env import ConfigError, EnvReader
from guard.container import CONFIG_ERROR_EXIT
from guard.core.contact_uri import DecodeError, contact_uri_for, decode
from guard.core.deep_json import top_level
from guard.core.evidence import IDENTITY_ATTRIBUTE, Policy
from guard.core.ignore import IgnoreRules
from guard.core.rules import Rules
from guard.core.text import hidden, printable, shown_plainly, trimmed
from guard.core.verdict import Kind


@click.command("encode")
@click.argument("email")
def encode_command(email: str) -> None:
    """Print the contact_uri Flex derives from EMAIL (or a username identity); exit 2 when it is blank."""
    if not any(not hidden(char) for char in trimmed(email)):  # spaces, or invisible: `client:` alone never rings
        click.echo("error: the email is empty", err=True)
        raise SystemExit(EXIT_ERROR)
    click.echo(contact_uri_for(trimmed(email)))  # as the verdict reads an email with a paste's spaces around it


@click.command("decode")
@click.argument("uri")
def decode_command(uri: str) -> None:
    """Print the identity (usually the email) a contact_uri encodes, or exit 2 with the reason it is malformed."""
    try:
        click.echo(shown_plainly(decode(uri)))  # what an editor wrote: nothing hidden, nothing blurred
    except DecodeError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_ERROR) from None


def _refused(ctx: click.Context, param: click.Parameter, problem: str) -> NoReturn:
    """A bad value: from its environment variable, one line and exit 3, as the service starts; else a usage error."""
    if ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.ENVIRONMENT:
        click.echo(f"guard: configuration error: {param.envvar} {problem}", err=True)
        raise SystemExit(CONFIG_ERROR_EXIT)
    raise click.BadParameter(problem, ctx, param, param.opts[0])


def _policy(ctx: click.Context, param: click.Parameter, value: str) -> Policy:
    """The policy asked for; a bad one named where it came from (IDENTITY_POLICY or --policy)."""
    if not value.strip() and ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.ENVIRONMENT:
        return Policy.FLEX  # a blank variable is the default, as the service reads it
    try:
        return Policy(value.strip().lower())
    except ValueError:
        _refused(ctx, param, "must be flex or email")


def _rules(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """IGNORE_WORKERS or INTENDED_CONTACT_URIS rules, refused as the service refuses them at start."""
    name = str(param.envvar)
    read = EnvReader({name: value}).ignore_rules if name == "IGNORE_WORKERS" else EnvReader({name: value}).value_globs
    try:
        return read(name)
    except ConfigError as err:
        _refused(ctx, param, str(err).removeprefix(f"{name} "))


@click.command("check")
@click.option("--email", default=None, help="The worker's email attribute.")
@click.option("--contact-uri", "contact_uri", default=None, help="The worker's contact_uri attribute.")
@click.option("--worker-name", default="", help="The worker's friendly_name (WorkerName), its SSO identity.")
@click.option("--identity", default=None, help="The twilio_contact_identity attribute, as Flex recorded it.")
@click.option("--attributes", "attributes_json", default=None, help="The worker's whole attributes (JSON object).")
@click.option(
    "--policy",
    default="flex",
    metavar="[flex|email]",
    envvar="IDENTITY_POLICY",
    callback=_policy,
    help="flex: the Flex identity rules; email: the email alone (default: IDENTITY_POLICY).",
)
@click.option(
    "--ignore", "ignore_rules", default="", envvar="IGNORE_WORKERS", callback=_rules, help="IGNORE_WORKERS rules."
)
@click.option(
    "--intended",
    "intended_values",
    default="",
    envvar="INTENDED_CONTACT_URIS",
    callback=_rules,
    help="INTENDED_CONTACT_URIS globs.",
)
def check_command(
    email: str | None,
    contact_uri: str | None,
    worker_name: str,
    identity: str | None,
    attributes_json: str | None,
    policy: Policy,
    ignore_rules: str,
    intended_values: str,
) -> None:
    """Print the verdict, its basis and diagnosis; exit 0 for ok or pending, 1 for drift. Needs no configuration."""
    if all(given is None for given in (email, contact_uri, identity, attributes_json)) and not worker_name:
        raise click.UsageError("nothing to check: give --email, --contact-uri, --worker-name, --identity, --attributes")
    attributes = _pasted_attributes(attributes_json)
    given = {"email": email, "contact_uri": contact_uri, IDENTITY_ATTRIBUTE: identity}
    attributes.update({name: value for name, value in given.items() if value is not None})
    rules = Rules(IgnoreRules.parse(ignore_rules).with_values(intended_values), policy)
    verdict = rules.judge(attributes, worker_name=worker_name)
    click.echo(f"verdict:  {verdict.kind}")
    if verdict.basis:
        click.echo(f"basis:    {verdict.basis.value}")  # the name the docs, /api/workers and the audit JSON use
    if verdict.expected:
        click.echo(f"expected: {printable(verdict.expected)}")
    if verdict.actual:
        click.echo(f"actual:   {printable(verdict.actual)}")
    if verdict.diagnosis:
        click.echo(f"diagnosis: {verdict.diagnosis.value}")  # the code /api/workers and the audit's JSON carry
    if verdict.detail:
        click.echo(f"detail:   {printable(verdict.detail)}")
    raise SystemExit(EXIT_DRIFT if verdict.kind is Kind.MISMATCH else EXIT_OK)


def _pasted_attributes(text: str | None) -> dict[str, Any]:
    """The --attributes JSON object (as the Console shows it), or exit 2 saying what is wrong with it."""
    if text is None:
        return {}
    try:
        attributes = json.loads(text)
    except RecursionError:  # nested past the parser: read at the top level, as the intake reads it
        return _top_level_or_exit(text)
    except ValueError as err:
        click.echo(f"error: --attributes is not valid JSON: {err}", err=True)
        raise SystemExit(EXIT_ERROR) from None
    if not isinstance(attributes, dict):
        click.echo("error: --attributes must be a JSON object", err=True)
        raise SystemExit(EXIT_ERROR)
    return attributes


def _top_level_or_exit(text: str) -> dict[str, Any]:
    """Deeply nested --attributes, read at the top level, or exit 2."""
    try:
        return top_level(text)
    except (ValueError, RecursionError):
        click.echo("error: --attributes is not valid JSON (or not an object)", err=True)
        raise SystemExit(EXIT_ERROR) from None
