"""One command for every benchmark: `python bench/run.py` (or `--quick` for a smoke run under 2 minutes).

Each part prints a Markdown table; the whole run writes bench/out/results.md (ignored by git; BENCHMARKS.md
is the curated record). Results are ratios against a baseline measured in the same run (bare Flask, the
ideal sweep, the naive peer).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import es_batch, fast_path_cost, firehose, fullpath, slow_clients, storm, sweep  # noqa: E402 - after the path set-up, so `python bench/run.py` works

FULL = {
    "firehose": (10, 5),
    "cost": 20,  # repeats of the in-process fast-path timing (1b)
    "fullpath": (10, 5),
    "storm": (2000, 60.0),
    "sweep": (15000, 1500),
    "slow": ((0, 2, 8, 14, 24), 5.0),
    "esbatch": (5, True),  # batches under load (and as many alone), with PostgreSQL
}
# Measured with `time`: 81 s on the 2-core machine (2026-12-03, seven parts); keep it under 2 minutes with a margin.
QUICK = {
    "firehose": (2, 1), "cost": 5, "fullpath": (2, 1), "storm": (100, 3.0), "sweep": (400, 40), "slow": ((0, 2), 1.0),
    "esbatch": (2, False),  # SQLite only: ~8 s
}  # fmt: skip
PARTS = ["firehose", "fullpath", "storm", "sweep", "slow", "esbatch"]
# A database of the benchmarks' own (created when missing): the storm, the full path and esbatch drop its tables.
POSTGRES = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench")
OUT = ROOT / "bench" / "out"
_CLOCK = [time.monotonic()]  # when the last part ended


def machine(with_wrk: bool) -> str:
    """A line describing where the numbers come from (wrk's version when the firehose runs)."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    tools = [f"Python {platform.python_version()}"]
    if with_wrk:  # find_wrk installs it on a fresh machine
        wrk = subprocess.run([firehose.find_wrk(), "--version"], capture_output=True, text=True).stdout
        tools.append(wrk.split("\n")[0].strip() or "wrk")
    return f"{os.cpu_count()} cores ({cpu}), {', '.join(tools)}, {platform.platform()}"


def main() -> None:
    """Run the parts and write bench/out/results.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in under 2 minutes")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    parts = args.only or PARTS
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    sections = [
        f"# Benchmark results ({'quick' if args.quick else 'full'} run, {when})",
        "",
        f"Machine: {machine('firehose' in parts or 'fullpath' in parts)}",
        "",
    ]
    started = _CLOCK[0] = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="guard-bench-") as scratch:
        workdir = Path(scratch)
        if "firehose" in parts:
            seconds, rounds = sizes["firehose"]
            sections += _part("1. Firehose", firehose.table(firehose.run(workdir, seconds, rounds)))
            cost = fast_path_cost.run(workdir, sizes["cost"])
            sections += _part("1b. Where an ignored event's time goes", fast_path_cost.table(cost))
        if "fullpath" in parts:
            seconds, rounds = sizes["fullpath"]
            sections += _part("1c. Full path", fullpath.table(fullpath.run(workdir, seconds, rounds, POSTGRES)))
        if "storm" in parts:
            events, seconds = sizes["storm"]
            results = {"SQLite": storm.run(workdir, f"sqlite:///{workdir}/storm.db", events, seconds)}
            try:
                storm.reset_postgres(POSTGRES)
                results["PostgreSQL"] = storm.run(workdir, POSTGRES, events, seconds)
            except Exception as err:  # noqa: BLE001 - report, and still write the other results
                print(f"PostgreSQL storm skipped: {type(err).__name__}: {err}", file=sys.stderr)
            sections += _part("2. Login storm", storm.table(results))
        if "sweep" in parts:
            workers, peer_workers = sizes["sweep"]
            sections += _part("3. Audit sweep", sweep.table(sweep.run(workdir, workers, peer_workers)))
        if "slow" in parts:
            counts, seconds = sizes["slow"]
            sections += _part("4. Slow clients", slow_clients.table(slow_clients.run(workdir, counts, seconds)))
        if "esbatch" in parts:
            batches, with_postgres = sizes["esbatch"]
            result = es_batch.run(workdir, batches, POSTGRES if with_postgres else None)
            sections += _part("5. Event Streams batch under load (issue 20, row 10)", es_batch.table(result))
    sections.append(f"Total benchmark time: {time.monotonic() - started:.0f} s.")
    OUT.mkdir(exist_ok=True)
    text = "\n".join(sections) + "\n"
    stamped = OUT / f"results-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}{'-quick' if args.quick else ''}.md"
    for path in (stamped, OUT / "results.md"):
        path.write_text(text)
    print(f"\nwrote {OUT / 'results.md'} (and {stamped.name})")


def _part(title: str, body: str) -> list[str]:
    """Print a part's table and return it as Markdown lines, with the time the part took."""
    took, _CLOCK[0] = time.monotonic() - _CLOCK[0], time.monotonic()
    print(f"\n## {title}\n\n{body}\n\n(this part: {took:.0f} s)\n", flush=True)
    return [f"## {title}", "", body, "", f"(this part: {took:.0f} s)", ""]


if __name__ == "__main__":
    main()
