"""The HTTP side of the fake TaskRouter API: routing, paging, ETags and If-Match, over the state it is given."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:
    from tests.fakes.taskrouter_api import FakeTaskRouter

_WORKERS = re.compile(r"^/v1/Workspaces/(WS\w{32})/Workers(?:/(WK\w{32}))?$")
_LOOKUPS = re.compile(r"^/v1/Workspaces/(WS\w{32})/(Activities|Events)(?:/(EV\w{32}))?$")
_NOT_FOUND = {"code": 20404, "message": "The requested resource was not found", "status": 404}


class FakeApiServer(ThreadingHTTPServer):
    """A threading server with a listen backlog deep enough for 32+ concurrent clients."""

    daemon_threads = True
    request_queue_size = 256


class WorkerApiHandler(BaseHTTPRequestHandler):
    """Routes the Worker endpoints (list, fetch, update), the Activities list, and the Event fetch and list."""

    api: FakeTaskRouter
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    # One segment per answer and no Nagle: otherwise delayed ACKs add ~40 ms to every request.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, *_args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """List or fetch."""
        self._route("GET")

    def do_POST(self) -> None:
        """Update."""
        self._route("POST")

    def _route(self, method: str) -> None:
        """Track concurrency, apply latency, then answer."""
        api = self.api
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with api.lock:
            api.requests.append((method, self.path))
            api.in_flight += 1
            api.max_in_flight = max(api.max_in_flight, api.in_flight)
        try:
            if api.latency:
                time.sleep(api.latency)
            self._answer(method, parts.path, parts.query, body)
        finally:
            with api.lock:
                api.in_flight -= 1

    def _answer(self, method: str, path: str, query: str, body: bytes) -> None:
        """Serve an armed fault, or the endpoint's answer."""
        api = self.api
        fault = api.take_fault(method, path)
        if fault and fault.body is not None:
            return self._send_text(fault.status, fault.body)
        if fault:
            return self._send(
                fault.status,
                {"code": 20000 + fault.status, "message": "injected", "status": fault.status},
                fault.headers,
            )
        lookup = _LOOKUPS.match(path)
        if lookup and method == "GET":
            return self._lookup(path, *lookup.groups(), parse_qs(query))
        match = _WORKERS.match(path)
        if not match or match.group(1) not in api.workspaces:
            return self._send(404, _NOT_FOUND)
        workspace_sid, worker_sid = match.groups()
        workers = api.workspaces[workspace_sid]
        if worker_sid is None:
            render = partial(api.worker_json, workspace_sid, listing=True)
            return self._page("workers", path, list(workers.values()), parse_qs(query), render)
        if worker_sid not in workers:
            return self._send(404, _NOT_FOUND)
        if method == "POST":
            return self._update(workspace_sid, worker_sid, {k: v[0] for k, v in parse_qs(body.decode()).items()})
        worker = workers[worker_sid]
        etag = {"ETag": f'"{worker["version"]}"'} if api.send_etags else {}
        return self._send(200, api.worker_json(workspace_sid, worker, False), etag)

    def _lookup(
        self, path: str, workspace_sid: str, collection: str, event_sid: str | None, query: dict[str, list[str]]
    ) -> None:
        """The Activities list, an Event by SID, or the Events list (a malformed date or number is a 400)."""
        api = self.api
        if not any(workspace_sid in known for known in (api.workspaces, api.activities, api.events)):
            return self._send(404, _NOT_FOUND)
        if collection == "Activities":
            activities = api.listed_activities(workspace_sid, query)
            return self._page("activities", path, activities, query, partial(api.activity_json, workspace_sid))
        if event_sid is not None:
            event = api.events.get(workspace_sid, {}).get(event_sid)
            return self._send(200, api.event_json(workspace_sid, event)) if event else self._send(404, _NOT_FOUND)
        try:
            events = api.listed_events(workspace_sid, query)
        except ValueError as err:
            return self._send(400, {"code": 20001, "message": f"Invalid parameter: {err}", "status": 400})
        return self._page("events", path, events, query, partial(api.event_json, workspace_sid))

    def _page(
        self, key: str, path: str, items: list[Any], query: dict[str, list[str]], render: Callable[[Any], Any]
    ) -> None:
        """One page of `items` (rendered to JSON) under `key`, with Twilio's meta block; its URLs keep the filters."""
        size = min(int(query.get("PageSize", ["50"])[0]), self.api.max_page_size)
        offset = int(query.get("PageToken", ["0"])[0])
        filters = [(name, values[0]) for name, values in query.items() if name not in ("PageSize", "Page", "PageToken")]
        base = f"{self.api.url}{path}?" + urlencode([*filters, ("PageSize", size)])
        following = offset + size
        meta = {
            "page": offset // size,
            "page_size": size,
            "first_page_url": f"{base}&Page=0",
            "previous_page_url": None,
            "url": f"{base}&Page={offset // size}&PageToken={offset}",
            "next_page_url": f"{base}&Page={following // size}&PageToken={following}"
            if following < len(items)
            else None,
            "key": key,
        }
        page = {key: [render(item) for item in items[offset : offset + size]], "meta": meta}
        if self.api.after_page:  # read as it was, answered after the hook: a change made while the list is read
            self.api.after_page(key)
        self._send(200, page)

    def _update(self, workspace_sid: str, worker_sid: str, params: dict[str, str]) -> None:
        """Replace attributes if If-Match matches the current ETag."""
        api = self.api
        if_match = self.headers.get("If-Match")
        api.record_update(worker_sid, params, if_match)
        if api.before_update:
            api.before_update(worker_sid)
        with api.lock:
            worker = api.workspaces[workspace_sid][worker_sid]
            if if_match and if_match != f'"{worker["version"]}"':
                return self._send(412, {"code": 20412, "message": "Precondition Failed", "status": 412})
            if "Attributes" in params:
                worker["attributes"] = params["Attributes"]
            worker["version"] += 1
            answer = api.worker_json(workspace_sid, worker, False)
            etag = f'"{worker["version"]}"'
            lost, api.lost_answers = api.lost_answers > 0, max(api.lost_answers - 1, 0)
            garbled, api.garbled_answers = api.garbled_answers > 0, max(api.garbled_answers - 1, 0)
        if api.after_update:
            api.after_update(worker_sid)
        if lost:
            return self._send(503, {"code": 20503, "message": "Service Unavailable", "status": 503})
        if garbled:
            return self._send_text(200, "<html>ok</html>")
        return self._send(200, answer, {"ETag": etag})

    def _send_text(self, status: int, text: str) -> None:
        """Write an HTML answer (what a proxy or a login page sends)."""
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Write a JSON answer."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
