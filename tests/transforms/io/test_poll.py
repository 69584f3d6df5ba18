"""Polling feeds against a real HTTP server on 127.0.0.1: conditional GET,
one dead letter per failed feed, unsafe or non-feed bodies, full text of
linked pages, and PollFeeds through Beam with its feed cache under --state."""

from __future__ import annotations

import json
import tracemalloc

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.feeds import ENTITY_BOMB, HTML_PAGE, LOCAL, articles_of, rss
from tests.support.httpserver import LocalHTTPServer, serve_bytes, serve_feed, serve_status
from transforms.common.records import Rejected
from transforms.io.feedcache import FeedCache, cache_key
from transforms.io.http import USER_AGENT, Fetcher, FetchOptions
from transforms.io.poll import PollFeeds, fetch_feed, needs_full_text, poll_feed


@pytest.fixture(scope="module")
def server():
    with LocalHTTPServer() as srv:
        yield srv


def test_needs_full_text_only_for_short_linked_entries():
    assert needs_full_text({"html": "<p>Short &amp; sweet.</p>", "url": "https://a.example/1"}, 100)
    assert not needs_full_text({"html": "<p>" + "word " * 100 + "</p>", "url": "https://a.example/1"}, 100)
    assert not needs_full_text({"html": "<p>Short</p>", "url": None}, 100)
    assert not needs_full_text({"text": "Short", "url": "mailto:x@example.org"}, 100)


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


@pytest.mark.slow
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
    assert saved == {cache_key(a): {"feed": a, "etag": '"a1"'},  # keyed by a hash of the URL
                     cache_key(b): {"feed": b, "last_modified": "Mon, 03 Feb 2025 10:00:00 GMT"}}  # fmt: skip

    # a second scheduled run with the same state: both feeds answer 304
    with TestPipeline() as p:
        raw, dead = p | "Poll" >> PollFeeds([a, b], state_dir=state, options=opts)
        assert_that(raw, equal_to([]), label="NoArticles")
        assert_that(dead, equal_to([]), label="NoDeadLetters")
    assert [s.headers.get("If-None-Match") for s in server.requests_to("/beam-a.xml")][-1] == '"a1"'
    assert [s.headers.get("If-Modified-Since") for s in server.requests_to("/beam-b.xml")][-1] == "Mon, 03 Feb 2025 10:00:00 GMT"


@pytest.mark.slow
def test_poll_feeds_refuses_loopback_by_default_in_the_pipeline(server):
    url = server.route("/beam-guarded.xml", serve_feed(rss(1)))
    with TestPipeline() as p:
        raw, dead = p | PollFeeds([url], options=FetchOptions(min_delay_seconds=0))
        assert_that(raw, equal_to([]), label="NoArticles")
        assert_that(dead | beam.Map(lambda d: (d["source"], d["stage"], "loopback" in d["error"])),
                    equal_to([(url, "fetch", True)]), label="Refused")
    assert server.hits("/beam-guarded.xml") == 0


# --------------------------------------------------------------------------- credentials


def test_feed_credentials_never_reach_origins_or_dead_letters(server):
    ok = server.route("/private.xml", serve_feed(rss(2)))
    denied = server.route("/denied.xml", serve_status(401, b"login required"))
    with_token = ok + "?token=abc123&lang=en"
    with_password = ok.replace("http://", "http://reader:hunter2@")  # refused: credentials in a URL
    with Fetcher(LOCAL) as fetcher:
        articles = list(poll_feed(with_token, fetcher=fetcher))
        [refused] = list(poll_feed(with_password, fetcher=fetcher))
        [unauthorized] = list(poll_feed(denied + "?api_key=abc123", fetcher=fetcher))
    assert [a["origin"] for a in articles] == [f"{ok}?token=***&lang=en#entry {i}" for i in range(2)]
    assert refused.to_record()["source"] == ok.replace("http://", "http://***@")
    assert "credentials are refused" in refused.error
    assert unauthorized.to_record()["source"] == denied + "?api_key=***"
    text = json.dumps([articles, refused.to_record(), unauthorized.to_record()])
    assert "hunter2" not in text and "abc123" not in text and "reader" not in text


def test_a_feed_of_bad_entries_is_capped(server):
    empty_items = "".join("<item><guid>urn:x:%d</guid></item>" % i for i in range(1500))
    body = f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>{empty_items}</channel></rss>".encode()
    url = server.route("/empty-entries.xml", serve_feed(body))
    with Fetcher(LOCAL) as fetcher:
        items = list(poll_feed(url, fetcher=fetcher))
    assert len(items) == 1001 and all(isinstance(i, Rejected) for i in items)
    assert items[-1].count == 500 and items[-1].source == url
