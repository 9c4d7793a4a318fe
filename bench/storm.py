"""Part 2, login storm: thousands of attribute updates in a minute, with a slow Slack."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import make_url, text

from bench.bodies import TOKEN, event, signed_lines
from guard.adapters import db
from guard.adapters.tables import metadata
from tests.fakes.slack import FakeSlack
from tests.processes import Gunicorn, free_port

THREADS = 48


def ensure_database(url: str) -> None:
    """Create the benchmark database when it does not exist yet (like `createdb`)."""
    target = make_url(db.normalize_url(url))
    engine = db.make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database})
        if exists.first() is None:
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    engine.dispose()


def reset_postgres(url: str) -> None:
    """Drop and re-create the guard's tables in the benchmark database (created first if missing)."""
    ensure_database(url)
    engine = db.make_engine(url)
    with engine.begin() as connection:
        for table in [*(t.name for t in reversed(metadata.sorted_tables)), "alembic_version"]:
            connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    db.upgrade(engine)
    engine.dispose()


def analyze_postgres(url: str) -> None:
    """Give the planner statistics, as autovacuum would within a minute on a server that runs it (Heroku's does).

    This machine's PostgreSQL runs with autovacuum off, and the benchmarks create their tables anew: without
    statistics, PostgreSQL looks workers up by scanning their workspace (BENCHMARKS.md, "statistics").
    """
    engine = db.make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()


def percentile(values: list[float], share: float) -> float:
    """The `share` percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def first_alerts(slack: FakeSlack) -> dict[str, float]:
    """When each worker's drift alert arrived: "urgent" for an agent who is Available, as the storm's agents are."""
    return {sid: at for (sid, kind), at in slack.arrivals().items() if kind in ("drift", "urgent")}


def run(workdir: Path, database_url: str, events: int, seconds: float, slack_latency: float = 0.1) -> dict[str, Any]:
    """Post `events` updates for distinct workers, evenly over `seconds`; 20% drift."""
    slack = FakeSlack(latency=slack_latency).start()
    port = free_port()
    url = f"http://127.0.0.1:{port}/taskrouter/events"
    env = {
        "DATABASE_URL": database_url,
        "SLACK_WEBHOOK_URL": slack.url,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
    }
    fields = [event("worker.attributes.update", 2_000_000 + n, version=1, drifting=n % 5 == 0) for n in range(events)]
    for n, form in enumerate(fields):  # distinct workers, not the firehose's 2,000-worker cycle
        form["WorkerSid"] = form["ResourceSid"] = f"WK{0xB0000000 + n:032x}"
    bodies = [line.split("\t", 1) for line in signed_lines(fields, url)]
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    service = Gunicorn(env, workdir / f"storm-{backend}.log", port=port).start()
    start = time.time() + 0.5

    def sender(offset: int) -> None:
        session = requests.Session()
        for index in range(offset, events, THREADS):
            time.sleep(max(0.0, start + index * seconds / events - time.time()))
            signature, body = bodies[index]
            began = time.time()
            response = session.post(
                url, data=body, timeout=30,
                headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
            )  # fmt: skip
            with lock:
                sent_at[fields[index]["WorkerSid"]] = began
                latencies.append(time.time() - began)
                statuses.append(response.status_code)

    try:
        threads = [threading.Thread(target=sender, args=(k,)) for k in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        drifting = {form["WorkerSid"] for n, form in enumerate(fields) if n % 5 == 0}
        deadline = time.time() + 120
        while time.time() < deadline and not drifting <= set(first_alerts(slack)):
            time.sleep(0.1)
        arrivals = first_alerts(slack)
    finally:
        service.stop()
        slack.stop()
    alert_latency = [arrivals[sid] - sent_at[sid] for sid in drifting if sid in arrivals]
    return {
        "events": events,
        "seconds": seconds,
        "5xx": sum(1 for status in statuses if status >= 500),
        "non_204": sum(1 for status in statuses if status != 204),
        "request_p50": statistics.median(latencies),
        "request_p99": percentile(latencies, 0.99),
        "alerts_expected": len(drifting),
        "alerts_delivered": len(alert_latency),
        "alert_p50": statistics.median(alert_latency) if alert_latency else float("nan"),
        "alert_p99": percentile(alert_latency, 0.99),
        "alert_max": max(alert_latency, default=float("nan")),
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    """The part's Markdown table, one row per database."""
    rows = [
        "| database | events / s | 5xx | request p50 | request p99 | alerts delivered "
        "| alert p50 | alert p99 | alert max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['events']} / {r['seconds']:.0f} | {r['5xx']} | {r['request_p50'] * 1000:.1f} ms | "
            f"{r['request_p99'] * 1000:.1f} ms | {r['alerts_delivered']}/{r['alerts_expected']} | "
            f"{r['alert_p50']:.2f} s | {r['alert_p99']:.2f} s | {r['alert_max']:.2f} s |"
        )
    rows.append("")
    rows.append("Targets: 0 × 5xx, alert p99 ≤ 5 s. The Slack stub adds 100 ms to every post; 20% of workers drift.")
    return "\n".join(rows)
