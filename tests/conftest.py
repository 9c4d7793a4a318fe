"""Shared fixtures: an app per database backend, a test client, a CLI runner, and signed TaskRouter posts."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from guard.adapters import db
from guard.adapters.tables import metadata
from guard.config import Settings
from guard.container import Services
from handlers.app import create_app
from tests.fakes.slack import HOOK_PATH, FakeSlack
from tests.fakes.slack_clicks import SIGNING_SECRET
from tests.fakes.taskrouter_api import FakeTaskRouter
from tests.helpers import AUTH_TOKEN, TaskRouterPoster
from tests.reliability import Figures

# What must never reach a log: the auth token, the secret parts of Slack's URLs, Slack's signing secret.
SECRETS = {
    "auth token": AUTH_TOKEN,
    "Slack webhook path": HOOK_PATH.rsplit("/", 1)[-1],
    "Slack signing secret": SIGNING_SECRET,
    "a click's response_url": "x0GUARDRESPONSE",
}
LEAKS: list[str] = []
# pytest-httpserver's own access log (the Slack side, not the guard) prints request paths.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
# CI sets REQUIRE_POSTGRES=1 so an unreachable server fails the run instead of skipping tests.
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES", "") == "1"


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    """Reliability figures of this session, written to bench/out/reliability.md at the end."""
    collected = Figures()
    yield collected
    collected.write()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database, reset once per session; skips (or fails in CI) when unreachable."""
    engine = db.make_engine(TEST_DATABASE_URL)
    try:
        with engine.begin() as connection:
            for table in [*reversed(metadata.sorted_tables)]:
                connection.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    except Exception as err:  # noqa: BLE001 - any connection failure means "no server"
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable at TEST_DATABASE_URL: {type(err).__name__}")
        pytest.skip("PostgreSQL unreachable; set TEST_DATABASE_URL")
    db.upgrade(engine)
    engine.dispose()
    yield TEST_DATABASE_URL


def _truncate(url: str) -> None:
    """Empty every table so each test starts clean."""
    engine = db.make_engine(url)
    with engine.begin() as connection:
        # DELETE beats TRUNCATE on tables this small.
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def empty_postgres(postgres_url: str) -> str:
    """The migrated PostgreSQL database with every table emptied."""
    _truncate(postgres_url)
    return postgres_url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest migration, made once; each test gets its own copy."""
    path = tmp_path_factory.mktemp("template") / "guard.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, so a copy has it all
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database under test: a fresh, migrated SQLite file, then the local PostgreSQL."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "guard.db")
        return f"sqlite:///{tmp_path}/guard.db"
    return request.getfixturevalue("empty_postgres")


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: signatures on with the test token, delivery driven by the test itself."""
    base = Settings(
        database_url=database_url, auth_token=AUTH_TOKEN, delivery="off", retry_max_seconds=1.0, cause_wait_seconds=0.0
    )  # alerts go out at once; the tests of who changed a worker set a wait
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Per-test settings; override this fixture (or mutate it before `app`) to change them."""
    return {}


@pytest.fixture
def app(database_url: str, settings_overrides: dict[str, Any]) -> Iterator[Flask]:
    """The guard app on the database under test."""
    application = create_app(make_settings(database_url, **settings_overrides))
    application.config["TESTING"] = True
    yield application
    application.extensions["guard"].jobs.stop(timeout=5)
    application.extensions["guard"].writer.stop(timeout=5)
    application.extensions["guard"].store.engine.dispose()


@pytest.fixture
def services(app: Flask) -> Services:
    """The app's service container (store, pipeline, delivery, background worker)."""
    return app.extensions["guard"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A Flask test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A runner for the app's CLI commands."""
    return app.test_cli_runner()


@pytest.fixture
def taskrouter(client: FlaskClient) -> TaskRouterPoster:
    """Posts TaskRouter events signed with twilio's RequestValidator."""
    return TaskRouterPoster(client)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A Slack stub on a real local port (slow answers, when asked for, outlast a 1 s client timeout)."""
    stub = FakeSlack(slow_seconds=1.5).start()
    yield stub
    stub.stop()


@pytest.fixture
def fake_api():
    """The fake TaskRouter API; afterwards, proves the guard never wrote a contact_uri."""
    api = FakeTaskRouter(max_page_size=100).start()
    yield api
    api.stop()
    for update in api.updates:
        assert "contact_uri" not in json.loads(update.params.get("Attributes", "{}"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Scan every test's captured stdout, stderr and log records for secrets."""
    for section, content in report.sections:
        LEAKS.extend(f"{report.nodeid} ({section}): {name}" for name, secret in SECRETS.items() if secret in content)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan the service logs too, and fail the run if any secret leaked."""
    from tests.processes import LOG_FILES

    for path in LOG_FILES:
        text = path.read_text(errors="replace") if path.exists() else ""
        LEAKS.extend(f"{path}: {name}" for name, secret in SECRETS.items() if secret in text)
    if LEAKS:
        print("\nSECRETS LEAKED INTO LOGS:\n" + "\n".join(sorted(set(LEAKS))))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class Clock:
    """A clock the test moves by hand, so backoff is checked without sleeping."""

    def __init__(self):
        """Start at a fixed moment."""
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self):
        """The current fake time."""
        return self.now

    def advance(self, seconds):
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(services):
    """Drive both the pipeline and delivery from one fake clock."""
    fake = Clock()
    services.pipeline.clock = fake
    services.delivery.clock = fake
    return fake
