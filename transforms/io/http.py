"""The HTTP client that fetches feeds and pages: :class:`Fetcher`.

urllib3 (already in the tree through apache-beam[gcp]) does the wire work;
everything that matters for safety is here:

- every URL and redirect hop goes through :func:`transforms.io.ssrf.check_url`,
  the host is resolved (bounded by the deadline), every address vetted, and the
  connection goes to the vetted IP with the original ``Host`` header and TLS
  SNI/certificate name (no second lookup a rebinding server could answer);
- bounds: a connect timeout, a TOTAL deadline per request enforced by a
  watchdog that shuts the socket down (a slow-drip server cannot hold us), a
  size cap counted after decompression, at most ``max_redirects`` hops;
- manners: a User-Agent, a per-host concurrency limit and minimum delay between
  request starts (per process), conditional GET from a
  :class:`~transforms.io.feedcache.FeedCache`, bounded retries with
  exponential backoff and seeded jitter on timeouts, 5xx and 429
  (``Retry-After`` honoured up to a cap).

Network trouble never raises: the :class:`FetchResult` carries the reason and
its kind. The Fetcher counts ``requests``, ``not_modified``, ``bytes`` and
``retries`` in its ``stats``; :class:`transforms.io.poll.PollFeeds` publishes them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import email.utils
import ipaddress
import random
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urljoin

from transforms.io.feedcache import FeedCache
from transforms.io.ssrf import AddressRefused, Target, check_ip, check_url

__all__ = ["USER_AGENT", "FEED_ACCEPT", "FetchOptions", "FetchResult", "Fetcher", "Resolver", "system_resolver"]

USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam)"
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


@dataclasses.dataclass(frozen=True)
class FetchOptions:
    """How feeds and pages are fetched. Times in seconds, sizes in bytes."""

    allow_private_networks: bool = False
    allowed_networks: tuple[str, ...] = ()  # CIDRs exempt from the private-address refusal
    connect_timeout: float = 5.0
    total_timeout: float = 30.0  # per request, from DNS to last body byte
    max_bytes: int = 10_000_000  # feed body, after decompression
    page_max_bytes: int = 5_000_000  # full-text page body, after decompression
    max_redirects: int = 5
    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 30.0  # a longer Retry-After is not waited for: the poll fails
    jitter_seed: int | None = 0  # None: no jitter
    per_host_concurrency: int = 2
    min_delay_seconds: float = 1.0  # between request starts to the same host
    user_agent: str = USER_AGENT
    ca_certs: str | None = None  # CA bundle for https; None: certifi's, else the system's
    fetch_full_text: bool = False
    full_text_min_chars: int = 500  # entries with less visible text than this get their page fetched
    full_text_max_pages: int = 20  # per poll; the rest keep their summary (counted)

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "total_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_bytes", "page_max_bytes", "per_host_concurrency"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("max_redirects", "max_retries", "full_text_min_chars", "full_text_max_pages"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        for name in ("backoff_base", "backoff_max", "retry_after_cap", "min_delay_seconds"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        object.__setattr__(self, "allowed_networks", tuple(self.allowed_networks))
        for cidr in self.allowed_networks:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad CIDR

    def with_settings(self, **settings: Any) -> "FetchOptions":
        return dataclasses.replace(self, **settings) if settings else self


@dataclasses.dataclass
class FetchResult:
    """What one fetch produced. ``error`` is ``None`` on success (200 or 304)."""

    url: str
    final_url: str
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    not_modified: bool = False
    elapsed: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0
    redirects: int = 0
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers.items():
            if k.lower() == name:
                return v
        return None


class _Failure(Exception):
    def __init__(self, kind: str, reason: str, *, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(reason)
        self.kind, self.reason, self.status, self.body = kind, reason, status, body


class _Deadline:
    """A total deadline for one request: a timer shuts the socket down."""

    _local = threading.local()

    def __init__(self, seconds: float) -> None:
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._conn: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def __enter__(self) -> "_Deadline":
        _Deadline._local.current = self
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._timer.cancel()
        _Deadline._local.current = None

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            sock = getattr(self._conn, "sock", None)
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            if self.expired:
                raise _Failure("timeout", "total deadline passed")

    @classmethod
    def attach_current(cls, conn: Any) -> None:
        current = getattr(cls._local, "current", None)
        if current is not None:
            current.attach(conn)


def _pool_classes() -> tuple[type, type]:
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class _Tracked:
        """Attach the current request deadline to the socket on connect and on each request."""

        def connect(self) -> None:
            super().connect()  # type: ignore[misc]
            _Deadline.attach_current(self)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _Deadline.attach_current(self)
            super().request(*args, **kwargs)  # type: ignore[misc]

    class _TrackedHTTP(_Tracked, HTTPConnection):
        pass

    class _TrackedHTTPS(_Tracked, HTTPSConnection):
        pass

    class _HTTPPool(urllib3.HTTPConnectionPool):
        ConnectionCls = _TrackedHTTP

    class _HTTPSPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = _TrackedHTTPS

    return _HTTPPool, _HTTPSPool


class _HostGate:
    """Per-host concurrency limit and minimum spacing between request starts."""

    def __init__(self, limit: int) -> None:
        self.semaphore = threading.BoundedSemaphore(limit)
        self.next_start = 0.0
        self.lock = threading.Lock()


_GATES: dict[tuple[str, int], _HostGate] = {}
_GATES_LOCK = threading.Lock()


def _gate(host: str, limit: int) -> _HostGate:
    with _GATES_LOCK:
        gate = _GATES.get((host, limit))
        if gate is None:
            gate = _GATES[(host, limit)] = _HostGate(limit)
        return gate


_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_POOLS = 64  # connection pools (one per host and address) kept per Fetcher


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


Resolver = Callable[[str, int], list[str]]


def ipv4_first(addrs: list[str]) -> list[str]:
    """``addrs`` without repeats, IPv4 before IPv6, each family in the resolver's order."""
    return sorted(dict.fromkeys(addrs), key=lambda a: ":" in a)


