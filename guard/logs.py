"""One JSON object per log line on stdout, so alerts and errors are machine-readable."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# Libraries that log request URLs or headers at DEBUG/INFO; those URLs can carry secrets.
_QUIET_LOGGERS = ("slack_sdk", "twilio", "urllib3", "aiohttp", "aiohttp_retry", "alembic")
# The guard logs each failed Slack post itself, with its alert and at its weight (a retry is a warning); the client's
# own error line on a timeout names no alert, and pages whoever alerts on error lines for a hiccup handled
_SAID_BY_THE_GUARD = ("slack_sdk.webhook.client", "urllib3.connectionpool")  # urllib3: each TaskRouter retry


_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")  # what a worker's name may carry


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; structured fields come from `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as one JSON line."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # JSON leaves C1 controls, line separators and bidi overrides raw: escaped, the line stays one line
        return _RAW.sub(
            lambda found: f"\\u{ord(found.group()):04x}", json.dumps(entry, ensure_ascii=False, default=str)
        )


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is now (pytest swaps it per test), or stderr for CLI commands."""

    _guard = True
    use_stderr = False

    @property  # type: ignore[override]
    def stream(self) -> Any:
        """The current stdout (stderr when a CLI command owns stdout)."""
        return sys.stderr if self.use_stderr else sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        """Ignore the stream StreamHandler.__init__ assigns."""


# Alert lines (the log is an alert sink, the only one without Slack) and the start's warnings (signatures off …)
ALWAYS_LOGGED = ("guard.alert", "guard.start")


def configure_logging(level: str, cli: bool = False) -> None:
    """Send every log record as JSON at `level` to stdout, or to stderr under a CLI command (idempotent)."""
    _StdoutHandler.use_stderr = cli
    root = logging.getLogger()
    if not any(getattr(h, "_guard", False) for h in root.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    for name in ALWAYS_LOGGED:  # LOG_LEVEL quiets diagnostics, never an alert nor a warning about the set-up
        logging.getLogger(name).setLevel(min(logging.getLevelName(level), logging.INFO))
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _SAID_BY_THE_GUARD:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log `event` with structured `fields` as one JSON line."""
    logger.log(level, event, extra={"fields": fields})
