"""The web process (Procfile): check what gunicorn reads before any settings file, then become gunicorn.

gunicorn turns WEB_CONCURRENCY into its worker count while it imports: `abc` or an empty value ends in a
traceback there (a blank one too), and `0` starts a master with no worker, up but answering nothing. gunicorn.conf.py
checks it again for a gunicorn started by hand (it runs too late for `abc`, in time for `0`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import make_url

from guard.adapters.sqlite import sqlite_file
from guard.config.env import ConfigError, EnvReader

METRIC_FILE = re.compile(r"(?:counter|histogram|summary|gauge_[a-z]+)_\d+\.db")  # prometheus_client's file names


# Far past any dyno's cores (each process runs 8 threads); 100000, a typo, forked until the machine stalled.
MAX_WEB_CONCURRENCY = 64


def web_concurrency(env: Mapping[str, str]) -> int:
    """The worker processes gunicorn forks: WEB_CONCURRENCY, 1 to MAX_WEB_CONCURRENCY (Heroku sets it by dyno size)."""
    return EnvReader(env).integer("WEB_CONCURRENCY", 1, minimum=1, maximum=MAX_WEB_CONCURRENCY)


def metric_files(directory: str) -> list[Path]:
    """The files prometheus_client's multiprocess mode left in `directory` (a start clears them), nothing else."""
    return [path for path in Path(directory).glob("*.db") if METRIC_FILE.fullmatch(path.name)]


def check_metrics_directory(directory: str, database_url: str) -> None:
    """Refuse a PROMETHEUS_MULTIPROC_DIR shared with the SQLite database or other .db files.

    /metrics reads every *.db there as a metrics file, and each start used to delete them all: the
    guard's own database included.
    """
    database = sqlite_file(make_url(database_url))
    beside = database is not None and Path(database).resolve().parent == Path(directory).resolve()
    if beside or len(metric_files(directory)) != len(list(Path(directory).glob("*.db"))):
        raise ConfigError("PROMETHEUS_MULTIPROC_DIR must be a directory of its own (it holds other .db files)")


def main() -> None:
    """Refuse a bad WEB_CONCURRENCY with one line; else replace this process with gunicorn (same pid, signals)."""
    try:
        workers = web_concurrency(os.environ)
    except ConfigError as err:
        print(f"guard: configuration error: {err}", file=sys.stderr)
        sys.exit(3)
    os.environ["WEB_CONCURRENCY"] = str(workers)  # as read here: blank is the default, as for every variable
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "wsgi:app", *sys.argv[1:]])  # noqa: S606 - no shell wanted


if __name__ == "__main__":
    main()
