"""Sorting py-spy's raw stacks of a guard worker into areas, per event (bench/profile_fullpath.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

Frames = list[str]  # one sample's frames, root first: "function (file:line)"
ROOT = str(Path(__file__).resolve().parent.parent)
GUARD, HANDLER = f"{ROOT}/guard/", f"{ROOT}/handlers/taskrouter_events.py"
# Flask proper (inside the fast path's middleware), and the worker events the fast path hands to the event writer.
FULL_PATH = ("Flask.wsgi_app (", HANDLER, "EventWriter.", "_Slot.")


def _any(*needles: str) -> Callable[[Frames], bool]:
    """A rule matching a stack with any frame containing one of `needles`."""
    return lambda frames: any(needle in frame for frame in frames for needle in needles)


def _leaf(*needles: str) -> Callable[[Frames], bool]:
    """A rule matching a stack whose innermost frame contains one of `needles`."""
    return lambda frames: any(needle in frames[-1] for needle in needles)


# First match wins, so the order goes from the most specific area to the most general.
AREAS: list[tuple[str, Callable[[Frames], bool]]] = [
    ("background jobs (outbox polling, delivery)", _any("JobRunner.run_forever (")),
    ("logging (JSON log lines: alerts, stale events)", _any("/logging/", f"{GUARD}logs.py")),
    ("prometheus metrics", _any("/prometheus_client/", f"{GUARD}metrics.py")),
    ("BEGIN IMMEDIATE (SQLite's write lock)", _any("_on_begin (", "Writers.acquire (")),
    ("commit", _any("_commit_impl (", "do_commit (")),
    ("sqlite3 statement execution", _leaf("do_execute (", "do_execute_no_params (", "do_executemany (")),
    ("JSON (parse WorkerAttributes, encode rows)", _any("/json/")),
    ("hot statements (adapters/hot.py, on the DB-API cursor)", _any("adapters/hot.py")),
    ("SQLAlchemy Core (statement set-up, parameters, results, pool)", _any("/sqlalchemy/")),
    ("signature verification (HMAC-SHA1, URL)", _any("twilio/request_validator.py", "handlers/signing.py", "/hmac.py")),
    ("form parsing (werkzeug; yarl on the fast path)", _any("werkzeug/formparser.py", "urllib/parse.py", "/yarl/")),
    ("verdict and decision (guard/core)", _any(f"{GUARD}core/")),
    ("event writer hand-off (queue, waking each request)", _any("_Slot.", "queue.py")),
    ("event writer loop", _leaf(f"{GUARD}service/writer.py")),
    ("pipeline, handler and adapters (guard code)", _any(GUARD, HANDLER)),
    ("Flask/werkzeug request and response", _any("/flask/", "/werkzeug/")),
    ("fast path (peek, URL, answer)", _any("handlers/fast_path.py")),
    ("HTTP: gunicorn (accept, parse, write, keep-alive)", _any("/gunicorn/", "selectors.py", "concurrent/futures/")),
]
OTHER = "other"
PATHS = ("full path", "fast path", "server")  # per full-path event, per fast-path event, per request


def path_of(frames: Frames) -> str:
    """Which part of the service a sample belongs to."""
    if any("EventWriter._write (" in frame for frame in frames) and not any(
        busy in frame for frame in frames for busy in ("_write_batch (", "_Slot.", "announce (", "checkpoint (")
    ):
        return "server"  # the event writer waiting for work
    if any(needle in frame for frame in frames for needle in FULL_PATH):
        return "full path"
    if any("TaskRouterFastPath.__call__ (" in frame for frame in frames):
        return "fast path"
    return "background" if any("JobRunner.run_forever (" in frame for frame in frames) else "server"


def area_of(frames: Frames) -> str:
    """The first area whose rule matches."""
    return next((name for name, rule in AREAS if rule(frames)), OTHER)


def read(raw: Path) -> Counter[tuple[str, str]]:
    """Samples by (area, path) from py-spy's raw output (`frame;frame;… count` per line)."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        frames = [frame for frame in stack.split(";") if not frame.startswith("Flask.__call__ (")]  # every request's
        counts[area_of(frames), path_of(frames)] += int(number)
    return counts


