"""What a forged form of ~40,000 fields costs the guard (issue 20, row 1): in-process, and under a flood.

`python bench/forged_fields.py` times one forged request in-process (no gunicorn); `--flood N` also runs
a gunicorn (2 workers) with N threads posting such bodies while signed drift events are timed one by one.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.test import EnvironBuilder  # noqa: E402 - after the path set-up, so `python bench/…` works

from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, sign, worker_event, worker_sid  # noqa: E402

FIELDS = 40_000


def forged_body(event_type: str, fields: int = FIELDS) -> bytes:
    """An unsigned form of `fields` blank fields (under 256 KB), naming a real account."""
    head = f"EventType={event_type}&AccountSid={ACCOUNT_SID}"
    return (head + "".join(f"&{n:x}=" for n in range(fields - 2))).encode()


def one_request(app: Any, body: bytes, signature: str | None) -> tuple[str, float]:
    """Post `body` to the app's WSGI callable once; return the status and the seconds it took."""
    headers = {"X-Twilio-Signature": signature} if signature else {}
    environ = EnvironBuilder(
        path="/taskrouter/events", method="POST", data=body, headers=headers,
        content_type="application/x-www-form-urlencoded",
    ).get_environ()  # fmt: skip
    answered: list[str] = []
    started = time.perf_counter()
    for _ in app({**environ, "wsgi.input": io.BytesIO(body)}, lambda status, *_: answered.append(status)):
        pass
    return answered[0], time.perf_counter() - started


def in_process(workdir: Path) -> list[tuple[str, str, float]]:
    """Best of 3 for each forged variant, and a signed drift event for comparison."""
    from guard.config import Settings
    from handlers.app import create_app

    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "DATABASE_URL": f"sqlite:///{workdir}/forged.db", "LOG_LEVEL": "ERROR"}
    app = create_app(Settings.from_env(env)).wsgi_app
    rows = []
    for label, event_type, signature in [
        ("ignored type (fast path), wrong signature", "task.created", "Zm9yZ2Vk"),
        ("worker type (full path), wrong signature", "worker.attributes.update", "Zm9yZ2Vk"),
        ("worker type, no signature", "worker.attributes.update", None),
    ]:
        body = forged_body(event_type)
        runs = [one_request(app, body, signature) for _ in range(3)]
        rows.append((f"{label}, {len(body) // 1024} KB", runs[0][0], min(seconds for _, seconds in runs)))
    fields = worker_event(sid=worker_sid(7), contact_uri="sip:x")
    status, seconds = one_request(app, urlencode(fields).encode(), sign(fields))
    rows.append(("a signed drift event, for comparison", status, seconds))
    return rows


def flood(workdir: Path, senders: int, seconds: float) -> dict[str, float]:
    """Signed events' latency (p50, max) while `senders` threads post forged bodies to a gunicorn."""
    import requests

    from tests.processes import Gunicorn

    service = Gunicorn({"DATABASE_URL": f"sqlite:///{workdir}/flood.db", "LOG_LEVEL": "ERROR"}, workdir / "g.log")
    body, stop, forged = forged_body("worker.attributes.update"), threading.Event(), [0]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "Zm9yZ2Vk"}

    def send() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    session.post(service.url, data=body, headers=headers, timeout=30)
                    forged[0] += 1
                except requests.RequestException:
                    pass

    with service:
        quiet = [_timed(service, n) for n in range(1, 11)]
        threads = [threading.Thread(target=send, daemon=True) for _ in range(senders)]
        for thread in threads:
            thread.start()
        started, latencies, n = time.monotonic(), [], 100
        while time.monotonic() - started < seconds:
            n += 1
            latencies.append(_timed(service, n))
        stop.set()
        for thread in threads:
            thread.join(35)
    elapsed = time.monotonic() - started
    return {
        "quiet p50": statistics.median(quiet),
        "flooded p50": statistics.median(latencies),
        "flooded max": max(latencies),
        "forged per second": forged[0] / elapsed,
    }


def _timed(service: Any, n: int) -> float:
    """Seconds one signed drift event takes to be answered 204."""
    started = time.perf_counter()
    response = service.post(worker_event(sid=worker_sid(n), contact_uri="sip:x"), timeout=60)
    assert response.status_code == 204, response.status_code
    return time.perf_counter() - started


def main() -> None:
    """Print the in-process table, then the flood's figures when asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=0, help="threads posting forged bodies to a gunicorn")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long the flood lasts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        print("| one request, in-process | answer | ms |\n|---|---|---|")
        for label, status, seconds in in_process(Path(workdir)):
            print(f"| {label} | {status} | {seconds * 1000:.1f} |")
        if args.flood:
            figures = flood(Path(workdir), args.flood, args.seconds)
            print(f"\nflood of {args.flood} senders for {args.seconds:g} s:")
            for name, value in figures.items():
                shown = f"{value:.1f}" if name == "forged per second" else f"{value * 1000:.0f} ms"
                print(f"- {name}: {shown}")


if __name__ == "__main__":
    main()
