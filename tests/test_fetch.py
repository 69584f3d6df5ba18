"""Fetching live feeds: the address guard (pure), fetch/poll against a real
HTTP server on 127.0.0.1, the feed cache, OPML, feeds.yaml and PollFeeds.

No external network: every URL is 127.0.0.1 / localhost, or an address the
guard must refuse before connecting; DNS for made-up names goes through an
injected resolver, never the system one.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import socket
import ssl
import tracemalloc

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.httpserver import (
    ConcurrencyProbe,
    LocalHTTPServer,
    gzip_bomb,
    serve_bytes,
    serve_endless,
    serve_feed,
    serve_redirect,
    serve_sequence,
    serve_slow_drip,
    serve_slow_headers,
    serve_status,
)
from transforms.io.fetch import (
    USER_AGENT,
    AddressRefused,
    FeedCache,
    Fetcher,
    FetchOptions,
    PollFeeds,
    check_ip,
    check_url,
    feeds_config_from_dict,
    fetch_feed,
    load_feeds_config,
    needs_full_text,
    parse_ip_host,
    poll_feed,
)
from transforms.io.fetch import _retry_after_seconds
from transforms.io.opml import read_opml
from transforms.common.records import Rejected, RejectedInput

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Local tests: loopback allowed, no politeness delay, fast backoff.
LOCAL = FetchOptions(allow_private_networks=True, min_delay_seconds=0.0, backoff_base=0.01, backoff_max=0.05, total_timeout=5.0)


def rss(n: int, *, summary: str = "A short summary of item {i}.", link: str = "http://news.example.org/{i}") -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><link>{link.format(i=i)}</link>"
        f"<guid>urn:item:{i}</guid><description>{summary.format(i=i)}</description>"
        f"<pubDate>Mon, 03 Feb 2025 10:{i % 60:02d}:00 GMT</pubDate></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Local News</title>'
        f"<link>http://news.example.org/</link>{items}</channel></rss>"
    ).encode()


ENTITY_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY a "aaaaaaaaaa">\n'
    + b"".join(b' <!ENTITY %s "%s">\n' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10) for i in range(8))
    + b']>\n<rss version="2.0"><channel><title>&i;</title><item><title>&i;</title></item></channel></rss>'
)

HTML_PAGE = b"<!doctype html><html><head><title>Home</title></head><body><p>Welcome to our home page.</p></body></html>"


@pytest.fixture(scope="module")
def server():
    with LocalHTTPServer() as srv:
        yield srv


def articles_of(items):
    return [i for i in items if not isinstance(i, Rejected)]


def rejections_of(items):
    return [i for i in items if isinstance(i, Rejected)]


# ---------------------------------------------------------------------------
# address guard (pure)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host, expected",
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0000.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("012.0.0.1", "10.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("08.0.0.1", None),
        ("0x7g.0.0.1", None),
    ],
)
def test_parse_ip_host_reads_every_spelling(host, expected):
    ip = parse_ip_host(host)
    assert (str(ip) if ip is not None else None) == expected


@pytest.mark.parametrize("host", ["256.0.0.1", "1.2.3.256", "4294967296", "1.16777216"])
def test_parse_ip_host_refuses_out_of_range_numbers(host):
    with pytest.raises(AddressRefused):
        parse_ip_host(host)


REFUSED_URLS = [
    "http://127.0.0.1/feed",
    "http://127.8.9.10/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./",
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 wrapping 10.0.0.1
    "https://192.168.0.10:8443/feed",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_check_url_refuses_internal_destinations(url):
    with pytest.raises(AddressRefused) as info:
        check_url(url)
    assert info.value.kind == "refused_address"
    assert "refused" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/feed", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)", "http://",
     "//example.com/feed", "http://user:secret@example.com/feed", "http://example.com:99999/", ""],
)
def test_check_url_refuses_unfetchable_urls(url):
    with pytest.raises(AddressRefused) as info:
        check_url(url)
    assert info.value.kind == "bad_url"


def test_check_url_accepts_public_addresses_and_keeps_host_port_path():
    t = check_url("https://Example.COM/news/feed.xml?lang=en&x=ü")
    assert (t.scheme, t.host, t.port, t.ip) == ("https", "example.com", 443, None)
    assert t.path == "/news/feed.xml?lang=en&x=%C3%BC"
    assert t.host_header == "example.com"
    t = check_url("http://93.184.216.34:8080")
    assert (t.host, t.port, t.path, t.host_header) == ("93.184.216.34", 8080, "/", "93.184.216.34:8080")
    assert check_url("http://[2606:4700::1]/").host_header == "[2606:4700::1]"
    assert check_url("http://bücher.example/").host == "xn--bcher-kva.example"


def test_allow_private_networks_lifts_private_but_not_metadata_or_odd_addresses():
    for url in ("http://127.0.0.1/", "http://2130706433/", "http://10.1.2.3/", "http://[::1]/", "http://[fd12::1]/",
                "http://169.254.1.1/", "http://[::ffff:192.168.1.1]/"):
        check_url(url, allow_private_networks=True)
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://metadata.google.internal/",
                "http://0.0.0.0/", "http://224.0.0.1/", "http://240.0.0.1/"):
        with pytest.raises(AddressRefused):
            check_url(url, allow_private_networks=True)


def test_allowed_networks_lift_only_the_listed_ranges():
    check_url("http://127.0.0.1:8080/", allowed_networks=["127.0.0.1/32"])
    check_url("http://[::ffff:127.0.0.1]/", allowed_networks=["127.0.0.1/32"])
    with pytest.raises(AddressRefused):
        check_url("http://127.0.0.2/", allowed_networks=["127.0.0.1/32"])
    with pytest.raises(AddressRefused):
        check_url("http://10.0.0.1/", allowed_networks=["127.0.0.1/32"])
    assert check_ip("10.9.9.9", allowed_networks=["10.0.0.0/8"]) is None
    assert "metadata" in check_ip("169.254.169.254", allowed_networks=["169.254.0.0/16"])


def test_check_ip_names_the_kind():
    assert check_ip("93.184.216.34") is None
    assert check_ip(ipaddress.ip_address("2606:4700::1")) is None
    assert "loopback" in check_ip("127.0.0.1")
    assert "private" in check_ip("192.168.1.1")
    assert "link-local" in check_ip("fe80::1")
    assert "multicast" in check_ip("239.1.1.1")


def test_options_are_validated():
    with pytest.raises(ValueError, match="total_timeout"):
        FetchOptions(total_timeout=0)
    with pytest.raises(ValueError, match="per_host_concurrency"):
        FetchOptions(per_host_concurrency=0)
    with pytest.raises(ValueError):
        FetchOptions(allowed_networks=("not-a-cidr",))


def test_retry_after_parsing():
    assert _retry_after_seconds("120") == 120.0
    assert _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert _retry_after_seconds("soon") is None
    assert _retry_after_seconds(None) is None


def test_needs_full_text_only_for_short_linked_entries():
    assert needs_full_text({"html": "<p>Short &amp; sweet.</p>", "url": "https://a.example/1"}, 100)
    assert not needs_full_text({"html": "<p>" + "word " * 100 + "</p>", "url": "https://a.example/1"}, 100)
    assert not needs_full_text({"html": "<p>Short</p>", "url": None}, 100)
    assert not needs_full_text({"text": "Short", "url": "mailto:x@example.org"}, 100)


# ---------------------------------------------------------------------------
# live fetches against 127.0.0.1
# ---------------------------------------------------------------------------


def test_200_with_validators_then_304_on_conditional_request(server):
    url = server.route("/cond.xml", serve_feed(rss(5), etag='"v1"', last_modified="Mon, 03 Feb 2025 10:00:00 GMT"))
    cache = FeedCache()
    with Fetcher(LOCAL) as fetcher:
        first = list(poll_feed(url, cache=cache, fetcher=fetcher))
        assert [a["title"] for a in first] == [f"Item {i}" for i in range(5)]
        assert first[0]["origin"] == f"{url}#entry 0" and first[0]["url"] == "http://news.example.org/0"
        assert cache.get(url) == {"etag": '"v1"', "last_modified": "Mon, 03 Feb 2025 10:00:00 GMT"}
        second = list(poll_feed(url, cache=cache, fetcher=fetcher))
        stats = fetcher.drain_stats()
    assert second == []  # not modified: no articles, no dead letter
    assert stats["not_modified"] == 1 and stats["requests"] == 2 and stats["articles"] == 5
    first_req, second_req = server.requests_to("/cond.xml")[-2:]
    assert "If-None-Match" not in first_req.headers
    assert second_req.headers["If-None-Match"] == '"v1"'
    assert second_req.headers["If-Modified-Since"] == "Mon, 03 Feb 2025 10:00:00 GMT"
    assert second_req.headers["User-Agent"] == USER_AGENT


def test_last_modified_alone_gives_304(server):
    url = server.route("/lm.xml", serve_feed(rss(2), last_modified="Tue, 04 Feb 2025 08:00:00 GMT"))
    cache = FeedCache()
    assert len(articles_of(poll_feed(url, cache=cache, options=LOCAL))) == 2
    result = fetch_feed(url, cache=cache, options=LOCAL)
    assert result.ok and result.not_modified and result.status == 304 and result.body == b""


def test_feed_that_does_not_parse_leaves_no_validators(server):
    url = server.route("/html-etag", serve_bytes(HTML_PAGE, "text/html", {"ETag": '"h1"'}))
    cache = FeedCache()
    items = list(poll_feed(url, cache=cache, options=LOCAL))
    assert len(items) == 1 and items[0].stage == "fetch" and "not a feed" in items[0].error
    assert cache.get(url) is None  # the next poll must fetch it again, not get a 304 that hides the error


@pytest.mark.parametrize("status", [404, 410, 403])
def test_http_errors_are_one_dead_letter_naming_the_feed(server, status):
    url = server.route(f"/status-{status}", serve_status(status))
    items = list(poll_feed(url, options=LOCAL))
    assert len(items) == 1
    [dead] = items
    assert isinstance(dead, Rejected)
    assert (dead.source, dead.stage) == (url, "fetch")
    assert f"HTTP {status}" in dead.error
    assert server.hits(f"/status-{status}") == 1  # 4xx is not retried


def test_500_then_200_is_retried(server):
    url = server.route("/flaky.xml", serve_sequence(serve_status(500), serve_status(503), serve_feed(rss(3))))
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.fetch(url)
        stats = fetcher.drain_stats()
    assert result.ok and result.status == 200 and result.attempts == 3
    assert stats["retries"] == 2 and server.hits("/flaky.xml") == 3


def test_retries_are_bounded(server):
    url = server.route("/always-500", serve_status(500))
    items = list(poll_feed(url, options=LOCAL.with_settings(max_retries=1)))
    assert len(items) == 1 and "HTTP 500" in items[0].error and "2 attempt" in items[0].error
    assert server.hits("/always-500") == 2


def test_429_retry_after_is_honoured_and_capped(server):
    url = server.route("/busy", serve_sequence(serve_status(429, headers={"Retry-After": "0"}), serve_feed(rss(1))))
    assert fetch_feed(url, options=LOCAL).ok and server.hits("/busy") == 2
    url = server.route("/go-away", serve_status(503, headers={"Retry-After": "3600"}))
    result = fetch_feed(url, options=LOCAL)
    assert not result.ok and "over the 30 s cap" in result.error
    assert server.hits("/go-away") == 1  # not retried, not waited for


def run_bounded(fn, seconds):
    """Run ``fn`` in a thread; fail if it is still running after ``seconds``."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(fn)
        return future.result(timeout=seconds)


