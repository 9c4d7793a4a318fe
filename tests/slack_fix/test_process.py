"""Fix from Slack on the real service: a crash after the ack, and two processes on PostgreSQL with a slow API."""

import sqlite3
import time
from collections import Counter

import requests

from tests.fakes.slack_clicks import APPROVER, SIGNING_SECRET, click_payload, signed_click
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, email, populate, worker_event, worker_sid
from tests.processes import Gunicorn, wait_for

REFERENCE = f"{ACCOUNT_SID}/{WORKSPACE_SID}/{worker_sid(1)}"


def fix_env(database_url: str, slack, fake_api) -> dict[str, str]:
    """The service with the buttons on, REST credentials for the local TaskRouter API, alerts to the stub."""
    return {
        "DATABASE_URL": database_url,
        "SLACK_WEBHOOK_URL": slack.url,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APPROVERS": APPROVER,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_WORKSPACE_SID": WORKSPACE_SID,
        "TWILIO_TASKROUTER_BASE_URL": fake_api.url,
        "TWILIO_API_RETRIES": "1",
    }


def drift_and_click(service: Gunicorn, slack, click: int, **options) -> requests.Response:
    """Record worker 1's drift (once), then click Remove on its alert."""
    drift = worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), name="agent.1")
    assert service.post(drift).status_code == 204
    body, headers = signed_click(click_payload("remove_contact_uri", REFERENCE, slack.response_url(click), **options))
    return requests.post(
        service.url.replace("/taskrouter/events", "/slack/interactions"), data=body, headers=headers, timeout=3
    )


def test_a_click_acknowledged_before_a_crash_is_applied_after_the_restart(tmp_path, slack, fake_api, figures):
    populate(fake_api, 1, drifting={1})
    database = tmp_path / "guard.db"
    env = fix_env(f"sqlite:///{database}", slack, fake_api)
    first = Gunicorn({**env, "ALERT_DELIVERY": "off"}, tmp_path / "first.log").start()  # nothing in the background
    answer = drift_and_click(first, slack, 1)
    assert answer.status_code == 200
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT status FROM slack_click").fetchall() == [("pending",)]
    first.kill_all()  # SIGKILL, master and workers: the click was only ever recorded
    assert fake_api.updates == [] and slack.answers_to(1) == []
    with Gunicorn(env, tmp_path / "second.log", port=first.port):
        answered = wait_for(lambda: slack.answers_to(1), timeout=20)
    figures.add(
        "Slack click, then SIGKILL",
        "a click acknowledged by a process with no background jobs, then SIGKILL of master and workers; restart",
        1,
        [answer.status_code],
        "pytest tests/slack_fix/test_process.py -k crash",
        expected=Counter({"removed": 1}),
        received=Counter({"removed": len(fake_api.updates)}),
    )
    assert len(fake_api.updates) == 1
    assert f"<@{APPROVER}> removed" in answered[0]["text"]


def test_two_processes_on_postgres_ack_within_3_s_while_the_api_takes_5_s(tmp_path, slack, fake_api, empty_postgres):
    populate(fake_api, 1, drifting={1})
    env = fix_env(empty_postgres, slack, fake_api)
    with Gunicorn(env, tmp_path / "a.log") as a, Gunicorn(env, tmp_path / "b.log") as b:
        fake_api.latency = 5.0  # every TaskRouter call now takes 5 s; Slack waits 3 s for the ack
        started = time.monotonic()
        first = drift_and_click(a, slack, 1)  # requests' 3 s timeout is Slack's: a slower answer fails here
        second = drift_and_click(b, slack, 2)  # the same message clicked again, on the other process
        acked = time.monotonic() - started
        answered = wait_for(lambda: slack.answers_to(1) or slack.answers_to(2), timeout=40)
        time.sleep(1)  # a second removal or answer would show now
    assert (first.status_code, second.status_code) == (200, 200) and acked < 6
    assert len(fake_api.updates) == 1
    assert len(slack.answers_to(1)) + len(slack.answers_to(2)) == 1
    assert answered[0]["replace_original"] is True
