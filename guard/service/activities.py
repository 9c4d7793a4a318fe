"""Which activities route tasks: facts from activity.* events and the REST Activities list, and their workers.

The REST list is fetched in the background, never in a request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime

from requests import RequestException
from twilio.base.exceptions import TwilioException

from guard.adapters.accounts import AccountDirectory
from guard.adapters.taskrouter_api import describe
from guard.adapters.taskrouter_lookups import list_activities
from guard.config import ConfigError
from guard.core.actions import decide_available
from guard.core.activity import Activity, ActivityFact
from guard.core.decision import Outcome
from guard.core.snapshot import outside_window
from guard.core.state import WorkerState
from guard.logs import log_event
from guard.service.pipeline import Pipeline

log = logging.getLogger("guard.activities")
REFRESH_SECONDS = 600.0  # activities rarely change, and activity.* events tell the guard sooner when they do
# A worker in an activity the guard cannot place (a workspace first seen, an activity made since the last refresh)
# has its workspace's list fetched within this, once per such activity and process: not up to REFRESH_SECONDS later
UNPLACED_SECONDS = 10.0
# Workers judged per transaction when an activity is learned: a few milliseconds each, and statement sizes the
# event writer compiles already (worker_batches: one per row count, up to its MAX_BATCH)
LEARN_CHUNK = 64


class ActivityLearning:
    """Learns activity facts, and judges the workers in each activity reachable or not again."""

    def __init__(self, pipeline: Pipeline) -> None:
        """Write and announce through `pipeline`."""
        self.pipeline = pipeline

    def learn(self, fact: ActivityFact, deadline: float | None = None) -> Outcome:
        """Remember whether an activity routes tasks; the workers in it are judged reachable or not again.

        The fact commits first, then its workers in chunks of LEARN_CHUNK, each a short transaction: thousands of
        agents in one activity held every worker event naming it for seconds (BENCHMARKS.md). The event's id is
        claimed with the last chunk: a delivery that fails midway (503) is redelivered and finishes the job, and a
        repeated chunk changes nothing (its workers have the availability already). Past `deadline`
        (time.monotonic()), after at least one chunk, TimeoutError: the request answers 503 in time, and the sender's
        retry goes on from there.
        """
        pipeline = self.pipeline
        now = pipeline.clock()
        if fact.source != "api" and fact.occurred_ms and outside_window(fact.occurred_ms, now):  # 0: no time sent
            log_event(log, logging.WARNING, "replayed_event", activity_sid=fact.sid, source=fact.source)
            return Outcome.REPLAY
        with pipeline.store.transaction() as tx:
            tx.activities.lock(fact)  # PostgreSQL: worker events naming this activity wait, or are waited for
            if tx.activities.seen(fact):
                return Outcome.DUPLICATE
            tx.activities.learn(fact)
        after: str | None = ""
        available = None
        while after is not None:
            after, available = self._judge_chunk(fact, after, now)
            if after is not None and deadline is not None and time.monotonic() > deadline:
                log_event(log, logging.WARNING, "activity_unfinished", activity_sid=fact.sid, source=fact.source)
                raise TimeoutError("activity learning past the request's deadline")  # 503 (handlers/errors.py)
        log_event(log, logging.INFO, "activity_learned", activity_sid=fact.sid, available=available, source=fact.source)
        return Outcome.RECORDED

    def place_by_names(self) -> int:
        """Judge again the workers in an activity of unknown availability that AVAILABLE_ACTIVITIES names now.

        The setting changes with a restart only, and an agent sitting in that activity sends no event: without
        this its outage stayed hidden until its next event. Returns how many activities were placed.
        """
        names, placed = self.pipeline.settings.available_activities, 0
        for account_sid, workspace_sid, sid, name in self.pipeline.store.activities.unplaced():
            if name.casefold() in names:
                fact = ActivityFact(account_sid, workspace_sid, sid, name, None, source="config")
                after: str | None = ""
                while after is not None:
                    after, _ = self._judge_chunk(fact, after, self.pipeline.clock())
                placed += 1
        return placed

    def _judge_chunk(self, fact: ActivityFact, after: str, now: datetime) -> tuple[str | None, bool | None]:
        """Judge the next LEARN_CHUNK workers in the fact's activity (by sid, past `after`): (the last sid, available).

        Each chunk holds the activity, so a newer fact learned meanwhile is read here or sees these workers.
        """
        pipeline = self.pipeline
        with pipeline.store.transaction() as tx:
            tx.activities.lock(fact)
            available = tx.activities.learned(fact.account_sid, fact.workspace_sid, fact.sid)  # a newer fact wins
            if available is None:  # deleted, or never said: what its name says, else unknown
                available = Activity(fact.sid, fact.name).resolve(pipeline.settings.available_activities)
            # Renamed (same availability): the views and pages name the activity as Flex shows it now
            name = tx.activities.learned_name(fact.account_sid, fact.workspace_sid, fact.sid)
            name = name if name == fact.name else None  # an older fact that lost: the name it loses to stands
            keys = tx.activities.workers_in(fact, available, after, LEARN_CHUNK, name)
            stored = tx.workers.lock_all(keys)  # read again under their locks: they may have moved meanwhile
            decisions = []
            for key, state in stored.items():
                renamed = _renamed(fact, name, state)
                # not moved meanwhile, and not done meanwhile
                if state.activity_sid == fact.sid and (state.available != available or renamed is not None):
                    decisions.append(
                        (key, decide_available(key, state, available, pipeline.rules_for(key), now, renamed))
                    )
            pipeline.write_decisions(tx, decisions, now)
            last = len(keys) < LEARN_CHUNK
            if last:  # the event's id with the last chunk: a delivery that failed before it is redelivered whole
                tx.activities.claim_event(fact, now)
        for _, decision in decisions:
            pipeline.announce(decision)
        return (None if last else keys[-1].worker_sid), available


def _renamed(fact: ActivityFact, name: str | None, state: WorkerState) -> str | None:
    """The name the fact gives the worker's activity: a new one, and only where the fact is newer than its event."""
    newer = state.occurred_ms is None or fact.occurred_ms > state.occurred_ms
    return name if name and newer and state.activity_name != name else None


