"""A feed cache written before version 2 (plain, credentialed URLs as keys) keeps working and is
rewritten without the URLs by the next batch run with --state (a real run, a real HTTP server)."""

from __future__ import annotations

import json

import pytest

from transforms.io.feedcache import cache_key
from tests.support.cli import run_main
from tests.support.feeds import rss
from tests.support.httpserver import LocalHTTPServer, serve_feed


@pytest.mark.slow  # the run in this process: the cache file and the requests are what is asserted
def test_a_version_1_feed_cache_is_still_used_then_rewritten_without_the_credentialed_url(tmp_path):
    state, out = tmp_path / "state", tmp_path / "out"
    (state / "feeds").mkdir(parents=True)
    with LocalHTTPServer() as server:
        server.route("/feed.xml", serve_feed(rss(2), etag='"v1"'))
        feed = server.url("/feed.xml") + "?token=t0k3n-value"
        old = {"version": 1, "feeds": {feed: {"etag": '"v1"'}}}
        (state / "feeds" / "feed_cache.json").write_text(json.dumps(old))
        done = run_main("--feed", feed, "--allow-private-networks", "--state", str(state), "--output", str(out))
        asked = [s.headers.get("If-None-Match") for s in server.seen if s.path == "/feed.xml"]
    assert asked == ['"v1"'], done.stderr[-2000:]  # the old entry answered the conditional GET: a 304
    assert "Traceback" not in done.stderr and done.returncode in (0, 3), done.stderr[-2000:]  # 3: nothing new read
    cache = (state / "feeds" / "feed_cache.json").read_text()
    assert "t0k3n-value" not in cache
    assert json.loads(cache) == {"version": 2, "feeds": {cache_key(feed): {
        "feed": feed.replace("t0k3n-value", "***"), "etag": '"v1"'}}}  # fmt: skip
