"""`audit --alert`: the sweep feeds the same state and alert pipeline as the webhook (SQLite and PostgreSQL)."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from guard.core.snapshot import WorkerKey
from guard.service import audit as audit_module
from guard.service.audit import AuditReport
from guard.service.audit_alerts import feed_pipeline
from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    WORKSPACE_SID,
    audit,
    email,
    fake_api_settings,
    populate,
    stored_state,
    uri,
    worker_event,
    worker_sid,
)


@pytest.fixture
def settings_overrides(fake_api):
    """Point the REST client at the fake API."""
    return fake_api_settings(fake_api)


def test_alert_feeds_the_pipeline_and_dedups_against_webhook_state(runner, fake_api, services, taskrouter):
    """Known drift: silent. Unknown drift: alerted. Fixed drift and deleted drifting worker: resolved."""
    populate(fake_api, 4, drifting={1, 2})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1)))
    taskrouter.post(worker_event(sid=worker_sid(3), email=email(3), contact_uri="sip:old"))
    taskrouter.post(worker_event(sid=worker_sid(9), email=email(9), contact_uri="sip:gone"))
    audit(runner, "--alert", "--format", "json")
    with services.store.engine.connect() as connection:
        alerts = [(r.worker_sid, r.kind) for r in connection.execute(select(alert).order_by(alert.c.id))]
    assert alerts[3:] == [(worker_sid(2), "drift"), (worker_sid(3), "resolved"), (worker_sid(9), "resolved")]
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(9)))["verdict"] == "deleted"
    audit(runner, "--alert", "--format", "json")
    with services.store.engine.connect() as connection:
        assert len(connection.execute(select(alert)).all()) == 6  # a second sweep changes nothing


def test_alert_ignores_a_webhook_already_known_value_even_from_an_older_run(runner, fake_api, services, taskrouter):
    populate(fake_api, 1, drifting={1})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=8))
    audit(runner, "--alert")
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=ANN_URI, version=7))  # stale
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert (state["verdict"], state["version"]) == ("mismatch", 8)


def test_a_worker_first_heard_of_after_the_listing_began_is_not_taken_for_deleted(services, taskrouter):
    began = datetime.now(UTC)
    taskrouter.post(worker_event(sid=worker_sid(5), email=email(5), contact_uri="sip:new"))  # too new to be listed
    feed_pipeline(services.pipeline, AuditReport(ACCOUNT_SID, WORKSPACE_SID, began))  # the sweep listed nobody
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(5)))["verdict"] == "mismatch"


def test_an_update_from_after_the_listing_began_still_counts_after_an_inferred_deletion(
    services, taskrouter, monkeypatch
):
    taskrouter.post(worker_event(sid=worker_sid(5), email=email(5), contact_uri=uri(5), version=0))
    began = datetime.now(UTC)
    monkeypatch.setattr(audit_module, "utcnow", lambda: began + timedelta(minutes=1))  # a sweep of a minute
    feed_pipeline(services.pipeline, AuditReport(ACCOUNT_SID, WORKSPACE_SID, began))  # not listed: gone then
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(5))
    assert stored_state(services, key)["verdict"] == "deleted"
    late_ms = int(began.timestamp() * 1000) + 1000  # made after the listing began, before the sweep ended
    late = worker_event(sid=worker_sid(5), email=email(5), contact_uri="sip:wrong", version=1, TimestampMs=str(late_ms))
    taskrouter.post(late)
    assert stored_state(services, key)["verdict"] == "mismatch"


def test_an_inferred_deletion_outranks_what_was_stored_on_a_clock_ahead_of_the_guards(services, taskrouter):
    ahead_ms = int(time.time() * 1000) + 10 * 60 * 1000  # TaskRouter's clock 10 minutes ahead
    ahead = worker_event(sid=worker_sid(5), email=email(5), contact_uri="sip:x", TimestampMs=str(ahead_ms))
    taskrouter.post(ahead)
    feed_pipeline(services.pipeline, AuditReport(ACCOUNT_SID, WORKSPACE_SID, datetime.now(UTC)))  # not listed
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(5)))["verdict"] == "deleted"


def test_an_update_landing_while_the_sweep_records_its_deletions_still_counts(services, taskrouter, monkeypatch):
    taskrouter.post(worker_event(sid=worker_sid(5), email=email(5), contact_uri=uri(5), version=0))
    began = datetime.now(UTC)
    late_ms = int(began.timestamp() * 1000) + 1000  # made after the listing began
    late = worker_event(sid=worker_sid(5), email=email(5), contact_uri="sip:wrong", version=1, TimestampMs=str(late_ms))
    workers = services.pipeline.store.workers
    known_workers = workers.known_workers

    def then_the_update_lands(*args):
        known = known_workers(*args)
        assert taskrouter.post(late).status_code == 204  # between the sweep's query and its deletion's record
        return known

    monkeypatch.setattr(workers, "known_workers", then_the_update_lands)
    feed_pipeline(services.pipeline, AuditReport(ACCOUNT_SID, WORKSPACE_SID, began))  # not listed
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(5)))["verdict"] == "mismatch"


def test_a_worker_the_listing_skipped_as_its_pages_shifted_is_not_taken_for_deleted(
    runner, fake_api, services, taskrouter
):
    # Worker 1 deleted once page 1 was read: page 2 starts one further on, and worker 3 is listed nowhere
    populate(fake_api, 4, drifting={3})
    for n in range(1, 5):
        fields = {"contact_uri": "client:" + email(n)} if n == 3 else {"contact_uri": uri(n)}
        taskrouter.post(worker_event(sid=worker_sid(n), email=email(n), **fields))
    fake_api.max_page_size = 2

    def delete_the_first(_key):
        fake_api.after_page = None
        del fake_api.workspaces[WORKSPACE_SID][worker_sid(1)]

    fake_api.after_page = delete_the_first
    code, out = audit(runner, "--alert", "--format", "json")
    assert code == 1  # drift found: worker 3, fetched and judged, not a false all-clear
    assert [(e["sid"], e["verdict"]) for e in json.loads(out)["workers"] if e["sid"] == worker_sid(3)] == [
        (worker_sid(3), "mismatch")
    ]
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(3)))
    assert state["verdict"] == "mismatch"  # still there, still in drift: no false "resolved" as deleted
    with services.store.engine.connect() as connection:
        kinds = [(r.worker_sid, r.kind) for r in connection.execute(select(alert).order_by(alert.c.id))]
    assert (worker_sid(3), "resolved") not in kinds


def test_a_known_worker_listed_nowhere_whose_fetch_fails_is_an_error_not_silence(
    runner, fake_api, services, taskrouter
):
    populate(fake_api, 2)
    taskrouter.post(worker_event(sid=worker_sid(9), email=email(9), contact_uri="sip:gone"))  # deleted? nobody knows
    fake_api.inject(503, times=20, path_contains=worker_sid(9))
    code, out = audit(runner, "--alert", "--format", "json")
    assert code == 2  # an error: whether it is gone is not known
    [entry] = [e for e in json.loads(out)["workers"] if e["sid"] == worker_sid(9)]
    assert (entry["verdict"], entry["name"]) == ("error", "Ann Veal")  # named as the guard knows it
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(9)))["verdict"] == "mismatch"


def test_a_plain_audit_says_which_known_workers_are_gone_and_leaves_them_to_alert(
    runner, fake_api, services, taskrouter
):
    populate(fake_api, 1)
    taskrouter.post(worker_event(sid=worker_sid(9), email=email(9), contact_uri="sip:gone"))  # deleted in TaskRouter
    result = runner.invoke(args=["audit", "--format", "json"])
    assert (
        result.exit_code == 0 and f"note: 1 worker the guard knows no longer exists in {WORKSPACE_SID}" in result.stderr
    )
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(9)))["verdict"] == "mismatch"


def test_a_swept_report_closes_only_the_workers_its_fetches_proved_gone(services, taskrouter):
    for n in (5, 6):
        taskrouter.post(worker_event(sid=worker_sid(n), email=email(n), contact_uri="sip:x"))
    report = AuditReport(ACCOUNT_SID, WORKSPACE_SID, datetime.now(UTC), gone={worker_sid(6)})  # listed neither
    feed_pipeline(services.pipeline, report)
    verdicts = [stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(n)))["verdict"] for n in (5, 6)]
    assert verdicts == ["mismatch", "deleted"]  # 5: not proved gone (a state the sweep could not read, say)
