"""The fetcher's exact values and boundaries: option checks and their messages, the backoff
schedule, body limits at and one byte over, the partial body a refused fetch keeps, the byte
counter, the per-request deadline. Real HTTP on 127.0.0.1 (tests/support/httpserver.py).

test_http.py checks the behaviours (retries, deadlines, SSRF, politeness); this file pins the
numbers and names those behaviours rest on, so a changed limit or message fails here.
"""

from __future__ import annotations

import gzip
import os
import socket
import threading
import time
import uuid

import pytest

from tests.support.feeds import LOCAL
from tests.support.feeds import rss
from tests.support.httpserver import (
    LocalHTTPServer,
    serve_bytes,
    serve_endless,
    serve_feed,
    serve_redirect,
    serve_sequence,
    serve_status,
)
from transforms.io.http import (
    _MAX_POOLS,
    FEED_ACCEPT,
    USER_AGENT,
    Fetcher,
    FetchOptions,
    _Deadline,
    _Failure,
    _gate,
    _retry_after_seconds,
    ipv4_first,
    system_resolver,
)
from transforms.io.ssrf import check_url


@pytest.fixture(scope="module")
def server():
    with LocalHTTPServer() as srv:
        yield srv


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"connect_timeout": 0}, "connect_timeout must be > 0, got 0"),
        ({"total_timeout": -1.0}, "total_timeout must be > 0, got -1.0"),
        ({"max_bytes": 0}, "max_bytes must be a positive integer, got 0"),
        ({"page_max_bytes": 1.5}, "page_max_bytes must be a positive integer, got 1.5"),
        ({"per_host_concurrency": 0}, "per_host_concurrency must be a positive integer, got 0"),
        ({"max_redirects": -1}, "max_redirects must be an integer >= 0, got -1"),
        ({"max_retries": 1.0}, "max_retries must be an integer >= 0, got 1.0"),
        ({"full_text_min_chars": -1}, "full_text_min_chars must be an integer >= 0, got -1"),
        ({"full_text_max_pages": -2}, "full_text_max_pages must be an integer >= 0, got -2"),
        ({"backoff_base": -0.5}, "backoff_base must be >= 0, got -0.5"),
        ({"backoff_max": -1}, "backoff_max must be >= 0, got -1"),
        ({"retry_after_cap": -3}, "retry_after_cap must be >= 0, got -3"),
        ({"min_delay_seconds": -0.1}, "min_delay_seconds must be >= 0, got -0.1"),
    ],
)
def test_each_bad_option_is_refused_by_name_with_its_value(setting, message):
    with pytest.raises(ValueError) as info:
        FetchOptions(**setting)
    assert str(info.value) == message


def test_the_smallest_allowed_option_values_are_accepted():
    opts = FetchOptions(
        connect_timeout=0.001, total_timeout=0.001, max_bytes=1, page_max_bytes=1, per_host_concurrency=1,
        max_redirects=0, max_retries=0, full_text_min_chars=0, full_text_max_pages=0,
        backoff_base=0, backoff_max=0, retry_after_cap=0, min_delay_seconds=0,
    )  # fmt: skip
    assert (opts.max_bytes, opts.max_redirects, opts.backoff_base) == (1, 0, 0)


def test_allowed_networks_become_a_tuple_and_a_bad_one_is_refused():
    assert FetchOptions(allowed_networks=["10.0.0.0/8", "fd00::/8"]).allowed_networks == ("10.0.0.0/8", "fd00::/8")
    assert FetchOptions(allowed_networks=("10.1.2.3/8",)).allowed_networks == ("10.1.2.3/8",)  # host bits: fine
    with pytest.raises(ValueError, match="10.0.0.300/8"):
        FetchOptions(allowed_networks=("10.0.0.300/8",))


def test_with_settings_changes_only_what_it_is_given():
    opts = FetchOptions(max_retries=4)
    assert opts.with_settings() is opts
    changed = opts.with_settings(max_bytes=123)
    assert (changed.max_bytes, changed.max_retries, opts.max_bytes) == (123, 4, 10_000_000)