def test_slow_drip_is_cut_by_the_total_deadline(server):
    # one byte every 0.1 s for 20 s: every socket read succeeds, so only a total deadline stops it
    url = server.route("/drip.xml", serve_slow_drip(byte_every=0.1, max_seconds=20))
    opts = LOCAL.with_settings(total_timeout=1.0, max_retries=0)
    items = run_bounded(lambda: list(poll_feed(url, options=opts)), seconds=8)
    assert len(items) == 1 and items[0].stage == "fetch"
    assert "total deadline of 1 s passed" in items[0].error


def test_slow_drip_of_headers_is_cut_by_the_total_deadline(server):
    url = server.route("/drip-headers.xml", serve_slow_headers(byte_every=0.1, max_seconds=20))
    opts = LOCAL.with_settings(total_timeout=1.0, max_retries=0)
    result = run_bounded(lambda: fetch_feed(url, options=opts), seconds=8)
    assert result.error_kind == "timeout" and "total deadline" in result.error


def test_timeouts_are_retried(server):
    url = server.route("/drip-then-ok", serve_sequence(serve_slow_drip(0.1, 20), serve_feed(rss(2))))
    opts = LOCAL.with_settings(total_timeout=0.5, max_retries=1)
    result = run_bounded(lambda: fetch_feed(url, options=opts), seconds=8)
    assert result.ok and result.attempts == 2


