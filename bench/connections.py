"""How wrk's connections spread over the gunicorn workers: the reason single runs here come in two modes.

Both workers accept from one listening socket, and whichever wakes first takes the connections wrk opens
at its start. A run where one worker holds 14 or 15 of the 16 runs at about two thirds of a run where they
split 7/9 or 8/8, for bare Flask and the guard alike (BENCHMARKS.md, "Two modes").
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

ESTABLISHED = "01"  # /proc/net/tcp's state column
BALANCED = 10  # of wrk's 16 connections, the most one of the 2 workers holds in a run counted as balanced


def connection_split(port: int, pids: list[int]) -> list[int]:
    """How many established connections to `port` each process in `pids` holds, fewest first (read from /proc)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    inodes = {row[9] for row in rows if row[3] == ESTABLISHED and int(row[1].rsplit(":", 1)[1], 16) == port}
    return sorted(sum(_socket_inode(fd) in inodes for fd in _fds(pid)) for pid in pids)


def _fds(pid: int) -> list[Path]:
    """The open file descriptors of `pid` (none if it is gone)."""
    try:
        return list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return []


def _socket_inode(fd: Path) -> str | None:
    """The inode of the socket behind `fd`, or None for anything else (or a descriptor closed meanwhile)."""
    try:
        link = os.readlink(fd)
    except OSError:
        return None
    return link[len("socket:[") : -1] if link.startswith("socket:[") else None


def run_wrk(command: list[str], port: int, pids: list[int], seconds: float) -> tuple[str, list[int]]:
    """Run wrk for its `seconds`; halfway through, read its connections' split. wrk's output and that split."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(seconds / 2)  # a bench run, not a test: a sample mid-run, whatever the machine does
    split = connection_split(port, pids)
    return process.communicate()[0], split


def splits_line(splits: dict[str, list[list[int]]]) -> str:
    """The splits of every run, per server, as one line for a table's notes."""
    shown = "; ".join(f"{name} {' '.join('/'.join(map(str, s)) for s in runs)}" for name, runs in splits.items())
    return f"Connections per worker in each run (wrk's over the 2 workers, mid-run): {shown}."


def balanced_line(runs: dict[str, list[dict[str, float]]], splits: dict[str, list[list[int]]], baseline: str) -> str:
    """Medians of the balanced runs only (no worker above BALANCED connections), and their ratio to `baseline`'s."""
    medians = {}
    for name, results in runs.items():
        rates = [r["rps"] for r, split in zip(results, splits[name], strict=True) if max(split, default=0) <= BALANCED]
        medians[name] = (statistics.median(rates), len(rates)) if rates else (0.0, 0)
    base = medians[baseline][0]
    shown = "; ".join(
        f"{name}: no balanced run"
        if not count
        else f"{name} {rate:.0f} req/s ({count} of {len(runs[name])} runs"
        + (f", {rate / base:.2f} × {baseline})" if base and name != baseline else ")")
        for name, (rate, count) in medians.items()
    )
    return f"Balanced runs only (no worker above {BALANCED} of the connections), like with like: {shown}."
