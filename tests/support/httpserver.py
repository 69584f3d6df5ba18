"""A real threaded HTTP server on 127.0.0.1 (random port) for tests.

Routes are plain functions ``handler(req) -> None`` registered per path; the
module provides ready-made ones for what feed fetching must survive: 200 with
validators and 304, any status, flaky (5xx then 200), slow drip, endless body,
gzip bomb, redirects. Every request is logged (path, headers) so tests can
assert what reached the server and what did not.

    with LocalHTTPServer() as server:
        server.route("/feed.xml", serve_feed(body, etag='"v1"'))
        fetch(server.url("/feed.xml"))
        assert server.hits("/feed.xml") == 1
"""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import ssl
import threading
import time
import zlib
from typing import Callable
from urllib.parse import urlsplit

Handler = Callable[["http.server.BaseHTTPRequestHandler"], None]


@dataclasses.dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic() when the request line arrived


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class LocalHTTPServer:
    """Start with ``with`` (or :meth:`start`/:meth:`stop`); serves until stopped."""

    def __init__(self, ssl_context: "ssl.SSLContext | None" = None) -> None:
        self.scheme = "https" if ssl_context is not None else "http"
        self.routes: dict[str, Handler] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class _Req(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms Nagle stall

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                path = urlsplit(self.path).path
                with outer._lock:
                    outer.seen.append(Seen(path, {k: v for k, v in self.headers.items()}, time.monotonic()))
                handler = outer.routes.get(path)
                if handler is None:
                    send(self, 404, b"not here", "text/plain")
                    return
                try:
                    handler(self)
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    self.close_connection = True

        self._server = _Server(("127.0.0.1", 0), _Req)
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self._server.stopping = self.stopping  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for s in self.seen if s.path == path)

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def start(self) -> "LocalHTTPServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LocalHTTPServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------
# handlers
# ---------------------------------------------------------------------------


def send(req: http.server.BaseHTTPRequestHandler, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
    req.send_response(status)
    req.send_header("Content-Type", ctype)
    for k, v in (headers or {}).items():
        req.send_header(k, v)
    if status not in (204, 304):
        req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    if status not in (204, 304):
        req.wfile.write(body)


def serve_feed(
    body: bytes,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    ctype: str = "application/rss+xml; charset=utf-8",
    gzipped: bool = False,
) -> Handler:
    """200 with the validators; 304 when the request carries a matching one."""

    def handler(req: http.server.BaseHTTPRequestHandler) -> None:
        headers = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        inm, ims = req.headers.get("If-None-Match"), req.headers.get("If-Modified-Since")
        if (etag and inm == etag) or (not inm and last_modified and ims == last_modified):
            send(req, 304, b"", ctype, headers)
            return
        payload = body
        if gzipped:
            payload = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        send(req, 200, payload, ctype, headers)

    return handler


def serve_status(status: int, body: bytes = b"error", headers: dict[str, str] | None = None) -> Handler:
    return lambda req: send(req, status, body, "text/plain", headers)


def serve_sequence(*handlers: Handler) -> Handler:
    """The n-th request gets the n-th handler; the last one repeats."""
    count = [0]
    lock = threading.Lock()

    def handler(req: http.server.BaseHTTPRequestHandler) -> None:
        with lock:
            i = min(count[0], len(handlers) - 1)
            count[0] += 1
        handlers[i](req)

    return handler


def serve_redirect(location: str | Callable[[], str], status: int = 302) -> Handler:
    def handler(req: http.server.BaseHTTPRequestHandler) -> None:
        target = location() if callable(location) else location
        send(req, status, b"moved", "text/plain", {"Location": target})

    return handler


def serve_slow_drip(byte_every: float = 0.1, max_seconds: float = 20.0) -> Handler:
    """Headers at once, then one byte of a long body every ``byte_every`` s:
    each read sees data, so only a total deadline ends it."""

    def handler(req: http.server.BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.send_header("Content-Length", "1000000")
        req.end_headers()
        req.wfile.flush()
        stop = req.server.stopping  # type: ignore[attr-defined]
        end = time.monotonic() + max_seconds
        while time.monotonic() < end and not stop.is_set():
            req.wfile.write(b" ")
            req.wfile.flush()
            time.sleep(byte_every)
        req.close_connection = True

    return handler


def serve_slow_headers(byte_every: float = 0.1, max_seconds: float = 20.0) -> Handler:
    """The status line, then the headers one byte every ``byte_every`` s (never
    finished): the client has no response object yet when its deadline passes."""

    def handler(req: http.server.BaseHTTPRequestHandler) -> None:
        req.wfile.write(b"HTTP/1.1 200 OK\r\n")
        req.wfile.flush()
        stop = req.server.stopping  # type: ignore[attr-defined]
        end = time.monotonic() + max_seconds
        header = b"X-Slow: " + b"z" * 10_000
        i = 0
        while time.monotonic() < end and not stop.is_set() and i < len(header):
            req.wfile.write(header[i : i + 1])
            req.wfile.flush()
            i += 1
            time.sleep(byte_every)
        req.close_connection = True

    return handler


def serve_endless(chunk: int = 65536) -> Handler:
    """A body that never ends (no Content-Length, connection close)."""
    block = b"<item>" + b"x" * (chunk - 13) + b"</item>\n"

    def handler(req: http.server.BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.send_header("Connection", "close")
        req.end_headers()
        stop = req.server.stopping  # type: ignore[attr-defined]
        while not stop.is_set():
            req.wfile.write(block)
        req.close_connection = True

    return handler


def gzip_bomb(decompressed_bytes: int) -> bytes:
    """A gzip stream of ``decompressed_bytes`` spaces (about 1000:1)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * 1_048_576
    parts = []
    left = decompressed_bytes
    while left > 0:
        n = min(left, len(block))
        parts.append(comp.compress(block[:n]))
        left -= n
    parts.append(comp.flush())
    return b"".join(parts)


def serve_bytes(payload: bytes, ctype: str, headers: dict[str, str] | None = None) -> Handler:
    return lambda req: send(req, 200, payload, ctype, headers)


class ConcurrencyProbe:
    """A handler that holds each request ``hold`` seconds and records the
    largest number of requests it served at once."""

    def __init__(self, body: bytes, ctype: str, hold: float = 0.2) -> None:
        self.body, self.ctype, self.hold = body, ctype, hold
        self.current = self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, req: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        try:
            time.sleep(self.hold)
            send(req, 200, self.body, self.ctype)
        finally:
            with self._lock:
                self.current -= 1
