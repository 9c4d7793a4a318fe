"""All configuration, read from environment variables in this package and validated once at start.

Every error is one line that names the variable and never echoes its value (it may be a secret).
Plain configuration only: which account serves a request, and its clients, is guard/adapters/accounts.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from guard.config.accounts import Account, check_beside_listed, parse_accounts
from guard.config.env import ConfigError, EnvReader
from guard.config.formats import beyond_loopback
from guard.core.activity import parse_names
from guard.core.evidence import Policy
from guard.core.ignore import NO_RULES, IgnoreRules
from guard.core.rules import Rules

INSTANCE = Path(__file__).resolve().parents[2] / "instance"  # Flask's instance folder: the embedded database
DEFAULT_DATABASE_URL = f"sqlite:///{INSTANCE}/guard.db"
PUBLIC_BASE_URL_WARNING = (
    "PUBLIC_BASE_URL IS NOT SET: signatures are checked against the Host header each request names, so a "
    "deployment on the same Twilio account can replay its callbacks here; set PUBLIC_BASE_URL=https://<your host>"
)
# A removal is held as long as its retries can take (2 hours at 20); far more overflowed the lease, every round.
MAX_API_RETRIES = 20
GUARD_PATHS = ("/taskrouter/events", "/event-streams", "/slack/interactions")  # what handlers/ serve Twilio and Slack
API_KEY_PREFIXES = ("SK", "AC")  # an API key, or the account SID itself (with the auth token as the secret)


@dataclass(frozen=True)
class Settings:
    """Validated settings. Secrets are kept out of repr so they never reach a log."""

    database_url: str | None = None
    database_pool_size: int = 10  # PostgreSQL connections a process may open (DATABASE_POOL_SIZE)
    auth_token: str | None = field(default=None, repr=False)
    previous_auth_token: str | None = field(default=None, repr=False)  # during a rotation: still signs (Twilio)
    validate_signature: bool = True
    trust_proxy: bool = False
    public_base_url: str | None = None
    slack_webhook_url: str | None = field(default=None, repr=False)
    slack_notify_no_email: bool = False
    ignore: IgnoreRules = NO_RULES
    identity_policy: Policy = Policy.FLEX
    alert_repeat: timedelta | None = None
    history: timedelta | None = timedelta(days=90)  # finished records kept; None keeps them all
    remediate: str = "off"
    delivery: str = "thread"
    retry_max_seconds: float = 300.0
    slack_timeout_seconds: float = 5.0
    max_body_bytes: int = 1024 * 1024  # an Event Streams batch of ~800 worker events (~1.2 KB each) fits
    log_level: str = "INFO"
    account_sid: str | None = None
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    workspace_sid: str | None = None
    taskrouter_base_url: str | None = None
    api_retries: int = 5
    listed_accounts: tuple[Account, ...] = ()  # from TWILIO_ACCOUNTS
    metrics_token: str | None = field(default=None, repr=False)
    status_user: str = "admin"
    status_password: str | None = field(default=None, repr=False)
    port: str | None = None  # set by Heroku; locally it moves the demo off 8000
    host: str | None = None  # the interface to listen on (HOST); unset: loopback, or every interface on a dyno
    dyno: str | None = None  # set by Heroku on every dyno (DYNO), where only its router can reach the port
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_approvers: frozenset[str] = frozenset()
    available_activities: frozenset[str] = frozenset({"available"})  # casefolded activity names
    slack_urgent_mention: str = "<!here>"
    cause_wait_seconds: float = 4.0
    metrics_directory: str | None = None  # PROMETHEUS_MULTIPROC_DIR as set (gunicorn makes one when unset)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, webhooks: bool = True) -> Settings:
        """Build settings from `env` (default: os.environ), raising ConfigError on the first bad one.

        `webhooks=False` (the audit) skips what only the web service needs: the auth token that checks
        signatures, and REST credentials for REMEDIATE=remove (the audit names what it misses itself).
        """
        reader = EnvReader(os.environ if env is None else env)
        settings = cls(
            database_url=reader.database_url("DATABASE_URL"),
            database_pool_size=reader.integer("DATABASE_POOL_SIZE", 10, minimum=2, maximum=100),
            auth_token=reader.token("TWILIO_AUTH_TOKEN"),
            previous_auth_token=reader.token("TWILIO_AUTH_TOKEN_PREVIOUS"),
            validate_signature=reader.flag("TWILIO_VALIDATE_SIGNATURE", True),
            trust_proxy=reader.flag("TRUST_PROXY", False),
            public_base_url=reader.url("PUBLIC_BASE_URL", base=True, credentials=True),
            slack_webhook_url=reader.url("SLACK_WEBHOOK_URL"),
            slack_notify_no_email=reader.flag("SLACK_NOTIFY_NO_EMAIL", False),
            ignore=IgnoreRules.parse(reader.ignore_rules("IGNORE_WORKERS")).with_values(
                reader.value_globs("INTENDED_CONTACT_URIS")
            ),
            identity_policy=Policy(reader.choice("IDENTITY_POLICY", tuple(Policy), Policy.FLEX)),
            alert_repeat=_hours(reader.number("ALERT_REPEAT_HOURS", 0, maximum=24 * 365)),  # past a year: off, really
            history=_days(reader.integer("HISTORY_DAYS", 90, maximum=36500)),
            remediate=reader.choice("REMEDIATE", ("off", "remove"), "off"),
            delivery=reader.choice("ALERT_DELIVERY", ("thread", "off"), "thread"),
            retry_max_seconds=reader.number("ALERT_RETRY_MAX_SECONDS", 300, minimum=0.01, maximum=86400),
            # It also sets the delivery lease (2 × it + 2 s): a process killed mid-post holds the alert that long
            slack_timeout_seconds=reader.number("SLACK_TIMEOUT_SECONDS", 5, minimum=0.1, maximum=60),
            max_body_bytes=reader.integer("MAX_BODY_BYTES", 1024 * 1024, minimum=1024),
            log_level=reader.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
            account_sid=reader.sid("TWILIO_ACCOUNT_SID", "AC"),
            api_key=reader.sid("TWILIO_API_KEY", *API_KEY_PREFIXES),
            api_secret=reader.token("TWILIO_API_SECRET"),
            workspace_sid=reader.sid("TWILIO_WORKSPACE_SID", "WS"),
            taskrouter_base_url=reader.url("TWILIO_TASKROUTER_BASE_URL", base=True),
            api_retries=reader.integer("TWILIO_API_RETRIES", 5, maximum=MAX_API_RETRIES),
            listed_accounts=parse_accounts(reader.text("TWILIO_ACCOUNTS")),
            metrics_token=reader.token("METRICS_TOKEN"),
            status_user=reader.user("STATUS_USER") or "admin",
            status_password=reader.password("STATUS_PASSWORD"),
            port=str(reader.integer("PORT", 8000, maximum=65535)) if reader.text("PORT") else None,
            host=reader.host("HOST"),
            dyno=reader.text("DYNO"),
            slack_signing_secret=reader.token("SLACK_SIGNING_SECRET"),
            slack_approvers=reader.slack_users("SLACK_APPROVERS"),
            available_activities=_activities(reader.text("AVAILABLE_ACTIVITIES") or "Available"),
            slack_urgent_mention=reader.mention("SLACK_URGENT_MENTION", "<!here>"),
            cause_wait_seconds=reader.number("CAUSE_WAIT_SECONDS", 4, maximum=30),
            # prometheus_client's own: a missing directory failed every worker, and `migrate`, with a traceback
            metrics_directory=reader.directory("PROMETHEUS_MULTIPROC_DIR"),
        )
        if settings.api_secret and not settings.api_key:  # as TWILIO_ACCOUNTS refuses it: silently unused otherwise
            raise ConfigError("TWILIO_API_SECRET is set without TWILIO_API_KEY: set both, or neither")
        if (settings.public_base_url or "").endswith(GUARD_PATHS):  # signed as base + path: every request 403
            raise ConfigError(
                "PUBLIC_BASE_URL ends in one of the guard's own paths: give the origin, e.g. https://<host>"
            )
        listed = any(account.sid == settings.account_sid for account in settings.listed_accounts)  # its entry's secret
        if settings.api_key and not settings.api_secret and not listed:  # REST off without a word
            raise ConfigError("TWILIO_API_KEY is set without TWILIO_API_SECRET: set both, or neither")
        # Without the new token beside it, every signature Twilio makes once the new one is promoted would get 403
        if settings.previous_auth_token and not settings.auth_token and not settings.listed_accounts:
            raise ConfigError("TWILIO_AUTH_TOKEN_PREVIOUS is set without TWILIO_AUTH_TOKEN: set it to the new token")
        single = {"TWILIO_API_KEY": settings.api_key, "TWILIO_API_SECRET": settings.api_secret}
        single["TWILIO_AUTH_TOKEN_PREVIOUS"] = settings.previous_auth_token
        single["TWILIO_WORKSPACE_SID"] = settings.workspace_sid
        check_beside_listed(settings.listed_accounts, settings.account_sid, settings.auth_token, **single)
        if not webhooks:
            return settings
        if settings.validate_signature and not any(a.auth_token for a in settings.accounts):
            raise ConfigError(
                "TWILIO_AUTH_TOKEN is not set: it is needed to check X-Twilio-Signature "
                "(set TWILIO_VALIDATE_SIGNATURE=false only for a local demo)"
            )
        if settings.remediate == "remove":
            for account in settings.accounts:  # REMEDIATE=remove cannot work without them: fail at start
                try:
                    account.credentials()
                except ConfigError as err:
                    raise ConfigError(f"REMEDIATE=remove: {err}") from None
        return settings

    @property
    def listen_host(self) -> str:
        """Where gunicorn listens: HOST, else every interface on a Heroku dyno, else loopback only."""
        return self.host or ("0.0.0.0" if self.dyno else "127.0.0.1")  # noqa: S104 - a dyno's port is behind its router

    @property
    def bind(self) -> str:
        """The address gunicorn binds: the listen host and PORT (default 8000)."""
        host = self.listen_host
        return f"[{host}]:{self.port or 8000}" if ":" in host else f"{host}:{self.port or 8000}"

    @property
    def reachable_from_outside(self) -> bool:
        """True on a dyno or when HOST is not a loopback address: requests may come from anywhere."""
        return bool(self.dyno) or beyond_loopback(self.listen_host)

    @property
    def rules(self) -> Rules:
        """The verdict rules every judging place shares."""
        return Rules(self.ignore, self.identity_policy)

    @cached_property
    def accounts(self) -> tuple[Account, ...]:
        """Every account served: TWILIO_ACCOUNTS, plus the single-account variables when they name one."""
        single = Account(
            sid=self.account_sid,
            auth_token=self.auth_token,
            previous_auth_token=self.previous_auth_token,
            api_key=self.api_key,
            api_secret=self.api_secret,
            workspaces={self.workspace_sid: ""} if self.workspace_sid else {},
        )
        if not self.listed_accounts:
            return (single,)
        listed = {account.sid for account in self.listed_accounts}
        extra = (single,) if self.account_sid and self.auth_token and self.account_sid not in listed else ()
        # TWILIO_WORKSPACE_SID of a listed account is one of its workspaces too (not silently dropped)
        joined = tuple(
            replace(account, workspaces={**account.workspaces, **single.workspaces})
            if account.sid == self.account_sid and not set(single.workspaces) <= set(account.workspaces)
            else account
            for account in self.listed_accounts
        )
        return joined + extra


def _activities(text: str) -> frozenset[str]:
    """AVAILABLE_ACTIVITIES' names; refused when it names none (no agent would ever count as reachable)."""
    names = parse_names(text)
    if not names:
        raise ConfigError("AVAILABLE_ACTIVITIES must name at least one activity")
    return names


def _days(value: int) -> timedelta | None:
    """Turn HISTORY_DAYS into a timedelta; 0 keeps every finished record."""
    return timedelta(days=value) if value > 0 else None


def _hours(value: float) -> timedelta | None:
    """Turn ALERT_REPEAT_HOURS into a timedelta; 0 means reminders are off."""
    return timedelta(hours=value) if value > 0 else None
