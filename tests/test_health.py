"""GET /healthz, and what happens to events while the database is down."""

import dataclasses
import json
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError

from guard.adapters import db
from guard.adapters.tables import alert
from handlers.app import create_app
from tests.conftest import make_settings
from tests.fakes.hanging_proxy import HangingProxy
from tests.helpers import TaskRouterPoster, fake_api_settings, worker_event
from tests.processes import wait_for
from tests.test_status import OPERATOR, PASSWORD


def test_healthz_reports_database_and_outbox(client, taskrouter):
    taskrouter.post(worker_event(contact_uri="sip:x"))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"database": "ok", "pending_alerts": 0, "failed_alerts": 0}


@pytest.fixture
def app_without_database():
    """An app whose PostgreSQL is unreachable."""
    return create_app(make_settings("postgresql://postgres@127.0.0.1:1/none"))


def test_healthz_is_503_when_the_database_is_unreachable(app_without_database):
    response = app_without_database.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_metrics_still_answer_while_the_database_is_down_and_say_so(app_without_database):
    client = app_without_database.test_client()
    assert TaskRouterPoster(client).post(worker_event(event_type="task.created")).status_code == 204
    response = client.get("/metrics")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "guard_database_up 0.0" in text  # not 503: the counters answer
    assert 'event_type="task.created",outcome="ignored"' in text and "guard_workers_in_drift" not in text


def test_events_get_503_not_500_while_the_database_is_down(app_without_database):
    response = TaskRouterPoster(app_without_database.test_client()).post(worker_event())
    assert response.status_code == 503
    assert response.get_json() == {"error": "database unavailable; retry later"}


@pytest.mark.postgres
def test_a_postgres_without_the_schema_answers_503_and_names_the_fix(postgres_url, capsys):
    """The release phase (`flask --app wsgi migrate`) was skipped: events must be retried later, not 500."""
    app = create_app(make_settings(postgres_url + "?options=-csearch_path%3Dno_guard_tables_here"))
    health = app.test_client().get("/healthz")
    assert (health.status_code, health.get_json()) == (
        503,
        {"database": "not migrated", "pending_alerts": None, "failed_alerts": None},  # the shape monitors read
    )
    response = TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x"))
    assert response.status_code == 503
    assert response.get_json() == {"error": "database not migrated; retry later"}
    assert "flask --app wsgi migrate" in capsys.readouterr().out
    app.extensions["guard"].store.engine.dispose()


@contextmanager
def schema_at(postgres_url, name, *statements):
    """A PostgreSQL schema migrated to the newest revision, then changed by `statements`: its URL."""
    engine = db.make_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    url = postgres_url + f"?options=-csearch_path%3D{name}"
    try:
        changed = db.make_engine(url)
        db.upgrade(changed)
        with changed.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
        changed.dispose()
        yield url
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


@pytest.mark.postgres
def test_a_postgres_one_migration_behind_answers_503_too(postgres_url, tmp_path, capsys):
    """New code before its release phase ran: a column it needs is missing (SQLSTATE 42703), not a table."""
    as_0007_left_it = (
        "ALTER TABLE worker_state DROP COLUMN removed",
        "ALTER TABLE slack_click DROP COLUMN value_digest",
        "UPDATE alembic_version SET version_num = '0007'",
    )
    with schema_at(postgres_url, f"behind_{tmp_path.name[-8:].lower()}", *as_0007_left_it) as url:
        app = create_app(make_settings(url))
        response = TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x"))
        assert (response.status_code, response.get_json()) == (503, {"error": "database not migrated; retry later"})
        health = app.test_client().get("/healthz")  # the monitors say so too, not "ok" while events get 503
        assert (health.status_code, health.get_json()["database"]) == (503, "not migrated")
        out = capsys.readouterr().out
        assert "flask --app wsgi migrate" in out and "removed" in out  # the column PostgreSQL misses
        # At the newest migration the same missing column is a bug: its 500 and traceback, not a 503 for ever.
        with app.extensions["guard"].store.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": db.HEAD})
        response = TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x", version=2))
        assert response.status_code == 500 and "unhandled_error" in capsys.readouterr().out
        app.extensions["guard"].store.engine.dispose()


@pytest.mark.postgres
def test_a_constraint_a_later_migration_lifts_is_not_migrated_either(postgres_url, tmp_path, fake_api, capsys):
    """At 0010 a lookup with no alert breaks cause_lookup.alert_id's NOT NULL (23502): 503 until migrated, not 500."""
    as_0010_left_it = (
        "ALTER TABLE cause_lookup ALTER COLUMN alert_id SET NOT NULL",
        "ALTER TABLE audit_run DROP COLUMN alerted",
        "UPDATE alembic_version SET version_num = '0010'",
    )
    with schema_at(postgres_url, f"notnull_{tmp_path.name[-8:].lower()}", *as_0010_left_it) as url:
        app = create_app(make_settings(url, **fake_api_settings(fake_api)))
        away = {"WorkerActivityName": "Break", "WorkerActivitySid": "WA" + "2" * 32}
        poster = TaskRouterPoster(app.test_client())
        assert poster.post(worker_event(version=1, **away)).status_code == 204
        response = poster.post(worker_event(contact_uri=None, version=2, **away))  # removed while away: a lookup
        assert (response.status_code, response.get_json()) == (503, {"error": "database not migrated; retry later"})
        assert "flask --app wsgi migrate" in capsys.readouterr().out
        app.extensions["guard"].store.engine.dispose()


