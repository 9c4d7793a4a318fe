"""The write path alone: the pipeline's batches of the full-path mix, no HTTP, one thread; CPU per event.

`python bench/write_path.py [--postgres] [--drop-index NAME ...] [--runs N]`: 4,000 events to warm up, then 6,000
timed in batches of 8, each batch one transaction (as the event writer's), with the passive checkpoint after it.
What a batch costs here is what the writer holds SQLite's write turn for, without the wait for the GIL
(BENCHMARKS.md). `--postgres` writes to the benchmarks' PostgreSQL database instead (BENCH_DATABASE_URL, its tables
dropped, then analyzed after the warm-up), where the wall time counts: each statement is a round trip.
`--drop-index` measures what an index of the schema costs the write (a probe: the guard needs its indexes).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.datastructures import MultiDict  # after the path set-up, so the script runs as a file

from bench.bodies import TOKEN
from bench.fullpath_bodies import FullPathMix
from bench.run import POSTGRES
from bench.storm import analyze_postgres, reset_postgres
from guard.config import Settings
from guard.container import build_services
from guard.core.snapshot import WorkerSnapshot
from guard.service.pipeline import Pipeline
from handlers.taskrouter_events import snapshot_from_fields

BATCH, WARM, TIMED = 8, 4000, 6000


def snapshots(mix: FullPathMix, count: int) -> list[WorkerSnapshot]:
    """`count` fresh events of the mix, parsed as the handler parses them."""
    parsed = []
    for line in mix.lines(count):
        form = MultiDict(parse_qsl(line.split("\t")[1]))
        parsed.append(snapshot_from_fields(form, form["EventType"]))
    return parsed


def write(pipeline: Pipeline, events: Sequence[WorkerSnapshot]) -> None:
    """The events in batches, a transaction each, then the checkpoint: the event writer's loop, in one thread."""
    for start in range(0, len(events), BATCH):
        with pipeline.store.transaction() as tx:
            pipeline.apply_events(tx, events[start : start + BATCH], pipeline.clock())
        pipeline.store.checkpoint()


def run(url: str, dropped: Sequence[str] = ()) -> tuple[float, float]:
    """µs of process CPU and of wall time per event on a new database at `url`, without the `dropped` indexes."""
    if not url.startswith("sqlite"):
        reset_postgres(url)
    services = build_services(Settings.from_env({"TWILIO_AUTH_TOKEN": TOKEN, "DATABASE_URL": url}), url)
    with services.store.engine.connect() as connection:
        for name in dropped:
            connection.exec_driver_sql(f'DROP INDEX "{name}"')
        connection.commit()
    mix = FullPathMix("http://localhost/taskrouter/events", seed=11)
    write(services.pipeline, snapshots(mix, WARM))
    if not url.startswith("sqlite"):
        analyze_postgres(url)
    timed = snapshots(mix, TIMED)
    cpu, wall = time.process_time(), time.perf_counter()
    write(services.pipeline, timed)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    services.store.engine.dispose()
    return cpu / TIMED * 1e6, wall / TIMED * 1e6


def main() -> None:
    """Print the CPU per event of each run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drop-index", action="append", default=[], metavar="NAME", help="an index to drop first")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (BENCH_DATABASE_URL), not SQLite")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the alerts' log lines
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="guard-write-path-") as scratch:
            url = POSTGRES if args.postgres else f"sqlite:///{scratch}/write_path.db"
            cpu, wall = run(url, args.drop_index)
            print(f"{cpu:.0f} µs of CPU, {wall:.0f} µs of wall time per event", flush=True)


if __name__ == "__main__":
    main()
