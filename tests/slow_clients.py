"""Clients that trickle request headers, one line at a time, as a slowloris attack does."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import requests


class SlowClients:
    """`count` connections that each send a header line every `interval` seconds and never finish; a context manager."""

    def __init__(self, port: int, count: int, interval: float = 0.5) -> None:
        """Prepare (not open) the connections to 127.0.0.1:`port`."""
        self.port, self.count, self.interval = port, count, interval
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._trickle, daemon=True) for _ in range(count)]

    def _trickle(self) -> None:
        """Keep one request's headers coming, reconnecting when the server gives up on it."""
        line = 0
        sock = None
        while not self._stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                    sock.sendall(b"POST /taskrouter/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                sock.sendall(f"X-Trickle-{line}: a\r\n".encode())
                line += 1
            except OSError:
                sock = None
            self._stop.wait(self.interval)
        if sock is not None:
            sock.close()

    def __enter__(self) -> SlowClients:
        """Open the connections and let them start trickling."""
        for thread in self._threads:
            thread.start()
        time.sleep(2 * self.interval)
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        """Close them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(5)


def health_latencies(port: int, seconds: float, timeout: float = 5.0) -> list[float | None]:
    """GET /healthz every 0.1 s for `seconds`; each answer's latency, or None for no 200 within `timeout`."""
    latencies: list[float | None] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            ok = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=timeout).status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append(time.monotonic() - started if ok else None)
        time.sleep(0.1)
    return latencies
