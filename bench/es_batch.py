"""Issue 20 row 10: 300-event Event Streams batches while ~180 TaskRouter events/s arrive (answer within 5 s)."""

from __future__ import annotations

import hashlib
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # so `python bench/es_batch.py` works

from bench.bodies import TOKEN, email, sid, worker_attributes
from bench.fullpath_bodies import FullPathMix
from bench.storm import percentile, reset_postgres
from tests.helpers import cloudevent
from tests.processes import Gunicorn, free_port

BATCH, RATE, SENDERS, LIMIT = 300, 180.0, 8, 5.0  # events a batch; load events/s, its threads; Event Streams' wait
FIRST_WORKER = 5_000_000  # a batch is for distinct new workers (Flex attributes, 1 in 5 drifting), not the mix's


def post_batch(session: requests.Session, base: str, first: int) -> dict[str, Any]:
    """Post a batch as Event Streams does (bodySHA256 in the signed URL); its seconds, status and count recorded."""
    text = json.dumps([
        cloudevent(sid=sid("WK", n), worker_name=email(n), worker_version="2", worker_activity_sid=sid("WA", 1),
                   worker_activity_name="Available", worker_attributes=worker_attributes(n, drifting=n % 5 == 0))
        for n in range(first, first + BATCH)
    ])  # fmt: skip
    url = f"{base}/event-streams?bodySHA256={hashlib.sha256(text.encode()).hexdigest()}"
    signature = RequestValidator(TOKEN).compute_signature(url, {})  # the URL alone: its bodySHA256 covers the body
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/json"}
    began = time.monotonic()
    try:
        response = session.post(url, data=text.encode(), headers=headers, timeout=60)
        status, recorded = response.status_code, response.json().get("recorded", 0) if response.ok else 0
    except requests.RequestException:
        status, recorded = 599, 0
    return {"seconds": time.monotonic() - began, "status": status, "recorded": recorded}


