"""Conditional-GET memory: the ETag / Last-Modified of every polled feed.

:class:`FeedCache` answers the ``If-None-Match`` / ``If-Modified-Since``
headers of the next request, so an unchanged feed costs one 304 and no body.
It is kept under ``--state`` as ``feeds/feed_cache.json`` (Beam FileSystems,
so local or ``gs://``), written atomically; a corrupt file is ignored.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid

__all__ = ["FeedCache"]

_CACHE_FILE = "feed_cache.json"

_log = logging.getLogger(__name__)


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