class ActivityRefresh:
    """Fetches each known workspace's Activities with its account's REST credentials, and learns them."""

    def __init__(self, learning: ActivityLearning, accounts: AccountDirectory) -> None:
        """Learn through `learning`, reach the API through `accounts`."""
        self.learning, self.accounts = learning, accounts
        self._asked: set[tuple[str, str, str]] = set()  # unplaced activities whose list this process fetched

    def run(self) -> int:
        """Learn the activities of every configured or seen workspace; return how many were learned."""
        targets = {(account.sid, ws) for account, ws in self.accounts.audit_targets() if account.sid}
        return self._learn(targets | self.learning.pipeline.store.activities.workspaces())

    def run_unplaced(self) -> int:
        """Fetch the list of each workspace with workers in an activity not placed yet, once per such activity."""
        unplaced = {
            (account, workspace, sid)
            for account, workspace, sid, _ in self.learning.pipeline.store.activities.unplaced()
        }
        new = unplaced - self._asked
        self._asked |= new  # an activity the list leaves unsaid (or a failed fetch) waits for the next refresh
        return self._learn({(account, workspace) for account, workspace, _ in new}) if new else 0

    def _learn(self, targets: set[tuple[str, str]]) -> int:
        """Fetch and learn the Activities of each (account, workspace); how many were learned."""
        pipeline = self.learning.pipeline
        learned = 0
        for account_sid, workspace_sid in sorted(targets):
            # What the list says held when it was asked for: a rename while it was read is newer, and wins
            asked_ms = int(pipeline.clock().timestamp() * 1000)
            try:
                records = list_activities(self.accounts.api_for(account_sid, workspace_sid))
            except ConfigError:
                continue  # no REST credentials for this account: events and AVAILABLE_ACTIVITIES decide
            except (TwilioException, RequestException) as err:
                fields = {"workspace_sid": workspace_sid, "error": describe(err)}
                log_event(log, logging.WARNING, "activities_fetch_failed", **fields)
                continue
            for record in records:
                if record.available is None:  # TaskRouter did not say: events or AVAILABLE_ACTIVITIES decide
                    continue
                fact = ActivityFact(
                    account_sid,
                    workspace_sid,
                    record.sid,
                    record.name,
                    record.available,
                    occurred_ms=asked_ms,
                    source="api",
                )
                self.learning.learn(fact)
                learned += 1
        return learned


def placed(pipeline: Pipeline, account_sid: str, workspace_sid: str, activity: Activity | None) -> Activity | None:
    """`activity` with whether it routes tasks filled in as events are judged, when its source did not say.

    The Workers list may answer `available: null`: the audit then counts who cannot take calls as `--alert` pages.
    """
    if activity is None or activity.available is not None or activity.sid is None:
        return activity
    learned = pipeline.store.activities.learned(account_sid, workspace_sid, activity.sid)
    available = activity.with_learned(learned).resolve(pipeline.settings.available_activities)
    return replace(activity, available=available)
