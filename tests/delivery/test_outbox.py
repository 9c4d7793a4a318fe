"""The outbox across processes and threads: survives a restart, leases expire, claims never overlap, a thread sends."""

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from werkzeug import Response

from guard.core.statuses import AlertStatus
from handlers.app import create_app
from tests.conftest import make_settings
from tests.delivery.conftest import outbox
from tests.fakes.slack import HOOK_PATH as HOOK
from tests.helpers import ANN_URI, TaskRouterPoster, worker_event, worker_sid


def test_pending_alerts_survive_a_restart(database_url, httpserver):
    """Alerts queued while Slack was down are delivered by the next process on the same database."""
    down = make_settings(database_url, slack_webhook_url="http://127.0.0.1:9/hook", slack_timeout_seconds=0.5)
    first = create_app(down)
    TaskRouterPoster(first.test_client()).post(worker_event(contact_uri="sip:x"))
    first.extensions["guard"].delivery.run_once()
    first.extensions["guard"].store.engine.dispose()

    httpserver.expect_request(HOOK).respond_with_data("ok")
    second = create_app(make_settings(database_url, slack_webhook_url=httpserver.url_for(HOOK)))
    second.extensions["guard"].delivery.clock = lambda: datetime.now(UTC) + timedelta(minutes=10)
    assert second.extensions["guard"].delivery.run_once() == 1
    assert len(httpserver.log) == 1
    second.extensions["guard"].store.engine.dispose()


def test_an_alert_leased_by_a_crashed_process_is_sent_after_the_lease(services, taskrouter, httpserver, clock):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x"))
    assert services.store.alerts.claim_due(clock(), timedelta(seconds=20)) is not None  # then "crash"
    assert services.delivery.run_once() == 0
    clock.advance(21)
    assert services.delivery.run_once() == 1
    assert outbox(services) == [("drift", "delivered", 2)]


def test_concurrent_claimers_never_take_the_same_row(database_url, services, taskrouter, clock):
    for n in range(40):
        taskrouter.post(worker_event(sid=worker_sid(n + 1), contact_uri="sip:x"))
    engines = [create_app(make_settings(database_url)).extensions["guard"].store for _ in range(2)]
    taken: list[list[int]] = [[], []]

    def drain(i):
        while (claimed := engines[i].alerts.claim_due(clock(), timedelta(minutes=5))) is not None:
            taken[i].append(claimed.id)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken[0] + taken[1]) == 40
    assert not set(taken[0]) & set(taken[1])
    for store in engines:
        store.engine.dispose()


def test_background_thread_delivers_soon_after_the_event(taskrouter, services, httpserver):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    services.jobs.start()
    taskrouter.post(worker_event(contact_uri="sip:x"))
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(httpserver.log) == 1


def test_a_post_that_outlives_its_lease_never_rewrites_the_row_another_sender_finished(
    taskrouter, services, httpserver, clock, caplog
):
    """A late 500 after the lease ran out: another sender already sent drift and resolved; nothing is sent again."""
    taskrouter.post(worker_event(contact_uri="sip:x", version=1))
    taskrouter.post(worker_event(contact_uri=ANN_URI, version=2))
    alerts = services.store.alerts

    def late_answer(_request):
        """While this post hangs, its lease runs out and another process delivers both alerts."""
        clock.advance(services.delivery.lease.total_seconds() + 1)
        for _ in range(2):
            other = alerts.claim_due(clock(), services.delivery.lease)
            alerts.finish(other.lease, AlertStatus.DELIVERED, clock())
        return Response("rollup_error", status=500)

    httpserver.expect_ordered_request(HOOK).respond_with_handler(late_answer)
    services.delivery.run_once()
    clock.advance(3600)
    assert services.delivery.run_once() == 0
    assert outbox(services) == [("drift", "delivered", 2), ("resolved", "delivered", 1)]
    assert "alert_lease_lost" in caplog.text and "alert_delivery_retry" not in caplog.text  # no retry follows


def test_a_row_another_sender_holds_is_not_due_before_its_lease_ends(taskrouter, services, clock):
    """Else every other sender polls the database every 0.05 s for the whole lease of a hung post."""
    taskrouter.post(worker_event(contact_uri="sip:x"))
    assert services.store.alerts.claim_due(clock(), timedelta(seconds=20)) is not None  # another process's post
    assert services.delivery.seconds_until_due(60) == 20


def test_a_hung_taskrouter_api_never_holds_up_slack(taskrouter, services, httpserver):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    hung, jobs = threading.Event(), services.jobs
    for name in ("remediate", "clicks", "activities"):  # each calls TaskRouter's REST API: here it never answers
        jobs.by_name[name] = replace(jobs.by_name[name], run=lambda: hung.wait(60), enabled=True)
    try:
        jobs.start()
        taskrouter.post(worker_event(contact_uri="sip:x"))
        deadline = time.monotonic() + 10
        while not httpserver.log and time.monotonic() < deadline:
            hung.wait(0.02)
        assert len(httpserver.log) == 1
    finally:
        hung.set()
