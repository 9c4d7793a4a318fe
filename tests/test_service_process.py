"""The Procfile's web command for real: gunicorn, background delivery, graceful stop, bad config."""

import json
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.fakes.slack import HOOK_PATH as HOOK
from tests.helpers import sign, worker_event
from tests.processes import GUNICORN, ROOT, Gunicorn, child_pids, free_port, request_taken_by_a_worker, wait_for


def test_gunicorn_serves_events_and_delivers_alerts_in_the_background(tmp_path, httpserver):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "SLACK_WEBHOOK_URL": httpserver.url_for(HOOK)}
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        response = service.post(worker_event(contact_uri="sip:wrong"))
        assert response.status_code == 204
        assert response.headers["Content-Type"] == "application/json"
        assert wait_for(lambda: len(httpserver.log) == 1)
    log = (tmp_path / "gunicorn.log").read_text()
    assert '"event": "alert"' in log and '"kind": "drift"' in log
    assert httpserver.url_for(HOOK) not in log


def test_sigterm_finishes_the_request_in_flight_and_keeps_undelivered_alerts(tmp_path):
    database = tmp_path / "guard.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "WEB_CONCURRENCY": "1", "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/x"}
    service = Gunicorn(env, tmp_path / "gunicorn.log").start()
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # hold the write lock so the next request is still in flight
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(service.post, worker_event(contact_uri="sip:wrong"))
        assert wait_for(lambda: request_taken_by_a_worker(service.port))  # SIGTERM must find it in flight
        started = time.monotonic()
        service.signal(signal.SIGTERM)
        time.sleep(1.0)
        blocker.execute("ROLLBACK")
        assert in_flight.result().status_code == 204
    assert service.process.wait(30) == 0
    assert time.monotonic() - started < 30
    [(status,)] = blocker.execute("SELECT status FROM alert").fetchall()
    assert status == "pending"


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("ALERT_REPEAT_HOURS", "soon", "ALERT_REPEAT_HOURS must be a number"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL must be a sqlite:///… or postgres://… URL"),
        ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/metrics", "PROMETHEUS_MULTIPROC_DIR must be an existing directory"),
    ],
)
def test_bad_configuration_stops_the_start_with_one_line_naming_it(tmp_path, name, value, line):
    env = {"PATH": "/usr/bin:/bin", "PORT": "0", "TWILIO_AUTH_TOKEN": "t", name: value}
    result = subprocess.run([GUNICORN, "wsgi:app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [f"guard: configuration error: {line}"]


WEB = [sys.executable, "-m", "guard.web"]  # the Procfile's web command
CONFIG_ERROR = "guard: configuration error: "


@pytest.mark.parametrize("value", ["abc", "2.5", "0", "-1", "100000"])
def test_a_bad_web_concurrency_stops_the_procfile_start_with_one_line_naming_it(value):
    env = {"PATH": "/usr/bin:/bin", "PORT": "0", "TWILIO_AUTH_TOKEN": "t", "WEB_CONCURRENCY": value}
    result = subprocess.run(WEB, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    line = "guard: configuration error: WEB_CONCURRENCY must be a whole number from 1 to 64"
    assert result.stderr.strip().splitlines() == [line]


def test_web_concurrency_0_stops_a_gunicorn_started_by_hand_with_one_line():
    env = {"PATH": "/usr/bin:/bin", "PORT": "0", "TWILIO_AUTH_TOKEN": "t", "WEB_CONCURRENCY": "0"}
    result = subprocess.run([GUNICORN, "wsgi:app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1].startswith("guard: configuration error: WEB_CONCURRENCY must be")


def test_the_procfile_web_command_becomes_gunicorn_and_a_blank_web_concurrency_is_the_default_1(tmp_path):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "TWILIO_AUTH_TOKEN": "t", "WEB_CONCURRENCY": " ",
           "DATABASE_URL": f"sqlite:///{tmp_path}/guard.db"}  # fmt: skip
    assert (ROOT / "Procfile").read_text().splitlines()[0] == "web: python -m guard.web"
    process = subprocess.Popen(WEB, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _healthy(port), timeout=30)
        assert len(child_pids(process.pid)) == 1  # the launcher's own pid is now gunicorn's master
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def _healthy(port: int) -> bool:
    """True once /healthz answers 200 on `port`."""
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_a_metrics_directory_shared_with_the_database_is_refused_and_never_emptied(tmp_path):
    (tmp_path / "guard.db").write_bytes(b"the guard's state")
    (tmp_path / "counter_123.db").write_bytes(b"")  # prometheus_client's: these are what a start clears
    env = {"PATH": "/usr/bin:/bin", "PORT": "0", "TWILIO_AUTH_TOKEN": "t", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for database in (f"sqlite:///{tmp_path}/guard.db", f"sqlite:///{tmp_path}/elsewhere/other.db"):
        result = subprocess.run([GUNICORN, "wsgi:app"], cwd=ROOT, env={**env, "DATABASE_URL": database},
                                capture_output=True, text=True, timeout=30)  # fmt: skip
        assert result.returncode == 3
        line = f"{CONFIG_ERROR}PROMETHEUS_MULTIPROC_DIR must be a directory of its own (it holds other .db files)"
        assert result.stderr.strip().splitlines() == [line]
    assert (tmp_path / "guard.db").read_bytes() == b"the guard's state"


def test_missing_auth_token_refuses_to_start(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PORT": "0"}
    result = subprocess.run([GUNICORN, "wsgi:app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert "TWILIO_AUTH_TOKEN is not set" in result.stderr


def listening_on(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at `port`, from /proc/net/tcp ("0.0.0.0": every interface)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    local = [row[1].split(":") for row in rows if row[3] == "0A"]  # 0A: LISTEN
    return {
        ".".join(str(b) for b in reversed(bytes.fromhex(ip))) for ip, hex_port in local if int(hex_port, 16) == port
    }


@pytest.mark.parametrize(
    ("env", "address"),
    [({"TWILIO_VALIDATE_SIGNATURE": "false"}, "127.0.0.1"), ({"DYNO": "web.1"}, "0.0.0.0")],  # noqa: S104
    ids=["PORT moves the demo, which stays on loopback", "a Heroku dyno listens on every interface"],
)
def test_port_alone_never_opens_the_service_to_the_network(tmp_path, env, address):
    with Gunicorn({"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", **env}, tmp_path / "gunicorn.log") as service:
        assert listening_on(service.port) == {address}


def test_the_readme_sample_event_gets_204_and_a_drift_line(tmp_path):
    readme = (ROOT / "README.md").read_text()
    [sample] = re.findall(r"```sh\n(curl -i http://127\.0\.0\.1:8000/taskrouter/events.*?)\n```", readme, re.DOTALL)
    env = {"TWILIO_VALIDATE_SIGNATURE": "false", "DATABASE_URL": f"sqlite:///{tmp_path}/demo.db"}
    log = tmp_path / "demo.log"
    with Gunicorn(env, log) as service:
        command = sample.replace("127.0.0.1:8000", f"127.0.0.1:{service.port}")
        bash = shutil.which("bash") or "/bin/bash"
        answer = subprocess.run([bash, "-c", command], capture_output=True, text=True, timeout=30, check=True)
        assert answer.stdout.startswith("HTTP/1.1 204")
        assert wait_for(lambda: '"event": "alert"' in log.read_text())
    [line] = [json.loads(text) for text in log.read_text().splitlines() if '"event": "alert"' in text]
    assert (line["kind"], line["diagnosis"]) == ("drift", "raw_email")


@pytest.fixture
def taken_port():
    """A port another process listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


@pytest.mark.parametrize(
    ("host", "line"),
    [
        ("10.99.99.99", "HOST is no address of this machine, so nothing can listen on it"),
        ("127.0.0.1", "PORT is in use by another process on HOST"),
    ],
)
def test_an_address_that_cannot_be_listened_on_stops_the_start_with_one_line(tmp_path, taken_port, host, line):
    env = {"PATH": "/usr/bin:/bin", "PORT": str(taken_port), "HOST": host, "TWILIO_AUTH_TOKEN": "t"}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "TMPDIR": str(tmp_path)}
    result = subprocess.run(WEB, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stderr.strip().splitlines()) == (3, [CONFIG_ERROR + line])
    assert not list(tmp_path.glob("guard-metrics-*"))  # no metrics directory left behind


@pytest.mark.parametrize(
    ("path", "reason"),
    [("notadb.txt", "file is not a database"), ("afile/guard.db", "File exists"), ("/proc/none/g.db", "No such file")],
)
def test_a_sqlite_path_that_cannot_be_opened_stops_the_start_with_one_line(tmp_path, path, reason):
    # Found by the workers as they boot, the line came amid gunicorn's own start and stop lines (an outsider's review)
    (tmp_path / "notadb.txt").write_text("notes, not a database")
    (tmp_path / "afile").write_text("a file where a directory would be made")
    env = {"PATH": "/usr/bin:/bin", "PORT": "0", "TWILIO_AUTH_TOKEN": "t", "TMPDIR": str(tmp_path)}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / path}"
    result = subprocess.run(WEB, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    [line] = result.stderr.strip().splitlines()
    assert result.returncode == 3 and line.startswith(CONFIG_ERROR + "DATABASE_URL: the SQLite file cannot be opened (")
    assert reason in line and str(tmp_path) not in line


@pytest.mark.parametrize(("address", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])  # noqa: S104 - asked for
def test_a_bind_beyond_loopback_from_gunicorn_cmd_args_warns_without_public_base_url(tmp_path, address, warned):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "TWILIO_AUTH_TOKEN": "t", "GUNICORN_CMD_ARGS": f"--bind {address}:{port}"}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db"}
    with (tmp_path / "err.log").open("w") as err:
        process = subprocess.Popen(WEB, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            assert wait_for(lambda: _healthy(port), timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
    assert ("PUBLIC_BASE_URL IS NOT SET" in (tmp_path / "err.log").read_text()) is warned


def test_forwarding_headers_from_loopback_count_only_with_trust_proxy(tmp_path):
    # gunicorn trusted X-Forwarded-Proto and SCRIPT_NAME from 127.0.0.1 by default, TRUST_PROXY or not
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "WEB_CONCURRENCY": "1"}
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        event = worker_event(contact_uri="sip:wrong")
        https = service.url.replace("http://", "https://")
        spoofed = {"X-Twilio-Signature": sign(event, https), "X-Forwarded-Proto": "https"}
        assert requests.post(service.url, data=event, headers=spoofed, timeout=10).status_code == 403
        assert service.post(event).status_code == 204  # signed for the URL it really came to
