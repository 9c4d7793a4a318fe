"""Fault scenarios at the intake, on the real service under gunicorn.

Two instances sharing one PostgreSQL, and forged signatures. Figures go to the same Reliability table
as tests/test_faults.py.
"""

import sqlite3
import time
from collections import Counter

import requests
from sqlalchemy import create_engine, text

from tests.helpers import sign, worker_event, worker_sid
from tests.processes import Gunicorn, post_all, wait_for
from tests.reliability import duplicated, missing


def test_two_processes_share_one_postgres(tmp_path, slack, figures, empty_postgres):
    """Duplicate deliveries, interleaved updates and out-of-order versions across two instances."""
    postgres_url = empty_postgres
    env = {"DATABASE_URL": postgres_url, "SLACK_WEBHOOK_URL": slack.url, "ALERT_RETRY_MAX_SECONDS": "1"}
    workers = [worker_sid(n) for n in range(1, 41)]
    a = Gunicorn(env, tmp_path / "a.log").start()
    b = Gunicorn(env, tmp_path / "b.log").start()
    statuses: list[int] = []
    try:
        for version, uri, name in ((1, "sip:a", "v1"), (2, None, "v2")):
            # the same event delivered to both instances at once
            events = [worker_event(sid=w, contact_uri=uri, version=version, name=name) for w in workers]
            statuses += post_all([a, b], [e for e in events for _ in (0, 1)], concurrency=16)
        for version, uri in ((3, "sip:b"), (4, "sip:c")):  # interleaved: one instance, then the other
            statuses += post_all(
                [a if version % 2 else b], [worker_event(sid=w, contact_uri=uri, version=version) for w in workers]
            )
        newer = [worker_event(sid=w, contact_uri=None, version=6) for w in workers]
        older = [worker_event(sid=w, contact_uri="sip:stale", version=5) for w in workers]
        statuses += post_all([a], newer) + post_all([b], older)  # out of order: 6 before 5
        racing = [worker_event(sid=w, contact_uri=None, version=v, name=f"v{v}") for w in workers for v in (7, 8)]
        statuses += post_all([a, b], racing, concurrency=16)
        expected = Counter()
        for w in workers:
            expected.update({(w, "drift"): 3, (w, "resolved"): 2})  # drift v1, v3, v4; resolved v2, v6
        wait_for(lambda: sum(slack.messages().values()) >= sum(expected.values()), timeout=60)
        time.sleep(1)  # anything extra would arrive now
    finally:
        a.stop()
        b.stop()
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        final = connection.execute(text("SELECT worker_sid, version, name, verdict FROM worker_state")).all()
        outbox = Counter(connection.execute(text("SELECT worker_sid, kind FROM alert")).all())
    engine.dispose()
    received = slack.messages()
    fives = figures.add(
        "Two processes, one PostgreSQL",
        "two gunicorns on one DATABASE_URL: every event to both at once, updates alternating between them, "
        "version 6 before 5, versions 7 and 8 racing",
        len(statuses),
        statuses,
        "pytest tests/test_faults_intake.py -k postgres",
        expected=expected,
        received=received,
    )
    assert outbox == expected
    assert (missing(expected, received), duplicated(expected, received), fives) == (0, 0, 0)
    assert sorted(final) == sorted((w, 8, "v8", "pending") for w in workers)


def test_forged_signatures_get_403_and_no_side_effects(tmp_path, figures):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "PUBLIC_BASE_URL": "https://guard.example.com"}
    public = "https://guard.example.com/taskrouter/events"
    genuine = worker_event(contact_uri="sip:forged")
    signature = sign(genuine, public)
    changed = {**genuine, "WorkerAttributes": genuine["WorkerAttributes"].replace("sip:forged", "sip:evil")}
    added = {**genuine, "Extra": "1"}
    removed = {k: v for k, v in genuine.items() if k != "WorkerVersion"}
    ignored = worker_event("reservation.created")  # answered by the fast path when genuine
    cases = {
        "missing signature": (genuine, {}),
        "another token": (genuine, {"X-Twilio-Signature": sign(genuine, public, token="not-the-token")}),
        "another URL": (genuine, {"X-Twilio-Signature": sign(genuine, "https://guard.example.com/other")}),
        "parameter changed": (changed, {"X-Twilio-Signature": signature}),
        "parameter added": (added, {"X-Twilio-Signature": signature}),
        "parameter removed": (removed, {"X-Twilio-Signature": signature}),
        "http URL signed, public URL is https": (
            genuine,
            {"X-Twilio-Signature": sign(genuine, public.replace("https", "http")), "X-Forwarded-Proto": "http"},
        ),
        "an ignored event type, another token": (ignored, {"X-Twilio-Signature": sign(ignored, public, "not-it")}),
    }
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        answers = {
            name: requests.post(service.url, data=f, headers=h, timeout=5).status_code for name, (f, h) in cases.items()
        }
        accepted = requests.post(service.url, data=genuine, headers={"X-Twilio-Signature": signature}, timeout=5)
        with sqlite3.connect(tmp_path / "guard.db") as connection:
            rows = connection.execute("SELECT count(*) FROM processed_event").fetchone()[0]
    assert answers == dict.fromkeys(cases, 403)
    assert accepted.status_code == 204 and rows == 1  # only the genuine one left a trace
    figures.add(
        "Signatures",
        "403 expected for: " + "; ".join(cases),
        len(cases),
        list(answers.values()),
        "pytest tests/test_faults_intake.py -k signatures",
    )


def test_a_database_error_naming_a_password_given_as_a_query_option_logs_no_password(caplog):
    """A driver or proxy might echo it (libpq's own lines do not): hidden as the netloc's password is."""
    from sqlalchemy.exc import OperationalError

    from guard.adapters import db
    from handlers.errors import database_trouble

    engine = db.make_engine("postgresql://guard@db.example/guard?password=s3cretpw&sslpassword=k3ypw")
    try:
        err = OperationalError("SELECT 1", {}, Exception("refused for password s3cretpw (key k3ypw)"))
        assert database_trouble(err, "/taskrouter/events", engine) == "database unavailable; retry later"
    finally:
        engine.dispose()
    logged = " ".join(str(getattr(record, "fields", "")) for record in caplog.records)
    assert "refused for password ***" in logged and "s3cretpw" not in logged and "k3ypw" not in logged
