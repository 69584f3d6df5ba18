"""Fetching live RSS/Atom feeds (and, optionally, the pages they link to).

Pure-ish core, thin Beam: :func:`fetch_feed` and :func:`poll_feed` are plain
functions (tested against a real HTTP server on 127.0.0.1); :class:`PollFeeds`
is the composite that runs them in a pipeline.

HTTP is urllib3 (already in the tree through apache-beam[gcp]); everything that
matters for safety is ours:

- **SSRF guard** (:func:`check_url`, :func:`check_ip`, :func:`parse_ip_host`):
  http/https only; the host is resolved (``getaddrinfo``, bounded by the
  deadline) and every address vetted: loopback, private (RFC 1918, fc00::/7,
  100.64/10), link-local, unspecified, multicast, reserved and not-globally-routable
  addresses are refused, as are IPv4 addresses hidden in IPv6 (mapped, 6to4,
  NAT64, Teredo) and the decimal/hex/octal spellings of IPv4 (``2130706433``,
  ``0x7f000001``, ``0177.0.0.1``, ``127.1``). This runs for the first URL and
  for every redirect hop. The connection goes to the vetted IP (no second DNS
  lookup a rebinding server could answer differently) with the original
  ``Host`` header and TLS SNI/certificate name. ``allow_private_networks``
  lifts the loopback/private/link-local refusals (tests, intranet feeds);
  ``allowed_networks`` lifts them for listed CIDRs only. Cloud metadata
  endpoints, unspecified, multicast and reserved addresses stay refused always.
- **Bounds**: connect timeout, a TOTAL deadline per request enforced by a
  watchdog that shuts the socket down (a slow-drip server cannot hold us), a
  size cap counted after decompression (gzip bombs stop at the cap; urllib3
  inflates at most what we ask for), a redirect limit (redirects are followed
  here, one vetted hop at a time).
- **Manners**: a User-Agent, per-host concurrency limit and minimum delay
  between requests to the same host (per process), conditional GET from a
  :class:`FeedCache`, bounded retries with exponential backoff and seeded
  jitter on timeouts, 5xx and 429 (``Retry-After`` honoured up to a cap).

Every failure of :func:`poll_feed` is one ``Rejected(stage="fetch")`` naming the
feed URL and the reason; it never raises.

Counters (namespace ``newsbeam.fetch``), from :class:`PollFeeds`:

- ``requests``: HTTP requests sent (every hop and retry)
- ``not_modified``: feeds answered 304 (no articles, no dead letter)
- ``bytes``: body bytes received after decompression
- ``retries``: requests repeated after a timeout, 5xx or 429
- ``feeds``: feeds polled; ``articles``: entries emitted
- ``errors.<kind>``: failed polls by kind (``bad_url``, ``refused_address``,
  ``dns``, ``timeout``, ``connection``, ``tls``, ``http_status``, ``too_large``,
  ``too_many_redirects``, ``decode``, ``not_a_feed``, ``unsafe_xml``, ``internal``)
- ``full_text.fetched`` / ``full_text.failed`` / ``full_text.skipped``: linked pages
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import email.utils
import html as html_lib
import ipaddress
import json
import logging
import random
import re
import socket
import threading
import time
import uuid
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote, urljoin, urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.common.stage import DEAD_LETTER, MAIN, namespace
from transforms.io.feedparse import DEFAULT_MAX_ENTRIES, parse_feed
from transforms.common.records import Rejected, RejectedInput, reject

__all__ = [
    "USER_AGENT",
    "FetchOptions",
    "FetchResult",
    "FeedCache",
    "Fetcher",
    "AddressRefused",
    "parse_ip_host",
    "check_ip",
    "check_url",
    "fetch_feed",
    "poll_feed",
    "needs_full_text",
    "PollFeeds",
    "FeedSpec",
    "FeedsConfig",
    "FeedsConfigError",
    "feeds_config_from_dict",
    "load_feeds_config",
]

STAGE = "fetch"
USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam)"
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
CACHE_UPDATES = "cache_updates"
_CACHE_FILE = "feed_cache.json"

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# SSRF guard (pure)
# ---------------------------------------------------------------------------


class AddressRefused(RejectedInput):
    """A URL or address the SSRF guard refuses; ``kind`` is ``refused_address``
    for a forbidden destination, ``bad_url`` for a URL that cannot be fetched."""

    def __init__(self, reason: str, kind: str = "refused_address") -> None:
        super().__init__(reason)
        self.kind = kind


_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"})
_METADATA_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IP_PART = re.compile(r"^(?:0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def parse_ip_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a URL host denotes, or ``None`` for a name.

    Understands every spelling an ``inet_aton`` resolver accepts: dotted quads,
    fewer parts (``127.1``), decimal (``2130706433``), hex (``0x7f000001``,
    ``0x7f.0.0.1``), octal (``0177.0.0.1``), a trailing dot; and IPv6 with or
    without brackets and zone id. A numeric-looking host that is out of range
    raises ``AddressRefused``.
    """
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if ":" in h:
        try:
            return ipaddress.IPv6Address(h.split("%", 1)[0])
        except ValueError:
            raise AddressRefused(f"malformed IPv6 address {host!r}", "bad_url") from None
    if h.endswith("."):
        h = h[:-1]
    parts = h.split(".")
    if not h or len(parts) > 4 or not all(_IP_PART.match(p) for p in parts):
        return None
    values = []
    for p in parts:
        if p.startswith(("0x", "0X")):
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            values.append(int(p, 8))
        else:
            values.append(int(p))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise AddressRefused(f"out-of-range numeric address {host!r}")
    number = 0
    for v in head:
        number = (number << 8) | v
    number = (number << (8 * (4 - len(head)))) | last
    return ipaddress.IPv4Address(number)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (deprecated ::a.b.c.d), excluding :: and ::1 themselves
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def _networks(cidrs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def check_ip(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | str,
    *,
    allow_private_networks: bool = False,
    allowed_networks: Iterable[str] = (),
) -> str | None:
    """Why ``ip`` must not be connected to, or ``None`` when it may."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])
    if ip in _METADATA_IPS:
        return f"{ip} is a cloud metadata address"
    if ip.is_unspecified:
        return f"{ip} is an unspecified address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = check_ip(inner, allow_private_networks=allow_private_networks, allowed_networks=allowed_networks)
            return f"{ip} embeds {why}" if why else None
    kind = None
    if ip.is_loopback:
        kind = "loopback"
    elif ip.is_link_local:
        kind = "link-local"
    elif isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        kind = "shared (carrier-grade NAT)"
    elif isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        kind = "site-local"
    elif ip.is_reserved:
        return f"{ip} is a reserved address"
    elif ip.is_private:
        kind = "private"
    elif not ip.is_global:
        return f"{ip} is not a globally routable address"
    if kind is None:
        return None
    if allow_private_networks or any(ip in net for net in _networks(allowed_networks) if net.version == ip.version):
        return None
    return f"{ip} is a {kind} address (use --allow-private-networks to permit)"


@dataclasses.dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # as the server knows it (IDNA ASCII, IPv6 without brackets)
    port: int
    path: str  # path + query, percent-encoded
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # set when the host is an IP literal

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str, *, allow_private_networks: bool = False, allowed_networks: Iterable[str] = ()) -> _Target:
    """Parse and vet a URL before any DNS lookup: scheme, host, metadata names,
    IP literals in any spelling. Raises ``AddressRefused`` with the reason."""
    if not isinstance(url, str) or not url.strip():
        raise AddressRefused("empty URL", "bad_url")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise AddressRefused(f"malformed URL: {exc}", "bad_url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise AddressRefused(f"scheme {scheme or '(none)'!r} refused: only http and https are fetched", "bad_url")
    if not host:
        raise AddressRefused("URL has no host", "bad_url")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("URLs with credentials are refused", "bad_url")
    if any(ord(c) < 33 or c in "\\" for c in host):
        raise AddressRefused(f"malformed host {host!r}", "bad_url")
    ip = parse_ip_host(host)
    if ip is not None:
        why = check_ip(ip, allow_private_networks=allow_private_networks, allowed_networks=allowed_networks)
        if why:
            raise AddressRefused(f"address refused: {why}")
        ascii_host = str(ip)
    else:
        name = host.rstrip(".").lower()
        if name in _METADATA_NAMES:
            raise AddressRefused(f"address refused: {name} is a cloud metadata host")
        try:
            ascii_host = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise AddressRefused(f"malformed host name {host!r}", "bad_url") from None
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return _Target(scheme, ascii_host, port or (443 if scheme == "https" else 80), path, ip)


# ---------------------------------------------------------------------------
# Conditional GET memory
# ---------------------------------------------------------------------------


class FeedCache:
    """ETag / Last-Modified per feed URL, persisted as one JSON file
    (``<state_dir>/feeds/feed_cache.json``) through Beam FileSystems."""

    def __init__(self, entries: dict[str, dict[str, str]] | None = None) -> None:
        self._entries: dict[str, dict[str, str]] = dict(entries or {})
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str) -> dict[str, str] | None:
        entry = self._entries.get(url)
        return dict(entry) if entry else None

    def request_headers(self, url: str) -> dict[str, str]:
        entry = self._entries.get(url) or {}
        headers = {}
        if entry.get("etag"):
            headers["If-None-Match"] = entry["etag"]
        if entry.get("last_modified"):
            headers["If-Modified-Since"] = entry["last_modified"]
        return headers

    def remember(self, url: str, headers: dict[str, str]) -> bool:
        """Store the validators of a 200 response; True when the entry changed."""
        lower = {k.lower(): v for k, v in headers.items()}
        entry = {k: lower[h] for k, h in (("etag", "etag"), ("last_modified", "last-modified")) if lower.get(h)}
        with self._lock:
            if not entry:
                return self._entries.pop(url, None) is not None
            if self._entries.get(url) == entry:
                return False
            self._entries[url] = entry
            return True

    def merge(self, updates: dict[str, dict[str, str]]) -> None:
        with self._lock:
            for url, entry in updates.items():
                if entry:
                    self._entries[url] = dict(entry)
                else:
                    self._entries.pop(url, None)

    def to_json(self) -> str:
        return json.dumps({"version": 1, "feeds": self._entries}, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "FeedCache":
        obj = json.loads(text)
        feeds = obj.get("feeds") if isinstance(obj, dict) else None
        if not isinstance(feeds, dict):
            raise ValueError("feed cache: no 'feeds' object")
        clean = {
            str(u): {k: str(v) for k, v in e.items() if k in ("etag", "last_modified") and isinstance(v, str)}
            for u, e in feeds.items()
            if isinstance(e, dict)
        }
        return cls({u: e for u, e in clean.items() if e})

    @staticmethod
    def path(state_dir: str) -> str:
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.join(state_dir, "feeds", _CACHE_FILE)

    @classmethod
    def load(cls, state_dir: str) -> "FeedCache":
        """The cache under ``state_dir``; empty when there is none yet. A corrupt
        file is logged and ignored (the next polls are plain GETs)."""
        from apache_beam.io.filesystems import FileSystems

        path = cls.path(state_dir)
        if not FileSystems.exists(path):
            return cls()
        with FileSystems.open(path) as fh:
            raw = fh.read()
        try:
            return cls.from_json(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            _log.warning("ignoring unreadable feed cache %s: %s", path, exc)
            return cls()

    def save(self, state_dir: str) -> str:
        """Write atomically: a temporary file beside it, then a rename."""
        from apache_beam.io.filesystems import FileSystems

        path = self.path(state_dir)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with FileSystems.create(tmp, mime_type="application/json") as fh:
            fh.write(self.to_json().encode("utf-8"))
        try:
            FileSystems.rename([tmp], [path])
        except Exception:
            FileSystems.delete([tmp])
            raise
        return path


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


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


def system_resolver(host: str, port: int) -> list[str]:
    """Addresses of ``host`` from the system resolver, IPv4 first."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addrs = [info[4][0] for info in infos]
    ordered = sorted(dict.fromkeys(addrs), key=lambda a: ":" in a)
    return ordered


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

    def _pool(self, target: _Target, ip: str) -> Any:
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

    def _resolve(self, target: _Target, deadline: _Deadline) -> str:
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

    def _request(self, target: _Target, headers: dict[str, str], max_bytes: int) -> tuple[int, dict[str, str], bytes]:
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


def fetch_feed(
    url: str,
    *,
    cache: FeedCache | None = None,
    options: FetchOptions | None = None,
    fetcher: Fetcher | None = None,
    **settings: Any,
) -> FetchResult:
    """Fetch one feed URL. ``settings`` override :class:`FetchOptions` fields
    (``allow_private_networks=True``, ``total_timeout=2.0``, ``max_bytes=...``).
    The cache is read (conditional GET), not written: :func:`poll_feed` records
    the validators once the body has parsed as a feed."""
    if fetcher is not None:
        if settings or options is not None:
            raise TypeError("give either a fetcher or options/settings, not both")
        return fetcher.fetch(url, cache=cache)
    with Fetcher((options or FetchOptions()).with_settings(**settings)) as own:
        return own.fetch(url, cache=cache)


# ---------------------------------------------------------------------------
# Polling: fetch + parse (+ full text)
# ---------------------------------------------------------------------------

_TAGS = re.compile(r"<[^>]*>")
_WS = re.compile(r"\s+")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _visible_chars(article: dict[str, Any]) -> int:
    if article.get("text"):
        return len(_WS.sub(" ", article["text"]).strip())
    if article.get("html"):
        return len(_WS.sub(" ", html_lib.unescape(_TAGS.sub(" ", article["html"]))).strip())
    return 0


def needs_full_text(article: dict[str, Any], min_chars: int) -> bool:
    """An entry whose content is only a short summary and that links to a web page."""
    url = article.get("url")
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return False
    return _visible_chars(article) < min_chars


def _fetch_page(fetcher: Fetcher, url: str) -> str:
    """The HTML of a linked page, or ``RejectedInput`` with the reason."""
    from transforms.enrich.text import decode_bytes

    result = fetcher.fetch(url, accept=PAGE_ACCEPT, max_bytes=fetcher.options.page_max_bytes)
    if not result.ok:
        raise RejectedInput(result.error or "fetch failed")
    ctype = (result.header("Content-Type") or "").split(";")[0].strip().lower()
    if ctype and ctype not in _HTML_TYPES:
        raise RejectedInput(f"linked page is {ctype}, not HTML")
    page = decode_bytes(result.body, declared=result.header("Content-Type"))
    if not page.strip():
        raise RejectedInput("linked page is empty")
    return page


def _with_full_text(articles: list[dict[str, Any]], fetcher: Fetcher, base_url: str) -> None:
    opts = fetcher.options
    fetched = 0
    for article in articles:
        if not needs_full_text(article, opts.full_text_min_chars):
            continue
        if fetched >= opts.full_text_max_pages:
            fetcher.count("full_text.skipped")
            continue
        fetched += 1
        page_url = urljoin(base_url, article["url"])
        try:
            page = _fetch_page(fetcher, page_url)
        except RejectedInput as exc:
            fetcher.count("full_text.failed")
            _log.debug("full text of %s not fetched: %s", page_url, exc)
            continue
        fetcher.count("full_text.fetched")
        article["html"], article["text"] = page, None


def _document_rejection_kind(error: str) -> str:
    if "entities" in error:
        return "unsafe_xml"
    if "limit" in error:
        return "too_large"
    return "not_a_feed"


def poll_feed(
    url: str,
    *,
    cache: FeedCache | None = None,
    fetcher: Fetcher | None = None,
    options: FetchOptions | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    **settings: Any,
) -> Iterator[dict[str, Any] | Rejected]:
    """Fetch ``url`` and yield its entries as RawArticles (``origin``
    ``"<url>#entry <i>"``), or one ``Rejected(stage="fetch")`` naming the feed
    and the reason. 304 yields nothing. A successful parse records the
    response's ETag/Last-Modified in ``cache``. Never raises."""
    own = fetcher is None
    if own:
        fetcher = Fetcher((options or FetchOptions()).with_settings(**settings))
    elif settings or options is not None:
        raise TypeError("give either a fetcher or options/settings, not both")
    assert fetcher is not None
    try:
        fetcher.count("feeds")
        try:
            result = fetcher.fetch(url, cache=cache)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the feed: it becomes its dead letter
            _log.debug("fetch of %s failed", url, exc_info=True)
            fetcher.count("errors.internal")
            yield reject(url, STAGE, f"fetch failed: {type(exc).__name__}: {exc}")
            return
        if result.not_modified:
            return
        if not result.ok:
            fetcher.count(f"errors.{result.error_kind}")
            yield reject(url, STAGE, f"{result.error} (after {result.attempts} attempt(s))", result.body)
            return
        items = list(
            parse_feed(
                result.body,
                url,
                max_entries=max_entries,
                max_bytes=fetcher.options.max_bytes,
                http_headers=result.headers,
            )
        )
        articles: list[dict[str, Any]] = []
        document_ok = True
        for item in items:
            if isinstance(item, Rejected) and item.source == url:
                document_ok = False
                fetcher.count(f"errors.{_document_rejection_kind(item.error)}")
                yield dataclasses.replace(item, stage=STAGE)
            elif isinstance(item, Rejected):
                yield item
            else:
                articles.append(item)
        if document_ok and cache is not None:
            cache.remember(url, result.headers)
        if articles and fetcher.options.fetch_full_text:
            _with_full_text(articles, fetcher, result.final_url)
        fetcher.count("articles", len(articles))
        yield from articles
    finally:
        if own:
            fetcher.close()


# ---------------------------------------------------------------------------
# feeds.yaml
# ---------------------------------------------------------------------------


class FeedsConfigError(ValueError):
    """A bad feeds configuration; the message names the key."""


@dataclasses.dataclass(frozen=True)
class FeedSpec:
    url: str
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class FeedsConfig:
    feeds: tuple[FeedSpec, ...] = ()
    options: FetchOptions = FetchOptions()

    @property
    def urls(self) -> list[str]:
        return [f.url for f in self.feeds]


_YAML_TO_OPTION = {
    "fetch_full_text": "fetch_full_text",
    "max_bytes": "max_bytes",
    "page_max_bytes": "page_max_bytes",
    "max_redirects": "max_redirects",
    "max_retries": "max_retries",
    "per_host_concurrency": "per_host_concurrency",
    "min_delay_seconds": "min_delay_seconds",
    "retry_after_cap_seconds": "retry_after_cap",
    "full_text_min_chars": "full_text_min_chars",
    "full_text_max_pages": "full_text_max_pages",
    "user_agent": "user_agent",
    "allowed_networks": "allowed_networks",
}


def feeds_config_from_dict(raw: Any, source: str = "feeds config", *, read_file: Callable[[str], bytes] | None = None) -> FeedsConfig:
    """Validate the parsed ``configs/feeds.yaml``. ``opml:`` files are read with
    ``read_file`` (paths as written in the config) and their feeds appended."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FeedsConfigError(f"{source}: expected a mapping at the top level")
    known = {"version", "feeds", "opml", "timeouts", *_YAML_TO_OPTION}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise FeedsConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    specs: list[FeedSpec] = []
    feeds = raw.get("feeds") or []
    if not isinstance(feeds, list):
        raise FeedsConfigError(f"{source}: 'feeds' must be a list of {{url, name}}")
    for i, item in enumerate(feeds):
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item["url"].strip():
            raise FeedsConfigError(f"{source}: feeds[{i}] needs a 'url' string")
        extra = set(item) - {"url", "name"}
        if extra:
            raise FeedsConfigError(f"{source}: feeds[{i}] has unknown key(s) {', '.join(sorted(extra))}")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise FeedsConfigError(f"{source}: feeds[{i}].name must be a string")
        specs.append(FeedSpec(item["url"].strip(), name))
    opml = raw.get("opml") or []
    if isinstance(opml, str):
        opml = [opml]
    if not isinstance(opml, list) or not all(isinstance(p, str) for p in opml):
        raise FeedsConfigError(f"{source}: 'opml' must be a path or a list of paths")
    if opml:
        from transforms.io.opml import read_opml

        if read_file is None:
            raise FeedsConfigError(f"{source}: 'opml' given but no way to read files")
        for path in opml:
            try:
                urls = read_opml(read_file(path))
            except (OSError, RejectedInput) as exc:
                raise FeedsConfigError(f"{source}: opml {path}: {exc}") from None
            specs.extend(FeedSpec(u) for u in urls)
    settings: dict[str, Any] = {}
    for key, field in _YAML_TO_OPTION.items():
        if key in raw:
            settings[field] = tuple(raw[key]) if key == "allowed_networks" and isinstance(raw[key], list) else raw[key]
    timeouts = raw.get("timeouts") or {}
    if not isinstance(timeouts, dict) or set(timeouts) - {"connect_seconds", "total_seconds"}:
        raise FeedsConfigError(f"{source}: 'timeouts' takes connect_seconds and total_seconds")
    if "connect_seconds" in timeouts:
        settings["connect_timeout"] = timeouts["connect_seconds"]
    if "total_seconds" in timeouts:
        settings["total_timeout"] = timeouts["total_seconds"]
    try:
        options = FetchOptions(**settings)
    except (TypeError, ValueError) as exc:
        raise FeedsConfigError(f"{source}: {exc}") from None
    unique: dict[str, FeedSpec] = {}
    for spec in specs:  # order kept; the first mention (and its name) wins
        unique.setdefault(spec.url, spec)
    return FeedsConfig(tuple(unique.values()), options)


def load_feeds_config(path: str) -> FeedsConfig:
    """Read and validate a feeds YAML file (local or gs://); OPML paths in it
    are relative to the file."""
    import posixpath

    import yaml
    from apache_beam.io.filesystems import FileSystems

    def read_exact(p: str) -> bytes:
        with FileSystems.open(p, compression_type="uncompressed") as fh:
            return fh.read()

    def read(p: str) -> bytes:
        if not FileSystems.get_scheme(p) and not posixpath.isabs(p):
            p = FileSystems.join(posixpath.dirname(path) or ".", p)
        return read_exact(p)

    try:
        raw = yaml.safe_load(read_exact(path))
    except yaml.YAMLError as exc:
        raise FeedsConfigError(f"{path}: not valid YAML: {exc}") from None
    return feeds_config_from_dict(raw, path, read_file=read)


# ---------------------------------------------------------------------------
# Beam
# ---------------------------------------------------------------------------


class _PollFeedsFn(beam.DoFn):
    """Poll one feed URL per element; entries to the main output, failures to
    ``dead_letter``, changed validators to ``cache_updates``."""

    def __init__(self, options: FetchOptions, state_dir: str | None, max_entries: int) -> None:
        self._options = options
        self._state_dir = state_dir
        self._max_entries = max_entries
        self._counters: dict[str, Any] = {}
        self._fetcher: Fetcher | None = None
        self._cache: FeedCache | None = None

    def setup(self) -> None:
        self._fetcher = Fetcher(self._options)
        self._cache = FeedCache.load(self._state_dir) if self._state_dir else FeedCache()

    def _flush_counters(self) -> None:
        assert self._fetcher is not None
        for key, n in self._fetcher.drain_stats().items():
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = Metrics.counter(namespace(STAGE), key)
            counter.inc(n)

    def process(self, url: str) -> Iterator[Any]:
        assert self._fetcher is not None and self._cache is not None
        before = self._cache.get(url)
        try:
            items = list(poll_feed(url, cache=self._cache, fetcher=self._fetcher, max_entries=self._max_entries))
        except Exception as exc:  # noqa: BLE001 - poll_feed does not raise; belt and braces, kept as a dead letter
            self._fetcher.count("errors.internal")
            items = [reject(url, STAGE, f"poll failed: {type(exc).__name__}: {exc}")]
        self._flush_counters()
        for item in items:
            if isinstance(item, Rejected):
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, item.to_record())
            else:
                yield item
        after = self._cache.get(url)
        if after and after != before:
            yield beam.pvalue.TaggedOutput(CACHE_UPDATES, (url, after))

    def teardown(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None


def _save_cache_updates(updates: list[tuple[str, dict[str, str]]], state_dir: str) -> int:
    cache = FeedCache.load(state_dir)
    cache.merge(dict(updates))
    cache.save(state_dir)
    return len(updates)


class PollFeeds(beam.PTransform):
    """Apply to the pipeline root: ``raw, dead = p | PollFeeds(urls, ...)``.

    Create(urls) -> Reshuffle -> poll each (HTTP pools live in the DoFn's
    setup/teardown) -> ``(raw_articles, dead_letters)``. With ``state_dir`` the
    ETag/Last-Modified memory is read at setup and the changed validators are
    merged into ``<state_dir>/feeds/feed_cache.json`` at the end of the run.
    """

    def __init__(
        self,
        urls: Iterable[str],
        *,
        allow_private_networks: bool = False,
        state_dir: str | None = None,
        fetch_full_text: bool | None = None,
        options: FetchOptions | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        self._urls = list(dict.fromkeys(u.strip() for u in urls if isinstance(u, str) and u.strip()))
        options = options or FetchOptions()
        settings: dict[str, Any] = {}
        if allow_private_networks:
            settings["allow_private_networks"] = True
        if fetch_full_text is not None:
            settings["fetch_full_text"] = fetch_full_text
        self._options = options.with_settings(**settings)
        self._state_dir = state_dir
        self._max_entries = max_entries

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, beam.PCollection]:
        urls = pbegin | "FeedUrls" >> beam.Create(self._urls) | "SpreadFeeds" >> beam.Reshuffle()
        outputs = urls | "PollEachFeed" >> beam.ParDo(
            _PollFeedsFn(self._options, self._state_dir, self._max_entries)
        ).with_outputs(DEAD_LETTER, CACHE_UPDATES, main=MAIN)
        if self._state_dir:
            state_dir = self._state_dir
            (
                outputs[CACHE_UPDATES]
                | "CollectCacheUpdates" >> beam.combiners.ToList().without_defaults()
                | "SaveFeedCache" >> beam.Map(_save_cache_updates, state_dir)
            )
        return outputs[MAIN], outputs[DEAD_LETTER]