def system_resolver(host: str, port: int) -> list[str]:
    """Addresses of ``host`` from the system resolver, IPv4 first."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return ipv4_first([info[4][0] for info in infos])


class Fetcher:
    """HTTP connection pools, DNS threads and counters for one worker; create in
    ``DoFn.setup()``, :meth:`close` in ``teardown()``. Thread-safe."""

    def __init__(self, options: FetchOptions | None = None, *, resolver: Resolver = system_resolver) -> None:
        self.options = options or FetchOptions()
        self._resolver = resolver
        self._pools: collections.OrderedDict[tuple[str, str, int, str], Any] = collections.OrderedDict()
        self._pools_lock = threading.Lock()
        self._dns = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsbeam-dns")
        self._rng = random.Random(self.options.jitter_seed) if self.options.jitter_seed is not None else None
        self._rng_lock = threading.Lock()
        self.stats: collections.Counter[str] = collections.Counter()
        self._stats_lock = threading.Lock()
        self._pool_classes = _pool_classes()
        self._ca_certs: str | None = self.options.ca_certs
        if self._ca_certs is None:
            try:
                import certifi

                self._ca_certs = certifi.where()
            except ImportError:
                pass

    # -- housekeeping ------------------------------------------------------

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        self._dns.shutdown(wait=False, cancel_futures=True)

    def count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def drain_stats(self) -> dict[str, int]:
        with self._stats_lock:
            out, self.stats = dict(self.stats), collections.Counter()
        return out

    # -- one request -------------------------------------------------------

    def _pool(self, target: Target, ip: str) -> Any:
        key = (target.scheme, ip, target.port, target.host)
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
            else:
                while len(self._pools) >= _MAX_POOLS:  # least recently used host: close its idle sockets
                    self._pools.popitem(last=False)[1].close()
                http_pool, https_pool = self._pool_classes
                common = dict(maxsize=self.options.per_host_concurrency, block=False, retries=False)
                if target.scheme == "https":
                    pool = https_pool(
                        ip,
                        target.port,
                        server_hostname=target.host,
                        assert_hostname=target.host,
                        cert_reqs="CERT_REQUIRED",
                        ca_certs=self._ca_certs,
                        **common,
                    )
                else:
                    pool = http_pool(ip, target.port, **common)
                self._pools[key] = pool
            return pool

    def _resolve(self, target: Target, deadline: _Deadline) -> str:
        opts = self.options
        if target.ip is not None:
            return str(target.ip)
        future = self._dns.submit(self._resolver, target.host, target.port)
        try:
            addrs = future.result(timeout=max(0.01, min(deadline.remaining(), opts.connect_timeout)))
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise _Failure("dns", f"DNS lookup of {target.host} timed out") from None
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise _Failure("dns", f"DNS lookup of {target.host} failed: {exc}") from None
        if not addrs:
            raise _Failure("dns", f"DNS lookup of {target.host} returned no address")
        for addr in addrs:  # every address must pass: a mixed answer is refused
            why = check_ip(addr, allow_private_networks=opts.allow_private_networks, allowed_networks=opts.allowed_networks)
            if why:
                raise _Failure("refused_address", f"address refused: {target.host} resolves to {why}")
        return addrs[0]

    def _polite_start(self, gate: _HostGate) -> None:
        with gate.lock:
            now = time.monotonic()
            start = max(now, gate.next_start)
            gate.next_start = start + self.options.min_delay_seconds
        if start > now:
            time.sleep(start - now)

    def _request(self, target: Target, headers: dict[str, str], max_bytes: int) -> tuple[int, dict[str, str], bytes]:
        """One HTTP exchange under the total deadline: (status, headers, body)."""
        import urllib3
        from urllib3.exceptions import (
            ConnectTimeoutError,
            DecodeError,
            NewConnectionError,
            ProtocolError,
            ReadTimeoutError,
            SSLError,
        )

        opts = self.options
        gate = _gate(target.host, opts.per_host_concurrency)
        with gate.semaphore:
            self._polite_start(gate)
            with _Deadline(opts.total_timeout) as deadline:
                try:
                    ip = self._resolve(target, deadline)
                    pool = self._pool(target, ip)
                    timeout = urllib3.Timeout(
                        connect=max(0.01, min(opts.connect_timeout, deadline.remaining())),
                        read=max(0.01, min(opts.total_timeout, deadline.remaining())),
                    )
                    self.count("requests")
                    resp = pool.urlopen(
                        "GET",
                        target.path,
                        headers={"Host": target.host_header, **headers},
                        retries=False,
                        redirect=False,
                        assert_same_host=False,
                        preload_content=False,
                        decode_content=True,
                        timeout=timeout,
                    )
                    try:
                        status = resp.status
                        resp_headers = {k: resp.headers[k] for k in resp.headers}
                        body = b""
                        if status in _REDIRECTS:
                            resp.close()  # its body is not wanted; never reuse a half-read connection
                        elif status != 304:
                            body = self._read_body(resp, resp_headers, max_bytes, deadline)
                        resp.release_conn()
                    except BaseException:
                        resp.close()
                        resp.release_conn()
                        raise
                    return status, resp_headers, body
                except _Failure:
                    raise
                except NewConnectionError as exc:  # (a ConnectTimeoutError subclass in urllib3 2)
                    raise _Failure("connection", f"connection failed: {exc}") from None
                except (ConnectTimeoutError, ReadTimeoutError, socket.timeout) as exc:
                    raise _Failure("timeout", f"timed out ({type(exc).__name__})") from None
                except SSLError as exc:
                    if deadline.expired:
                        raise _Failure("timeout", f"total deadline of {opts.total_timeout:g} s passed") from None
                    raise _Failure("tls", f"TLS error: {exc}") from None
                except (NewConnectionError, ProtocolError, DecodeError, OSError, urllib3.exceptions.HTTPError) as exc:
                    if deadline.expired:
                        raise _Failure("timeout", f"total deadline of {opts.total_timeout:g} s passed") from None
                    if isinstance(exc, DecodeError):
                        raise _Failure("decode", f"content decoding failed: {exc}") from None
                    raise _Failure("connection", f"connection failed: {exc}") from None

    def _read_body(self, resp: Any, headers: dict[str, str], max_bytes: int, deadline: _Deadline) -> bytes:
        lower = {k.lower(): v for k, v in headers.items()}
        length = lower.get("content-length", "")
        if length.isdigit() and not lower.get("content-encoding") and int(length) > max_bytes:
            raise _Failure("too_large", f"body is {int(length)} bytes, over the {max_bytes}-byte limit")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = resp.read(65536, decode_content=True)
            if deadline.expired:
                raise _Failure("timeout", f"total deadline of {self.options.total_timeout:g} s passed")
            if not chunk:
                break
            total += len(chunk)
            self.count("bytes", len(chunk))
            if total > max_bytes:
                raise _Failure(
                    "too_large", f"body is over the {max_bytes}-byte limit (after decompression)", body=b"".join(chunks)
                )
            chunks.append(chunk)
        return b"".join(chunks)

    # -- a fetch: redirects and retries -------------------------------------

    def _backoff(self, attempt: int) -> float:
        delay = min(self.options.backoff_max, self.options.backoff_base * (2**attempt))
        if self._rng is not None:
            with self._rng_lock:
                delay *= 0.5 + self._rng.random() / 2
        return delay

    def fetch(self, url: str, *, cache: FeedCache | None = None, accept: str = FEED_ACCEPT, max_bytes: int | None = None) -> FetchResult:
        """GET ``url`` following vetted redirects, retrying transient failures.
        Never raises for network trouble: the result carries the reason."""
        opts = self.options
        started = time.monotonic()
        result = FetchResult(url=url, final_url=url)
        for attempt in range(opts.max_retries + 1):
            result = self._fetch_once(url, cache, accept, max_bytes or opts.max_bytes)
            result.attempts = attempt + 1
            retryable = result.error_kind == "timeout" or (
                result.status is not None and (result.status >= 500 or result.status == 429) and not result.ok
            )
            if not retryable or attempt == opts.max_retries:
                break
            wait = self._backoff(attempt)
            if result.retry_after is not None:
                if result.retry_after > opts.retry_after_cap:
                    result.error += f" (Retry-After {result.retry_after:g} s is over the {opts.retry_after_cap:g} s cap)"
                    break
                wait = max(wait, result.retry_after)
            self.count("retries")
            time.sleep(wait)
        result.elapsed = time.monotonic() - started
        return result

    def _fetch_once(self, url: str, cache: FeedCache | None, accept: str, max_bytes: int) -> FetchResult:
        opts = self.options
        headers = {"User-Agent": opts.user_agent, "Accept": accept, "Accept-Encoding": "gzip, deflate"}
        if cache is not None:
            headers.update(cache.request_headers(url))
        current = url
        result = FetchResult(url=url, final_url=url)
        for hop in range(opts.max_redirects + 1):
            result.final_url, result.redirects = current, hop
            try:
                target = check_url(
                    current, allow_private_networks=opts.allow_private_networks, allowed_networks=opts.allowed_networks
                )
            except AddressRefused as exc:
                result.error = str(exc) if hop == 0 else f"redirect to {current}: {exc}"
                result.error_kind = exc.kind
                return result
            try:
                status, resp_headers, body = self._request(target, headers, max_bytes)
            except _Failure as f:
                result.error, result.error_kind, result.body = f.reason, f.kind, f.body
                return result
            result.status, result.headers, result.body = status, resp_headers, body
            if status in _REDIRECTS:
                location = result.header("Location")
                if not location:
                    result.error, result.error_kind = f"HTTP {status} redirect without a Location", "http_status"
                    return result
                current = urljoin(current, location.strip())
                continue
            if status == 304:
                result.not_modified = True
                self.count("not_modified")
                return result
            if status != 200:
                result.error, result.error_kind = f"HTTP {status}", "http_status"
                if status == 429 or status == 503:
                    result.retry_after = _retry_after_seconds(result.header("Retry-After"))
            return result
        result.error = f"too many redirects (more than {opts.max_redirects})"
        result.error_kind = "too_many_redirects"
        return result
