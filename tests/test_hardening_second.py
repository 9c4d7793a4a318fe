"""Findings of the second adversarial run (issue 20): the status page and the start-up warnings, in process."""

import json
import logging

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder, run_wsgi_app

from guard.config import PUBLIC_BASE_URL_WARNING
from guard.core.snapshot import WorkerKey
from handlers.app import DYNO_SQLITE_WARNING, SHARED_ROUTER_WARNING, create_app
from tests.conftest import make_settings
from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    AUTH_TOKEN,
    WORKSPACE_SID,
    TaskRouterPoster,
    stored_state,
    worker_event,
    worker_sid,
)
from tests.test_status import OPERATOR, PASSWORD, basic

ROUTER = {"REMOTE_ADDR": "10.1.2.3"}  # Heroku's router: every request arrives from one of its addresses


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}])
@pytest.mark.parametrize("rule_id", [2**63, 10**30, 2**63 - 1])
def test_a_rule_id_beyond_bigint_is_404_not_500(client, settings_overrides, rule_id):
    response = client.post(f"/status/intended/{rule_id}/remove", headers=OPERATOR, data={"token": "0" * 64})
    assert response.status_code == 404


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD, "trust_proxy": True}])
def test_behind_the_router_with_trust_proxy_each_client_has_its_own_throttle(client, settings_overrides, capsys):
    for _ in range(40):
        guess = client.get(
            "/api/workers", headers={**basic("admin", "guess"), "X-Forwarded-For": "203.0.113.7"}, environ_base=ROUTER
        )
    assert guess.status_code == 429
    # Heroku appends the real client to X-Forwarded-For; what a client sends before it is not trusted.
    admin = {**OPERATOR, "X-Forwarded-For": "203.0.113.7, 198.51.100.9"}
    assert client.get("/api/workers", headers=admin, environ_base=ROUTER).status_code == 200
    spoofed = {**OPERATOR, "X-Forwarded-For": "198.51.100.9, 203.0.113.7"}
    assert client.get("/api/workers", headers=spoofed, environ_base=ROUTER).status_code == 429
    failures = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "status_login_failed" in line]
    assert {line["remote"] for line in failures} == {"203.0.113.7"}


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}])
def test_a_failed_login_logs_whether_the_user_was_right_never_what_was_typed(client, settings_overrides, capsys):
    assert client.get("/api/workers", headers=basic("Tr0ub4dor&3", "")).status_code == 401  # swapped fields
    assert client.get("/api/workers", headers=basic("admin", "guess")).status_code == 401
    out = capsys.readouterr().out
    assert "Tr0ub4dor&3" not in out
    failures = [json.loads(line) for line in out.splitlines() if "status_login_failed" in line]
    assert [line["user_known"] for line in failures] == [False, True]


@pytest.mark.parametrize(
    ("extra", "warned"),
    [
        ({"dyno": "web.1", "status_password": PASSWORD}, True),
        ({"dyno": "web.1", "status_password": PASSWORD, "trust_proxy": True}, False),
        ({"dyno": "web.1"}, False),  # no status page, no logins to throttle
        ({"status_password": PASSWORD}, False),  # not on Heroku: clients reach the guard directly
    ],
)
def test_on_heroku_without_trust_proxy_the_start_says_logins_share_the_router(tmp_path, capsys, extra, warned):
    app = create_app(make_settings(f"sqlite:///{tmp_path}/g.db", public_base_url="https://g.example", **extra))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["level"] for line in lines if line["event"] == SHARED_ROUTER_WARNING] == ["warning"] * warned
    app.extensions["guard"].store.engine.dispose()


@pytest.mark.parametrize(
    ("extra", "warned"),
    [
        ({"port": "5000", "dyno": "web.1"}, True),
        ({"host": "0.0.0.0"}, True),  # noqa: S104 - asked for
        ({"port": "5000", "dyno": "web.1", "public_base_url": "https://g.example"}, False),
        ({"port": "8001"}, False),  # `PORT=8001 make run`: still loopback only, nobody else can send a Host
        ({}, False),
    ],
)
def test_reachable_without_public_base_url_warns_loudly(tmp_path, capsys, extra, warned):
    create_app(make_settings(f"sqlite:///{tmp_path}/g.db", **extra))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    matching = [line for line in lines if line["event"] == PUBLIC_BASE_URL_WARNING]
    assert len(matching) == warned and all(line["level"] == "warning" for line in matching)


