"""A/B on the full path: checkouts of the guard (git worktrees) in turn under the same mix, like with like.

    git worktree add --detach /tmp/before HEAD~1
    .venv/bin/python bench/ab.py /tmp/before . --rounds 6

Each checkout's guard runs under gunicorn from its own directory, on a SQLite file of its own (or, with
--database URL, a PostgreSQL database of its own, URL's name plus `_ab0`, `_ab1` …). Runs alternate (A B,
B A …), each with fresh bodies, and each run's connection split is read mid-run (bench/connections.py):
single runs here come in two modes by how wrk's connections spread, so the medians are given for the
balanced runs (no worker holding more than BALANCED of the 16) beside those of all runs. Prints, not a table:
a tool for deciding whether a change helps, not a figure for BENCHMARKS.md on its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # so `python bench/ab.py` finds bench and tests

from bench.bodies import TOKEN
from bench.connections import BALANCED, run_wrk
from bench.firehose import find_wrk
from bench.fullpath import bodies_file, read_wrk, wrk_command
from bench.fullpath_bodies import FullPathMix
from bench.storm import analyze_postgres, reset_postgres
from tests.processes import Gunicorn, free_port

BODIES_PER_SECOND = 3000  # more than the guard answers here: no body is sent twice


def main() -> None:
    """Start a guard per checkout, alternate wrk runs between them, print each run and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", type=Path, help="directories holding a checkout of the guard")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="guard-ab-"))
    servers = {}
    for n, checkout in enumerate(args.checkouts):
        url = f"sqlite:///{workdir}/ab{n}.db" if args.database == "sqlite" else f"{args.database}_ab{n}"
        if args.database != "sqlite":
            reset_postgres(url)
        env = {"WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": TOKEN, "DATABASE_URL": url}
        servers[checkout] = Gunicorn(env, workdir / f"ab{n}.log", port=free_port(), cwd=checkout.resolve())
    runs: dict[Path, list[tuple[list[int], dict[str, float]]]] = {checkout: [] for checkout in servers}
    mixes = {checkout: FullPathMix(server.url, seed=n + 1) for n, (checkout, server) in enumerate(servers.items())}
    try:
        for checkout, server in servers.items():
            server.start()
            _load(server, mixes[checkout], 1, workdir)  # warm-up, not recorded
        for round_ in range(args.rounds):
            for checkout in list(servers) if round_ % 2 == 0 else list(servers)[::-1]:
                if args.database != "sqlite":  # statistics as autovacuum keeps them (bench/fullpath.py)
                    analyze_postgres(servers[checkout].env["DATABASE_URL"])
                runs[checkout].append(_load(servers[checkout], mixes[checkout], args.seconds, workdir))
                split, result = runs[checkout][-1]
                print(f"{'/'.join(map(str, split)):>6}  {checkout}: {result['rps']:.0f} req/s, "
                      f"p99 {result['p99'] * 1000:.1f} ms, non-2xx {result['non_2xx']:.0f}", flush=True)  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
    for checkout, results in runs.items():
        balanced = [run for run in results if max(run[0], default=0) <= BALANCED]
        print(f"{checkout}: {_medians(results)}; balanced runs only: {_medians(balanced)}")


def _load(server: Gunicorn, mix: FullPathMix, seconds: int, workdir: Path) -> tuple[list[int], dict[str, float]]:
    """One wrk run of fresh bodies against `server`: the connection split and wrk's figures."""
    bodies = bodies_file(mix, BODIES_PER_SECOND * seconds + 2000, workdir / "bodies.txt")
    command = wrk_command(find_wrk(), server.url, seconds, bodies)
    output, split = run_wrk(command, server.port, server.worker_pids(), seconds)
    return split, read_wrk(output)


def _medians(results: list[tuple[list[int], dict[str, float]]]) -> str:
    """Median req/s and p99 of these runs, and how many there were."""
    if not results:
        return "no runs"
    rps = statistics.median(result["rps"] for _, result in results)
    p99 = statistics.median(result["p99"] for _, result in results)
    return f"{rps:.0f} req/s, p99 {p99 * 1000:.1f} ms ({len(results)} runs)"


if __name__ == "__main__":
    main()
