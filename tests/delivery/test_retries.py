"""Failed posts to Slack: backoff, Retry-After up to its cap, permanent errors, timeouts, and order kept."""

import base64
import json
import threading
import time

import pytest
from werkzeug import Response

from guard.adapters.tables import alert
from tests.delivery.conftest import drift_then_fixed, outbox, posted
from tests.fakes.slack import HOOK_PATH as HOOK
from tests.helpers import worker_event


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


def test_a_post_refused_for_a_thousand_attempts_backs_off_as_the_first_ones_do(taskrouter, services, httpserver, clock):
    """2 ** 1024 seconds overflow a float: past attempt 1024 (~6 h of outage for a page) delivery raised."""
    httpserver.expect_ordered_request(HOOK).respond_with_data("rollup_error", status=500)
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x"))
    with services.store.engine.begin() as connection:
        connection.execute(alert.update().values(attempts=1100))
    assert services.delivery.run_once() == 1
    assert outbox(services) == [("drift", "pending", 1101)]
    clock.advance(1.1)  # ALERT_RETRY_MAX_SECONDS (1 s in the test settings): the cap holds at any attempt
    assert services.delivery.run_once() == 1
    assert outbox(services) == [("drift", "delivered", 1102)]


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


def test_blocks_slack_refuses_are_sent_again_as_the_plain_text_alone(taskrouter, services, httpserver, capsys):
    """A page the guard rendered in a way Slack refuses (400 invalid_blocks) still reaches the channel, as text."""

    def answer(request):
        refused = "blocks" in json.loads(request.get_data())
        return Response("invalid_blocks", status=400) if refused else Response("ok")

    httpserver.expect_request(HOOK).respond_with_handler(answer)
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    assert outbox(services) == [("drift", "delivered", 1)]
    first, second = (json.loads(request.get_data()) for request, _ in httpserver.log)
    assert "blocks" in first and "blocks" not in second and second["text"] == first["text"]
    [said] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "alert_sent_as_text" in line]
    assert said["level"] == "warning" and "invalid_blocks" in said["error"] and said["worker_sid"]


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
    [failed] = [json.loads(line) for line in log.splitlines() if "alert_delivery_failed_permanently" in line]
    assert failed["level"] == "error"  # an admin alerting on error lines hears that the channel is dead


@pytest.mark.parametrize(
    "echo",
    [
        "Cannot POST {path}",
        "no route for {url} (POST)",
        "{path_cut}",
        '{{"path":"{json_path}"}}',
        "Cannot POST {encoded}",
        "NOT FOUND: {upper}",  # a server that upper-cases what it echoes
        "req={b64}",
    ],
)
def test_an_error_body_that_echoes_the_webhook_never_stores_or_logs_its_path(
    taskrouter, services, httpserver, clock, capsys, echo
):
    url = httpserver.url_for(HOOK)
    escaped = {"json_path": HOOK.replace("/", "\\/"), "encoded": HOOK.replace("/", "%2F"), "upper": HOOK.upper()}
    escaped["b64"] = base64.b64encode(HOOK.encode()).decode()  # as proxies echo it
    body = echo.format(path=HOOK, url=url, path_cut="x" * 190 + HOOK, **escaped)  # a cut at 200 would leave part
    httpserver.expect_request(HOOK).respond_with_data(body, status=404)
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    with services.store.engine.connect() as connection:
        from guard.adapters.tables import alert

        [stored] = connection.execute(alert.select()).all()
    assert "SECRETHOOK" not in stored.last_error.upper() and "<webhook>" in stored.last_error
    assert "SECRETHOOK" not in capsys.readouterr().out.upper()


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
    drift_then_fixed(taskrouter, services)
    assert [kind for kind, status, _ in outbox(services) if status == "delivered"] == []
    clock.advance(2)
    services.delivery.run_once()
    kinds = [m["blocks"][0]["text"]["text"].split(":")[1] for m in posted(httpserver)]
    assert kinds == ["rotating_light", "rotating_light", "white_check_mark"]


def test_a_slack_timeout_is_logged_once_by_the_guard_with_its_alert_not_as_an_error(
    taskrouter, services, httpserver, capsys
):
    """slack_sdk's own error line on a timeout named no alert, and paged whoever alerts on error lines."""
    answered = threading.Event()

    def slow(_request):  # past the 0.5 s timeout, then a late answer nobody reads
        answered.wait(2)
        return Response("ok")

    httpserver.expect_request(HOOK).respond_with_handler(slow)
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    answered.set()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines if line["logger"].startswith("slack_sdk")] == []
    [retry] = [line for line in lines if line["event"] == "alert_delivery_retry"]
    assert retry["level"] == "warning" and retry["worker_sid"]
