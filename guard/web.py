"""The web process (Procfile): check what gunicorn reads before any settings file, then become gunicorn.

gunicorn turns WEB_CONCURRENCY into its worker count while it imports: `abc` or an empty value ends in a
traceback there (a blank one too), and `0` starts a master with no worker, up but answering nothing. gunicorn.conf.py
checks it again for a gunicorn started by hand (it runs too late for `abc`, in time for `0`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from guard.config.env import ConfigError, EnvReader


def web_concurrency(env: Mapping[str, str]) -> int:
    """The worker processes gunicorn forks: WEB_CONCURRENCY, a whole number from 1 (Heroku sets it by dyno size)."""
    return EnvReader(env).integer("WEB_CONCURRENCY", 1, minimum=1)


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