@pytest.mark.postgres
def test_a_process_opens_at_most_database_pool_size_connections_then_answers_503(postgres_url, capsys):
    """DATABASE_POOL_SIZE=2, both in use: an event waits POOL_WAIT_SECONDS for one, then 503 (busy), never a 500."""
    app = create_app(make_settings(postgres_url, database_pool_size=2))
    engine = app.extensions["guard"].store.engine
    held = [engine.connect(), engine.connect()]
    try:
        response = TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x"))
        assert (response.status_code, response.get_json()) == (503, {"error": "database busy; retry later"})
        assert '"event": "database_unavailable", "error": "busy"' in capsys.readouterr().out
    finally:
        for connection in held:
            connection.close()
    assert TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x")).status_code == 204
    engine.dispose()


@pytest.mark.postgres
def test_a_refused_connection_is_logged_with_the_servers_reason_and_no_password(postgres_url, capsys):
    """A small plan's connection limit reached: the log says so ("too many connections"), not just OperationalError."""
    role = f"guard_full_{os.getpid()}"
    admin = db.make_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-SECRET-1' CONNECTION LIMIT 0"))
    try:
        url = make_url(postgres_url).set(username=role, password="pw-SECRET-1").render_as_string(hide_password=False)
        app = create_app(make_settings(url))
        response = TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x"))
        assert (response.status_code, response.get_json()) == (503, {"error": "database unavailable; retry later"})
        out = capsys.readouterr().out
        assert f'too many connections for role \\"{role}\\"' in out and "SECRET" not in out
        app.extensions["guard"].store.engine.dispose()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def background_lines(app, capsys, wanted='"job": "deliver"'):
    """Run the app's background jobs for two rounds (a `wanted` line each, or 20 s); every line logged meanwhile.

    The second round begins after the first one's idle time was reckoned (it reads the database too).
    """
    jobs, pause = app.extensions["guard"].jobs, threading.Event()
    out, deadline = "", time.monotonic() + 20
    jobs.start()
    try:
        while out.count(wanted) < 2 and time.monotonic() < deadline:
            pause.wait(0.05)
            out += capsys.readouterr().out
    finally:
        jobs.stop()
    return out + capsys.readouterr().out


def test_background_jobs_say_a_database_outage_in_one_line_a_round_with_no_traceback(app_without_database, capsys):
    out = background_lines(app_without_database, capsys)
    assert '"event": "job_database_unavailable"' in out and '"job": "idle"' not in out  # the delivery job said it
    assert "Traceback" not in out and "delivery_loop_error" not in out


@pytest.mark.postgres
def test_background_jobs_on_a_postgres_never_migrated_name_the_fix_with_no_traceback(postgres_url, capsys):
    app = create_app(make_settings(postgres_url + "?options=-csearch_path%3Dno_guard_tables_here"))
    out = background_lines(app, capsys)
    assert '"event": "job_database_not_migrated"' in out and "flask --app wsgi migrate" in out
    assert "Traceback" not in out and "job_failed" not in out and "delivery_loop_error" not in out
    app.extensions["guard"].store.engine.dispose()


def test_a_database_behind_the_code_with_an_alert_due_is_one_line_a_poll_not_a_flood(taskrouter, services, capsys):
    """The release phase skipped: the outbox still reads as due, and each round must not come 50 ms after the last.

    PostgreSQL says "no such column" as a programming error (not migrated), SQLite as an outage: one line either way.
    """
    from alembic import command

    assert taskrouter.post(worker_event(contact_uri="sip:x")).status_code == 204  # a drift alert
    config = db.alembic_config(services.store.engine)
    command.downgrade(config, "0016")
    with services.store.engine.begin() as connection:  # still to go out, due now
        connection.execute(alert.update().values(status="pending", next_attempt_at=datetime(2026, 1, 1)))
    try:
        lines = first_round_lines(services, capsys)
    finally:
        command.upgrade(config, "head")  # the next test's database
    said = [line["job"] for line in lines if line["event"] in ("job_database_not_migrated", "job_database_unavailable")]
    assert said and len(said) == len(set(said)), said  # one line a job, one round


def test_a_job_that_fails_with_an_alert_due_is_one_traceback_a_poll_not_a_flood(taskrouter, services, capsys):
    """A bug in delivery leaves the alert due: the next round must wait a poll, not come 50 ms later."""
    assert taskrouter.post(worker_event(contact_uri="sip:x")).status_code == 204
    with services.store.engine.begin() as connection:  # still to go out, due now
        connection.execute(alert.update().values(status="pending", next_attempt_at=datetime(2026, 1, 1)))

    def a_bug():
        raise RuntimeError("a bug nobody foresaw")

    jobs = services.jobs.by_name
    jobs["deliver"] = dataclasses.replace(jobs["deliver"], run=a_bug)
    lines = first_round_lines(services, capsys)
    assert [line.get("job") for line in lines if line["event"] == "job_failed"] == ["deliver"]


