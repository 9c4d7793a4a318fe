"""Part 4, slow clients: /healthz while connections trickle their headers, for each gunicorn worker model."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from tests.processes import Gunicorn
from tests.slow_clients import SlowClients, health_latencies

# gunicorn turns sync into gthread when threads > 1, so the sync run asks for one thread too.
MODELS = {"sync": ("--worker-class", "sync", "--threads", "1"), "gthread, 8 threads (gunicorn.conf.py)": ()}


def run(workdir: Path, counts: tuple[int, ...], seconds: float) -> dict[str, dict[int, dict[str, Any]]]:
    """For each worker model and number of slow clients: /healthz answers and latency, against 0 slow clients."""
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for model, args in MODELS.items():
        env = {"DATABASE_URL": f"sqlite:///{workdir}/slow.db", "LOG_LEVEL": "WARNING"}
        with Gunicorn(env, workdir / "slow-clients.log", args=args) as service:
            results[model] = {}
            for count in counts:
                with SlowClients(service.port, count):
                    latencies = health_latencies(service.port, seconds)
                answered = [latency for latency in latencies if latency is not None]
                results[model][count] = {
                    "answered": len(answered),
                    "asked": len(latencies),
                    "p50": statistics.median(answered) if answered else None,
                }
    return results


def table(results: dict[str, dict[int, dict[str, Any]]]) -> str:
    """A Markdown table: answers and p50 relative to the same model with no slow client."""
    lines = [
        "| worker model | slow clients | /healthz answered | p50 | p50 vs no slow client |",
        "|---|---|---|---|---|",
    ]
    for model, by_count in results.items():
        baseline = by_count[min(by_count)]["p50"]
        for count, row in by_count.items():
            p50 = row["p50"]
            shown = f"{p50 * 1000:.1f} ms" if p50 else "—"
            ratio = f"{p50 / baseline:.2f}×" if p50 and baseline else "no answer"
            lines.append(f"| {model} | {count} | {row['answered']}/{row['asked']} | {shown} | {ratio} |")
    return "\n".join(lines) + (
        "\n\nEach slow client sends one header line every 0.5 s and never finishes; WEB_CONCURRENCY=2. "
        "An answer is a 200 within 5 s."
    )
