"""A TCP proxy on 127.0.0.1 that breaks the first connection once the request has reached the server: the server
does the work, the client never hears the answer."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def dropping_proxy(upstream_port: int) -> Iterator[tuple[int, list[int]]]:
    """Yields the proxy's port and a list that counts dropped connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    dropped: list[int] = []
    connections = 0

    def serve() -> None:
        nonlocal connections
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            connections += 1
            upstream = socket.create_connection(("127.0.0.1", upstream_port))
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            if connections == 1:
                threading.Thread(target=_drop_on_answer, args=(upstream, client, dropped), daemon=True).start()
            else:
                threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1], dropped
    finally:
        listener.close()


def _drop_on_answer(upstream: socket.socket, client: socket.socket, dropped: list[int]) -> None:
    """Wait for the server's answer, then close both sides without passing it on."""
    upstream.recv(1)
    dropped.append(1)
    for sock in (client, upstream):  # shutdown first: it wakes the other pump, blocked in recv on the same socket
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
