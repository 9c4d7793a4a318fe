"""Outbox delivery against a real local HTTP server playing Slack's incoming webhook."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug import Response

from guard.adapters.slack import HEADER_MAX, TEXT_MAX
from handlers.app import create_app
from tests.conftest import make_settings
from tests.fakes.slack import HOOK_PATH as HOOK
from tests.helpers import ANN_URI, TaskRouterPoster, worker_event, worker_sid


@pytest.fixture
def settings_overrides(httpserver):
    """Alerts go to the stub's webhook path."""
    return {"slack_webhook_url": httpserver.url_for(HOOK), "slack_timeout_seconds": 0.5}


def posted(httpserver):
    """The JSON bodies Slack received, in order."""
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def outbox(services):
    """Status and attempts of every outbox row."""
    with services.store.engine.connect() as connection:
        from guard.adapters.tables import alert

        return [(r.kind, r.status, r.attempts) for r in connection.execute(alert.select().order_by(alert.c.id))]


def test_drift_is_posted_with_blocks_and_fallback_text(taskrouter, services, httpserver, clock):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="client:bob_40x_2Eio"))
    assert services.delivery.run_once() == 1
    [message] = posted(httpserver)
    rendered = json.dumps(message)
    for shown in ("Ann Veal", worker_sid(1), "ann.veal@arresteddevelopment.com", ANN_URI, "client:bob_40x_2Eio"):
        assert shown in rendered
    assert "decodes to a different email: bob@x.io" in rendered
    assert "remove `contact_uri`" in rendered and "Never type a value in" in rendered
    assert message["blocks"][0]["type"] == "header"
    assert "drift" in message["text"] and ANN_URI in message["text"]
    assert outbox(services) == [("drift", "delivered", 1)]


def test_resolved_message_is_visibly_different(taskrouter, services, httpserver, clock):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x", version=1))
    taskrouter.post(worker_event(contact_uri=None, version=2))
    services.delivery.run_once()
    drift, resolved = posted(httpserver)
    assert "Resolved" in resolved["blocks"][0]["text"]["text"]
    assert "Resolved" not in drift["blocks"][0]["text"]["text"]
    assert "What to do" not in json.dumps(resolved)
    assert "regenerates it at the next login" in json.dumps(resolved)


def test_500_is_retried_with_backoff_then_delivered(taskrouter, services, httpserver, clock):
    httpserver.expect_ordered_request(HOOK).respond_with_data("rollup_error", status=500)
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    assert outbox(services) == [("drift", "pending", 1)]
    assert services.delivery.run_once() == 0  # not due yet: backing off
    clock.advance(1.1)
    services.delivery.run_once()
    assert outbox(services) == [("drift", "delivered", 2)]
    assert len(httpserver.log) == 2


def test_429_honours_retry_after(taskrouter, services, httpserver, clock):
    httpserver.expect_ordered_request(HOOK).respond_with_data("rate_limited", status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    services.delivery.retry_max_seconds = 30  # the test settings cap waits at 1 s; 7 s is within this cap
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    clock.advance(6)
    assert services.delivery.run_once() == 0
    clock.advance(1.5)
    assert services.delivery.run_once() == 1
    assert outbox(services) == [("drift", "delivered", 2)]


@pytest.mark.parametrize("retry_after", ["86400", "inf", "nan", "Wed, 21 Oct 2026 07:28:00 GMT", "1e400"])
def test_retry_after_is_honoured_up_to_the_cap_and_never_longer(taskrouter, services, httpserver, clock, retry_after):
    limited = {"Retry-After": retry_after}
    httpserver.expect_ordered_request(HOOK).respond_with_data("slow down", status=429, headers=limited)
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    clock.advance(0.9)
    assert services.delivery.run_once() == 0  # waits, at least as long as backoff asks
    clock.advance(0.2)  # past ALERT_RETRY_MAX_SECONDS (1 s in the test settings)
    assert services.delivery.run_once() == 1
    assert outbox(services) == [("drift", "delivered", 2)]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, "no_service"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
        (400, "invalid_payload"),
        (403, "action_prohibited"),
    ],
)
def test_permanent_errors_stop_retrying_and_stay_visible(
    taskrouter, services, httpserver, clock, client, capsys, status, body
):
    httpserver.expect_request(HOOK).respond_with_data(body, status=status)
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    clock.advance(3600)
    services.delivery.run_once()
    assert outbox(services) == [("drift", "failed", 1)]
    assert len(httpserver.log) == 1
    assert client.get("/healthz").get_json()["failed_alerts"] == 1
    log = "\n".join(line for line in capsys.readouterr().out.splitlines() if '"logger": "guard' in line)
    assert "alert_delivery_failed_permanently" in log and body in log
    assert HOOK not in log  # the webhook URL is a secret


def test_timeouts_and_refused_connections_are_retried(taskrouter, services, httpserver, clock):
    def slow(_request):
        time.sleep(1.0)
        return Response("ok")

    httpserver.expect_ordered_request(HOOK).respond_with_handler(slow)
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    assert outbox(services) == [("drift", "pending", 1)]
    httpserver.stop()
    clock.advance(2)
    services.delivery.run_once()
    assert outbox(services) == [("drift", "pending", 2)]
    httpserver.start()
    clock.advance(5)
    services.delivery.run_once()
    assert outbox(services) == [("drift", "delivered", 3)]


def test_resolved_never_overtakes_a_drift_waiting_for_retry(taskrouter, services, httpserver, clock):
    httpserver.expect_ordered_request(HOOK).respond_with_data("rollup_error", status=500)
    httpserver.expect_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x", version=1))
    services.delivery.run_once()
    taskrouter.post(worker_event(contact_uri=ANN_URI, version=2))
    services.delivery.run_once()
    assert [kind for kind, status, _ in outbox(services) if status == "delivered"] == []
    clock.advance(2)
    services.delivery.run_once()
    kinds = [m["blocks"][0]["text"]["text"].split(":")[1] for m in posted(httpserver)]
    assert kinds == ["rotating_light", "rotating_light", "white_check_mark"]


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


def test_long_values_respect_block_kit_limits(taskrouter, services, httpserver, clock):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    long_name = "N" * 400
    taskrouter.post(worker_event(name=long_name, contact_uri="client:" + "x" * 3900))
    services.delivery.run_once()
    [message] = posted(httpserver)
    assert len(message["blocks"][0]["text"]["text"]) <= HEADER_MAX
    assert len(message["text"]) <= TEXT_MAX
    for block in message["blocks"]:
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= TEXT_MAX
