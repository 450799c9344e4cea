"""An HTTP proxy on loopback in front of a real server: the first requests to each method and
path that a rule picks are answered with an error (503 by default), the rest are forwarded. A
transient outage of the model registry or the object store, for the retry tests. It records
what it answered, and when."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Headers of one connection, not of the message: never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class FlakyProxy:
    target: str  # http://host:port of the real server
    fails: Callable[[str, str], bool]  # (method, path) -> whether requests like this one fail first
    failures: int = 2  # how many requests to each picked method and path fail before one passes
    status: int = 503
    answered: list[tuple[float, str, str, int]] = field(default_factory=list)  # (time, method, path, status)
    _failed: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attempts(self, method: str, path_part: str) -> list[tuple[float, int]]:
        """(time, status) of each request of `method` whose path holds `path_part`, in order."""
        with self._lock:
            return [(at, status) for at, m, path, status in self.answered if m == method and path_part in path]

    def _decide(self, method: str, path: str) -> bool:
        """True when this request is answered with the error (and counts it)."""
        key = (method, path.split("?")[0])
        with self._lock:
            if self._failed[key] < self.failures and self.fails(method, path):
                self._failed[key] += 1
                return True
            return False

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.answered.append((time.monotonic(), method, path, status))


def _handler(proxy: FlakyProxy) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(proxy.target)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet: the proxy records what it answered
            pass

        def _body(self) -> bytes:
            """The request's body, whether sized or sent in chunks (as the AWS SDK uploads)."""
            if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline().strip():  # trailers, up to the empty line
                pass
            return b"".join(chunks)

        def _forward(self) -> None:
            body = self._body()
            if proxy._decide(self.command, self.path):
                message = b'{"error": "injected by the test proxy"}'
                self.send_response(proxy.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(message)
                proxy._record(self.command, self.path, proxy.status)
                return
            headers = {
                name: value
                for name, value in self.headers.items()
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
            }
            if body or self.command in ("POST", "PUT"):
                headers["Content-Length"] = str(len(body))
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                # A HEAD answer's length is the object's, which it does not carry.
                if name.lower() not in HOP_BY_HOP and (name.lower() != "content-length" or self.command == "HEAD"):
                    self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            proxy._record(self.command, self.path, answer.status)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

    return Handler


@contextlib.contextmanager
def flaky_proxy(proxy: FlakyProxy) -> Iterator[str]:
    """Serves `proxy` on a free loopback port until the block ends; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
