"""All configuration, read from environment variables in this one module and validated at start.

Every error is one line that names the variable and never echoes its value (it may be a secret).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from guard.accounts import Account, AccountsError, Credentials, is_http_url, parse_accounts
from guard.core.evidence import Policy
from guard.core.ignore import NO_RULES, IgnoreRules
from guard.core.verdict import Rules


class ConfigError(Exception):
    """A missing or bad setting; the message is one line that names the variable."""


# Upper bound for every number: keeps timedelta() and int() from overflowing on "inf" or "1e400".
LARGEST_NUMBER = 1e9
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


class _EnvReader:
    """Typed access to environment variables; every error names the variable, never its value."""

    def __init__(self, env: Mapping[str, str]) -> None:
        """Wrap the mapping to read from."""
        self.env = env

    def text(self, name: str) -> str | None:
        """Return the stripped value, or None when unset or blank."""
        value = self.env.get(name, "").strip()
        return value or None

    def flag(self, name: str, default: bool) -> bool:
        """Parse a boolean such as true/false, 1/0, yes/no, on/off."""
        value = (self.text(name) or "").lower()
        if value and value not in _FLAGS:
            raise ConfigError(f"{name} must be true or false")
        return _FLAGS[value] if value else default

    def number(self, name: str, default: float, minimum: float = 0) -> float:
        """Parse a finite number from `minimum` to LARGEST_NUMBER, or return the default when unset."""
        value = self.text(name)
        if value is None:
            return float(default)
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number") from None
        if not (math.isfinite(number) and minimum <= number <= LARGEST_NUMBER):
            raise ConfigError(f"{name} must be a number from {minimum:g} to {LARGEST_NUMBER:g}")
        return number

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """Parse one of a fixed set of words (case-insensitive)."""
        value = (self.text(name) or default).lower()
        found = next((choice for choice in choices if choice.lower() == value), None)
        if found is None:
            raise ConfigError(f"{name} must be one of: {', '.join(choices)}")
        return found

    def accounts(self, name: str) -> tuple[Account, ...]:
        """Parse the multi-account JSON object."""
        value = self.text(name)
        if value is None:
            return ()
        try:
            return parse_accounts(value)
        except AccountsError as err:
            raise ConfigError(str(err)) from None

    def slack_users(self, name: str) -> frozenset[str]:
        """Parse comma-separated Slack user IDs (U…, or W… on Enterprise Grid)."""
        users = frozenset(user.strip() for user in (self.text(name) or "").split(",") if user.strip())
        if not all(_SLACK_USER.match(user) for user in users):
            raise ConfigError(f"{name} must be Slack user IDs (U…), comma-separated")
        return users

    def url(self, name: str) -> str | None:
        """Parse an http(s) URL; the value is not echoed because it may be a secret."""
        value = self.text(name)
        if value is None:
            return None
        if not is_http_url(value):
            raise ConfigError(f"{name} must be an http:// or https:// URL")
        return value.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Validated settings. Secrets are kept out of repr so they never reach a log."""

    database_url: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    validate_signature: bool = True
    trust_proxy: bool = False
    public_base_url: str | None = None
    slack_webhook_url: str | None = field(default=None, repr=False)
    slack_notify_no_email: bool = False
    ignore: IgnoreRules = NO_RULES
    identity_policy: Policy = Policy.FLEX
    alert_repeat: timedelta | None = None
    remediate: str = "off"
    delivery: str = "thread"
    retry_max_seconds: float = 300.0
    slack_timeout_seconds: float = 5.0
    max_body_bytes: int = 256 * 1024
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
    port: str | None = None  # set by Heroku: a production deployment
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_approvers: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: os.environ), raising ConfigError on the first bad one."""
        reader = _EnvReader(os.environ if env is None else env)
        settings = cls(
            database_url=reader.text("DATABASE_URL"),
            auth_token=reader.text("TWILIO_AUTH_TOKEN"),
            validate_signature=reader.flag("TWILIO_VALIDATE_SIGNATURE", True),
            trust_proxy=reader.flag("TRUST_PROXY", False),
            public_base_url=reader.url("PUBLIC_BASE_URL"),
            slack_webhook_url=reader.url("SLACK_WEBHOOK_URL"),
            slack_notify_no_email=reader.flag("SLACK_NOTIFY_NO_EMAIL", False),
            ignore=IgnoreRules.parse(reader.text("IGNORE_WORKERS") or ""),
            identity_policy=Policy(reader.choice("IDENTITY_POLICY", tuple(Policy), Policy.FLEX)),
            alert_repeat=_hours(reader.number("ALERT_REPEAT_HOURS", 0)),
            remediate=reader.choice("REMEDIATE", ("off", "remove"), "off"),
            delivery=reader.choice("ALERT_DELIVERY", ("thread", "off"), "thread"),
            retry_max_seconds=reader.number("ALERT_RETRY_MAX_SECONDS", 300, minimum=0.01),
            slack_timeout_seconds=reader.number("SLACK_TIMEOUT_SECONDS", 5, minimum=0.1),
            max_body_bytes=int(reader.number("MAX_BODY_BYTES", 256 * 1024, minimum=1024)),
            log_level=reader.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
            account_sid=reader.text("TWILIO_ACCOUNT_SID"),
            api_key=reader.text("TWILIO_API_KEY"),
            api_secret=reader.text("TWILIO_API_SECRET"),
            workspace_sid=reader.text("TWILIO_WORKSPACE_SID"),
            taskrouter_base_url=reader.url("TWILIO_TASKROUTER_BASE_URL"),
            api_retries=int(reader.number("TWILIO_API_RETRIES", 5)),
            listed_accounts=reader.accounts("TWILIO_ACCOUNTS"),
            metrics_token=reader.text("METRICS_TOKEN"),
            status_user=reader.text("STATUS_USER") or "admin",
            status_password=reader.text("STATUS_PASSWORD"),
            port=reader.text("PORT"),
            slack_signing_secret=reader.text("SLACK_SIGNING_SECRET"),
            slack_approvers=reader.slack_users("SLACK_APPROVERS"),
        )
        if settings.validate_signature and not any(a.auth_token for a in settings.accounts):
            raise ConfigError(
                "TWILIO_AUTH_TOKEN is not set: it is needed to check X-Twilio-Signature "
                "(set TWILIO_VALIDATE_SIGNATURE=false only for a local demo)"
            )
        if settings.remediate == "remove":
            for account in settings.accounts:  # REMEDIATE=remove cannot work without them: fail at start
                settings.rest_credentials(account)
        return settings

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
            api_key=self.api_key,
            api_secret=self.api_secret,
            workspaces={self.workspace_sid: ""} if self.workspace_sid else {},
        )
        if not self.listed_accounts:
            return (single,)
        listed = {account.sid for account in self.listed_accounts}
        extra = (single,) if self.account_sid and self.auth_token and self.account_sid not in listed else ()
        return self.listed_accounts + extra

    def account_for(self, account_sid: str | None) -> Account | None:
        """The account whose token signs requests from `account_sid`; None for an unknown account."""
        if not self.listed_accounts:
            return self.accounts[0]  # single-account set-up: TWILIO_AUTH_TOKEN decides
        return next((a for a in self.accounts if a.sid == account_sid), None)

    def slack_url_for(self, account_sid: str) -> str | None:
        """The account's own Slack webhook, else SLACK_WEBHOOK_URL, else None (log only)."""
        account = self.account_for(account_sid)
        return (account.slack_webhook_url if account else None) or self.slack_webhook_url

    def fix_buttons_for(self, account_sid: str) -> bool:
        """True when alerts of this account carry the Slack fix buttons: a signing secret and REST credentials."""
        if not self.slack_signing_secret:
            return False
        try:
            self.rest_credentials(self.account_for(account_sid))
        except ConfigError:
            return False
        return True

    def audit_targets(self) -> list[tuple[Account, str]]:
        """Every (account, workspace) configured for audits."""
        return [(account, workspace) for account in self.accounts for workspace in account.workspaces]

    def rest_credentials(self, account: Account | None = None) -> Credentials:
        """REST API credentials of `account` (default: the first); raise ConfigError naming what is missing."""
        account = account or self.accounts[0]
        if not account.sid:
            raise ConfigError("TWILIO_ACCOUNT_SID is not set (needed for the TaskRouter REST API)")
        if account.api_key:
            if not account.api_secret:
                raise ConfigError("TWILIO_API_SECRET is not set (TWILIO_API_KEY is)")
            return Credentials(account.sid, account.api_key, account.api_secret)
        if account.auth_token:
            return Credentials(account.sid, account.sid, account.auth_token)
        raise ConfigError(
            "TWILIO_API_KEY and TWILIO_API_SECRET (or TWILIO_AUTH_TOKEN) are not set (needed for the REST API)"
        )


def _hours(value: float) -> timedelta | None:
    """Turn ALERT_REPEAT_HOURS into a timedelta; 0 means reminders are off."""
    return timedelta(hours=value) if value > 0 else None
