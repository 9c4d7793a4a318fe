"""`flask --app wsgi audit`: sweep a workspace, report, alert, and remediate on request."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import replace

import click
from flask.cli import with_appcontext
from requests import RequestException
from sqlalchemy.exc import SQLAlchemyError
from twilio.base.exceptions import TwilioException

from guard.adapters import db
from guard.adapters.accounts import AccountDirectory
from guard.adapters.taskrouter_api import TaskRouterApi, describe
from guard.cli.exits import EXIT_ERROR
from guard.cli.progress import ProgressBar
from guard.cli.report import render_csv, render_json, render_table
from guard.clock import utcnow
from guard.config import ConfigError, Settings
from guard.config.accounts import Account, not_set
from guard.container import services
from guard.core.sid import canonical_sid, is_sid
from guard.core.snapshot import WorkerKey
from guard.core.statuses import RemediationStatus
from guard.core.text import hidden, trimmed
from guard.core.verdict import Kind
from guard.logs import configure_logging
from guard.service.activities import placed
from guard.service.audit import AuditReport, combined_exit_code, sweep
from guard.service.audit_alerts import feed_pipeline
from guard.service.last_change import find_last_changes
from guard.service.remediation import removal_lease, remove_contact_uri, remove_now
from guard.service.removals import Removal


@click.command("audit")
@click.option("--format", "output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option(
    "--only",
    type=click.Choice(["all", "drift", "unreachable"]),
    default="all",
    show_default=True,
    help="Workers to list: all, drift (a wrong contact_uri), unreachable (available now and cannot ring).",
)
@click.option(
    "--workspace", "workspaces", multiple=True, callback=lambda _c, _p, sids: _workspace_sids(sids),
    help="Audit only this workspace SID (repeatable).",
)  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 128), default=8, show_default=True, help="Parallel fetches.")
@click.option("--alert", is_flag=True, help="Feed the verdicts into the state and alert pipeline.")
@click.option("--remediate", is_flag=True, help="Plan the removal of every wrong contact_uri (a dry run).")
@click.option("--yes", is_flag=True, help="With --remediate: apply the removals.")
@click.option(
    "--actor", default=lambda: _user(), callback=lambda ctx, param, value: _named(ctx, param, value),
    help="Who is remediating, for the record (default: your user name).",
)  # fmt: skip
@with_appcontext
def audit_command(
    output: str,
    only: str,
    workspaces: tuple[str, ...],
    concurrency: int,
    alert: bool,
    remediate: bool,
    yes: bool,
    actor: str,
) -> None:
    """Sweep every configured workspace; exit 0 no drift, 1 drift found, 2 error."""
    if yes and not remediate:
        raise click.UsageError("--yes only makes sense with --remediate")
    dry_alert = alert and remediate and not yes

    def vetted(settings: Settings) -> list[tuple[Account, str]]:
        """The targets, with their REST credentials; refused before any database is opened."""
        if dry_alert and settings.remediate == "remove":  # a dry run must change nothing
            raise click.UsageError(
                "--alert queues real removals (REMEDIATE=remove) in a dry run: drop one or add --yes"
            )
        return _targets(settings, AccountDirectory(settings), workspaces)

    try:  # the audit needs REST settings, not the webhooks' auth token
        svc = services(webhooks=False, vet=vetted)
        targets, settings = vetted(svc.settings), svc.settings  # services built before (tests) were not vetted
        apis = [
            TaskRouterApi(account.credentials(), ws, settings.taskrouter_base_url, concurrency, settings.api_retries)
            for account, ws in targets
        ]
        # Who changed it last is extra: one retry, a Retry-After waited 2 s at most, never the sweep's minutes
        lookups = [
            TaskRouterApi(account.credentials(), ws, settings.taskrouter_base_url, concurrency, 1, 5.0, 2)
            for account, ws in targets
        ]
    except ConfigError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_ERROR) from None
    configure_logging(svc.settings.log_level, cli=True)  # stdout carries the report
    reports: list[AuditReport] = []
    outcomes: dict[tuple[str, str, str], Removal] = {}
    try:
        for api, lookup in zip(apis, lookups, strict=True):
            report = _sweep_one(api, concurrency, output)
            reports.append(report)
            if report.failure:  # recorded too: /status must not keep the previous run's all-clear
                click.echo(f"error: {report.workspace_sid}: {report.failure}", err=True)
                failed = (report.started_at, utcnow(), {"listing_failed": 1}, EXIT_ERROR, alert)
                svc.store.records.add_audit_run(report.account_sid, report.workspace_sid, *failed)
                continue
            find_last_changes(lookup, report, concurrency)  # who changed each drifting worker last
            if alert:
                feed_pipeline(svc.pipeline, report)
            elif report.gone:  # /status still lists them until a run records it
                n = len(report.gone)
                gone = f"{n} worker{'s' if n > 1 else ''} the guard knows no longer exist{'' if n > 1 else 's'}"
                click.echo(f"note: {gone} in {report.workspace_sid}; --alert records it", err=True)
            if remediate:
                removals = _remediate(api, report, yes, actor)
                report.removal_failed = any(r.status is RemediationStatus.FAILED for r in removals.values())
                outcomes |= {(report.account_sid, report.workspace_sid, sid): o for sid, o in removals.items()}
            finished = report.finished_at or report.started_at
            key = (report.account_sid, report.workspace_sid)
            run = (report.started_at, finished, report.counts(), report.exit_code, alert)
            svc.store.records.add_audit_run(*key, *run)
    except (SQLAlchemyError, *db.OUTAGES) as err:
        # Exit 2, not the traceback's 1: a cron job would read 1 as "drift found".
        reason = str(getattr(err, "orig", None) or err).splitlines()[0][:200]
        # A migration helps a database with missing tables, not one that does not answer
        hint = f" (run `{db.MIGRATE_COMMAND}` if new)" if db.not_migrated(err, svc.store.engine) else ""
        click.echo(f"error: database: {type(err).__name__}: {reason}{hint}", err=True)
        raise SystemExit(EXIT_ERROR) from None
    except KeyboardInterrupt:  # Ctrl-C: an error (2), not click's "Aborted!" and 1, which reads as "drift found"
        click.echo("error: interrupted; a removal under way is recorded as such", err=True)
        raise SystemExit(EXIT_ERROR) from None
    render = {"table": render_table, "json": render_json, "csv": render_csv}[output]
    click.echo(render(reports, only, outcomes))
    raise SystemExit(combined_exit_code(reports))  # a failed removal is an error (AuditReport.exit_code)


def _named(ctx: click.Context, param: click.Parameter, actor: str) -> str:
    """The actor, named: a blank one would record each removal as nobody's."""
    if not trimmed(actor) or any(hidden(char) for char in trimmed(actor)):  # blank, or a look-alike of a name
        raise click.BadParameter("must name who is remediating, in printable characters", ctx, param)
    return trimmed(actor)


