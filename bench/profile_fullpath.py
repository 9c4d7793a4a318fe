"""Where a worker event's time goes: py-spy on one guard worker under the full-path mix.

`python bench/profile_fullpath.py` runs the guard under gunicorn as bench/run.py does (2 gthread workers, SQLite),
drives it with the full-path mix through wrk, and samples one worker twice:
its CPU (`--gil`: the thread holding the GIL, plus /proc for the CPU spent without it), then its threads' time
(`--idle`: every thread, waiting included, for the lock waits). Then, for comparison, the same mix in-process on
one thread (bench/fullpath_inprocess.py) and bare Flask's CPU per request under the same load. It saves the raw
stacks and a table of µs per event by area under bench/out/.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402 - after the path set-up

from bench import fullpath_inprocess, profile_areas  # noqa: E402
from bench.bodies import TOKEN  # noqa: E402
from bench.firehose import find_wrk  # noqa: E402
from bench.fullpath import WARM_UP_BODIES, bodies_file, read_wrk, wrk_command  # noqa: E402
from bench.fullpath_bodies import FullPathMix  # noqa: E402
from bench.run import OUT  # noqa: E402
from tests.processes import Gunicorn  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def find_py_spy() -> str:
    """py-spy next to this Python, installed from requirements-bench.txt when missing."""
    path = Path(sys.executable).parent / "py-spy"
    if not path.exists():
        pip = [sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-bench.txt")]
        subprocess.run(pip, check=True)
    return str(path)


def usage(pid: int) -> tuple[float, float, int]:
    """User and system CPU seconds of a process so far, and its threads' context switches."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    switches = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(OSError):  # a thread may end while we read
            switches += sum(int(line.split()[1]) for line in status.read_text().splitlines() if "ctxt_switches" in line)
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS, switches


def events(metrics_dir: Path, pid: int) -> dict[str, float]:
    """The worker's TaskRouter events so far, by outcome (accepted: the full path; ignored: the fast path)."""
    counts: dict[str, float] = {}
    for metric in MultiProcessCollector.merge([str(metrics_dir / f"counter_{pid}.db")], accumulate=False):
        for sample in metric.samples:
            if sample.name == "guard_events_received_total" and sample.labels.get("source") == "taskrouter":
                counts[sample.labels["outcome"]] = counts.get(sample.labels["outcome"], 0.0) + sample.value
    return counts


def sample(py_spy: str, pid: int, seconds: int, rate: int, out: Path, metrics: Path, mode: str) -> dict[str, float]:
    """Record one worker for `seconds` (`cpu`: the GIL holder; `wall`: every thread); its events and CPU then."""
    before, used, started = events(metrics, pid), usage(pid), time.monotonic()
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate)]
    command += ["--format", "raw", "--full-filenames", "-o", str(out), "--gil" if mode == "cpu" else "--idle"]
    subprocess.run(command, check=True, capture_output=True)
    after, (user, system, switches) = events(metrics, pid), usage(pid)
    window = {outcome: after[outcome] - before.get(outcome, 0.0) for outcome in after}
    window.update(user=user - used[0], system=system - used[1], switches=switches - used[2])
    window["seconds"] = time.monotonic() - started
    return {**window, "cpu": window["user"] + window["system"]}


def main() -> None:
    """Run the guard under load, sample one worker, and write the breakdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, help="length of each of the two recordings")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    args = parser.parse_args()
    py_spy, wrk = find_py_spy(), find_wrk()
    OUT.mkdir(exist_ok=True)
    backend = "sqlite"  # the areas name SQLite's statements (BEGIN IMMEDIATE, its C calls)
    with tempfile.TemporaryDirectory(prefix="guard-profile-") as scratch:
        workdir = Path(scratch)
        database = f"sqlite:///{workdir}/profile.db"
        metrics = workdir / "metrics"
        metrics.mkdir()
        env = {"WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": TOKEN, "DATABASE_URL": database}
        service = Gunicorn({**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}, workdir / "guard.log")
        service.start()
        try:
            pid = min(service.worker_pids())
            mix = FullPathMix(service.url)
            warm = read_wrk(run_wrk(wrk, service.url, 2, bodies_file(mix, WARM_UP_BODIES, workdir / "warm.txt")))
            count = int(warm["rps"] * (2 * args.seconds + 10) * 1.5) + 2000
            load = subprocess.Popen(
                wrk_command(wrk, service.url, 2 * args.seconds + 10, bodies_file(mix, count, workdir / "load.txt")),
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(2)
            raw = {mode: OUT / f"profile-{backend}-{mode}.txt" for mode in ("cpu", "wall")}
            windows = {mode: sample(py_spy, pid, args.seconds, args.rate, raw[mode], metrics, mode) for mode in raw}
            result = read_wrk(load.communicate()[0])
        finally:
            service.stop()
        alone = {**fullpath_inprocess.run(workdir), "bare_us": bare_cpu(wrk, workdir, args.seconds, mix)}
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    title = f"# Full path on {backend}: where one worker's time goes ({when})\n\n"
    report = title + profile_areas.report(raw, windows, args.rate, result, alone)
    (OUT / f"profile-{backend}.md").write_text(report)
    print(report)
    print(f"wrote {OUT / f'profile-{backend}.md'} and the raw stacks beside it")


def bare_cpu(wrk: str, workdir: Path, seconds: int, mix: FullPathMix) -> float:
    """µs of CPU per request of bare Flask's two workers under the same load (the HTTP floor)."""
    args = ("-c", str(ROOT / "bench" / "bare.conf.py"))
    with Gunicorn({"WEB_CONCURRENCY": "2"}, workdir / "bare.log", args=args, app="bench.bare_app:app") as bare:
        bodies = bodies_file(mix, WARM_UP_BODIES, workdir / "bare.txt")  # bare reads none of them: repeats are fine
        run_wrk(wrk, bare.url, 1, bodies)
        before = sum(sum(usage(pid)[:2]) for pid in bare.worker_pids())
        result = read_wrk(run_wrk(wrk, bare.url, seconds, bodies))
        spent = sum(sum(usage(pid)[:2]) for pid in bare.worker_pids()) - before
    return spent / (result["rps"] * seconds) * 1e6


def run_wrk(wrk: str, url: str, seconds: int, bodies: Path) -> str:
    """Run wrk to its end; return its output."""
    return subprocess.run(wrk_command(wrk, url, seconds, bodies), capture_output=True, text=True).stdout


if __name__ == "__main__":
    main()