def test_endless_body_stops_at_the_size_cap(server):
    url = server.route("/endless.xml", serve_endless())
    items = run_bounded(lambda: list(poll_feed(url, options=LOCAL.with_settings(max_bytes=1_000_000))), seconds=8)
    assert len(items) == 1 and "over the 1000000-byte limit" in items[0].error


def test_gzip_bomb_is_refused_with_bounded_memory(server):
    bomb = gzip_bomb(200_000_000)  # ~200 KB on the wire, 200 MB inflated
    url = server.route("/bomb.xml", serve_bytes(bomb, "application/rss+xml", {"Content-Encoding": "gzip"}))
    tracemalloc.start()
    try:
        result = fetch_feed(url, options=LOCAL.with_settings(max_bytes=2_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error_kind == "too_large" and "after decompression" in result.error
    assert peak < 16_000_000, peak


def test_gzipped_feed_is_decoded(server):
    url = server.route("/gz.xml", serve_feed(rss(4), gzipped=True))
    assert [a["title"] for a in articles_of(poll_feed(url, options=LOCAL))] == [f"Item {i}" for i in range(4)]


def test_entity_bomb_is_refused_before_expansion(server):
    url = server.route("/lol.xml", serve_bytes(ENTITY_BOMB, "application/rss+xml"))
    tracemalloc.start()
    try:
        items = list(poll_feed(url, options=LOCAL))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(items) == 1 and items[0].stage == "fetch" and "entities" in items[0].error
    assert items[0].source == url
    assert peak < 16_000_000, peak


def test_non_feed_html_is_a_dead_letter(server):
    url = server.route("/home.html", serve_bytes(HTML_PAGE, "text/html; charset=utf-8"))
    [dead] = list(poll_feed(url, options=LOCAL))
    assert dead.stage == "fetch" and "not a feed" in dead.error and "Welcome" in dead.excerpt


def test_loopback_is_refused_before_any_connection_without_the_flag(server):
    url_path = "/guarded.xml"
    server.route(url_path, serve_feed(rss(1)))
    opts = FetchOptions(min_delay_seconds=0)
    for host in ("127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "localhost"):
        [dead] = list(poll_feed(server.url(url_path, host=host), options=opts))
        assert dead.stage == "fetch" and "refused" in dead.error, host
    assert server.hits(url_path) == 0
    assert len(articles_of(poll_feed(server.url(url_path), options=LOCAL))) == 1  # the flag lifts it


@pytest.mark.parametrize(
    "target, why",
    [
        ("http://10.0.0.1/feed.xml", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://0xa9fea9fe/", "cloud metadata"),
        ("http://[::ffff:a9fe:a9fe]/", "cloud metadata"),
        ("http://192.168.1.1:8080/admin", "private"),
        ("file:///etc/passwd", "only http and https"),
    ],
)
def test_redirect_to_a_private_address_is_refused_before_connecting(server, target, why):
    # the feed server itself (127.0.0.1) is allowed by CIDR; the redirect target is not
    path = f"/redirect-{abs(hash(target))}"
    url = server.route(path, serve_redirect(target))
    opts = FetchOptions(allowed_networks=("127.0.0.1/32",), min_delay_seconds=0, connect_timeout=0.5, total_timeout=1.0)
    result = fetch_feed(url, options=opts)
    assert result.error_kind in ("refused_address", "bad_url")  # not timeout/connection: no connection was tried
    assert why in result.error and f"redirect to {target}" in result.error
    assert result.attempts == 1 and server.hits(path) == 1


def test_metadata_redirect_is_refused_even_with_private_networks_allowed(server):
    url = server.route("/to-metadata", serve_redirect("http://169.254.169.254/computeMetadata/v1/"))
    [dead] = list(poll_feed(url, options=LOCAL))
    assert "cloud metadata" in dead.error and dead.source == url


def test_redirects_are_followed_then_limited(server):
    server.route("/final.xml", serve_feed(rss(2)))
    server.route("/hop2", serve_redirect("/final.xml", 301))
    url = server.route("/hop1", serve_redirect(lambda: server.url("/hop2"), 307))
    result = fetch_feed(url, options=LOCAL)
    assert result.ok and result.final_url == server.url("/final.xml") and result.redirects == 2
    loop = server.route("/loop", serve_redirect("/loop"))
    result = fetch_feed(loop, options=LOCAL.with_settings(max_redirects=3))
    assert result.error_kind == "too_many_redirects" and server.hits("/loop") == 4


def test_host_header_names_the_host_while_connecting_to_the_vetted_ip(server):
    server.route("/named.xml", serve_feed(rss(1)))
    assert fetch_feed(server.url("/named.xml", host="localhost"), options=LOCAL).ok
    assert server.requests_to("/named.xml")[-1].headers["Host"] == f"localhost:{server.port}"


def test_dns_answers_are_vetted_and_dns_failures_are_dead_letters():
    def resolver(host, port):
        answers = {"feeds.example": ["10.0.0.5"], "mixed.example": ["93.184.216.34", "127.0.0.1"]}
        if host in answers:
            return answers[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with Fetcher(FetchOptions(min_delay_seconds=0), resolver=resolver) as fetcher:
        rebound = fetcher.fetch("http://feeds.example/rss")
        mixed = fetcher.fetch("http://mixed.example/rss")
        [dead] = list(poll_feed("http://nowhere.example/rss", fetcher=fetcher))
        stats = fetcher.drain_stats()
    assert rebound.error_kind == "refused_address" and "feeds.example resolves to 10.0.0.5" in rebound.error
    assert mixed.error_kind == "refused_address" and "127.0.0.1" in mixed.error
    assert dead.stage == "fetch" and "DNS lookup of nowhere.example failed" in dead.error
    assert stats["errors.dns"] == 1 and stats.get("requests", 0) == 0


def test_connection_refused_is_a_dead_letter():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [dead] = list(poll_feed(f"http://127.0.0.1:{port}/feed", options=LOCAL))
    assert dead.stage == "fetch" and "connection failed" in dead.error


def test_https_to_a_plain_http_server_is_a_tls_dead_letter(server):
    server.route("/plain.xml", serve_feed(rss(1)))
    [dead] = list(poll_feed(f"https://127.0.0.1:{server.port}/plain.xml", options=LOCAL))
    assert dead.stage == "fetch" and "TLS" in dead.error


# A self-signed certificate for "feeds.test" made for these tests (openssl req -x509, EC P-256, 100 years).
TEST_CERT = """-----BEGIN CERTIFICATE-----
MIIBmDCCAT6gAwIBAgIUURF6xCbZW0HwZsotsu7Q2fSw24YwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKZmVlZHMudGVzdDAgFw0yNjExMjEyMzUwNDFaGA8yMTI2MTAy
ODIzNTA0MVowFTETMBEGA1UEAwwKZmVlZHMudGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABKP50F+vkonJM6rD3cUk2c8xFmZLC5z/6lNDtUT2tZLR148xEEeN
IVUb+6E0tn7Hfbieb6x/ya1MseDeIrXUhWyjajBoMB0GA1UdDgQWBBQjiDig5qS+
dZ0Igpbdf8ZrV/hHOzAfBgNVHSMEGDAWgBQjiDig5qS+dZ0Igpbdf8ZrV/hHOzAP
BgNVHRMBAf8EBTADAQH/MBUGA1UdEQQOMAyCCmZlZWRzLnRlc3QwCgYIKoZIzj0E
AwIDSAAwRQIhAKtiFFRPIftKXIaK+uhyOujGavr12yn6pFRGuh/+MH3QAiAFDqI3
bIoI6+3suIIPzcmBzTY9GorDZBTzNQmGqsFCxg==
-----END CERTIFICATE-----
"""
TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsG0/zVTxuRblckWh
to7MjsPi0q3KK7RP/6ko2wUQn3mhRANCAASj+dBfr5KJyTOqw93FJNnPMRZmSwuc
/+pTQ7VE9rWS0dePMRBHjSFVG/uhNLZ+x324nm+sf8mtTLHg3iK11IVs
-----END PRIVATE KEY-----
"""


def test_https_connects_to_the_vetted_ip_with_sni_and_certificate_name(tmp_path):
    (tmp_path / "cert.pem").write_text(TEST_CERT)
    (tmp_path / "key.pem").write_text(TEST_KEY)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sni_seen = []
    ctx.sni_callback = lambda sock, name, context: sni_seen.append(name)
    lookups = []

    def resolver(host, port):  # feeds.test only exists here; it points at the local server
        lookups.append(host)
        return ["127.0.0.1"] if host == "feeds.test" else []

    opts = LOCAL.with_settings(ca_certs=str(tmp_path / "cert.pem"))
    with LocalHTTPServer(ssl_context=ctx) as tls, Fetcher(opts, resolver=resolver) as fetcher:
        url = tls.route("/secure.xml", serve_feed(rss(2)))
        items = list(poll_feed(tls.url("/secure.xml", host="feeds.test"), fetcher=fetcher))
        assert [a["title"] for a in items] == ["Item 0", "Item 1"]
        assert tls.requests_to("/secure.xml")[-1].headers["Host"] == f"feeds.test:{tls.port}"
        assert sni_seen[-1] == "feeds.test" and lookups == ["feeds.test"]  # one lookup: the vetted IP is used
        [dead] = list(poll_feed(url, fetcher=fetcher))  # https://127.0.0.1: the certificate does not name it
        assert "TLS" in dead.error and tls.hits("/secure.xml") == 1


def test_per_host_concurrency_and_min_delay(server):
    probe = ConcurrencyProbe(rss(1), "application/rss+xml", hold=0.2)
    url = server.route("/probe.xml", probe)
    opts = LOCAL.with_settings(per_host_concurrency=1, min_delay_seconds=0.0)
    with Fetcher(opts) as fetcher, concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: fetcher.fetch(url), range(3)))
    assert all(r.ok for r in results) and probe.peak == 1
    server.route("/spaced.xml", serve_feed(rss(1)))
    with Fetcher(LOCAL.with_settings(min_delay_seconds=0.3)) as fetcher:
        for _ in range(2):
            assert fetcher.fetch(server.url("/spaced.xml", host="localhost")).ok
    first, second = server.requests_to("/spaced.xml")[-2:]
    assert second.at - first.at >= 0.29


def test_full_text_fetches_linked_pages_for_short_entries(server):
    article = (b"<html><head><title>Full story</title></head><body><article><h1>Full story</h1>"
               + b"<p>The whole article text is here, much longer than the summary.</p>" * 20 + b"</article></body></html>")
    server.route("/story/0", serve_bytes(article, "text/html; charset=utf-8"))
    server.route("/story/1", serve_status(404))
    long_text = "This entry carries its whole text in the feed already. " * 20
    feed = rss(3, link=server.url("/story/{i}")).replace(b"A short summary of item 2.", long_text.encode())
    url = server.route("/summaries.xml", serve_feed(feed))
    with Fetcher(LOCAL.with_settings(fetch_full_text=True, full_text_min_chars=200)) as fetcher:
        items = list(poll_feed(url, fetcher=fetcher))
        stats = fetcher.drain_stats()
    a0, a1, a2 = items
    assert a0["text"] is None and "The whole article text is here" in a0["html"]
    assert a1["html"] == "A short summary of item 1."  # the page failed: the summary stays
    assert a2["html"].startswith("This entry carries") and server.hits("/story/2") == 0
    assert stats["full_text.fetched"] == 1 and stats["full_text.failed"] == 1


# ---------------------------------------------------------------------------
# feed cache
# ---------------------------------------------------------------------------


def test_feed_cache_round_trip_is_atomic(tmp_path):
    cache = FeedCache()
    assert cache.remember("http://a.example/rss", {"ETag": '"x"', "Last-Modified": "Mon, 03 Feb 2025 10:00:00 GMT"})
    assert not cache.remember("http://a.example/rss", {"etag": '"x"', "last-modified": "Mon, 03 Feb 2025 10:00:00 GMT"})
    cache.remember("http://b.example/rss", {"ETag": 'W/"y"'})
    path = cache.save(str(tmp_path))
    assert os.listdir(os.path.dirname(path)) == ["feed_cache.json"]  # no temporary file left behind
    loaded = FeedCache.load(str(tmp_path))
    assert loaded.request_headers("http://b.example/rss") == {"If-None-Match": 'W/"y"'}
    assert loaded.get("http://a.example/rss") == cache.get("http://a.example/rss")
    assert len(FeedCache.load(str(tmp_path / "nothing-yet"))) == 0


def test_corrupt_feed_cache_is_ignored(tmp_path):
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "feed_cache.json").write_text("{not json")
    assert len(FeedCache.load(str(tmp_path))) == 0


# ---------------------------------------------------------------------------
# OPML and feeds.yaml
# ---------------------------------------------------------------------------

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>My subscriptions</title></head><body>
  <outline text="World">
    <outline type="rss" text="A" xmlUrl="https://a.example/rss.xml" htmlUrl="https://a.example/"/>
    <outline text="Deeper"><outline type="rss" text="B" xmlUrl=" https://b.example/atom " /></outline>
  </outline>
  <outline type="rss" text="A again" xmlUrl="https://a.example/rss.xml"/>
  <outline text="a folder without a feed"/>
  <outline type="rss" text="C" xmlurl="http://c.example/feed"/>
</body></opml>"""


def test_read_opml_collects_nested_xml_urls_once():
    assert read_opml(OPML) == ["https://a.example/rss.xml", "https://b.example/atom", "http://c.example/feed"]


@pytest.mark.parametrize(
    "doc, why",
    [
        (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x "y">]><opml><body><outline xmlUrl="&x;"/></body></opml>', "DOCTYPE"),
        (b'<!DOCTYPE opml SYSTEM "http://evil.example/x.dtd"><opml><body/></opml>', "DOCTYPE"),
        ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE opml [<!ENTITY x "y">]><opml/>'.encode("utf-16"), "DOCTYPE"),
        (b"<rss><channel/></rss>", "not an OPML"),
        (b"<opml><body><outline", "not well-formed"),
        (b"   ", "empty"),
    ],
)
def test_read_opml_refuses_unsafe_or_wrong_documents(doc, why):
    with pytest.raises(RejectedInput, match=why):
        read_opml(doc)


def test_repo_feeds_yaml_lists_no_feeds_and_valid_options():
    config = load_feeds_config(os.path.join(REPO, "configs", "feeds.yaml"))
    assert config.feeds == ()
    assert config.options.total_timeout == 30 and config.options.per_host_concurrency == 2
    assert not config.options.fetch_full_text and not config.options.allow_private_networks


def test_feeds_config_reads_feeds_opml_and_timeouts(tmp_path):
    (tmp_path / "subs.opml").write_bytes(OPML)
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {url: 'https://a.example/rss.xml', name: A}\n  - https://z.example/rss\n"
        "opml: subs.opml\nfetch_full_text: true\ntimeouts: {connect_seconds: 2, total_seconds: 9}\n"
        "max_bytes: 1000\nmin_delay_seconds: 0.5\nallowed_networks: ['10.1.0.0/16']\n"
    )
    config = load_feeds_config(str(tmp_path / "feeds.yaml"))
    assert config.urls == ["https://a.example/rss.xml", "https://z.example/rss", "https://b.example/atom", "http://c.example/feed"]
    assert config.feeds[0].name == "A"
    o = config.options
    assert (o.connect_timeout, o.total_timeout, o.max_bytes, o.min_delay_seconds, o.fetch_full_text) == (2, 9, 1000, 0.5, True)
    assert o.allowed_networks == ("10.1.0.0/16",)


@pytest.mark.parametrize(
    "raw, why",
    [
        ({"feeds": "https://a.example"}, "'feeds' must be a list"),
        ({"feeds": [{"name": "no url"}]}, r"feeds\[0\] needs a 'url'"),
        ({"feed": []}, "unknown key"),
        ({"timeouts": {"read": 3}}, "timeouts"),
        ({"max_bytes": -1}, "max_bytes"),
    ],
)
def test_feeds_config_errors_name_the_key(raw, why):
    from transforms.io.fetch import FeedsConfigError

    with pytest.raises(FeedsConfigError, match=why):
        feeds_config_from_dict(raw, "feeds.yaml")


# ---------------------------------------------------------------------------
# PollFeeds through Beam
# ---------------------------------------------------------------------------


def test_poll_feeds_pipeline_routes_articles_and_dead_letters_and_saves_the_cache(server, tmp_path):
    a = server.route("/beam-a.xml", serve_feed(rss(2), etag='"a1"'))
    b = server.route("/beam-b.xml", serve_feed(rss(1).replace(b"Item 0", b"Other 0"), last_modified="Mon, 03 Feb 2025 10:00:00 GMT"))
    missing = server.url("/beam-missing.xml")
    state = str(tmp_path / "state")
    opts = LOCAL.with_settings(allow_private_networks=False, allowed_networks=("127.0.0.1/32",))

    with TestPipeline() as p:
        raw, dead = p | "Poll" >> PollFeeds([a, b, missing, a], state_dir=state, options=opts)
        assert_that(raw | beam.Map(lambda r: (r["origin"], r["title"])),
                    equal_to([(f"{a}#entry 0", "Item 0"), (f"{a}#entry 1", "Item 1"), (f"{b}#entry 0", "Other 0")]),
                    label="Articles")
        assert_that(dead | beam.Map(lambda d: (d["source"], d["stage"], d["error"].split(" (")[0])),
                    equal_to([(missing, "fetch", "HTTP 404")]), label="DeadLetters")
    saved = json.loads((tmp_path / "state" / "feeds" / "feed_cache.json").read_text())["feeds"]
    assert saved == {a: {"etag": '"a1"'}, b: {"last_modified": "Mon, 03 Feb 2025 10:00:00 GMT"}}

    # a second scheduled run with the same state: both feeds answer 304
    with TestPipeline() as p:
        raw, dead = p | "Poll" >> PollFeeds([a, b], state_dir=state, options=opts)
        assert_that(raw, equal_to([]), label="NoArticles")
        assert_that(dead, equal_to([]), label="NoDeadLetters")
    assert [s.headers.get("If-None-Match") for s in server.requests_to("/beam-a.xml")][-1] == '"a1"'
    assert [s.headers.get("If-Modified-Since") for s in server.requests_to("/beam-b.xml")][-1] == "Mon, 03 Feb 2025 10:00:00 GMT"


def test_poll_feeds_refuses_loopback_by_default_in_the_pipeline(server):
    url = server.route("/beam-guarded.xml", serve_feed(rss(1)))
    with TestPipeline() as p:
        raw, dead = p | PollFeeds([url], options=FetchOptions(min_delay_seconds=0))
        assert_that(raw, equal_to([]), label="NoArticles")
        assert_that(dead | beam.Map(lambda d: (d["source"], d["stage"], "loopback" in d["error"])),
                    equal_to([(url, "fetch", True)]), label="Refused")
    assert server.hits("/beam-guarded.xml") == 0
