"""Session-wide checks and records: no secret in any captured or service log, reliability figures written at the end."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.fakes.slack import HOOK_PATH
from tests.fakes.slack_clicks import SIGNING_SECRET
from tests.helpers import AUTH_TOKEN, PREVIOUS_AUTH_TOKEN
from tests.reliability import Figures

# What must never reach a log: the auth tokens, the secret parts of Slack's URLs, Slack's signing secret.
SECRETS = {
    "auth token": AUTH_TOKEN,
    "previous auth token": PREVIOUS_AUTH_TOKEN,
    "Slack webhook path": HOOK_PATH.rsplit("/", 1)[-1],
    "Slack signing secret": SIGNING_SECRET,
    "a click's response_url": "x0GUARDRESPONSE",
}
LEAKS: list[str] = []
# pytest-httpserver's own access log (the Slack side, not the guard) prints request paths.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    """Reliability figures of this session, written to bench/out/reliability.md at the end."""
    collected = Figures()
    yield collected
    collected.write()


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