class Load:
    """Signed TaskRouter worker events at `RATE`, each posted at its own monotonic deadline by one of `SENDERS`."""

    def __init__(self, mix: FullPathMix, url: str) -> None:
        """Take bodies from `mix`, post them to `url`."""
        self.mix, self.url, self.lock, self.stopping = mix, url, threading.Lock(), threading.Event()
        self.index, self.start, self.elapsed = 0, 0.0, 0.0
        self.answers: list[tuple[float, int, float]] = []  # seconds, status, how late it was sent
        self.threads = [threading.Thread(target=self._send, daemon=True) for _ in range(SENDERS)]

    def __enter__(self) -> Load:
        """Start the senders."""
        self.start = time.monotonic() + 0.1
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop the senders; requests in flight finish."""
        self.elapsed = time.monotonic() - self.start
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)

    def _send(self) -> None:
        """One sender: claim the next deadline and a fresh body, wait for the deadline, post, record."""
        session = requests.Session()
        while True:
            with self.lock:
                deadline, self.index = self.start + self.index / RATE, self.index + 1
                signature, body = self.mix.lines(1)[0].split("\t", 1)
            if self.stopping.wait(max(0.0, deadline - time.monotonic())):
                return
            began = time.monotonic()
            headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
            try:
                status = session.post(self.url, data=body, headers=headers, timeout=30).status_code
            except requests.RequestException:
                status = 599
            with self.lock:
                self.answers.append((time.monotonic() - began, status, began - deadline))

    def figures(self) -> dict[str, float]:
        """Achieved rate, p50/p99 latency, non-2xx answers and the latest start past its deadline."""
        seconds = [s for s, _, _ in self.answers]
        return {"rate": len(seconds) / self.elapsed, "p50": statistics.median(seconds),
                "p99": percentile(seconds, 0.99), "non_2xx": sum(1 for _, c, _ in self.answers if c // 100 != 2),
                "late_max": max(late for _, _, late in self.answers)}  # fmt: skip


def measure(workdir: Path, name: str, database: str, batches: int) -> dict[str, Any]:
    """One guard: batches alone (half before the load, half after) and `batches` under the load."""
    env = {"WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": TOKEN, "DATABASE_URL": database}
    server = Gunicorn(env, workdir / f"esbatch-{name.lower()}.log", port=free_port())
    base, firsts = f"http://127.0.0.1:{server.port}", itertools.count(FIRST_WORKER, BATCH)
    mix, session = FullPathMix(server.url, seed=20), requests.Session()
    alone: list[dict[str, Any]] = []
    loaded: list[dict[str, Any]] = []
    try:
        server.start()
        with Load(mix, server.url):  # warm-up, not recorded: both processes take both kinds of request
            time.sleep(1.0)
            post_batch(session, base, next(firsts))
        alone += [post_batch(session, base, next(firsts)) for _ in range((batches + 1) // 2)]
        with Load(mix, server.url) as load:
            time.sleep(1.0)  # the load settles first
            for _ in range(batches):
                loaded.append(post_batch(session, base, next(firsts)))
                time.sleep(0.5)
        alone += [post_batch(session, base, next(firsts)) for _ in range(batches // 2)]
    finally:
        server.stop()
    return {"alone": alone, "loaded": loaded, "background": load.figures()}


def run(workdir: Path, batches: int, postgres: str | None) -> dict[str, Any]:
    """Measure on SQLite, and on PostgreSQL when `postgres` is given and reachable."""
    results = {"SQLite": measure(workdir, "SQLite", f"sqlite:///{workdir}/esbatch.db", batches)}
    if postgres:
        try:
            reset_postgres(postgres)
            results["PostgreSQL"] = measure(workdir, "PostgreSQL", postgres, batches)
        except Exception as err:  # noqa: BLE001 - report, and still give the SQLite figures
            print(f"Event Streams batch on PostgreSQL skipped: {type(err).__name__}: {err}", file=sys.stderr)
    return results


def table(result: dict[str, Any]) -> str:
    """The part's Markdown table, one row per database."""
    rows = [
        "| database | batch alone: median / max | under load: median / max | loaded ÷ alone (median) | over 5 s "
        "| 200, all recorded | background events/s | its p50 / p99 | its non-2xx |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result.items():
        alone, loaded = ([b["seconds"] for b in r[k]] for k in ("alone", "loaded"))
        bg, ok = r["background"], sum(b["status"] == 200 and b["recorded"] == BATCH for b in r["alone"] + r["loaded"])
        rows.append(
            f"| {name} | {statistics.median(alone):.2f} / {max(alone):.2f} s | {statistics.median(loaded):.2f} / "
            f"{max(loaded):.2f} s | **{statistics.median(loaded) / statistics.median(alone):.1f}** | "
            f"{sum(s > LIMIT for s in loaded)}/{len(loaded)} | {ok}/{len(alone) + len(loaded)} | {bg['rate']:.0f} "
            f"(latest send {bg['late_max'] * 1000:.0f} ms late) | {bg['p50'] * 1000:.1f} / {bg['p99'] * 1000:.1f} ms "
            f"| {bg['non_2xx']} |"
        )
    return "\n".join([
        *rows, "",
        f"Target (issue 20, row 10): every batch under load answered within {LIMIT:.0f} s. A batch: {BATCH} signed "
        "`worker.attributes.update` CloudEvents for distinct new workers, 1 in 5 drifting (~440 KB), posted one after "
        f"another 0.5 s apart. Load: bench/fullpath_bodies.py's signed worker events at {RATE:.0f}/s from {SENDERS} "
        "threads, each sent at its own deadline. The batch alone: the same run, half before the load, half after. "
        "WEB_CONCURRENCY=2, gthread workers of 8 threads, no Slack.",
    ])  # fmt: skip


if __name__ == "__main__":
    from bench.run import OUT, POSTGRES

    quick = "--quick" in sys.argv[1:]  # 2 batches, SQLite only; else 5 batches on SQLite and PostgreSQL
    with tempfile.TemporaryDirectory(prefix="guard-esbatch-") as scratch:
        text = table(run(Path(scratch), 2 if quick else 5, None if quick else POSTGRES))
    OUT.mkdir(exist_ok=True)
    (OUT / f"esbatch-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}{'-quick' if quick else ''}.md").write_text(text)
    print(text)
