"""Part 3, audit sweep: `flask --app wsgi audit` against a slow fake TaskRouter API, and a naive peer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.bodies import ACCOUNT, TOKEN, WORKSPACE
from tests.processes import ROOT

PAGE_SIZE = 1000


class FakeApi:
    """The fake TaskRouter API in its own process, so it does not share the GIL with the audit."""

    def __init__(self, workers: int, latency: float) -> None:
        """Start it with `workers` workers, attributes hidden from listings, `latency` per request."""
        command = [sys.executable, "-m", "tests.fakes.taskrouter_api", "--workers", str(workers)]
        command += ["--latency", str(latency), "--null-list-attributes", "--workspace", WORKSPACE]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()  # type: ignore[union-attr]

    def stop(self) -> None:
        """Stop the server."""
        self.process.terminate()
        self.process.wait(10)


def timed(command: list[str], env: dict[str, str], output: Path) -> tuple[float, float, int]:
    """Run `command`; return wall seconds, peak RSS (MB) and exit code."""
    with output.open("w") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def audit(workdir: Path, url: str, concurrency: int) -> dict[str, Any]:
    """Time one `flask --app wsgi audit --format json` run."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_WORKSPACE_SID": WORKSPACE,
        "TWILIO_TASKROUTER_BASE_URL": url,
        "DATABASE_URL": f"sqlite:///{workdir}/sweep-{concurrency}.db",
    }
    flask = str(Path(sys.executable).parent / "flask")
    report = workdir / f"sweep-{concurrency}.json"
    command = [flask, "--app", "wsgi", "audit", "--format", "json", "--concurrency", str(concurrency)]
    seconds, rss, code = timed(command, env, report)
    summary = json.loads(report.read_text())["summary"]
    return {"seconds": seconds, "rss_mb": rss, "exit_code": code, "summary": summary}


def peer(workdir: Path, url: str) -> dict[str, Any]:
    """Time the sequential twilio-python loop."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    output = workdir / "peer.json"
    seconds, rss, code = timed([sys.executable, "-m", "bench.peer_sweep", url], env, output)
    return {"seconds": seconds, "rss_mb": rss, "exit_code": code, **json.loads(output.read_text())}


def ideal_seconds(workers: int, latency: float, concurrency: int) -> float:
    """N × latency / concurrency, plus the list pages fetched one after another."""
    pages = -(-workers // PAGE_SIZE)
    return workers * latency / concurrency + pages * latency


def run(workdir: Path, workers: int, peer_workers: int, latency: float = 0.05) -> dict[str, Any]:
    """Sweep at concurrency 8 and 32, then the peer on `peer_workers` (and ours on the same, for the speed-up)."""
    result: dict[str, Any] = {"workers": workers, "latency": latency, "runs": {}}
    api = FakeApi(workers, latency)
    try:
        for concurrency in (8, 32):
            run_ = audit(workdir, api.url, concurrency)
            run_["ideal"] = ideal_seconds(workers, latency, concurrency)
            run_["efficiency"] = run_["ideal"] / run_["seconds"]
            result["runs"][concurrency] = run_
    finally:
        api.stop()
    small = FakeApi(peer_workers, latency)
    try:
        result["peer"] = peer(workdir, small.url)
        result["ours_on_peer_set"] = audit(workdir, small.url, 8)
    finally:
        small.stop()
    result["speedup"] = result["peer"]["seconds"] / result["ours_on_peer_set"]["seconds"]
    return result


def table(result: dict[str, Any]) -> str:
    """The part's Markdown table."""
    rows = [
        "| run | workers | wall time | ideal | share of ideal throughput | peak RSS | exit |",
        "|---|---|---|---|---|---|---|",
    ]
    for concurrency, r in result["runs"].items():
        rows.append(
            f"| audit --concurrency {concurrency} | {result['workers']} | {r['seconds']:.1f} s | {r['ideal']:.1f} s | "
            f"**{r['efficiency']:.2f}** | {r['rss_mb']:.0f} MB | {r['exit_code']} |"
        )
    peer_run, ours = result["peer"], result["ours_on_peer_set"]
    rows.append(
        f"| peer: list() then fetch() each | {peer_run['workers']} | {peer_run['seconds']:.1f} s | — | — | "
        f"{peer_run['rss_mb']:.0f} MB | {peer_run['exit_code']} |"
    )
    rows.append(
        f"| audit --concurrency 8, same set | {peer_run['workers']} | {ours['seconds']:.1f} s | — | — | "
        f"{ours['rss_mb']:.0f} MB | {ours['exit_code']} |"
    )
    rows.append("")
    rows.append(
        f"Every request to the fake API waits {result['latency'] * 1000:.0f} ms; listings hide attributes, so each "
        f"worker is fetched. Target: ≥ 0.8 of the ideal at concurrency 32. **Speed-up over the peer: "
        f"{result['speedup']:.1f}×** (exit 1 is expected: 1% of the workers drift)."
    )
    return "\n".join(rows)
