"""The web process (Procfile): check what gunicorn reads before any settings file, then become gunicorn.

gunicorn turns WEB_CONCURRENCY into its worker count while it imports: `abc` or an empty value ends in a
traceback there (a blank one too), and `0` starts a master with no worker, up but answering nothing. gunicorn.conf.py
checks it again for a gunicorn started by hand (it runs too late for `abc`, in time for `0`).
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import make_url

from guard.adapters.db import BUSY_REASONS, reason
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


def check_database_file(database_url: str) -> None:
    """Refuse a SQLite path that cannot be opened before gunicorn starts: each worker's boot says it amid its lines.

    A missing file is left for the worker to make (it may take back a recovered copy); another process's write turn
    is waited out there.
    """
    database = sqlite_file(make_url(database_url))
    if database is None:
        return
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        if os.path.exists(database):
            connection = sqlite3.connect(database)
            try:
                connection.execute("PRAGMA schema_version")  # reads the header: "file is not a database"
            finally:
                connection.close()
    except (OSError, sqlite3.Error) as err:
        if reason(err) not in BUSY_REASONS:
            raise ConfigError(f"DATABASE_URL: the SQLite file cannot be opened ({reason(err)})") from None


def check_bind(host: str, port: int, argv: list[str], env: Mapping[str, str]) -> None:
    """Refuse a HOST and PORT nothing can listen on, in one line (gunicorn's own answer is 5 s of retries).

    Not when the command line or GUNICORN_CMD_ARGS binds elsewhere (`--bi…`: argparse takes a prefix; that address
    is gunicorn's to try), nor when the sockets are inherited: a new master after USR2 (GUNICORN_FD), systemd's
    (LISTEN_FDS). gunicorn.conf.py runs it once per master: a HUP reads the settings again while the master listens
    on that very port.
    """
    given = [*argv, *env.get("GUNICORN_CMD_ARGS", "").split()]
    if any(arg.startswith(("-b", "--bi")) for arg in given) or "GUNICORN_FD" in env or "LISTEN_FDS" in env:
        return
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            probe.bind(address)
    except UnicodeError:  # a name the idna codec cannot encode (from a caller that did not check it as HOST is)
        raise ConfigError("HOST must be an IP address or a host name") from None
    except OSError as err:
        raise ConfigError(
            _BIND_PROBLEMS.get(err.errno, f"HOST and PORT cannot be listened on ({err.strerror})")
        ) from None


_BIND_PROBLEMS = {
    errno.EADDRINUSE: "PORT is in use by another process on HOST",
    errno.EADDRNOTAVAIL: "HOST is no address of this machine, so nothing can listen on it",
    errno.EACCES: "PORT is below 1024, which needs privileges this process does not have",
}


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
