"""A TCP proxy in front of PostgreSQL that can stop forwarding: a database that stops answering, connections open."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType


class HangingProxy:
    """Forwards 127.0.0.1:<port> to `target`; `hang()` makes it accept and hold every byte, `resume()` undoes it."""

    def __init__(self, target: tuple[str, int]) -> None:
        """Listen on a free port of loopback."""
        self.target, self.hanging, self._closed = target, threading.Event(), threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hang(self) -> None:
        """From now on, nothing passes either way: the peers wait, their TCP still acknowledged."""
        self.hanging.set()

    def resume(self) -> None:
        """Forward again."""
        self.hanging.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with contextlib.suppress(OSError):
            while not self._closed.is_set():
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                if self.hanging.is_set():
                    continue
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)

    def __enter__(self) -> HangingProxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._closed.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()