def first_round_lines(services, capsys):
    """The JSON log lines of the background jobs' first round and of the second after it (a poll is 30 s)."""
    capsys.readouterr()
    jobs, out = services.jobs, []
    jobs.poll_seconds = 30  # the next round is this far off, unless a round is started early
    jobs.start()
    try:
        assert wait_for(lambda: out.append(capsys.readouterr().out) or '"job": "deliver"' in "".join(out))
        threading.Event().wait(1)  # a round started early would log now
    finally:
        jobs.stop()
    return [json.loads(line) for line in ("".join(out) + capsys.readouterr().out).splitlines() if line.startswith("{")]


def test_a_database_error_in_the_idle_reckoning_is_one_line_not_silence(app, capsys, monkeypatch):
    """SQLite says "no such column" (and PostgreSQL a statement timeout) with an OperationalError, as an outage."""
    services = app.extensions["guard"]

    def broken(skip=frozenset()):
        raise OperationalError("SELECT bogus FROM alert", {}, Exception("no such column: bogus"))

    monkeypatch.setattr(services.store.alerts, "next_due", broken)
    out = background_lines(app, capsys, '"job": "idle"')
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"job": "idle"' in line]
    assert lines and lines[0]["event"] == "job_database_unavailable" and lines[0]["detail"] == "no such column: bogus"
    assert "Traceback" not in out


@pytest.mark.postgres
def test_a_postgres_a_newer_release_migrated_is_no_outage_for_healthz(postgres_url, tmp_path, capsys):
    """Old dynos run on until they restart, after a deploy's release phase migrated past them."""
    newer = ("ALTER TABLE worker_state DROP COLUMN removed", "UPDATE alembic_version SET version_num = '9999'")
    with schema_at(postgres_url, f"ahead_{tmp_path.name[-8:].lower()}", *newer) as url:
        app = create_app(make_settings(url))
        health = app.test_client().get("/healthz")
        assert (health.status_code, health.get_json()["database"]) == (200, "ok")
        response = TaskRouterPoster(app.test_client()).post(worker_event(contact_uri="sip:x"))  # a column it dropped
        assert response.status_code == 503  # retried, and taken by the new release's dynos
        [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "database_not_migrated" in line]
        assert line["fix"].startswith("a newer release migrated the database")  # not `migrate`, which refuses
        app.extensions["guard"].store.engine.dispose()


@pytest.mark.postgres
def test_a_database_that_stops_answering_gets_503_in_seconds_and_leaves_the_event_threads_free(
    postgres_url, monkeypatch
):
    """A proxy or network that holds every byte: health, scrapes and status pages answer 503, events still answer."""
    monkeypatch.setattr("guard.adapters.store.READ_SECONDS", 1.0)  # the bounds (10 s and 3 s), shortened
    monkeypatch.setattr("guard.adapters.store.PROBE_SECONDS", 1.0)
    url = make_url(postgres_url)
    with HangingProxy((url.host, url.port or 5432)) as proxy:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        app = create_app(make_settings(proxied, status_password=PASSWORD))
        client, login = app.test_client(), OPERATOR
        assert (
            client.get("/healthz").status_code == 200 and client.get("/api/workers", headers=login).status_code == 200
        )
        proxy.hang()
        health = [client.get("/healthz") for _ in range(3)]  # more than the probe slots: none may hang
        assert [(r.status_code, r.get_json()["database"]) for r in health] == [(503, "unreachable")] * 3
        assert "guard_database_up 0.0" in client.get("/metrics").get_data(as_text=True)
        slow = client.get("/api/workers", headers=login)
        assert (slow.status_code, slow.get_json()) == (503, {"error": "database not answering; retry later"})
        assert TaskRouterPoster(client).post(worker_event(contact_uri="sip:x")).status_code == 503
        proxy.resume()
        assert wait_for(lambda: client.get("/healthz").status_code == 200)
        assert TaskRouterPoster(client).post(worker_event(contact_uri="sip:x", version=2)).status_code == 204
        app.extensions["guard"].jobs.stop(timeout=5)
        app.extensions["guard"].store.engine.dispose()


def test_concurrent_health_checks_and_pages_of_a_healthy_database_all_answer(app, services):
    """More at once than the read slots: they wait their turn, never a false "unreachable"."""
    paths = ["/healthz"] * 6 + ["/metrics"] * 2
    with ThreadPoolExecutor(len(paths)) as pool:
        codes = list(pool.map(lambda path: app.test_client().get(path).status_code, paths))
    assert codes == [200] * len(paths)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlites_write_lock_held_by_another_process_is_busy_not_unreachable(app, client, database_url, monkeypatch):
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the sqlite3 shell, a backup script: the file answers, writes wait
    try:
        health = client.get("/healthz")
        assert (health.status_code, health.get_json()["database"]) == (503, "busy")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/healthz").status_code == 200