# ----------------------------------------------------------------------------- backoff


def test_backoff_doubles_up_to_its_cap_without_jitter():
    with Fetcher(FetchOptions(jitter_seed=None, backoff_base=0.5, backoff_max=3.0)) as fetcher:
        assert [fetcher._backoff(a) for a in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_jitter_is_seeded_and_between_half_and_all_of_the_delay():
    # random.Random(0)'s first four draws, each delay times 0.5 + draw / 2
    with Fetcher(FetchOptions(jitter_seed=0, backoff_base=0.5, backoff_max=8.0)) as fetcher:
        got = [fetcher._backoff(a) for a in range(4)]
    assert got == pytest.approx([0.46110546288126203, 0.8789772014701512, 1.420571580830845, 2.517833500585927])


# ----------------------------------------------------------------------------- body limits


def _fetch(url: str, **settings):
    with Fetcher(LOCAL.with_settings(**{"max_retries": 0, **settings})) as fetcher:
        result = fetcher.fetch(url)
        return result, fetcher.drain_stats()


def test_a_body_of_exactly_the_limit_is_read_whole_and_counted(server):
    payload = os.urandom(150_000)  # over two 64 KB reads, so the chunks are joined
    url = server.route("/exact.bin", serve_bytes(payload, "application/octet-stream"))
    result, stats = _fetch(url, max_bytes=150_000)
    assert result.ok and result.body == payload
    assert stats["bytes"] == 150_000 and stats["requests"] == 1


def test_a_declared_length_one_byte_over_the_limit_is_refused_before_the_body_is_read(server):
    url = server.route("/declared.bin", serve_bytes(b"a" * 100_001, "application/octet-stream"))
    result, stats = _fetch(url, max_bytes=100_000)
    assert (result.error_kind, result.error) == ("too_large", "body is 100001 bytes, over the 100000-byte limit")
    assert stats.get("bytes", 0) == 0 and result.body == b""


def test_a_compressed_length_over_the_limit_is_not_refused_when_the_decoded_body_fits(server):
    # random bytes grow a little under gzip: the declared (wire) length is over the limit, the body is not
    payload = os.urandom(100_000)
    wire = gzip.compress(payload)
    assert len(wire) > 100_000
    url = server.route("/gz.bin", serve_bytes(wire, "application/octet-stream", {"Content-Encoding": "gzip"}))
    result, stats = _fetch(url, max_bytes=100_000)
    assert result.ok and result.body == payload and stats["bytes"] == 100_000


def test_a_decoded_body_over_the_limit_keeps_what_was_read_before_it(server):
    url = server.route("/endless-values.xml", serve_endless())
    result, stats = _fetch(url, max_bytes=200_000)
    assert result.error_kind == "too_large"
    assert result.error == "body is over the 200000-byte limit (after decompression)"
    block = b"<item>" + b"x" * (65536 - 13) + b"</item>\n"
    assert 0 < len(result.body) <= 200_000 < stats["bytes"]
    assert result.body == (block * 4)[: len(result.body)]  # the stream's first bytes, chunks joined as read


# ----------------------------------------------------------------------------- deadline, gates


def test_a_connection_attached_after_the_deadline_fails_as_a_timeout():
    with _Deadline(0.05) as deadline:
        time.sleep(0.3)
        assert deadline.expired
        with pytest.raises(_Failure) as info:
            deadline.attach(object())
    assert (info.value.kind, info.value.reason) == ("timeout", "total deadline passed")


def test_the_deadline_shuts_the_attached_socket_down_when_it_fires():
    ours, theirs = socket.socketpair()
    conn = type("Conn", (), {"sock": ours})()
    try:
        with _Deadline(0.1) as deadline:
            _Deadline.attach_current(conn)  # the deadline of this thread's request
            theirs.settimeout(5)
            assert theirs.recv(1) == b""  # the shutdown reaches the other end
            assert deadline.expired
    finally:
        ours.close()
        theirs.close()
    _Deadline.attach_current(conn)  # no request running: nothing to attach to, no error


def test_the_deadline_counts_down_and_fires_with_nothing_attached():
    errors: list = []
    hook, threading.excepthook = threading.excepthook, errors.append
    try:
        with _Deadline(5.0) as long:
            assert 4.0 < long.remaining() <= 5.0
        with _Deadline(0.05) as short:  # fires before any connection is attached
            time.sleep(0.3)
        assert short.expired and short.remaining() < 0
    finally:
        threading.excepthook = hook
    assert errors == []


def test_a_host_gate_admits_its_limit_at_once_and_no_more():
    host = f"gate-{uuid.uuid4().hex}.example"  # a new gate, made in this test (the table outlives tests)
    gate = _gate(host, 2)
    assert _gate(host, 2) is gate and _gate(host, 3) is not gate
    assert gate.next_start == 0.0
    assert gate.semaphore.acquire(blocking=False) and gate.semaphore.acquire(blocking=False)
    assert not gate.semaphore.acquire(blocking=False)
    gate.semaphore.release()
    gate.semaphore.release()
    with pytest.raises(ValueError):  # bounded: a release too many is a bug, not a larger limit
        gate.semaphore.release()


def test_addresses_are_ordered_ipv4_first_without_repeats():
    assert ipv4_first(["::1", "127.0.0.1", "::1", "10.0.0.1", "127.0.0.1"]) == ["127.0.0.1", "10.0.0.1", "::1"]
    assert ipv4_first([]) == []


def test_a_retry_after_date_without_a_time_zone_is_ignored():
    assert _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 -0000") is None
    assert _retry_after_seconds(" 7 ") == 7.0


def test_the_system_resolver_answers_for_the_host_asked():
    assert system_resolver("127.0.0.2", 443) == ["127.0.0.2"]


# ----------------------------------------------------------------------------- DNS through the fetcher


def test_a_slow_dns_answer_is_cut_at_the_connect_timeout():
    def slow(host, port):
        time.sleep(3.0)
        return ["93.184.216.34"]

    opts = FetchOptions(connect_timeout=0.2, max_retries=0, min_delay_seconds=0)
    started = time.monotonic()
    with Fetcher(opts, resolver=slow) as fetcher:
        result = fetcher.fetch("http://slow.example/rss")
    took = time.monotonic() - started  # closing does not wait for the lookup still running
    assert (result.error_kind, result.error) == ("dns", "DNS lookup of slow.example timed out")
    assert took < 1.5  # 0.2 s here; waiting for the lookup would take 3 s


def test_the_resolver_is_asked_for_the_host_and_port_and_an_empty_answer_is_a_dns_failure():
    asked = []

    def empty(host, port):
        asked.append((host, port))
        return []

    with Fetcher(FetchOptions(max_retries=0, min_delay_seconds=0), resolver=empty) as fetcher:
        result = fetcher.fetch("https://empty.example:8443/feed")
    assert asked == [("empty.example", 8443)]
    assert (result.error_kind, result.error) == ("dns", "DNS lookup of empty.example returned no address")


# ----------------------------------------------------------------------------- connection pools


def test_a_pool_per_host_and_address_is_kept_and_reused_with_the_fetch_settings():
    opts = LOCAL.with_settings(per_host_concurrency=3)
    with Fetcher(opts) as fetcher:
        target = check_url("http://127.0.0.1:8080/feed", allow_private_networks=True)
        pool = fetcher._pool(target, "127.0.0.1")
        assert fetcher._pool(target, "127.0.0.1") is pool
        assert (pool.host, pool.port, pool.block, pool.retries, pool.pool.maxsize) == ("127.0.0.1", 8080, False, False, 3)
        secure = check_url("https://feeds.example/rss", allow_private_networks=True)
        tls = fetcher._pool(secure, "93.184.216.34")
        assert tls is not pool and tls.host == "93.184.216.34"
        assert (tls.assert_hostname, tls.cert_reqs, tls.block, tls.retries) == ("feeds.example", "CERT_REQUIRED", False, False)
        assert tls.pool.maxsize == 3 and tls.ca_certs == fetcher._ca_certs and tls.ca_certs


def test_past_the_pool_limit_the_least_recently_used_pool_is_closed_first():
    with Fetcher(LOCAL) as fetcher:
        targets = [check_url(f"http://127.0.0.1:{1000 + i}/", allow_private_networks=True) for i in range(_MAX_POOLS)]
        pools = [fetcher._pool(t, "127.0.0.1") for t in targets]
        fetcher._pool(targets[0], "127.0.0.1")  # the first is used again: the second is now the oldest
        fetcher._pool(check_url("http://127.0.0.1:999/", allow_private_networks=True), "127.0.0.1")
        kept = {key[2] for key in fetcher._pools}
        assert len(fetcher._pools) == _MAX_POOLS == 64
        assert 1000 in kept and 1001 not in kept and 999 in kept
        assert pools[1].pool is None and pools[0].pool is not None  # urllib3 empties a closed pool's queue


# ----------------------------------------------------------------------------- what a fetch sends and says


def test_a_fetch_sends_the_feed_accept_headers_and_the_user_agent(server):
    url = server.route("/headers.xml", serve_feed(rss(1)))
    result, _ = _fetch(url)
    [seen] = server.requests_to("/headers.xml")
    assert result.ok and 0 <= result.elapsed < 5 and result.url == result.final_url == url
    assert seen.headers["Accept"] == FEED_ACCEPT and seen.headers["Accept-Encoding"] == "gzip, deflate"
    assert seen.headers["User-Agent"] == USER_AGENT and seen.headers["Host"] == f"127.0.0.1:{server.port}"


def _silent(req):
    time.sleep(1.5)


def _truncated(req):
    req.send_response(200)
    req.send_header("Content-Length", "1000")
    req.end_headers()
    req.wfile.write(b"0123456789")
    req.close_connection = True


def _bad_gzip(req):
    body = b"not gzip at all " * 8
    req.send_response(200)
    req.send_header("Content-Encoding", "gzip")
    req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    req.wfile.write(body)


@pytest.mark.parametrize(
    "path, handler, settings, kind, errors",
    [
        ("/kinds/404", serve_status(404), {}, "http_status", ["HTTP 404"]),
        ("/kinds/302", serve_status(302), {}, "http_status", ["HTTP 302 redirect without a Location"]),
        ("/kinds/truncated", _truncated, {}, "connection", ["connection failed: ('Connection broken: IncompleteRead"]),
        ("/kinds/bad-gzip", _bad_gzip, {}, "decode", ["content decoding failed: "]),
        # urllib3's read timeout and the total deadline both end at total_timeout: either may come first
        ("/kinds/silent", _silent, {"total_timeout": 0.5}, "timeout",
         ["total deadline of 0.5 s passed", "timed out (ReadTimeoutError)", "timed out (TimeoutError)"]),
    ],
)  # fmt: skip
def test_each_failure_has_its_kind_and_its_message(server, path, handler, settings, kind, errors):
    url = server.route(path, handler)
    result, _ = _fetch(url, **settings)
    assert result.error_kind == kind
    assert any(result.error.startswith(e) for e in errors), result.error


def test_a_refused_connection_is_one_attempt_of_ours_not_urllib3_retries():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result, _ = _fetch(f"http://127.0.0.1:{port}/feed")
    assert result.error_kind == "connection" and result.error.startswith("connection failed: ")
    assert "Connection refused" in result.error and "Max retries" not in result.error


def test_a_refused_first_address_is_named_without_a_redirect():
    with Fetcher(FetchOptions(max_retries=0, min_delay_seconds=0)) as fetcher:
        result = fetcher.fetch("http://10.1.2.3/rss")
    assert result.error_kind and not result.error.startswith("redirect to")
    assert "10.1.2.3" in result.error


def test_a_retry_after_over_the_cap_is_said_after_the_status(server):
    url = server.route("/over-cap", serve_status(503, headers={"Retry-After": "3600"}))
    result, _ = _fetch(url, max_retries=2)
    assert result.error == "HTTP 503 (Retry-After 3600 s is over the 30 s cap)" and result.attempts == 1


def test_a_retry_after_equal_to_the_cap_is_waited_for(server):
    url = server.route("/at-cap", serve_sequence(serve_status(503, headers={"Retry-After": "0"}), serve_feed(rss(1))))
    result, _ = _fetch(url, max_retries=1, retry_after_cap=0)
    assert result.ok and result.attempts == 2 and server.hits("/at-cap") == 2


@pytest.mark.parametrize("status, expected", [(429, 7.0), (503, 7.0), (500, None), (502, None)])
def test_retry_after_is_read_on_429_and_503_only(server, status, expected):
    url = server.route(f"/retry-after-{status}", serve_status(status, headers={"Retry-After": "7"}))
    result, _ = _fetch(url)
    assert result.retry_after == expected and result.error == f"HTTP {status}"


def test_the_politeness_delay_is_per_host(server):
    server.route("/polite.xml", serve_feed(rss(1)))
    opts = LOCAL.with_settings(min_delay_seconds=1.0, max_retries=0)
    with Fetcher(opts) as fetcher:
        first = fetcher.fetch(server.url("/polite.xml", host="127.0.0.1"))
        started = time.monotonic()
        other = fetcher.fetch(server.url("/polite.xml", host="localhost"))  # another host name: no wait
        took = time.monotonic() - started
    assert first.ok and other.ok and took < 0.8


def test_too_many_redirects_is_an_error_that_names_the_limit(server):
    loop = server.route("/loop-values", serve_redirect("/loop-values"))
    result, _ = _fetch(loop, max_redirects=2)
    assert (result.error_kind, result.error) == ("too_many_redirects", "too many redirects (more than 2)")
    assert not result.ok and result.url == loop


def test_https_to_a_plain_http_server_is_a_tls_failure(server):
    server.route("/plain-values.xml", serve_feed(rss(1)))
    result, _ = _fetch(f"https://127.0.0.1:{server.port}/plain-values.xml")
    assert result.error_kind == "tls" and result.error.startswith("TLS error: ")


def test_request_starts_to_one_host_are_spaced_by_the_minimum_delay():
    gate = _gate(f"spacing-{uuid.uuid4().hex}.example", 2)
    with Fetcher(FetchOptions(min_delay_seconds=0.3)) as fetcher:
        started = time.monotonic()
        fetcher._polite_start(gate)  # the first start: no wait
        first = time.monotonic() - started
        fetcher._polite_start(gate)
        second = time.monotonic() - started
    assert first < 0.5 and 0.28 <= second < 1.5
    assert gate.next_start == pytest.approx(started + 0.6, abs=0.5)


def test_dns_lookups_run_on_the_fetchers_named_threads():
    threads = []

    def resolver(host, port):
        threads.append(threading.current_thread().name)
        return []

    with Fetcher(FetchOptions(max_retries=0, min_delay_seconds=0), resolver=resolver) as fetcher:
        fetcher.fetch("http://threads.example/")
    assert len(threads) == 1 and threads[0].startswith("newsbeam-dns_")


def test_a_resolved_address_in_an_allowed_network_is_fetched(server):
    server.route("/allowed.xml", serve_feed(rss(1)))
    opts = FetchOptions(allowed_networks=("127.0.0.0/8",), max_retries=0, min_delay_seconds=0)
    with Fetcher(opts, resolver=lambda host, port: ["127.0.0.1"]) as fetcher:
        result = fetcher.fetch(f"http://allowed.example:{server.port}/allowed.xml")
    assert result.ok and result.status == 200
