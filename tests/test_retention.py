"""The hourly prune forgets old event ids and finished history past HISTORY_DAYS, and nothing still to do."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

from guard.adapters.retention import Retention
from guard.adapters.tables import alert, audit_run, cause_lookup, processed_event, remediation, slack_click
from tests.helpers.ids import ACCOUNT_SID, WORKSPACE_SID

WORKER = {"account_sid": ACCOUNT_SID, "workspace_sid": WORKSPACE_SID, "worker_sid": "WK" + "1" * 32}


def _event(n: int, at: Any) -> dict[str, Any]:
    """A processed event id received `at`."""
    return {"account_sid": ACCOUNT_SID, "workspace_sid": WORKSPACE_SID, "event_id": f"EV{n:032x}", "received_at": at}


def _alert(status: str, at: Any) -> dict[str, Any]:
    """An outbox row of `status` created `at`."""
    fields = {"kind": "drift", "channel": "slack", "payload": "{}", "attempts": 0}
    return {**WORKER, **fields, "status": status, "next_attempt_at": at, "created_at": at}


def _removal(status: str, at: Any) -> dict[str, Any]:
    """A remediation row of `status` requested `at`."""
    return {**WORKER, "actor": "guard", "status": status, "detail": "", "requested_at": at}


def _click(status: str, at: Any, n: int) -> dict[str, Any]:
    """A Slack click row of `status` requested `at`."""
    fields = {"action": "remove", "user_id": "U1", "response_url": "https://hooks.invalid/r", "dedup_key": f"k{n}"}
    return {**WORKER, **fields, "status": status, "attempts": 0, "requested_at": at}


def _lookup(status: str, at: Any) -> dict[str, Any]:
    """A cause lookup row of `status` created `at`."""
    fields = {"alert_id": 1, "source": "taskrouter", "attempts": 0, "next_attempt_at": at}
    return {**WORKER, **fields, "status": status, "created_at": at}


def _audit(at: Any) -> dict[str, Any]:
    """An audit run started `at`."""
    return {"account_sid": ACCOUNT_SID, "workspace_sid": WORKSPACE_SID, "started_at": at, "finished_at": at,
            "counts": "{}", "exit_code": 0}  # fmt: skip


def _fill(engine: Any, now: Any) -> None:
    """Finished and unfinished rows of every history table, 100 days old and 1 day old."""
    old, new = now - timedelta(days=100), now - timedelta(days=1)
    rows = {
        alert: [_alert("delivered", old), _alert("failed", old), _alert("pending", old), _alert("delivered", new)],
        remediation: [_removal("removed", old), _removal("pending", old), _removal("skipped", new)],
        slack_click: [_click("answered", old, 1), _click("abandoned", old, 2), _click("pending", old, 3),
                      _click("applied", old, 4), _click("answered", new, 5)],
        cause_lookup: [_lookup("found", old), _lookup("pending", old), _lookup("none", new)],
        audit_run: [_audit(old), _audit(old)],
    }  # fmt: skip
    with engine.begin() as connection:
        for table, values in rows.items():
            connection.execute(insert(table), values)


def _left(engine: Any) -> dict[str, list[str]]:
    """What each history table still holds: its rows' statuses, oldest first (audit runs: their ids)."""
    with engine.connect() as connection:
        left = {
            table.name: [row.status for row in connection.execute(select(table).order_by(table.c.id))]
            for table in (alert, remediation, slack_click, cause_lookup)
        }
        left["audit_run"] = [row.id for row in connection.execute(select(audit_run.c.id))]
    return left


def test_the_prune_job_forgets_finished_history_past_history_days_and_keeps_what_is_still_to_do(
    services, clock, caplog
):
    _fill(services.store.engine, clock.now)
    last_audit = max(_left(services.store.engine)["audit_run"])
    with caplog.at_level(logging.INFO, logger="guard.retention"):
        services.jobs.by_name["prune"].run()
    assert _left(services.store.engine) == {
        "alert": ["pending", "delivered"],  # still to deliver, whatever its age; and a recent one
        "remediation": ["pending", "skipped"],
        "slack_click": ["pending", "applied", "answered"],  # Slack not yet told
        "cause_lookup": ["pending", "none"],
        "audit_run": [last_audit],  # the last run stays: /status shows it
    }
    pruned = [record for record in caplog.records if record.msg == "pruned"]
    assert pruned and pruned[0].fields == {"alert": 2, "remediation": 1, "slack_click": 2, "cause_lookup": 1,
                                           "audit_run": 1}  # fmt: skip


@pytest.mark.parametrize("settings_overrides", [{"history": None}])
def test_history_days_zero_keeps_every_finished_record_but_still_forgets_old_event_ids(services, clock):
    _fill(services.store.engine, clock.now)
    received = [clock.now - timedelta(days=3), clock.now - timedelta(hours=1)]
    with services.store.engine.begin() as connection:
        rows = [_event(n, at) for n, at in enumerate(received)]
        connection.execute(insert(processed_event), rows)
    before = _left(services.store.engine)
    services.jobs.by_name["prune"].run()
    assert _left(services.store.engine) == before
    with services.store.engine.connect() as connection:
        assert connection.execute(select(processed_event.c.event_id)).scalars().all() == ["EV" + "0" * 31 + "1"]


def test_a_prune_deletes_in_short_transactions_of_its_own_until_nothing_old_is_left(services, clock):
    engine = services.store.engine
    now = clock.now
    old, new = now - timedelta(days=3), now - timedelta(hours=1)
    events = [_event(n, old if n < 35 else new) for n in range(40)]
    alerts = [_alert("pending" if n == 12 else "delivered", old) for n in range(25)] + [_alert("delivered", new)]
    with engine.begin() as connection:
        connection.execute(insert(processed_event), events)
        connection.execute(insert(alert), alerts)
    commits = []
    event.listen(engine, "commit", commits.append)
    checkpoints = []
    retention = Retention(engine, between=lambda: checkpoints.append(len(commits)), batch=10)
    assert retention.prune_events(now - timedelta(days=2)) == 35
    assert len(commits) == 4  # 10, 10, 10, 5: never one long hold of SQLite's write turn
    assert checkpoints == [1, 2, 3, 4]  # the WAL copied back between them (SQLite), not only at the end
    assert retention.prune_history(now - timedelta(days=2))["alert"] == 24  # across three windows of 10 rows
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(processed_event)).scalar() == 5
        assert connection.execute(select(alert.c.status).order_by(alert.c.id)).scalars().all() == [
            "pending",
            "delivered",
        ]


def test_the_prune_runs_in_a_lane_of_its_own_so_a_long_one_never_holds_up_delivery_clicks_or_removals(services):
    lanes = {name: job.lane for name, job in services.jobs.by_name.items()}
    assert lanes["prune"] not in {lanes["deliver"], lanes["clicks"], lanes["remediate"], lanes["causes"]}


def test_placing_by_activity_names_follows_the_activities_refresh_in_its_lane(services):
    """TaskRouter's own word on an activity is learned before the names in AVAILABLE_ACTIVITIES place anyone."""
    order = list(services.jobs.by_name)
    jobs = services.jobs.by_name
    assert jobs["activity_names"].lane == jobs["activities"].lane not in {jobs["deliver"].lane, jobs["remediate"].lane}
    assert order.index("activities") < order.index("activity_names")
