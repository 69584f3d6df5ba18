"""Conditional-GET memory: the ETag / Last-Modified of every polled feed.

:class:`FeedCache` answers the ``If-None-Match`` / ``If-Modified-Since``
headers of the next request, so an unchanged feed costs one 304 and no body.
It is kept under ``--state`` as ``feeds/feed_cache.json`` (Beam FileSystems,
so local or ``gs://``), written atomically; a corrupt file is ignored.

A feed URL may carry a password or a token, so the file never holds one: each
feed is keyed by ``sha256:<hex>`` of its URL (:func:`cache_key`) and shown with
its credentials redacted (``"feed"``). Version 1 files (keyed by the plain URL)
are read and converted; :meth:`FeedCache.migrate` rewrites one in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid

from transforms.common.redact import redact_url

__all__ = ["FeedCache", "cache_key"]

_CACHE_FILE = "feed_cache.json"
_KEY_PREFIX = "sha256:"
_VALIDATORS = ("etag", "last_modified")


def cache_key(url: str) -> str:
    """The cache's key for ``url``: a hash, so credentials in the URL are not stored."""
    if url.startswith(_KEY_PREFIX):
        return url
    return _KEY_PREFIX + hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()

_log = logging.getLogger(__name__)


class FeedCache:
    """ETag / Last-Modified per feed URL (kept under :func:`cache_key`), persisted as one
    JSON file (``<state_dir>/feeds/feed_cache.json``) through Beam FileSystems."""

    def __init__(self, entries: dict[str, dict[str, str]] | None = None) -> None:
        self._entries: dict[str, dict[str, str]] = {}
        self._shown: dict[str, str] = {}
        self._lock = threading.Lock()
        self.migrated = False  # read from a version 1 file (plain URLs as keys)
        self.merge(entries or {})

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str) -> dict[str, str] | None:
        entry = self._entries.get(cache_key(url))
        return dict(entry) if entry else None

    def request_headers(self, url: str) -> dict[str, str]:
        entry = self._entries.get(cache_key(url)) or {}
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
        key = cache_key(url)
        with self._lock:
            if not entry:
                self._shown.pop(key, None)
                return self._entries.pop(key, None) is not None
            self._shown.setdefault(key, redact_url(url))
            if self._entries.get(key) == entry:
                return False
            self._entries[key] = entry
            return True

    def update(self, url: str) -> tuple[str, dict[str, str]] | None:
        """``(key, entry)`` of ``url`` as :meth:`merge` takes it (the redacted URL in
        ``"feed"``): what a worker sends to the step that saves the cache."""
        key = cache_key(url)
        entry = self._entries.get(key)
        return (key, {**entry, "feed": self._shown.get(key) or redact_url(url)}) if entry else None

    def merge(self, updates: dict[str, dict[str, str]]) -> None:
        """Entries by URL or by :func:`cache_key` (with the redacted URL in ``"feed"``);
        an empty entry removes the feed."""
        with self._lock:
            for url, entry in updates.items():
                key = cache_key(url)
                validators = {k: str(v) for k, v in (entry or {}).items() if k in _VALIDATORS and isinstance(v, str)}
                if validators:
                    self._entries[key] = validators
                    shown = (entry or {}).get("feed")
                    self._shown[key] = str(shown) if shown else self._shown.get(key, redact_url(url) if key != url else "")
                else:
                    self._entries.pop(key, None)
                    self._shown.pop(key, None)

    def to_json(self) -> str:
        feeds = {key: {"feed": self._shown.get(key, ""), **entry} for key, entry in self._entries.items()}
        return json.dumps({"version": 2, "feeds": feeds}, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "FeedCache":
        """Version 2 (keyed by :func:`cache_key`) or version 1 (keyed by the plain URL:
        converted, ``migrated`` set)."""
        obj = json.loads(text)
        feeds = obj.get("feeds") if isinstance(obj, dict) else None
        if not isinstance(feeds, dict):
            raise ValueError("feed cache: no 'feeds' object")
        cache = cls({str(u): e for u, e in feeds.items() if isinstance(e, dict)})
        cache.migrated = any(not str(u).startswith(_KEY_PREFIX) for u in feeds)
        return cache

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

    @classmethod
    def migrate(cls, state_dir: str) -> bool:
        """Rewrite a version 1 cache under ``state_dir`` (credentialed URLs as keys) as
        version 2; True when it did. Called by a batch run holding the ``--state`` lock."""
        cache = cls.load(state_dir)
        if not cache.migrated:
            return False
        cache.save(state_dir)
        return True

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