@pytest.mark.parametrize("path", ["/taskrouter/events", "/event-streams", "/status"])
def test_a_query_string_that_is_not_utf8_gets_400_not_500(client, path):
    # gunicorn refuses such a request line itself; a more lenient WSGI server would pass it on
    bare, forged = {"QUERY_STRING": "a=\xff"}, {"X-Twilio-Signature": "x"}  # WSGI strings are bytes as latin-1
    assert client.post(path, data=worker_event(), headers=forged, environ_overrides=bare).status_code == 400
    ignored = worker_event("task.created")  # the fast path checks its signature first, then hands it on
    assert client.post(path, data=ignored, headers=forged, environ_overrides=bare).status_code == 400


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}])
@pytest.mark.parametrize("path", ["/status", "/api/workers"])
@pytest.mark.parametrize("header", ["Basic é", "Basic !!!!"])
def test_a_login_header_that_is_no_base64_is_a_logged_and_counted_failure_not_a_500(
    client, settings_overrides, path, header, capsys
):
    answers = [client.get(path, headers={"Authorization": header}).status_code for _ in range(12)]
    assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]  # the throttle counts them like wrong passwords
    out = capsys.readouterr().out
    assert out.count('"event": "status_login_failed"') == 10
    assert "unhandled_error" not in out


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("dyno", ["web.1", None])
def test_sqlite_on_a_heroku_dyno_is_warned_of_at_start(database_url, capsys, dyno):
    app = create_app(make_settings(database_url, public_base_url="https://g.example", dyno=dyno))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    warned = dyno is not None and database_url.startswith("sqlite")  # a plain `git push heroku`: no Postgres add-on
    assert [line["level"] for line in lines if line["event"] == DYNO_SQLITE_WARNING] == ["warning"] * warned
    app.extensions["guard"].store.engine.dispose()


def test_log_level_error_still_writes_every_alert_and_the_start_warnings(tmp_path, capsys):
    # The log is the only alert sink without Slack: LOG_LEVEL=ERROR dropped the drift yet recorded it as delivered
    app = create_app(make_settings(f"sqlite:///{tmp_path}/g.db", log_level="ERROR", validate_signature=False))
    try:
        poster = TaskRouterPoster(app.test_client())
        assert poster.post(worker_event(contact_uri="sip:x")).status_code == 204
        assert poster.post(worker_event(contact_uri=ANN_URI, version=2)).status_code == 204
        assert poster.post(worker_event(contact_uri="sip:y", version=1)).status_code == 204  # stale: an info line
        app.extensions["guard"].writer.stop(timeout=5)
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        assert [line["kind"] for line in lines if line["event"] == "alert"] == ["drift", "resolved"]
        assert any(line["event"].startswith("SIGNATURE VALIDATION IS OFF") for line in lines)
        assert {line["logger"] for line in lines} == {"guard.alert", "guard.start"}  # the rest stays quiet
    finally:
        app.extensions["guard"].store.engine.dispose()
        logging.getLogger().setLevel(logging.INFO)  # the level every other test's app sets


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/taskrouter/events", worker_event(), None),  # the full path
        ("/taskrouter/events", worker_event("task.created"), None),  # the fast path checks its signature first
        ("/event-streams?bodySHA256=00", "[]", "application/json"),
    ],
)
def test_a_host_header_that_is_no_valid_host_name_gets_403_and_a_log_line_not_a_500(
    app, services, capsys, path, body, content_type
):
    headers = {"Host": "xn--zz", "X-Twilio-Signature": "x"}  # no valid IDNA label: werkzeug cannot decode it
    # Straight through WSGI: the test client decodes the host itself once the app has answered
    environ = EnvironBuilder(path, method="POST", data=body, headers=headers, content_type=content_type).get_environ()
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("403")
    assert '"reason": "the Host header is no valid host name"' in capsys.readouterr().out


def test_a_callback_url_with_a_doubled_slash_is_served_as_signed_not_redirected(client, services):
    form, url = worker_event(contact_uri="sip:x"), "http://localhost//taskrouter/events"  # as pasted into TaskRouter
    signed = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}
    as_sent = {"PATH_INFO": "//taskrouter/events"}  # the test client would read "//taskrouter" as a host
    assert client.post(data=form, headers=signed, environ_overrides=as_sent).status_code == 204
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "mismatch"


@pytest.mark.parametrize("path", ["/taskrouter/events/", "/taskrouter"])
def test_a_callback_posted_to_a_mistyped_path_gets_a_logged_404(client, services, capsys, path):
    assert client.post(path, data=worker_event()).status_code == 404
    assert f'"event": "http_error", "status": 404, "reason": "Not Found", "path": "{path}"' in capsys.readouterr().out
    assert client.get("/wp-login.php").status_code == 404 and capsys.readouterr().out == ""  # scanners stay quiet
