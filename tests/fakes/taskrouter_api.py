"""A real local HTTP server that plays the TaskRouter REST API (Workers, Activities, Events) for tests and benchmarks.

It pages like Twilio (meta.next_page_url), can leave attributes out of listings, serves ETags,
enforces If-Match on updates (412), and injects 429/5xx and latency on demand.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.taskrouter_http import FakeApiServer, WorkerApiHandler
from tests.fakes.taskrouter_lookups import ACCOUNT, OFFLINE_SID, LookupState


@dataclass
class Fault:
    """An error answer served `times` times to requests matching `method` and a path substring."""

    status: int
    times: int = 1
    method: str = "GET"
    path_contains: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # served as text/html instead of Twilio's JSON error (a proxy's page)


@dataclass
class Update:
    """One POST the guard sent."""

    worker_sid: str
    params: dict[str, str]
    if_match: str | None


class FakeTaskRouter(LookupState):
    """State and behaviour of the fake API; `start()` serves it on 127.0.0.1."""

    def __init__(self, null_list_attributes: bool = False, latency: float = 0.0, max_page_size: int = 1000) -> None:
        """Start empty; add workers with `add_worker`, activities and events with `add_activity`, `add_event`."""
        self.initial_null_list_attributes, self.initial_latency = null_list_attributes, latency
        self.server: FakeApiServer | None = None
        self.max_page_size = max_page_size
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every workspace, fault and request (a fake that outlives one test, as behind Prism)."""
        self.workspaces: dict[str, dict[str, dict[str, Any]]] = {}
        self.activities: dict[str, dict[str, dict[str, Any]]] = {}
        self.events: dict[str, dict[str, dict[str, Any]]] = {}
        self.null_list_attributes, self.latency = self.initial_null_list_attributes, self.initial_latency
        self.in_flight = 0
        self.max_in_flight = 0
        self.faults: list[Fault] = []
        self.updates: list[Update] = []
        self.requests: list[tuple[str, str]] = []
        self.before_update: Callable[[str], None] | None = None
        self.after_update: Callable[[str], None] | None = None  # runs once applied, before the answer is sent
        self.after_page: Callable[[str], None] | None = None  # runs once a list page is read, before it is sent
        self.lost_answers = 0  # updates applied, then answered 503 (a gateway that lost the answer)
        self.garbled_answers = 0  # updates applied, then answered 200 with a page that is no JSON (a proxy's)
        self.send_etags = True  # False: fetches come without an ETag header

    @property
    def url(self) -> str:
        """Base URL to use as TWILIO_TASKROUTER_BASE_URL."""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_worker(self, workspace_sid: str, sid: str, name: str, attributes: dict[str, Any]) -> None:
        """Create a worker with version 1, Offline (`set_activity` moves it)."""
        workers = self.workspaces.setdefault(workspace_sid, {})
        workers[sid] = {"sid": sid, "friendly_name": name, "attributes": json.dumps(attributes), "version": 1}
        workers[sid].update(activity_sid=OFFLINE_SID, activity_name="Offline", available=False)

    def attributes(self, workspace_sid: str, sid: str) -> dict[str, Any]:
        """The current attributes of a worker, parsed."""
        return json.loads(self.workspaces[workspace_sid][sid]["attributes"])

    def set_attributes(self, workspace_sid: str, sid: str, attributes: dict[str, Any]) -> None:
        """Another writer changes a worker (bumps its version, hence its ETag)."""
        with self.lock:
            worker = self.workspaces[workspace_sid][sid]
            worker["attributes"] = json.dumps(attributes)
            worker["version"] += 1

    def inject(
        self,
        status: int,
        times: int = 1,
        method: str = "GET",
        path_contains: str = "",
        body: str | None = None,
        **headers: str,
    ) -> None:
        """Serve `status` (with `body` as HTML, if given) to the next `times` matching requests."""
        named = {k.replace("_", "-"): v for k, v in headers.items()}
        self.faults.append(Fault(status, times, method, path_contains, named, body))

    def start(self) -> FakeTaskRouter:
        """Serve on a free port in a background thread."""
        fake = self

        class Handler(WorkerApiHandler):
            api = fake

        self.server = FakeApiServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def record_update(self, worker_sid: str, params: dict[str, str], if_match: str | None) -> None:
        """Keep every update the guard sent, for the tests' assertions."""
        with self.lock:
            self.updates.append(Update(worker_sid, params, if_match))

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault to serve for this request, if one is armed."""
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path_contains in path:
                    fault.times -= 1
                    return fault
        return None

    def worker_json(self, workspace_sid: str, worker: dict[str, Any], listing: bool) -> dict[str, Any]:
        """A worker resource shaped like Twilio's."""
        hidden = listing and self.null_list_attributes
        url = f"{self.url}/v1/Workspaces/{workspace_sid}/Workers/{worker['sid']}"
        return {
            "account_sid": ACCOUNT,
            "workspace_sid": workspace_sid,
            "sid": worker["sid"],
            "friendly_name": worker["friendly_name"],
            "attributes": None if hidden else worker["attributes"],
            "activity_name": worker["activity_name"],
            "activity_sid": worker["activity_sid"],
            "available": worker["available"],
            "date_created": "2026-01-05T09:00:00Z",
            "date_updated": "2026-11-20T09:00:00Z",
            "date_status_changed": "2026-11-20T09:00:00Z",
            "url": url,
            "links": {"channels": f"{url}/Channels"},
        }


def main() -> None:
    """Serve a populated fake API until killed (the benchmarks run it in its own process)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--null-list-attributes", action="store_true")
    parser.add_argument("--workspace", default="WS" + "b" * 32)
    args = parser.parse_args()
    fake = FakeTaskRouter(null_list_attributes=args.null_list_attributes, latency=args.latency)
    for n in range(1, args.workers + 1):
        address = f"agent.{n}@flex-bench.example.com"
        uri = f"sip:agent{n}@pbx.example.com" if n % 100 == 0 else f"client:agent_2E{n}_40flex_2Dbench_2Eexample_2Ecom"
        fake.add_worker(
            args.workspace, f"WK{n:032x}", address, {"email": address, "contact_uri": uri, "roles": ["agent"]}
        )
    fake.start()
    print(fake.url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    fake.stop()


if __name__ == "__main__":
    main()
