"""The full-path mix in-process, one request at a time: CPU per event, and what SQLite's C code takes of it."""

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
SQLITE_CALLS = (
    "method 'execute' of 'sqlite3.", "method 'commit' of 'sqlite3.", "method 'fetchone' of 'sqlite3.",
    "method 'fetchall' of 'sqlite3.",
)  # fmt: skip


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
    """µs of process CPU per event (request thread and event writer), and SQLite's C calls in it."""
    from guard.config import Settings
    from guard.service.writer import EventWriter
    from handlers.app import create_app

    env = {"TWILIO_AUTH_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{workdir}/inprocess.db"}
    app = create_app(Settings.from_env(env))
    mix = FullPathMix(BASE + PATH, seed=11)
    with contextlib.redirect_stdout(io.StringIO()):  # the alerts' log lines
        for _, environ in _requests(mix, 500):  # warm-up: imports, statement caches, the worker pool fills
            _call(app, environ)
        timed = _requests(mix, count)
        started = time.process_time()  # one request at a time: the request thread and the writer, both counted
        for _, environ in timed:
            _call(app, environ)
        spent = time.process_time() - started
        # The writing runs on the writer thread: profile it there (cProfile follows one thread), on thread CPU.
        profiler, write_batch = cProfile.Profile(time.thread_time), EventWriter._write_batch

        def profiled_batch(writer: EventWriter, snapshots: list[Any]) -> list[Any]:
            profiler.enable()
            try:
                return write_batch(writer, snapshots)
            finally:
                profiler.disable()

        EventWriter._write_batch = profiled_batch  # type: ignore[method-assign]
        try:
            for _, environ in _requests(mix, count):
                _call(app, environ)
        finally:
            EventWriter._write_batch = write_batch  # type: ignore[method-assign]
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    sqlite = {
        call: sum(row[2] for (_, _, name), row in stats.items() if name.startswith("<") and call in name)
        for call in SQLITE_CALLS
    }
    return {
        "full_us": spent / count * 1e6,
        "sqlite_us": sum(sqlite.values()) / count * 1e6,
        "commit_us": sqlite[SQLITE_CALLS[1]] / count * 1e6,
    }
