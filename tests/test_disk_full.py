"""SQLite on a full disk: events and /healthz say 503, nothing acknowledged is lost, the jobs log one line a round."""

import contextlib
import os
import shutil
import subprocess

import pytest

from handlers.app import create_app
from tests.conftest import make_settings
from tests.helpers import TaskRouterPoster, worker_event


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
    """Write to `disk` until it has no room left."""
    with open(disk / "filler", "wb") as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()


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