def _user() -> str:
    """The user running the command; a process with no passwd entry (a container's arbitrary UID) by its UID."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _workspace_sids(sids: tuple[str, ...]) -> tuple[str, ...]:
    """--workspace values, each a Workspace SID: a typo is a usage error, not a sweep of a workspace that is not."""
    for sid in sids:
        if not is_sid(sid, "WS"):
            raise click.BadParameter(f"{sid!r} is not a Workspace SID (WS and 32 hex digits)", param_hint="--workspace")
    return tuple(dict.fromkeys(canonical_sid(sid) for sid in sids))  # given twice, swept once; as Twilio writes it


def _targets(settings: Settings, accounts: AccountDirectory, chosen: tuple[str, ...]) -> list[tuple[Account, str]]:
    """The (account, workspace) pairs to sweep: all configured, or the ones chosen with --workspace."""
    targets = accounts.audit_targets()
    if chosen:
        unknown = sorted(set(chosen) - {ws for _, ws in targets})
        if unknown and settings.listed_accounts:
            raise ConfigError(f"--workspace {unknown[0]} is not configured in TWILIO_ACCOUNTS")
        known = {ws: account for account, ws in targets}
        targets = [(known.get(ws, settings.accounts[0]), ws) for ws in chosen]
    if not targets and settings.listed_accounts:
        raise ConfigError("TWILIO_ACCOUNTS lists no workspaces: give an account its `workspaces` and REST credentials")
    if not targets:  # name the missing credentials too: one run, the whole fix
        raise not_set([*settings.accounts[0].missing_for_rest(), "TWILIO_WORKSPACE_SID"])
    for account, _ in targets:  # a chosen workspace too: its account's credentials (ConfigError names them)
        account.credentials()
    return targets


def _sweep_one(api: TaskRouterApi, concurrency: int, output: str) -> AuditReport:
    """Sweep one workspace; a failed listing becomes the report's failure, not an exception."""
    svc = services()
    history = svc.store.workers.known_all(api.account_sid, api.workspace_sid)  # judged as events are
    bar = ProgressBar(enabled=output == "table" and sys.stderr.isatty())
    try:
        report = sweep(api, api.account_sid, svc.pipeline.rules(), concurrency, bar.update, history)
        # An accepted value ends the watch on a removed one, whether or not this audit alerts (history.CAME_BACK).
        accepted = [
            entry.sid
            for entry in report.entries
            if entry.judged is not None
            and not entry.judged.broken
            and entry.sid in history
            and history[entry.sid].removed
        ]
        svc.store.workers.forget_removed(api.account_sid, api.workspace_sid, accepted)
        where = (api.account_sid, api.workspace_sid)
        report.entries = [replace(e, activity=placed(svc.pipeline, *where, e.activity)) for e in report.entries]
        return report
    except (TwilioException, RequestException) as err:
        return AuditReport(
            api.account_sid, api.workspace_sid, utcnow(), failure=f"listing workers failed: {describe(err)}"
        )
    finally:
        bar.finish()


