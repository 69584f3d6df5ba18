"""The Fetcher against a real HTTP server on 127.0.0.1: options, retries and
backoff, deadlines, size caps, redirects, the SSRF guard on every hop and DNS
answer, TLS to the vetted address, per-host politeness.

No external network: every URL is 127.0.0.1 / localhost, or an address the
guard must refuse before connecting; DNS for made-up names goes through an
injected resolver, never the system one.
"""

from __future__ import annotations

import concurrent.futures
import socket
import ssl
import time
import tracemalloc

import pytest

from tests.support.feeds import LOCAL, articles_of, rss, run_bounded
from tests.support.httpserver import (
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
from transforms.io.http import Fetcher, FetchOptions, _retry_after_seconds
from transforms.io.poll import fetch_feed, poll_feed


@pytest.fixture(scope="module")
def server():
    with LocalHTTPServer() as srv:
        yield srv


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
        started = time.monotonic()
        for _ in range(2):
            assert fetcher.fetch(server.url("/spaced.xml", host="localhost")).ok
        elapsed = time.monotonic() - started
    first, second = server.requests_to("/spaced.xml")[-2:]
    # the second request starts 0.3 s after the first at the earliest: a lower bound load cannot
    # shorten; the server's arrival times (0.25 s apart on a loaded 2-core machine) get a margin
    assert elapsed >= 0.3 and second.at - first.at >= 0.2
