"""The README's other deploy shape: web with ALERT_DELIVERY=off, and a `worker: flask --app wsgi deliver` process."""

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from tests.fakes.slack import FakeSlack
from tests.helpers import worker_event, worker_sid
from tests.processes import LOG_FILES, ROOT, Gunicorn, post_all, wait_for


def outbox_statuses(database) -> Counter[str]:
    """Alert rows by delivery status."""
    with sqlite3.connect(database) as connection:
        return Counter(dict(connection.execute("SELECT status, count(*) FROM alert GROUP BY status").fetchall()))


def test_the_deliver_process_sends_what_the_web_process_queued(tmp_path):
    slack = FakeSlack().start()
    database = tmp_path / "guard.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "SLACK_WEBHOOK_URL": slack.url, "ALERT_DELIVERY": "off"}
    events = [worker_event(sid=worker_sid(n), contact_uri=f"sip:agent{n}") for n in range(1, 6)]
    try:
        with Gunicorn(env, tmp_path / "web.log") as web:
            assert set(post_all([web], events)) == {204}
            time.sleep(1.0)  # time enough for a delivery thread, had the web process started one
            assert slack.messages() == Counter()
            assert outbox_statuses(database) == Counter(pending=5)

            log_path = tmp_path / "deliver.log"
            LOG_FILES.append(log_path)  # scanned for secrets with the other service logs
            with log_path.open("ab") as log:
                deliver = subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "wsgi", "deliver"],
                    cwd=ROOT, env=web.env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            try:
                expected = Counter({(worker_sid(n), "drift"): 1 for n in range(1, 6)})
                assert wait_for(lambda: slack.messages() == expected, timeout=30)
                deliver.send_signal(signal.SIGTERM)
                assert deliver.wait(timeout=15) == 0
            finally:
                deliver.kill()
            assert outbox_statuses(database) == Counter(delivered=5)
    finally:
        slack.stop()
