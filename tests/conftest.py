"""Shared fixtures: the app on the database under test, its client, CLI runner, signed posts, stubs and a clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from guard.config import Settings
from guard.container import Services
from guard.core.deep_json import top_level
from handlers.app import create_app
from tests.fakes.slack import FakeSlack
from tests.fakes.taskrouter_api import FakeTaskRouter
from tests.helpers import AUTH_TOKEN, TaskRouterPoster

# database_url and the databases behind it; the secret scan of every log, and the reliability figures.
pytest_plugins = ["tests.plugins.databases", "tests.plugins.session"]


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: signatures on with the test token, delivery driven by the test itself."""
    base = Settings(
        database_url=database_url, auth_token=AUTH_TOKEN, delivery="off", retry_max_seconds=1.0, cause_wait_seconds=0.0
    )  # alerts go out at once; the tests of who changed a worker set a wait
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test settings: a parametrize's (direct, or indirect as `request.param`); or override this fixture."""
    return dict(getattr(request, "param", {}))


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
        assert "contact_uri" not in top_level(update.params.get("Attributes", "{}"))  # deep or long values too


class Clock:
    """A clock the test moves by hand, so backoff is checked without sleeping."""

    def __init__(self):
        """Start at the real moment (the events the tests send carry real times), to the second."""
        self.now = datetime.now(UTC).replace(microsecond=0)

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
