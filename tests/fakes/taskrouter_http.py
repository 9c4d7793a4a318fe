"""The HTTP side of the fake TaskRouter API: routing, paging, ETags and If-Match, over the state it is given."""

from __future__ import annotations

import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from tests.fakes.taskrouter_api import FakeTaskRouter

_WORKERS = re.compile(r"^/v1/Workspaces/(WS\w{32})/Workers(?:/(WK\w{32}))?$")


class FakeApiServer(ThreadingHTTPServer):
    """A threading server with a listen backlog deep enough for 32+ concurrent clients."""

    daemon_threads = True
    request_queue_size = 256


class WorkerApiHandler(BaseHTTPRequestHandler):
    """Routes the three Worker endpoints."""

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
        if fault:
            return self._send(
                fault.status,
                {"code": 20000 + fault.status, "message": "injected", "status": fault.status},
                fault.headers,
            )
        match = _WORKERS.match(path)
        if not match or match.group(1) not in api.workspaces:
            return self._send(404, {"code": 20404, "message": "not found", "status": 404})
        workspace_sid, worker_sid = match.groups()
        workers = api.workspaces[workspace_sid]
        if worker_sid is None:
            return self._list(workspace_sid, workers, parse_qs(query))
        if worker_sid not in workers:
            return self._send(404, {"code": 20404, "message": "not found", "status": 404})
        if method == "POST":
            return self._update(workspace_sid, worker_sid, {k: v[0] for k, v in parse_qs(body.decode()).items()})
        worker = workers[worker_sid]
        return self._send(200, api.worker_json(workspace_sid, worker, False), {"ETag": f'"{worker["version"]}"'})

    def _list(self, workspace_sid: str, workers: dict[str, dict[str, Any]], query: dict[str, list[str]]) -> None:
        """One page of workers, with Twilio's meta block."""
        size = min(int(query.get("PageSize", ["50"])[0]), self.api.max_page_size)
        offset = int(query.get("PageToken", ["0"])[0])
        sids = list(workers)
        page = [self.api.worker_json(workspace_sid, workers[s], True) for s in sids[offset : offset + size]]
        base = f"{self.api.url}/v1/Workspaces/{workspace_sid}/Workers?PageSize={size}"
        following = offset + size
        meta = {
            "page": offset // size,
            "page_size": size,
            "first_page_url": f"{base}&Page=0",
            "previous_page_url": None,
            "url": f"{base}&Page={offset // size}&PageToken={offset}",
            "next_page_url": f"{base}&Page={following // size}&PageToken={following}"
            if following < len(sids)
            else None,
            "key": "workers",
        }
        self._send(200, {"workers": page, "meta": meta})

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
        return self._send(200, answer, {"ETag": etag})

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
