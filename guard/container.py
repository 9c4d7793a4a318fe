"""The composition root: builds the services one app instance needs, wires them one way, and finds them again."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

from flask import current_app

from guard.adapters import db
from guard.adapters.accounts import AccountDirectory
from guard.adapters.slack_answers import SlackAnswers
from guard.adapters.store import Store
from guard.config import ConfigError, Settings
from guard.service.activities import REFRESH_SECONDS, UNPLACED_SECONDS, ActivityLearning, ActivityRefresh
from guard.service.causes import CauseJobs
from guard.service.clicks import ClickJobs
from guard.service.delivery import Delivery
from guard.service.jobs import Job, JobRunner, Wakeup
from guard.service.pipeline import Pipeline
from guard.service.remediation import removal_lease
from guard.service.remediation_jobs import RemediationJobs
from guard.service.retention import prune
from guard.service.rule_changes import RuleChanges
from guard.service.writer import EventWriter

# Exit code gunicorn treats as "worker failed to boot": the master stops instead of respawning forever.
CONFIG_ERROR_EXIT = 3
BUSY_LINE = "guard: database busy: another process held the SQLite file's write lock past 3 s; try again"
FULL_DISK_LINE = "guard: database error: the SQLite file's file system is full (under 1 MiB free); make room"
FULL_DISK_PAUSE = 2.0
BUSY_EXIT = 1  # not gunicorn's 3 ("failed to boot"), which halts every worker: the master starts this one again
# Under the Flask CLI the app holds a builder instead, run by the first command that needs the services.
BUILD_SERVICES = "guard.build"


@dataclass
class Services:
    """Everything one app instance wires together."""

    settings: Settings
    store: Store
    accounts: AccountDirectory
    pipeline: Pipeline
    delivery: Delivery
    jobs: JobRunner
    writer: EventWriter  # the worker events, in batches (one writer thread per process)
    learning: ActivityLearning  # activity facts, and the workers in each activity
    migrated: tuple[str | None, str | None] | None = None  # the revisions before and after, when built on SQLite


def _busy(line: str = BUSY_LINE) -> NoReturn:
    """A migration waited on another process's write: not gunicorn's halt, the master starts the worker again."""
    print(line, file=sys.stderr)
    raise SystemExit(BUSY_EXIT) from None


def build_services(settings: Settings, default_database: str) -> Services:
    """Build the store, the accounts, the pipeline and the background jobs."""
    # The embedded default creates and migrates itself (and `migrate` reports what that did).
    try:
        store = Store(db.make_engine(settings.database_url or default_database, settings.database_pool_size))
        migrated = db.upgrade(store.engine) if store.engine.dialect.name == "sqlite" else None
    except db.DatabaseAhead as err:  # one line, not a traceback in every worker that boots
        print(f"guard: database error: {err}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT) from None
    except db.DatabaseBusy:  # another guard process's turn outlasted the wait: as below
        _busy()
    except db.UNOPENABLE as err:  # a SQLite path that is no database, or cannot be made: the same
        if db.reason(err) in db.BUSY_REASONS:
            _busy()
        if db.disk_full(settings.database_url or default_database):  # room made, and the next boot opens it
            time.sleep(FULL_DISK_PAUSE)  # a boot a few seconds, not a busy loop of gunicorn's respawns
            _busy(FULL_DISK_LINE)
        print(
            f"guard: database error: DATABASE_URL: the SQLite file cannot be opened ({db.reason(err)})", file=sys.stderr
        )
        raise SystemExit(CONFIG_ERROR_EXIT) from None
    wakeup, stopping = Wakeup(), threading.Event()
    accounts = AccountDirectory(settings)
    pipeline = Pipeline(settings, store, accounts, wakeup.set)
    lease = timedelta(seconds=2 * settings.slack_timeout_seconds + 2)
    delivery = Delivery(
        store.alerts,
        accounts.notifier_for,
        settings.retry_max_seconds,
        lease,
        stopping,
        sharing=accounts.sharing_webhook,
        worker_state=store.workers.state,
    )
    work_lease = removal_lease(settings.api_retries)  # a slow TaskRouter must not let a second process begin it
    remediation = RemediationJobs(pipeline, store.records, accounts.api_for, work_lease)
    answers = SlackAnswers(settings.slack_timeout_seconds)
    learning = ActivityLearning(pipeline)
    activities = ActivityRefresh(learning, accounts)
    clicks = ClickJobs(pipeline, accounts.api_for, answers, lease=work_lease)
    abandoned = None if settings.remediate == "remove" else store.records  # else REMEDIATE's job takes them up
    jobs = [  # in this order, each round; one line per job
        # IGNORE_WORKERS or INTENDED_CONTACT_URIS changed: before any reminder of a worker they now cover
        Job("rules", RuleChanges(pipeline).run),
        Job("remind", pipeline.send_reminders, every=60),
        Job(
            "prune",
            lambda: prune(store.retention, pipeline.clock(), settings.history, abandoned),
            every=3600,
            lane="housekeeping",
        ),
        # TaskRouter's REST API may hang for minutes (retries of 15 s each): never in the lane that delivers alerts
        Job("clicks", clicks.run_pending, enabled=bool(settings.slack_signing_secret), lane="taskrouter"),
        Job("remediate", remediation.run_pending, enabled=settings.remediate == "remove", lane="taskrouter"),
        Job("deliver", delivery.run_once),
        # SQLite: the WAL copied back while only delivery writes (a Slack outage's retries), not only after events
        Job("checkpoint", store.checkpoint),
        Job("activities", activities.run, every=REFRESH_SECONDS, enabled=accounts.reaches_api(), lane="activities"),
        Job(
            "unplaced_activities",
            activities.run_unplaced,
            every=UNPLACED_SECONDS,
            enabled=accounts.reaches_api(),
            lane="activities",
        ),
        # AVAILABLE_ACTIVITIES changed: after the refresh, so TaskRouter's own word is learned first; not behind clicks
        Job("activity_names", learning.place_by_names, every=REFRESH_SECONDS, lane="activities"),
        Job("causes", CauseJobs(pipeline, accounts).run_pending, enabled=accounts.reaches_api(), lane="lookups"),
    ]
    runner = JobRunner(jobs, wakeup, stopping, delivery.seconds_until_due, engine=store.engine)
    return Services(settings, store, accounts, pipeline, delivery, runner, EventWriter(pipeline), learning, migrated)


def settings_from_env(webhooks: bool = True) -> Settings:
    """The environment's settings, or exit with one line naming the bad or missing variable.

    `webhooks=False` (the audit) does not ask for what only the web service needs (see Settings.from_env).
    """
    try:
        return Settings.from_env(webhooks=webhooks)
    except ConfigError as err:
        print(f"guard: configuration error: {err}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT) from None


def services(webhooks: bool = True, vet: Callable[[Settings], None] | None = None) -> Services:
    """The services of the current Flask app, built on first use under the CLI (see settings_from_env).

    `vet` checks the settings first (the audit's REST settings): a refusal opens no database.
    """
    extensions = current_app.extensions
    if "guard" not in extensions:
        extensions[BUILD_SERVICES](webhooks, vet)
    return extensions["guard"]
