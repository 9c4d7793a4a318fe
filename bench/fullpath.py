"""Part 1c, full path: the worker-event mix on SQLite and PostgreSQL against bare Flask, each body sent once."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from bench.bodies import TOKEN
from bench.connections import balanced_line, run_wrk, splits_line
from bench.firehose import HERE, find_wrk, parse_wrk, peak_rss_mb
from bench.fullpath_bodies import DRIFT_SHARE, MIX, FullPathMix
from bench.storm import analyze_postgres, reset_postgres
from tests.processes import Gunicorn, free_port

GUARDS = ("guard, SQLite", "guard, PostgreSQL")
THREADS = 2  # wrk -t: each thread sends its own slice of the bodies
WARM_UP_BODIES = 8000  # more than one second of bare Flask on this machine


def bodies_file(mix: FullPathMix, count: int, path: Path) -> Path:
    """Write `count` fresh signed events for wrk; return the file."""
    path.write_text("\n".join(mix.lines(count)) + "\n")
    return path


def wrk_command(wrk: str, url: str, seconds: int, bodies: Path, connections: int = 16) -> list[str]:
    """The wrk command that sends each line of `bodies` once (bench/fullpath.lua)."""
    command = [wrk, f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    return [*command, "-s", str(HERE / "fullpath.lua"), url, "--", str(bodies), str(THREADS)]


def read_wrk(output: str) -> dict[str, float]:
    """The figures of one wrk run (parse_wrk), and how many bodies it sent a second time."""
    result = parse_wrk(output)
    result["repeated"] = int(output.split("Repeated bodies:")[1].split()[0]) if "Repeated" in output else -1
    return result


def _accepted_share(port: int) -> float:
    """Of the events the guard counted, the share it accepted onto the full path (the rest were ignored)."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "guard_events_received_total" and sample.labels.get("source") == "taskrouter":
                counts[sample.labels["outcome"]] = counts.get(sample.labels["outcome"], 0.0) + sample.value
    return counts.get("accepted", 0.0) / max(1.0, sum(counts.values()))


def run(workdir: Path, seconds: int, rounds: int, postgres: str | None, connections: int = 16) -> dict[str, Any]:
    """Alternate the guard on SQLite, the guard on PostgreSQL and bare Flask; report medians and ratios to bare."""
    wrk = find_wrk()
    base = {"WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": TOKEN}  # LOG_LEVEL: the default (INFO), as deployed
    databases = {GUARDS[0]: f"sqlite:///{workdir}/fullpath.db"}
    if postgres:
        try:
            reset_postgres(postgres)
            databases[GUARDS[1]] = postgres
        except Exception as err:  # noqa: BLE001 - report, and still measure SQLite
            print(f"full path on PostgreSQL skipped: {type(err).__name__}: {err}")
    servers = {
        name: Gunicorn({**base, "DATABASE_URL": url}, workdir / f"fullpath-{n}.log", port=free_port())
        for n, (name, url) in enumerate(databases.items())
    }
    servers["bare"] = Gunicorn(
        base, workdir / "fullpath-bare.log", port=free_port(), args=("-c", str(HERE / "bare.conf.py")),
        app="bench.bare_app:app",
    )  # fmt: skip
    mixes = {name: FullPathMix(servers[name].url, seed=n + 1) for n, name in enumerate(databases)}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    splits: dict[str, list[list[int]]] = {name: [] for name in servers}
    rate = {name: 0.0 for name in mixes}

    def load(name: str, duration: int, bodies: Path) -> dict[str, float]:
        """One wrk run against one server."""
        command = wrk_command(wrk, servers[name].url, duration, bodies, connections)
        output, split = run_wrk(command, servers[name].port, servers[name].worker_pids(), duration)
        splits[name].append(split)
        return read_wrk(output)

    try:
        for server in servers.values():
            server.start()
        for name, mix in mixes.items():  # warm-up, not recorded; it also tells how many bodies a round needs
            rate[name] = load(name, 1, bodies_file(mix, WARM_UP_BODIES, workdir / "warm-up.txt"))["rps"]
        load("bare", 1, workdir / "warm-up.txt")
        for runs in splits.values():
            runs.clear()
        for _ in range(rounds):
            for name, mix in mixes.items():
                if not databases[name].startswith("sqlite"):  # the table grew: statistics as autovacuum keeps them
                    analyze_postgres(databases[name])
                bodies = bodies_file(mix, int(rate[name] * seconds * 1.5) + 2000, workdir / f"{name}.txt")
                results[name].append(load(name, seconds, bodies))
                rate[name] = max(rate[name], results[name][-1]["rps"])
            results["bare"].append(load("bare", seconds, bodies))  # the same bodies: bare reads none of them
        accepted = {name: _accepted_share(servers[name].port) for name in mixes}
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
        "ratio": {name: median[name]["rps"] / median["bare"]["rps"] for name in mixes},
        "p99_ratio": {name: median[name]["p99"] / median["bare"]["p99"] for name in mixes},
        "non_2xx": {name: sum(r["non_2xx"] for r in runs) for name, runs in results.items()},
        "repeated": sum(r["repeated"] for name in mixes for r in results[name]),
        "sent": sum(r["rps"] * seconds for name in mixes for r in results[name]),
        "accepted": accepted,
        "peak_rss_mb": memory,
        "splits": splits,
        "settings": f"{rounds} × {seconds} s per server, alternating, wrk -t{THREADS} -c{connections}, "
        "WEB_CONCURRENCY=2, gthread workers of 8 threads (gunicorn.conf.py; bench/bare.conf.py for bare)",
    }


def table(result: dict[str, Any]) -> str:
    """The part's Markdown table."""
    median, rows = (
        result["median"],
        [
            "| server | req/s (median) | p50 | p99 | non-2xx | req/s ÷ bare | p99 ÷ bare | peak RSS per worker |",
            "|---|---|---|---|---|---|---|---|",
        ],
    )
    for name in ("bare", *result["ratio"]):
        m, ratio, p99_ratio = median[name], result["ratio"].get(name, 1.0), result["p99_ratio"].get(name, 1.0)
        rows.append(
            f"| {name} | {m['rps']:.0f} | {m['p50'] * 1000:.2f} ms | {m['p99'] * 1000:.2f} ms | "
            f"{result['non_2xx'][name]} | **{ratio:.2f}** | **{p99_ratio:.1f}** | "
            f"{result['peak_rss_mb'][name]:.0f} MB |"
        )
    shares = ", ".join(f"{share:.0%} of {name.split(', ')[1]}'s" for name, share in result["accepted"].items())
    mix = ", ".join(f"{share:.0%} {kind}" for kind, share in MIX.items())
    rows += [
        "",
        f"Targets (issue 21): req/s ≥ 0.40 × bare, p99 ≤ 3 × bare. Mix: {mix}; 1 in {round(1 / DRIFT_SHARE)} "
        "attribute updates drifts; 3,000 workers, versions rising per worker; fresh timestamps and a distinct Sid "
        f"on every body (~{result['sent']:.0f} sent to the guards, {result['repeated']} of them repeats). "
        f"Taken onto the full path (the rest answered by the fast path): {shares} events. Runs: {result['settings']}.",
        "",
        splits_line(result["splits"]),
        balanced_line(result["runs"], result["splits"], "bare"),
    ]
    return "\n".join(rows)
