"""The full-path mix in-process, on one thread: CPU per event by path, and what SQLite's C code takes of it."""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from bench.bodies import TOKEN
from bench.fullpath_bodies import FullPathMix

BASE, PATH = "http://localhost", "/taskrouter/events"
# pysqlite's C calls that run SQLite (the GIL is released inside them under load).
SQLITE_CALLS = ("method 'execute' of 'sqlite3.", "method 'commit' of 'sqlite3.", "method 'fetchone' of 'sqlite3.")


def _requests(mix: FullPathMix, count: int) -> list[tuple[str, dict[str, Any]]]:
    """(event type, WSGI environ) for `count` fresh events of the mix."""
    requests = []
    for line in mix.lines(count):
        signature, body = line.split("\t")
        builder = EnvironBuilder(
            path=PATH, base_url=BASE, method="POST", data=body.encode(),
            headers={"X-Twilio-Signature": signature}, content_type="application/x-www-form-urlencoded",
        )  # fmt: skip
        requests.append((body.split("&", 1)[0].removeprefix("EventType="), builder.get_environ()))
    return requests


def _call(app: Callable[..., Any], environ: dict[str, Any]) -> None:
    """One request through the WSGI app, its answer read to the end."""
    for _ in app(environ, lambda *_args: None):
        pass


def run(workdir: Path, count: int = 3000) -> dict[str, float]:
    """µs of thread CPU per full-path and per fast-path event, and SQLite's C calls per full-path event."""
    from guard.config import Settings
    from handlers.app import create_app

    env = {"TWILIO_AUTH_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{workdir}/inprocess.db"}
    app = create_app(Settings.from_env(env))
    mix = FullPathMix(BASE + PATH, seed=11)
    spent: dict[str, list[float]] = {"full": [], "fast": []}
    with contextlib.redirect_stdout(io.StringIO()):  # the alerts' log lines
        for _, environ in _requests(mix, 500):  # warm-up: imports, statement caches, the worker pool fills
            _call(app, environ)
        for kind, environ in _requests(mix, count):
            started = time.thread_time()
            _call(app, environ)
            spent["fast" if kind == "worker.activity.update" else "full"].append(time.thread_time() - started)
        profiled = _requests(mix, count)
        profiler = cProfile.Profile(time.thread_time)  # CPU, not the checkpoints' fsync waits
        profiler.runcall(lambda: [_call(app, environ) for _, environ in profiled])
    full_events = sum(1 for kind, _ in profiled if kind != "worker.activity.update")
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    sqlite = {
        call: sum(row[2] for (_, _, name), row in stats.items() if name.startswith("<") and call in name)
        for call in SQLITE_CALLS
    }
    return {
        "full_us": sum(spent["full"]) / len(spent["full"]) * 1e6,
        "fast_us": sum(spent["fast"]) / len(spent["fast"]) * 1e6,
        "sqlite_us": sum(sqlite.values()) / full_events * 1e6,
        "commit_us": sqlite[SQLITE_CALLS[1]] / full_events * 1e6,
        "full_share": len(spent["full"]) / count,
    }
