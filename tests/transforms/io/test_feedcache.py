"""The conditional-GET memory: validators kept, saved atomically, a corrupt file ignored."""

from __future__ import annotations

import json
import os

from transforms.io.feedcache import FeedCache, cache_key


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


SECRET_URL = "https://reader:s3cr3t@feeds.example/rss?api_key=k3y-value&lang=en"


def test_a_credentialed_feed_url_is_kept_by_its_hash_and_shown_redacted(tmp_path):
    cache = FeedCache()
    cache.remember(SECRET_URL, {"ETag": '"v1"'})
    path = cache.save(str(tmp_path))
    text = open(path, encoding="utf-8").read()
    assert "s3cr3t" not in text and "k3y-value" not in text
    saved = json.loads(text)
    assert saved == {"version": 2, "feeds": {cache_key(SECRET_URL): {
        "feed": "https://***@feeds.example/rss?api_key=***&lang=en", "etag": '"v1"'}}}  # fmt: skip
    loaded = FeedCache.load(str(tmp_path))
    assert loaded.request_headers(SECRET_URL) == {"If-None-Match": '"v1"'}
    other = SECRET_URL.replace("k3y-value", "another")  # same redacted form, another feed: not confused
    assert loaded.request_headers(other) == {} and cache_key(other) != cache_key(SECRET_URL)
    key, entry = loaded.update(SECRET_URL)  # what a worker sends to the saving step: no credential
    assert key == cache_key(SECRET_URL) and "s3cr3t" not in json.dumps(entry)


def test_a_version_1_cache_keyed_by_plain_urls_is_read_and_migrated_in_place(tmp_path):
    (tmp_path / "feeds").mkdir()
    old = {"version": 1, "feeds": {SECRET_URL: {"etag": '"old"'}, "http://b.example/rss": {"last_modified": "x"}}}
    (tmp_path / "feeds" / "feed_cache.json").write_text(json.dumps(old))
    loaded = FeedCache.load(str(tmp_path))
    assert loaded.migrated and len(loaded) == 2
    assert loaded.request_headers(SECRET_URL) == {"If-None-Match": '"old"'}  # the conditional GET still works
    assert FeedCache.migrate(str(tmp_path)) is True
    text = (tmp_path / "feeds" / "feed_cache.json").read_text()
    assert "s3cr3t" not in text and "k3y-value" not in text and json.loads(text)["version"] == 2
    again = FeedCache.load(str(tmp_path))
    assert not again.migrated and again.get("http://b.example/rss") == {"last_modified": "x"}
    assert FeedCache.migrate(str(tmp_path)) is False  # nothing left to do
    assert FeedCache.migrate(str(tmp_path / "none")) is False