def cpu_table(counts: Counter[tuple[str, str]], window: dict[str, float], rate: int, sqlite_us: float) -> str:
    """CPU per event by area: the GIL holder's samples, and the process CPU that ran without the GIL.

    `sqlite_us`: SQLite's C calls per full-path event, measured in-process (under load they run without the GIL).
    """
    events = {"full path": window["accepted"], "fast path": window.get("ignored", 0)}
    if not events["fast path"]:  # every event a worker event: the fast path's parsing is part of the full path
        for area, path in list(counts):
            if path == "fast path":
                counts[area, "full path"] += counts.pop((area, path))
    every = sum(events.values())
    total = window["cpu"] * 1e6 / every  # µs of CPU per event, from /proc
    held = sum(counts.values()) / rate * 1e6 / every
    rows = [
        "| area | µs per event of the mix | share | µs per full-path event | µs per fast-path event |",
        "|---|---|---|---|---|",
    ]
    for name in [*(name for name, _ in AREAS), OTHER]:
        mix = sum(n for (area, _), n in counts.items() if area == name) / rate * 1e6 / every
        if not mix:
            continue
        by_path = [counts[name, path] / rate * 1e6 / events[path] if events[path] else 0 for path in PATHS[:2]]
        rows.append(f"| {name} | {mix:.0f} | {mix / total:.0%} | {by_path[0]:.0f} | {by_path[1]:.0f} |")
    engine = sqlite_us * events["full path"] / every
    outside = total - held - engine
    rows.append(f"| SQLite's engine (C calls, from the in-process run) | {engine:.0f} | {engine / total:.0%} | "
                f"{sqlite_us:.0f} | 0 |")  # fmt: skip
    rows.append(f"| other CPU outside the GIL: socket and futex syscalls, GIL hand-offs, kernel (/proc remainder) | "
                f"{outside:.0f} | {outside / total:.0%} | | |")  # fmt: skip
    rows.append(f"| **total CPU (/proc: user {window['user'] * 1e6 / every:.0f}, system "
                f"{window['system'] * 1e6 / every:.0f})** | **{total:.0f}** | 100% | | |")  # fmt: skip
    return "\n".join(rows)


def wall_table(counts: Counter[tuple[str, str]], window: dict[str, float], rate: int) -> str:
    """Thread time per full-path event on the full path's SQL, from the `--idle` recording."""
    full = window["accepted"]
    rows = ["| on the full path (thread time, CPU or waiting) | ms per full-path event |", "|---|---|"]
    for name in ("BEGIN IMMEDIATE (SQLite's write lock)", "hot statements (adapters/hot.py, on the DB-API cursor)",
                 "sqlite3 statement execution", "commit"):  # fmt: skip
        rows.append(f"| {name} | {counts[name, 'full path'] / rate * 1e3 / full:.2f} |")
    rest = sum(n for (area, path), n in counts.items() if path == "full path") / rate * 1e3 / full
    rows.append(f"| **all of the full path** | **{rest:.2f}** |")
    return "\n".join(rows)


def report(
    raw: dict[str, Path],
    windows: dict[str, dict[str, float]],
    rate: int,
    load: dict[str, float],
    alone: dict[str, float],
) -> str:
    """The Markdown report: the CPU table, the thread-time table, and the figures behind them."""
    cpu, wall = windows["cpu"], windows["wall"]
    every = cpu["accepted"] + cpu.get("ignored", 0)
    return "\n".join([
        cpu_table(read(raw["cpu"]), cpu, rate, alone["sqlite_us"]),
        "",
        f"For comparison, the same mix in-process, one request at a time (no gunicorn, no contention): "
        f"{alone['full_us']:.0f} µs of process CPU per event, of which SQLite's C calls {alone['sqlite_us']:.0f} "
        f"(the commit {alone['commit_us']:.0f}; cProfile on the event writer's thread CPU). Bare Flask under the "
        f"same load: {alone['bare_us']:.0f} µs of CPU per request (both workers, /proc).",
        "",
        f"CPU window: {every:.0f} events in this worker ({cpu['accepted'] / every:.0%} on the full path), "
        f"{cpu['cpu']:.1f} s of CPU over {cpu['seconds']:.1f} s, {cpu['switches'] / every:.1f} context switches per "
        f"event; py-spy --gil at {rate} Hz (the GIL holder's stack; what ran without the GIL is the /proc remainder).",
        "",
        wall_table(read(raw["wall"]), wall, rate),
        "",
        f"Thread-time window: {wall['accepted']:.0f} full-path events; py-spy --idle. Load: wrk "
        f"{load['rps']:.0f} req/s over both workers, p50 {load['p50'] * 1000:.1f} ms, p99 {load['p99'] * 1000:.0f} ms, "
        f"non-2xx {load['non_2xx']:.0f}, repeated bodies {load['repeated']:.0f}.",
    ])  # fmt: skip
