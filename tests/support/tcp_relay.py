"""A TCP relay on loopback in front of a real server (PostgreSQL, Redis), that a test can cut and
restore: an outage of a dependency as its clients see it. Cut, it drops every relayed connection
and refuses new ones (its port stays reserved, so restoring it needs no new address)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class TcpRelay:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = False
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True, name="tcp-relay").start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut(self) -> None:
        """From now on, the server is unreachable: open connections are reset, new ones closed."""
        with self._lock:
            self._cut = True
            for connection in self._open:
                with contextlib.suppress(OSError):  # the peer may have gone already
                    # A reset rather than a clean close: what a client sees when a server dies.
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    # shutdown, not only close: close does not end a connection while a pipe
                    # thread is blocked reading it; shutdown wakes that thread, and the bytes stop.
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()  # also when shutdown failed (a connection already ended)
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._stopped = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                if self._cut:
                    client.close()
                    continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._cut:  # cut while this one was being connected: it must not get through
                    client.close()
                    server.close()
                    continue
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):  # the other direction's thread then ends too
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
                end.close()
            with self._lock:
                self._open.discard(end)


@contextlib.contextmanager
def tcp_relay(target_port: int) -> Iterator[TcpRelay]:
    relay = TcpRelay(target_port)
    try:
        yield relay
    finally:
        relay.close()
