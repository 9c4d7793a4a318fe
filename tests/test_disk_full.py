"""SQLite on a full disk: events and /healthz say 503, nothing acknowledged is lost, the jobs log one line a round."""

import contextlib
import os
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest

from guard import container
from guard.adapters.sqlite_writers import CHECKPOINT_SECONDS
from handlers.app import create_app
from tests.conftest import make_settings
from tests.helpers import TaskRouterPoster, worker_event
from tests.processes import flask_cli


@contextlib.contextmanager
def small_disk(path):
    """A 4 MB tmpfs at `path` (a real file system that fills up); mounting one needs root, as CI runs."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    path.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    made = [mount, "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)]
    if mount is None or umount is None or subprocess.run(made, capture_output=True).returncode:
        pytest.skip("this machine does not let root mount a tmpfs")
    try:
        yield path
    finally:
        subprocess.run([umount, "-l", str(path)], check=True)


def fill(disk):
    """Empty guard.db's WAL, then write to `disk` until it has no room left."""
    # SQLite writes over a checkpointed WAL's frames, which needs no new room: a full disk would go unseen
    wal = sqlite3.connect(disk / "guard.db")
    wal.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal.close()
    with open(disk / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):  # nothing left to flush
        while True:
            filler.write(b"\0" * 65536)


def test_a_full_disk_answers_503_on_healthz_and_events_and_logs_one_line_per_job(tmp_path, capsys):
    with small_disk(tmp_path / "disk") as disk:
        down = "http://127.0.0.1:9/services/T0/B0/x"  # Slack unreachable: the drift's alert waits in the outbox
        app = create_app(make_settings(f"sqlite:///{disk}/guard.db", slack_webhook_url=down, slack_timeout_seconds=0.5))
        client, services = app.test_client(), app.extensions["guard"]
        poster = TaskRouterPoster(client)
        assert poster.post(worker_event(contact_uri="sip:x")).status_code == 204
        fill(disk)
        health = client.get("/healthz")
        assert (health.status_code, health.get_json()["database"]) == (503, "disk full")
        events = [poster.post(worker_event(contact_uri="sip:x", version=n)).status_code for n in range(2, 12)]
        assert set(events) == {503}  # never acknowledged: TaskRouter sends them again
        capsys.readouterr()
        services.jobs.run_due()
        out = capsys.readouterr().out
        assert "Traceback" not in out and '"detail": "database or disk is full"' in out
        (disk / "filler").unlink()
        assert client.get("/healthz").status_code == 200
        assert poster.post(worker_event(contact_uri="sip:x", version=12)).status_code == 204
        services.writer.stop(timeout=5)
        services.store.engine.dispose()


def test_retries_while_slack_is_down_are_copied_back_out_of_the_wal(tmp_path):
    # Only delivery writes while Slack fails: the WAL grew until the disk was full (an outsider's review)
    down = "http://127.0.0.1:9/services/T0/B0/x"
    database = tmp_path / "guard.db"
    app = create_app(make_settings(f"sqlite:///{database}", slack_webhook_url=down, slack_timeout_seconds=0.5))
    services = app.extensions["guard"]
    assert TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x")).status_code == 204
    services.writer.stop(timeout=5)
    due = time.monotonic() + CHECKPOINT_SECONDS
    services.jobs.run_due()  # the attempt fails and is recorded, in the WAL
    threading.Event().wait(max(0.0, due - time.monotonic()))  # the checkpoint's own pace, not a guess
    services.jobs.run_due()  # the next round copies it back
    main_file_only = sqlite3.connect(f"file:{database}?immutable=1", uri=True)  # reads no WAL
    assert main_file_only.execute("SELECT attempts FROM alert").fetchall() == [(1,)]
    main_file_only.close()
    services.store.engine.dispose()


def test_an_outage_logs_one_line_a_poll_however_often_the_lane_is_woken(tmp_path, capsys):
    with small_disk(tmp_path / "disk") as disk:
        down = "http://127.0.0.1:9/services/T0/B0/x"  # the alert stays due: the lane had it due every 0.05 s
        app = create_app(make_settings(f"sqlite:///{disk}/guard.db", slack_webhook_url=down, slack_timeout_seconds=0.5))
        services = app.extensions["guard"]
        assert TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x")).status_code == 204
        services.writer.stop(timeout=5)
        fill(disk)
        capsys.readouterr()
        lane = threading.Thread(target=services.jobs.run_forever, daemon=True)
        lane.start()
        seen, give_up = "", time.monotonic() + 30
        while '"job": "deliver"' not in seen and time.monotonic() < give_up:  # its first line: the outage is met
            threading.Event().wait(0.01)
            seen += capsys.readouterr().out
        for _ in range(50):  # new alerts committed elsewhere wake the lane
            services.jobs.wake()
            threading.Event().wait(0.01)
        services.jobs.stop(timeout=5)
        seen += capsys.readouterr().out
        assert seen.count('"event": "job_database_unavailable", "job": "deliver"') == 1
        services.store.engine.dispose()


def test_a_database_on_a_full_disk_at_start_says_so_and_lets_gunicorn_start_the_worker_again(
    tmp_path, monkeypatch, capsys
):
    with small_disk(tmp_path / "disk") as disk:
        url = f"sqlite:///{disk}/guard.db"
        create_app(make_settings(url)).extensions["guard"].store.engine.dispose()  # made, then stopped
        fill(disk)
        monkeypatch.setattr(container, "FULL_DISK_PAUSE", 0.0)
        with pytest.raises(SystemExit) as stopped:
            create_app(make_settings(url))
        assert stopped.value.code == container.BUSY_EXIT  # not 3: gunicorn would halt every worker
        assert capsys.readouterr().err.strip() == container.FULL_DISK_LINE


def test_a_command_on_a_full_disk_exits_2_an_error_not_1_drift_found(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        url = f"sqlite:///{disk}/guard.db"
        create_app(make_settings(url)).extensions["guard"].store.engine.dispose()
        fill(disk)
        result = flask_cli("migrate", DATABASE_URL=url, TWILIO_VALIDATE_SIGNATURE="false")
        assert (result.returncode, result.stderr.strip()) == (2, container.FULL_DISK_LINE)
