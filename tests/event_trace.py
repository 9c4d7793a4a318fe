"""Trace one drifting TaskRouter event from request to Slack and count its hops: `python -m tests.event_trace`.

A hop is a call, on the request thread, the writer thread or in the delivery job, into a function of the
guard (guard/ or handlers/) that receives the event or what it becomes: the form, the snapshot, its attributes,
the verdict, the stored state, the decision, the alert. Logging, metrics, the clock and configuration are not counted,
nor a method reading its own object (`alert.fields()`, `verdict.drifting`).
"""

from __future__ import annotations

import sys
import tempfile
import threading
from typing import Any

from tests.conftest import make_settings
from tests.fakes.slack import FakeSlack
from tests.helpers import TaskRouterPoster, worker_event
from tests.processes import ROOT

NOT_COUNTED = ("guard/logs.py", "guard/metrics.py", "guard/clock.py", "guard/config")
CARRIERS = (
    "MultiDict",
    "ImmutableMultiDict",
    "MultiDictProxy",
    "WorkerSnapshot",
    "Verdict",
    "WorkerState",
    "Decision",
    "Alert",
)


def _carries(frame: Any, attributes: list[Any]) -> bool:
    """True when one of the function's arguments (its `self` aside: reading an object is no hop) is the event."""
    code = frame.f_code
    for name in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]:
        if name in ("self", "cls"):
            continue
        value = frame.f_locals.get(name)
        if type(value).__name__ in CARRIERS or type(value).__name__ == "ClaimedAlert":
            return True
        if any(value is seen for seen in attributes):
            return True
    return False


def trace() -> list[tuple[str, str]]:
    """Post one drifting event, deliver its alert, and return the hops as (file, function)."""
    from handlers.app import create_app

    hops: list[tuple[str, str]] = []
    attributes: list[Any] = []

    def profile(frame: Any, event: str, _arg: Any) -> None:
        if event != "call":
            return
        path = frame.f_code.co_filename
        relative = path[len(str(ROOT)) + 1 :] if path.startswith(str(ROOT)) else ""
        if not relative.startswith(("guard/", "handlers/")) or relative.startswith(NOT_COUNTED):
            return
        snapshot = next((v for v in frame.f_locals.values() if type(v).__name__ == "WorkerSnapshot"), None)
        if snapshot is not None and not any(snapshot.attributes is seen for seen in attributes):
            attributes.append(snapshot.attributes)
        if _carries(frame, attributes):
            hops.append((relative, frame.f_code.co_qualname))

    slack = FakeSlack().start()
    with tempfile.TemporaryDirectory() as scratch:
        settings = make_settings(f"sqlite:///{scratch}/trace.db", slack_webhook_url=slack.url)
        app = create_app(settings)
        services = app.extensions["guard"]
        poster = TaskRouterPoster(app.test_client())
        poster.post(worker_event(contact_uri="client:other_40example_2Ecom"))  # warm-up: imports, statement caches
        services.delivery.run_once()
        services.writer.stop()  # restarted by the next event, in a thread the profile follows too
        sys.setprofile(profile)
        threading.setprofile(profile)
        try:
            poster.post(worker_event(contact_uri="sip:ann@pbx.example.com", version=2))
            services.delivery.run_once()
        finally:
            threading.setprofile(None)  # type: ignore[arg-type]
            sys.setprofile(None)
        services.writer.stop()
        services.store.engine.dispose()
    slack.stop()
    return hops


def main() -> None:
    """Print the hops, then the count of hops and files."""
    hops = trace()
    for number, (path, function) in enumerate(hops, 1):
        print(f"{number:3}  {path}  {function}")
    print(f"\n{len(hops)} hops across {len({path for path, _ in hops})} files")


if __name__ == "__main__":
    main()
