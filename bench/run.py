"""One command for every benchmark: `python bench/run.py` (or `--quick` for a smoke run under 2 minutes).

Each part prints a Markdown table; the whole run writes bench/results.md. Results are ratios
against a baseline measured in the same run (bare Flask, the ideal sweep, the naive peer).
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

from bench import fast_path_cost, firehose, slow_clients, storm, sweep  # noqa: E402 - after the path set-up, so `python bench/run.py` works

FULL = {"firehose": (10, 5), "storm": (2000, 60.0), "sweep": (15000, 1500), "slow": ((0, 2, 8, 14, 24), 5.0)}
QUICK = {"firehose": (3, 2), "storm": (300, 10.0), "sweep": (1500, 150), "slow": ((0, 2, 14), 2.0)}
PARTS = ["firehose", "storm", "sweep", "slow"]
POSTGRES = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


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
    """Run the parts and write bench/results.md."""
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
        f"Machine: {machine('firehose' in parts)}",
        "",
    ]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="guard-bench-") as scratch:
        workdir = Path(scratch)
        if "firehose" in parts:
            seconds, rounds = sizes["firehose"]
            sections += _part("1. Firehose", firehose.table(firehose.run(workdir, seconds, rounds)))
            cost = fast_path_cost.run(workdir)
            sections += _part("1b. Where an ignored event's time goes", fast_path_cost.table(cost))
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
    sections.append(f"Total benchmark time: {time.monotonic() - started:.0f} s.")
    (ROOT / "bench" / "results.md").write_text("\n".join(sections) + "\n")
    print(f"\nwrote {ROOT / 'bench' / 'results.md'}")


def _part(title: str, body: str) -> list[str]:
    """Print a part's table and return it as Markdown lines."""
    print(f"\n## {title}\n\n{body}\n", flush=True)
    return [f"## {title}", "", body, ""]


if __name__ == "__main__":
    main()
