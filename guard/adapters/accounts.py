"""The accounts the guard serves, in one place: who signs a request, where its alerts go, and its API clients.

Settings (guard/config) holds what was configured; this directory answers the questions asked per request
or per alert, and keeps one Slack client per webhook URL and one REST client per workspace.
"""

from __future__ import annotations

import threading

from guard.adapters.slack import SlackNotifier
from guard.adapters.taskrouter_api import TaskRouterApi
from guard.config import ConfigError, Settings
from guard.config.accounts import Account, Credentials
from guard.core.alerts import Routing
from guard.core.snapshot import WorkerKey


class AccountDirectory:
    """Account lookups and the per-account clients, cached; safe to share between request threads."""

    def __init__(self, settings: Settings) -> None:
        """Answer from `settings`."""
        self.settings = settings
        self._routing: dict[tuple[str, str], Routing] = {}
        self._notifiers: dict[str, SlackNotifier] = {}
        self._apis: dict[tuple[str, str], TaskRouterApi] = {}
        self._lookups: dict[tuple[str, str], TaskRouterApi] = {}
        self._lock = threading.Lock()
        self._owners = {workspace: account.sid for account in self.accounts for workspace in account.workspaces}

    @property
    def accounts(self) -> tuple[Account, ...]:
        """Every account served."""
        return self.settings.accounts

    def account_for(self, account_sid: str | None) -> Account | None:
        """The account whose token signs requests from `account_sid`; None for an unknown account."""
        if not self.settings.listed_accounts:  # one account: its token decides, and the SID too once it is set
            only = self.accounts[0]
            return only if only.sid is None or account_sid in (None, only.sid) else None
        return next((a for a in self.accounts if a.sid == account_sid), None)

    def crossed(self, account_sid: str | None, workspace_sid: str | None) -> bool:
        """True when `workspace_sid` is listed under another account than `account_sid`: no event of it is authentic.

        Its own token signs it, but the state, alerts and /status rows would sit beside the other account's.
        """
        owner = self._owners.get(workspace_sid) if isinstance(workspace_sid, str) else None
        return owner is not None and owner != account_sid

    def serves(self, account_sid: str) -> bool:
        """True when `account_sid` is one of the accounts named in the configuration."""
        return any(account.sid == account_sid for account in self.accounts)

    def credentials(self, account_sid: str | None = None) -> Credentials:
        """REST credentials of an account (default: the first); ConfigError names what is missing."""
        account = self.account_for(account_sid) if account_sid else self.accounts[0]
        if account is None:
            raise ConfigError(f"account {account_sid} is not configured in TWILIO_ACCOUNTS")
        return account.credentials()

    def slack_url_for(self, account_sid: str) -> str | None:
        """The account's own Slack webhook, else SLACK_WEBHOOK_URL, else None (log only).

        None for an account TWILIO_ACCOUNTS no longer lists: its queued alerts must not reach another's channel.
        """
        account = self.account_for(account_sid)
        if account is None and self.settings.listed_accounts:
            return None
        return (account.slack_webhook_url if account else None) or self.settings.slack_webhook_url

    def sharing_webhook(self, account_sid: str) -> frozenset[str] | None:
        """The accounts whose alerts go to this account's webhook; None for every account (one account served)."""
        if not self.settings.listed_accounts:
            return None
        url = self.slack_url_for(account_sid)
        return frozenset({account_sid, *(a.sid for a in self.accounts if a.sid and self.slack_url_for(a.sid) == url)})

    def routing_for(self, key: WorkerKey) -> Routing:
        """Where a workspace's alerts go and how they name it."""
        found = self._routing.get((key.account_sid, key.workspace_sid))
        if found is None:
            account = self.account_for(key.account_sid)
            found = Routing(
                slack=self.slack_url_for(key.account_sid) is not None,
                slack_opt_in=self.settings.slack_notify_no_email,
                buttons=self._buttons(account),
                lookups=account is not None and has_credentials(account),
                mention=self.settings.slack_urgent_mention,
                account_label=account.label(key.account_sid) if account else key.account_sid,
                workspace_label=account.workspace_label(key.workspace_sid) if account else key.workspace_sid,
            )
            self._routing[(key.account_sid, key.workspace_sid)] = found
        return found

    def notifier_for(self, account_sid: str) -> SlackNotifier | None:
        """The Slack client for an account's alerts, or None when it has no webhook."""
        url = self.slack_url_for(account_sid)
        if url is None:
            return None
        with self._lock:
            if url not in self._notifiers:
                self._notifiers[url] = SlackNotifier(url, self.settings.slack_timeout_seconds)
            return self._notifiers[url]

    def api_for(self, account_sid: str, workspace_sid: str) -> TaskRouterApi:
        """The REST client of one workspace; ConfigError when its account has no credentials."""
        with self._lock:
            if (account_sid, workspace_sid) not in self._apis:
                settings = self.settings
                self._apis[(account_sid, workspace_sid)] = TaskRouterApi(
                    self.credentials(account_sid),
                    workspace_sid,
                    settings.taskrouter_base_url,
                    retries=settings.api_retries,
                )
            return self._apis[(account_sid, workspace_sid)]

    def lookup_api_for(self, account_sid: str, workspace_sid: str) -> TaskRouterApi:
        """A REST client for quick lookups: short timeout, one retry, a Retry-After of at most 2 s waited out."""
        with self._lock:
            if (account_sid, workspace_sid) not in self._lookups:
                credentials, base_url = self.credentials(account_sid), self.settings.taskrouter_base_url
                api = TaskRouterApi(credentials, workspace_sid, base_url, retries=1, timeout=3.0, retry_after_max=2)
                self._lookups[(account_sid, workspace_sid)] = api
            return self._lookups[(account_sid, workspace_sid)]

    def reaches_api(self) -> bool:
        """True when some account has REST credentials (the background lookups have work to do)."""
        return any(has_credentials(account) for account in self.accounts)

    def audit_targets(self) -> list[tuple[Account, str]]:
        """Every (account, workspace) configured for audits."""
        return [(account, workspace) for account in self.accounts for workspace in account.workspaces]

    def named(self, text: str) -> list[tuple[str, str | None]]:
        """(account, workspace or None for all of its) whose configured name contains `text`, in any case."""
        needle, found = text.casefold(), []
        for account in self.accounts if text else ():
            if account.sid and needle in account.name.casefold():
                found.append((account.sid, None))
            found += [
                (account.sid, ws)
                for ws, name in account.workspaces.items()
                if account.sid and needle in name.casefold()
            ]
        return found

    def _buttons(self, account: Account | None) -> bool:
        """True when the account's alerts carry the Slack fix buttons: a signing secret and REST credentials."""
        return bool(self.settings.slack_signing_secret) and account is not None and has_credentials(account)


def has_credentials(account: Account) -> bool:
    """True when an account can reach the REST API."""
    try:
        account.credentials()
    except ConfigError:
        return False
    return True
