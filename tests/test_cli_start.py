"""CLI commands that need the service (migrate, audit): each refusal to start in one line that names why."""

import shutil
import sqlite3
import threading

import click
import pytest
from sqlalchemy import text

from guard.adapters import db
from guard.adapters.sqlite_writers import Writers
from guard.container import BUSY_LINE
from handlers.app import create_app
from tests.conftest import make_settings
from tests.processes import NO_DATABASE, flask_cli


def test_migrate_names_a_missing_metrics_directory_in_one_line(tmp_path):
    env = {
        "TWILIO_AUTH_TOKEN": "t",
        "DATABASE_URL": f"sqlite:///{tmp_path}/g.db",
        "PROMETHEUS_MULTIPROC_DIR": "/nonexistent",
    }
    result = flask_cli("migrate", **env)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "guard: configuration error: PROMETHEUS_MULTIPROC_DIR must be an existing directory"
    ]


@pytest.mark.parametrize("command", ["migrate", "deliver"])
def test_commands_that_need_the_service_still_refuse_to_start_without_it(command):
    result = flask_cli(command, **NO_DATABASE)
    assert result.returncode == 3
    assert result.stderr.startswith("guard: configuration error: TWILIO_AUTH_TOKEN is not set")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {},
            "TWILIO_ACCOUNT_SID, TWILIO_API_KEY and TWILIO_API_SECRET (or TWILIO_AUTH_TOKEN), TWILIO_WORKSPACE_SID are",
        ),
        ({"TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "s"}, "TWILIO_ACCOUNT_SID, TWILIO_WORKSPACE_SID are"),
        ({"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_WORKSPACE_SID": "WS" + "1" * 32}, "TWILIO_API_KEY and"),
    ],
)
def test_the_audit_names_every_missing_rest_setting_at_once_and_no_webhook_setting(env, named):
    result = flask_cli("audit", **NO_DATABASE, **env)  # TWILIO_VALIDATE_SIGNATURE left at its default, true
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # log lines are JSON
    assert (result.returncode, len(errors), result.stdout) == (2, 1, "")
    assert errors[0].startswith(f"error: {named}") and "needed for the TaskRouter REST API" in errors[0]


def test_an_audit_of_a_workspace_that_is_no_workspace_sid_is_a_usage_error_before_any_request():
    result = flask_cli("audit", "--workspace", "WSx", **NO_DATABASE)
    assert result.returncode == 2 and "'WSx' is not a Workspace SID (WS and 32 hex digits)" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_against_an_unreachable_database_says_so_in_one_line():
    result = flask_cli("migrate", DATABASE_URL="postgresql://guard:SECRET@127.0.0.1:9/guard", TWILIO_AUTH_TOKEN="t")
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # log lines are JSON
    assert result.returncode == 2
    assert len(errors) == 1 and errors[0].startswith("error: the database cannot be reached: ")
    assert "SECRET" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("path", "reason"),
    [("notadb.txt", "file is not a database"), ("afile/guard.db", "File exists"), ("/proc/none/g.db", "No such file")],
)
def test_a_sqlite_path_that_cannot_be_opened_stops_migrate_with_one_line(tmp_path, path, reason):
    (tmp_path / "notadb.txt").write_text("notes, not a database")
    (tmp_path / "afile").write_text("a file where a directory would be made")
    result = flask_cli("migrate", DATABASE_URL=f"sqlite:///{tmp_path / path}", TWILIO_AUTH_TOKEN="t")
    assert result.returncode == 3
    [line] = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # log lines are JSON
    assert line.startswith("guard: database error: DATABASE_URL: the SQLite file cannot be opened (") and reason in line
    assert str(tmp_path) not in line


