"""The conditional-GET memory: validators kept, saved atomically, a corrupt file ignored."""

from __future__ import annotations

import os

from transforms.io.feedcache import FeedCache


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
