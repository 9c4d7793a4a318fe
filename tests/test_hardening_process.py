"""Findings of the adversarial run (issue 12) that are about the process, through the real gunicorn."""

import random
import string
from collections import Counter

import pytest
import requests

from guard.metrics import KNOWN_EVENT_TYPES
from tests.fakes.slack import FakeSlack
from tests.helpers import worker_event, worker_sid
from tests.processes import Gunicorn, wait_for
from tests.slow_clients import SlowClients, health_latencies
from tests.test_metrics import sample


def test_slow_clients_cannot_take_the_service_off_the_air(tmp_path, figures):
    """Sync workers went silent with 2 clients trickling headers; gthread holds 14 (bench/slow_clients.py)."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db"}
    with Gunicorn(env, tmp_path / "gunicorn.log") as service, SlowClients(service.port, 6):
        latencies = health_latencies(service.port, seconds=2.0)
        statuses = [200 if latency is not None else 599 for latency in latencies]
        event = service.post(worker_event(contact_uri="sip:x"))
    figures.add(
        "Slow clients",
        "6 connections trickling a header line every 0.5 s, never finishing, against 2 gthread workers; "
        f"/healthz polled every 0.1 s answered {statuses.count(200)} of {len(statuses)}, and a drift event got 204",
        len(statuses),
        statuses,
        "pytest tests/test_hardening_process.py -k slow",
    )
    assert None not in latencies
    assert event.status_code == 204


@pytest.fixture
def slack():
    """A Slack stub whose first answer is a 429 with an absurd Retry-After."""
    stub = FakeSlack().start()
    yield stub
    stub.stop()


@pytest.mark.parametrize("retry_after", ["86400", "inf"])
def test_a_huge_retry_after_waits_the_cap_not_a_day(tmp_path, slack, retry_after, figures):
    slack.scripted, slack.retry_after = ["429"], retry_after
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "SLACK_WEBHOOK_URL": slack.url}
    env["ALERT_RETRY_MAX_SECONDS"] = "1"
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        statuses = [service.post(worker_event(sid=worker_sid(n), contact_uri="sip:x")).status_code for n in (1, 2)]
        delivered = wait_for(lambda: len(slack.messages()) == 2, timeout=20)
    figures.add(
        f"Retry-After: {retry_after}",
        f"Slack's first answer was 429 with Retry-After: {retry_after}; ALERT_RETRY_MAX_SECONDS=1",
        2,
        statuses,
        "pytest tests/test_hardening_process.py -k retry_after",
        expected=Counter({(worker_sid(1), "drift"): 1, (worker_sid(2), "drift"): 1}),
        received=slack.messages(),
    )
    assert delivered, slack.answers
    assert set(slack.messages()) == {(worker_sid(1), "drift"), (worker_sid(2), "drift")}


def test_unsigned_requests_never_grow_the_metrics(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    made_up = [f"task.{''.join(random.choices(string.ascii_lowercase, k=12))}" for _ in range(300)]
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        with requests.Session() as session:
            for event_type in made_up:
                fields = worker_event(event_type)
                response = session.post(service.url, data=fields, headers={"X-Twilio-Signature": "forged"}, timeout=5)
                assert response.status_code == 403
            service.post(worker_event("task.made-up-but-signed"))
        text = requests.get(service.url.replace("/taskrouter/events", "/metrics"), timeout=5).text
    labels = {
        line.split('event_type="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("guard_events_received_total{")
    }
    assert labels == {"unverified", "task.other"}
    forged = {"source": "taskrouter", "event_type": "unverified", "outcome": "bad_signature"}
    assert sample(text, "guard_events_received_total", **forged) == 300
    assert labels <= KNOWN_EVENT_TYPES | {"unverified", "task.other"}
