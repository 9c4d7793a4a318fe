"""GET /metrics: counters after signed events, gauges from the database, the bearer token, gunicorn."""

import signal

import pytest
import requests

from tests.fakes.slack import FakeSlack
from tests.helpers import cloudevent, post_cloudevents, worker_event, worker_sid
from tests.processes import Gunicorn, post_all, wait_for
from tests.test_status import OPERATOR, PASSWORD


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        metric_name, _, label_text = metric.partition("{")
        if metric_name == name and ",".join(sorted(label_text.rstrip("}").split(","))) == wanted:
            return float(value)
    return 0.0


def scrape(client) -> str:
    """The current exposition."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_counters_and_gauges_follow_signed_events(client, taskrouter):
    before = scrape(client)
    taskrouter.post(worker_event(sid=worker_sid(1), contact_uri="sip:x"))
    taskrouter.post(worker_event(sid=worker_sid(2), contact_uri=None))
    taskrouter.post(worker_event("task.created"))
    taskrouter.post(worker_event(WorkerAttributes="[]"))
    taskrouter.post(worker_event(), token="forged")
    post_cloudevents(client, [cloudevent(sid=worker_sid(3), contact_uri="sip:y")])
    after = scrape(client)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    accepted = {"source": "taskrouter", "event_type": "worker.attributes.update", "outcome": "accepted"}
    assert delta("guard_events_received_total", **accepted) == 2
    assert delta("guard_events_received_total", source="taskrouter", event_type="task.created", outcome="ignored") == 1
    assert delta("guard_events_received_total", **{**accepted, "outcome": "bad_request"}) == 1
    forged = {"source": "taskrouter", "event_type": "unverified", "outcome": "bad_signature"}  # names nothing it sent
    assert delta("guard_events_received_total", **forged) == 1
    streams = {"source": "event-streams", "event_type": "worker.attributes.update", "outcome": "accepted"}
    assert delta("guard_events_received_total", **streams) == 1
    assert delta("guard_verdicts_total", verdict="mismatch") == 2
    assert delta("guard_verdicts_total", verdict="pending") == 1
    assert delta("guard_alerts_total", kind="drift", result="logged") == 2
    assert sample(after, "guard_workers_in_drift") == 2
    assert sample(after, "guard_database_up") == 1
    assert sample(after, "guard_workers_pending_first_login") == 1
    # task.created never reaches Flask: the fast path answers it (see handlers/fast_path.py)
    assert delta("guard_request_duration_seconds_count", endpoint="taskrouter_events.receive_event") == 4


@pytest.fixture
def slack_stub():
    """A Slack stub for delivery metrics."""
    stub = FakeSlack().start()
    yield stub
    stub.stop()


@pytest.fixture
def settings_overrides(request):
    """Slack wired in (when the test uses the stub) and an optional metrics token."""
    overrides = dict(getattr(request, "param", {}))
    if "slack_stub" in request.fixturenames:
        overrides["slack_webhook_url"] = request.getfixturevalue("slack_stub").url
    return overrides


def test_what_each_worker_event_came_to_shows_retries_and_late_deliveries(client, taskrouter):
    before = scrape(client)
    first, older = worker_event(version=3), worker_event(version=2)
    taskrouter.post(first)
    taskrouter.post(first)  # TaskRouter's retry of the same event (its Sid)
    taskrouter.post(older)  # delivered after a later version: stale
    event = cloudevent(sid=worker_sid(3))
    post_cloudevents(client, [event])
    post_cloudevents(client, [event])
    after = scrape(client)

    def delta(source, outcome):
        counted = {"source": source, "outcome": outcome}
        return sample(after, "guard_worker_events_total", **counted) - sample(
            before, "guard_worker_events_total", **counted
        )

    assert [delta("taskrouter", outcome) for outcome in ("recorded", "duplicate", "stale")] == [1, 1, 1]
    assert [delta("event-streams", outcome) for outcome in ("recorded", "duplicate")] == [1, 1]


def test_delivery_results_and_latency_and_backlog(client, taskrouter, services, slack_stub):
    before = scrape(client)
    taskrouter.post(worker_event(contact_uri="sip:x"))
    assert sample(scrape(client), "guard_outbox_backlog") == 1
    services.delivery.run_once()
    after = scrape(client)
    assert (
        sample(after, "guard_alerts_total", kind="drift", result="delivered")
        - sample(before, "guard_alerts_total", kind="drift", result="delivered")
        == 1
    )
    assert sample(after, "guard_alert_delivery_latency_seconds_count") > sample(
        before, "guard_alert_delivery_latency_seconds_count"
    )
    assert sample(after, "guard_outbox_backlog") == 0


@pytest.mark.parametrize("settings_overrides", [{"metrics_token": "s3cret-metrics"}], indirect=True)
def test_metrics_token_is_a_bearer_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": "bearer  s3cret-metrics"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": "Basic s3cret-metrics"}).status_code == 401


@pytest.mark.parametrize(
    "settings_overrides", [{"metrics_token": "s3cret-metrics", "status_password": PASSWORD}], indirect=True
)
def test_wrong_metrics_tokens_are_logged_and_throttled_like_status_logins(client, capsys):
    wrong = {"Authorization": "Bearer guess-0123"}
    answers = [client.get("/metrics", headers=wrong).status_code for _ in range(11)]
    assert answers == [401] * 10 + [429]
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert right.status_code == 429 and 0 < int(right.headers["Retry-After"]) <= 60  # that address waits
    out = capsys.readouterr().out
    assert out.count('"event": "metrics_auth_failed"') == 10 and "guess-0123" not in out
    assert client.get("/status", headers=OPERATOR).status_code == 200  # a throttle of its own: operators get in


def test_untrusted_event_types_do_not_grow_the_label_set(client, taskrouter):
    for n in range(5):
        taskrouter.post(worker_event(f"made.up.{n}"))
    text = scrape(client)
    assert "made.up" not in text
    assert sample(text, "guard_events_received_total", source="taskrouter", event_type="other", outcome="ignored") >= 5


def test_counters_add_up_across_two_gunicorn_workers(tmp_path):
    """Which worker takes which request is the kernel's choice (on a busy machine one may take them all).

    So the test replaces the workers halfway (SIGHUP): the two halves are counted by different processes
    whatever the load, and every scrape must add them up, the files of the workers that are gone included.
    """
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    events = [worker_event(sid=worker_sid(n), contact_uri="sip:x") for n in range(1, 61)]
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        assert set(post_all([service], events[:30])) == {204}
        first = set(service.worker_pids())
        service.signal(signal.SIGHUP)  # new workers, then the old ones stop gracefully
        assert wait_for(lambda: len(service.worker_pids()) == 2 and not first & set(service.worker_pids()), 60)
        assert set(post_all([service], events[30:])) == {204}
        metrics_url = service.url.replace("/taskrouter/events", "/metrics")
        accepted = {"source": "taskrouter", "event_type": "worker.attributes.update", "outcome": "accepted"}
        for _ in range(6):  # whichever worker answers the scrape, it reports the sum over all of them
            text = requests.get(metrics_url, timeout=5).text
            assert sample(text, "guard_events_received_total", **accepted) == 60
            assert sample(text, "guard_verdicts_total", verdict="mismatch") == 60
            assert sample(text, "guard_workers_in_drift") == 60
        writers = {int(path.stem.rsplit("_", 1)[-1]) for path in metrics_dir.glob("counter_*.db")}
    assert writers & first and writers - first  # the old and the new workers both counted, and were added up


def test_the_metrics_directory_gunicorn_made_is_removed_when_it_exits(tmp_path):
    """Every start without PROMETHEUS_MULTIPROC_DIR makes a fresh directory: one left per start would pile up."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "TMPDIR": str(tmp_path)}
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        assert requests.get(service.url.replace("/taskrouter/events", "/metrics"), timeout=5).ok
        assert len(list(tmp_path.glob("guard-metrics-*"))) == 1  # made by this start
        first = set(service.worker_pids())
        service.signal(signal.SIGHUP)  # gunicorn.conf.py is read again: the directory is still this start's own
        assert wait_for(lambda: len(service.worker_pids()) == 2 and not first & set(service.worker_pids()), 60)
        assert len(list(tmp_path.glob("guard-metrics-*"))) == 1
    assert not list(tmp_path.glob("guard-metrics-*"))
