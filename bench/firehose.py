"""Part 1, firehose: the guard against a bare Flask app, same gunicorn settings, wrk on loopback."""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench.bodies import TOKEN, firehose_mix, signed_lines
from bench.connections import balanced_line, run_wrk, splits_line
from tests.processes import Gunicorn, free_port

HERE = Path(__file__).resolve().parent
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def find_wrk() -> str:
    """The wrk binary: on PATH, or installed from Debian's package."""
    found = shutil.which("wrk")
    if found:
        return found
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, capture_output=True).returncode != 0:  # a fresh machine has no package lists yet
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (seconds) and non-2xx count from `wrk --latency` output."""

    def seconds(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = seconds(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = seconds(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "errors": errors is not None,
    }


def peak_rss_mb(pids: list[int]) -> float:
    """The largest VmHWM (peak resident set) among `pids`, in MB."""
    peaks = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def run(workdir: Path, seconds: int, rounds: int, connections: int = 16) -> dict[str, Any]:
    """Alternate guard and bare runs (A B A B …); report medians and the guard/bare ratio."""
    wrk = find_wrk()
    ports = {"guard": free_port(), "bare": free_port()}
    url = f"http://127.0.0.1:{ports['guard']}/taskrouter/events"
    requests_file = workdir / "firehose_requests.txt"
    requests_file.write_text("\n".join(signed_lines(firehose_mix(6000), url)) + "\n")
    base = {"WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": TOKEN}
    guard_env = {**base, "DATABASE_URL": f"sqlite:///{workdir}/firehose.db", "LOG_LEVEL": "WARNING"}
    servers = {
        "guard": Gunicorn(guard_env, workdir / "firehose-guard.log", port=ports["guard"]),
        "bare": Gunicorn(
            base, workdir / "firehose-bare.log", port=ports["bare"], args=("-c", str(HERE / "bare.conf.py")),
            app="bench.bare_app:app",
        ),
    }  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {"guard": [], "bare": []}
    splits: dict[str, list[list[int]]] = {"guard": [], "bare": []}
    try:
        for server in servers.values():
            server.start()

        def load(name: str, duration: int) -> dict[str, float]:
            """One wrk run against one app."""
            command = [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(HERE / "firehose.lua")]
            target = f"http://127.0.0.1:{ports[name]}/taskrouter/events"
            pids = servers[name].worker_pids()
            output, split = run_wrk([*command, target, "--", str(requests_file)], ports[name], pids, duration)
            splits[name].append(split)
            return parse_wrk(output)

        for name in servers:  # warm-up, not recorded: first connections, imports, statement caches
            load(name, 1)
            splits[name].clear()
        for _ in range(rounds):
            for name in ("guard", "bare"):
                results[name].append(load(name, seconds))
        memory = {name: peak_rss_mb(server.worker_pids()) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    median = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
        for name, runs in results.items()
    }
    return {
        "runs": results,
        "median": median,
        "ratio": median["guard"]["rps"] / median["bare"]["rps"],
        "p99_ratio": median["guard"]["p99"] / median["bare"]["p99"],
        "non_2xx": sum(r["non_2xx"] for r in results["guard"]),
        "peak_rss_mb": memory,
        "splits": splits,
        "settings": f"{rounds} × {seconds} s per app, alternating, wrk -t2 -c{connections}, "
        "WEB_CONCURRENCY=2, gthread workers of 8 threads (gunicorn.conf.py)",
    }


def table(result: dict[str, Any]) -> str:
    """The part's Markdown table."""
    median = result["median"]
    rows = [
        "| app | req/s (median) | p50 | p99 | peak RSS per worker |",
        "|---|---|---|---|---|",
    ]
    for name in ("bare", "guard"):
        m = median[name]
        rows.append(
            f"| {name} | {m['rps']:.0f} | {m['p50'] * 1000:.2f} ms | {m['p99'] * 1000:.2f} ms | "
            f"{result['peak_rss_mb'][name]:.0f} MB |"
        )
    rows.append("")
    rows.append(
        f"**guard/bare throughput ratio: {result['ratio']:.3f}** (target ≥ 0.90, issue 21); "
        f"**p99 ratio: {result['p99_ratio']:.2f}** (target ≤ 2); guard non-2xx answers: {result['non_2xx']}. "
        f"Runs: {result['settings']}. {splits_line(result['splits'])} "
        f"{balanced_line(result['runs'], result['splits'], 'bare')}"
    )
    return "\n".join(rows)
