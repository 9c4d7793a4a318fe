"""The Flask CLI: encode, decode, check and migrate."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from guard.adapters import db
from handlers.app import create_app
from tests.conftest import make_settings
from tests.helpers import ANN_EMAIL, ANN_URI
from tests.processes import ROOT


def test_encode_prints_the_contact_uri(runner):
    result = runner.invoke(args=["encode", ANN_EMAIL])
    assert result.exit_code == 0
    assert result.output == ANN_URI + "\n"


def test_encode_refuses_a_blank_email(runner):
    result = runner.invoke(args=["encode", " "])
    assert (result.exit_code, result.output) == (2, "error: the email is empty\n")


def test_decode_prints_the_email(runner):
    result = runner.invoke(args=["decode", "client:jos_C3_A9_40x_2Efr"])
    assert (result.exit_code, result.output) == (0, "josé@x.fr\n")


def test_decode_exits_2_with_the_reason(runner):
    result = runner.invoke(args=["decode", "client:ann_2eveal"])
    assert result.exit_code == 2
    assert "lowercase hex in escape '_2e'" in result.output


@pytest.mark.parametrize(
    ("args", "code", "shown"),
    [
        (["--email", ANN_EMAIL, "--contact-uri", ANN_URI], 0, "verdict:  ok"),
        (["--email", ANN_EMAIL], 0, "verdict:  pending"),
        (["--email", ANN_EMAIL, "--contact-uri", "sip:x"], 1, "wrong scheme 'sip:'"),
        (["--email", ANN_EMAIL, "--contact-uri", "client:bob_40x_2Eio"], 1, "decodes to a different email: bob@x.io"),
    ],
)
def test_check_prints_verdict_and_exits_by_drift(runner, args, code, shown):
    result = runner.invoke(args=["check", *args])
    assert result.exit_code == code
    assert shown in result.output


def test_migrate_brings_the_database_to_head(runner, services):
    result = runner.invoke(args=["migrate"])
    assert result.exit_code == 0
    assert db.current_revision(services.store.engine) == db.HEAD


@pytest.mark.parametrize(
    ("args", "code", "shown"),
    [
        (["--email", "dana.scully@fbi.example", "--worker-name", "dana.scully",
          "--contact-uri", "client:dana_2Escully"], 0, "basis:    worker_name"),
        (["--email", "john.byers@fbi.example", "--identity", "jbyers", "--contact-uri",
          "client:john_2Ebyers_40fbi_2Eexample"], 1, "expected: client:jbyers"),
        (["--attributes", '{"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", '
          '"contact_uri": "client:fmulder", "roles": ["agent"]}'], 0, "basis:    twilio_contact_identity"),
        (["--attributes", '{"email": "agent@twilio.com", "contact_uri": "client:fmulder"}', "--identity", "fmulder"],
         0, "verdict:  ok"),
        (["--worker-name", "testWorker", "--attributes", "{}"], 0, "verdict:  ignored\ndetail:   not a Flex agent"),
        (["--attributes", "[1]"], 2, "error: --attributes must be a JSON object"),
        (["--attributes", "{nope"], 2, "error: --attributes is not valid JSON"),
        (["--attributes", "[" * 5000 + "]" * 5000], 2, "error: --attributes is not valid JSON (or not an object)"),
        (["--attributes", '{"email": "a@x.io", "contact_uri": "sip:x", "deep": ' + "[" * 5000 + "]" * 5000 + "}"],
         1, "verdict:  mismatch"),
    ],
)  # fmt: skip
def test_check_judges_with_the_worker_name_the_recorded_identity_or_pasted_attributes(runner, args, code, shown):
    result = runner.invoke(args=["check", *args])
    assert (result.exit_code, shown in result.output) == (code, True)


def flask_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi ARGS` in a fresh process with nothing but PATH and `env` in its environment."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    return subprocess.run(command, cwd=ROOT, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True)


# A database that does not answer: a lookup that touched it would fail.
NO_DATABASE = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}


@pytest.mark.parametrize(
    ("args", "code", "stdout"),
    [
        (["encode", "dana.scully"], 0, "client:dana_2Escully\n"),
        (["decode", "client:fmulder"], 0, "fmulder\n"),
        (["check", "--email", "dana.scully@fbi.example", "--worker-name", "dana.scully",
          "--contact-uri", "client:dana_2Escully"], 0, "verdict:  ok\n"),
        (["check", "--identity", "jbyers", "--contact-uri", "client:john_2Ebyers_40fbi_2Eexample"], 1,
         "verdict:  mismatch\n"),
    ],
)  # fmt: skip
def test_lookup_commands_need_no_secrets_and_no_database(args, code, stdout):
    result = flask_cli(*args, **NO_DATABASE)
    assert (result.returncode, result.stderr) == (code, "")
    assert result.stdout.startswith(stdout)


def test_check_follows_the_identity_policy_and_ignore_rules_of_the_environment():
    args = ["check", "--email", "dana.scully@fbi.example", "--worker-name", "dana.scully", "--contact-uri"]
    assert flask_cli(*args, "client:dana_2Escully", IDENTITY_POLICY="email").returncode == 1
    ignored = flask_cli(*args, "sip:x", IGNORE_WORKERS="*@fbi.example")
    assert (ignored.returncode, ignored.stdout.splitlines()[0]) == (0, "verdict:  ignored")
    intended = flask_cli(*args, "sip:x", INTENDED_CONTACT_URIS="sip:*")  # as the service and the audit judge it
    assert (intended.returncode, intended.stdout.splitlines()[0]) == (0, "verdict:  ignored")


@pytest.mark.parametrize(("env", "option", "named"), [({"IDENTITY_POLICY": "bogus"}, [], "IDENTITY_POLICY"),
                                                     ({}, ["--policy", "bogus"], "--policy")])  # fmt: skip
def test_check_names_where_a_bad_policy_came_from(env, option, named):
    result = flask_cli("check", "--email", "a@b.example", *option, **env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for {named}: must be flex or email"


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
        ({"TWILIO_API_KEY": "SK" + "1" * 32}, "TWILIO_ACCOUNT_SID, TWILIO_API_SECRET, TWILIO_WORKSPACE_SID are"),
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