def test_a_worker_boots_on_a_migrated_sqlite_file_while_another_process_holds_its_write_lock(tmp_path):
    """Gunicorn halts every worker when one fails to boot: a respawn during a long write elsewhere must not."""
    url = f"sqlite:///{tmp_path / 'guard.db'}"
    create_app(make_settings(url)).extensions["guard"].store.engine.dispose()  # migrated, as a running service left it
    holder = sqlite3.connect(tmp_path / "guard.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a one-off script's long write (or an audit's)
    try:
        app = create_app(make_settings(url))  # the revision is read outside the writers' turn: no wait, no exit
    finally:
        holder.close()
    assert app.extensions["guard"].migrated == (db.HEAD, db.HEAD)
    app.extensions["guard"].store.engine.dispose()


@pytest.mark.parametrize("holder", ["sqlite", "guard", "not yet WAL"])
def test_a_migration_that_meets_another_process_write_lock_exits_to_be_started_again_not_halted(
    tmp_path, capsys, holder
):
    database = tmp_path / "guard.db"
    outside = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    # The lock is let go after 10 s: a wait longer than the 3 s promised would see it free and migrate
    release = threading.Timer(10, outside.execute, ["ROLLBACK"])
    if holder == "not yet WAL":  # a file the guard never opened: switching it to WAL waited 30 s, not 3
        outside.execute("CREATE TABLE other (x)")
        outside.execute("BEGIN EXCLUSIVE")
        release.start()
    else:
        outside.execute("PRAGMA journal_mode=WAL")
    if holder == "sqlite":
        outside.execute("BEGIN IMMEDIATE")  # a one-off script's long write, while a new release's worker boots
    elif holder == "guard":
        turn = Writers(str(database))  # another guard process's turn (its writer, an audit)
        turn.acquire(outside)
    try:
        with pytest.raises(SystemExit) as stopped:
            create_app(make_settings(f"sqlite:///{database}"))
    finally:
        release.cancel()
        if release.is_alive():
            release.join()
        outside.close()
    assert stopped.value.code == 1  # gunicorn halts every worker on 3 ("failed to boot"); 1 is started again
    assert [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")] == [BUSY_LINE]


def test_a_sqlite_url_with_a_doubled_slash_still_migrates(tmp_path):
    result = flask_cli("migrate", DATABASE_URL=f"sqlite:////{tmp_path}/guard.db", TWILIO_AUTH_TOKEN="t")
    assert result.returncode == 0 and "migrated from empty" in result.stdout + result.stderr


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_database_migrated_by_a_newer_release_stops_migrate_and_the_start_with_one_line(tmp_path, request, database):
    schema, url = f"ahead_{tmp_path.name[-8:].lower()}", f"sqlite:///{tmp_path}/ahead.db"
    if database == "postgres":  # a schema of our own: the session's database stays as it is
        url = request.getfixturevalue("postgres_url") + f"?options=-csearch_path%3D{schema}"
    engine = db.make_engine(url)
    try:
        if database == "postgres":
            with engine.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        db.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))  # a rollback past it
        result = flask_cli("migrate", DATABASE_URL=url, TWILIO_AUTH_TOKEN="t")
    finally:
        if database == "postgres":
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # log lines are JSON
    assert result.returncode == (3 if database == "sqlite" else 2)  # SQLite: the start itself refuses
    assert len(errors) == 1 and "the database is at migration 0999, which this release does not have" in errors[0]
    assert f"its newest is {db.HEAD}" in errors[0]


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migrate_says_what_it_did(tmp_path, request, database):
    url, schema = f"sqlite:///{tmp_path}/new.db", None
    if database == "postgres":  # an empty schema of our own: the session's database stays as it is
        url, schema = request.getfixturevalue("postgres_url"), f"migrate_{tmp_path.name[-8:].lower()}"
        engine = db.make_engine(url)
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        url += f"?options=-csearch_path%3D{schema}"
    outputs = []
    try:
        for _ in range(2):  # a new database, then the same one again
            app = create_app(make_settings(url))
            outputs.append(app.test_cli_runner().invoke(args=["migrate"]))
            app.extensions["guard"].store.engine.dispose()
    finally:
        if schema:
            engine = db.make_engine(url)
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    assert [r.exit_code for r in outputs] == [0, 0]
    assert outputs[0].stdout == f"database migrated from empty (every table created) to {db.HEAD}\n"
    assert outputs[1].stdout == f"database already at the newest migration, {db.HEAD}\n"


def test_flask_run_says_it_starts_no_background_jobs_and_other_commands_do_not(capsys, monkeypatch):
    for command, reloaded, warned in (("run", False, True), ("run", True, False), ("audit", False, False)):
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true" if reloaded else "")  # the reloader's child: said already
        with click.Context(click.Command(command), info_name=command):
            create_app()
        assert ("starts no background jobs" in capsys.readouterr().err) is warned


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ((), {}),
        (("--workspace", "WS" + "c" * 32), {}),  # a workspace chosen: its account's credentials still checked
        (
            ("--alert", "--remediate"),  # a dry run that would queue real removals: a usage error, first
            {"REMEDIATE": "remove", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_WORKSPACE_SID": "WS" + "1" * 32},
        ),
    ],
)
def test_an_audit_refused_for_its_settings_opens_no_database_and_says_one_line(tmp_path, args, env):
    """A one-off dyno with half the environment: no stray SQLite file, no "app_ready" before the refusal."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "TWILIO_AUTH_TOKEN": "t", **env}
    result = flask_cli("audit", *args, **env)
    errors = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.returncode == 2 and not list(tmp_path.iterdir()) and "app_ready" not in result.stderr
    assert errors[-1].startswith("error: ") or errors[-1].startswith("Error: "), errors


def test_an_audit_whose_database_does_not_answer_says_so_without_a_migration_hint():
    rest = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t", "TWILIO_WORKSPACE_SID": "WS" + "1" * 32}
    result = flask_cli("audit", **NO_DATABASE, **rest)
    assert result.returncode == 2 and "error: database: OperationalError" in result.stderr
    assert "migrate" not in result.stderr  # a migration cannot make a server answer


def test_resend_on_a_sqlite_file_that_does_not_exist_makes_none_and_says_so(tmp_path):
    """A mistyped path: nothing to resend there, and no new empty database left behind to find and delete."""
    result = flask_cli("resend", DATABASE_URL=f"sqlite:///{tmp_path}/gaurd.db", TWILIO_AUTH_TOKEN="t")
    assert result.returncode == 2 and not list(tmp_path.iterdir()) and "app_ready" not in result.stderr
    assert f"error: {tmp_path}/gaurd.db does not exist: is DATABASE_URL the service's?" in result.stderr


def test_resend_takes_a_vanished_files_recovered_copy_as_the_database(tmp_path, migrated_sqlite):
    """The file gone under the running service, its copy saved: the start takes it back, so resend reads it."""
    shutil.copyfile(migrated_sqlite, tmp_path / "guard.db.recovered")
    result = flask_cli("resend", DATABASE_URL=f"sqlite:///{tmp_path}/guard.db", TWILIO_AUTH_TOKEN="t")
    assert "does not exist" not in result.stderr and "holds no alert at all" in result.stderr
