"""Which activities route tasks, from the REST Activities list: fetched in the background, never in a request."""

from __future__ import annotations

import logging

from requests import RequestException
from twilio.base.exceptions import TwilioException

from guard.adapters.accounts import AccountDirectory
from guard.adapters.taskrouter_api import describe
from guard.adapters.taskrouter_lookups import list_activities
from guard.config import ConfigError
from guard.core.activity import ActivityFact
from guard.logs import log_event
from guard.service.pipeline import Pipeline

log = logging.getLogger("guard.activities")
REFRESH_SECONDS = 600.0  # activities rarely change, and activity.* events tell the guard sooner when they do


class ActivityRefresh:
    """Fetches each known workspace's Activities with its account's REST credentials, and learns them."""

    def __init__(self, pipeline: Pipeline, accounts: AccountDirectory) -> None:
        """Learn through `pipeline`, reach the API through `accounts`."""
        self.pipeline, self.accounts = pipeline, accounts

    def run(self) -> int:
        """Learn the activities of every configured or seen workspace; return how many were learned."""
        targets = {(account.sid, ws) for account, ws in self.accounts.audit_targets() if account.sid}
        targets |= self.pipeline.store.activities.workspaces()
        learned = 0
        for account_sid, workspace_sid in sorted(targets):
            try:
                records = list_activities(self.accounts.api_for(account_sid, workspace_sid))
            except ConfigError:
                continue  # no REST credentials for this account: events and AVAILABLE_ACTIVITIES decide
            except (TwilioException, RequestException) as err:
                fields = {"workspace_sid": workspace_sid, "error": describe(err)}
                log_event(log, logging.WARNING, "activities_fetch_failed", **fields)
                continue
            now_ms = int(self.pipeline.clock().timestamp() * 1000)
            for record in records:
                fact = ActivityFact(
                    account_sid,
                    workspace_sid,
                    record.sid,
                    record.name,
                    record.available,
                    occurred_ms=now_ms,
                    source="api",
                )
                self.pipeline.learn(fact)
                learned += 1
        return learned