def _remediate(api: TaskRouterApi, report: AuditReport, apply: bool, actor: str) -> dict[str, Removal]:
    """Plan (or apply) the removal of each drifting worker's contact_uri."""
    svc = services()
    rules, lease = svc.pipeline.rules(), removal_lease(svc.settings.api_retries)
    outcomes = {}
    for entry in report.entries:
        if entry.verdict == Kind.MISMATCH:  # the re-check skips a worker with no value to remove
            key = WorkerKey(report.account_sid, report.workspace_sid, entry.sid)
            if apply:
                outcomes[entry.sid] = remove_now(svc.pipeline, svc.store.records, api, key, actor, lease)
            else:
                outcomes[entry.sid] = remove_contact_uri(api, entry.sid, rules, False, svc.pipeline.known(key))
    # The report says what is left: a removed value leaves the worker pending until the agent's next login.
    removed = {sid for sid, outcome in outcomes.items() if outcome.status is RemediationStatus.REMOVED}
    # A worker fixed since the listing is reported as the fresh fetch found it: what is left, not what was
    fixed = {sid: o.fresh for sid, o in outcomes.items() if o.fresh is not None and not o.fresh.drifting}
    gone = {sid for sid, outcome in outcomes.items() if outcome.deleted}  # as the sweep leaves out a worker gone
    # ... and in the activity the fresh fetch saw, newer than the listing's (an agent back from a break is paged)
    where = (report.account_sid, report.workspace_sid)  # placed as the listing's are (`available` may be null)
    seen = {sid: placed(svc.pipeline, *where, o.activity) for sid, o in outcomes.items() if o.activity is not None}
    report.entries = [
        replace(e, judged=fixed[e.sid], activity=seen.get(e.sid, e.activity))
        if e.sid in fixed
        else replace(e, judged=e.judged.removed(actor), activity=seen.get(e.sid, e.activity))
        if e.sid in removed and e.judged
        else e
        for e in report.entries
        if e.sid not in gone
    ]
    return outcomes
