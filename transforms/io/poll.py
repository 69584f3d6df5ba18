"""Polling live feeds: fetch, parse, optionally fetch the linked pages, in Beam.

:func:`poll_feed` is a plain function (tested against a real HTTP server on
127.0.0.1): it fetches one feed with a :class:`~transforms.io.http.Fetcher`,
parses it with :func:`transforms.io.feedparse.parse_feed`, records the
validators in the :class:`~transforms.io.feedcache.FeedCache` once the body
has parsed, and with ``fetch_full_text`` replaces short summaries by the
linked page. Every failure is one ``Rejected(stage="fetch")`` naming the feed
URL and the reason; it never raises. :class:`PollFeeds` is the composite that
runs it in a pipeline (:class:`PollFeedsFn`, its DoFn, also serves streaming).

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

import dataclasses
import html as html_lib
import logging
import re
from typing import Any, Iterable, Iterator
from urllib.parse import urljoin, urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.common.records import DEFAULT_MAX_DEAD_LETTERS, Rejected, RejectedInput, cap_dead_letters, reject
from transforms.common.redact import redact_url
from transforms.common.worker_logs import install_redaction
from transforms.common.unicode import valid_unicode
from transforms.common.stage import DEAD_LETTER, MAIN, namespace
from transforms.io.feedcache import FeedCache
from transforms.io.feedparse import DEFAULT_MAX_ENTRIES, parse_feed
from transforms.io.http import Fetcher, FetchOptions, FetchResult

__all__ = ["CACHE_UPDATES", "fetch_feed", "poll_feed", "needs_full_text", "PollFeeds", "PollFeedsFn"]

STAGE = "fetch"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
CACHE_UPDATES = "cache_updates"

_log = logging.getLogger(__name__)


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
            _log.debug("full text of %s not fetched: %s", redact_url(page_url), exc)
            continue
        fetcher.count("full_text.fetched")
        article["html"], article["text"] = valid_unicode(page)[0], None


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
    response's ETag/Last-Modified in ``cache``. Never raises.

    Origins and dead letters name the feed with its credentials redacted
    (``https://***@host/feed?token=***``); at most ``DEFAULT_MAX_DEAD_LETTERS``
    bad entries are listed one by one."""
    shown = redact_url(url)
    yield from cap_dead_letters(_poll_feed(url, shown, cache, fetcher, options, max_entries, settings), shown, STAGE, DEFAULT_MAX_DEAD_LETTERS)


def _poll_feed(
    url: str,
    shown: str,
    cache: FeedCache | None,
    fetcher: Fetcher | None,
    options: FetchOptions | None,
    max_entries: int,
    settings: dict[str, Any],
) -> Iterator[dict[str, Any] | Rejected]:
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
            _log.debug("fetch of %s failed", shown, exc_info=True)
            fetcher.count("errors.internal")
            yield reject(shown, STAGE, f"fetch failed: {type(exc).__name__}: {exc}")
            return
        if result.not_modified:
            return
        if not result.ok:
            fetcher.count(f"errors.{result.error_kind}")
            yield reject(shown, STAGE, f"{result.error} (after {result.attempts} attempt(s))", result.body)
            return
        items = list(
            parse_feed(
                result.body,
                shown,
                max_entries=max_entries,
                max_bytes=fetcher.options.max_bytes,
                http_headers=result.headers,
            )
        )
        articles: list[dict[str, Any]] = []
        document_ok = True
        for item in items:
            if isinstance(item, Rejected) and item.source == shown:
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
# Beam
# ---------------------------------------------------------------------------


class PollFeedsFn(beam.DoFn):
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
        install_redaction()  # this worker's log handlers (also done by the BeamPlugin at worker start)
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
            items = [reject(redact_url(url), STAGE, f"poll failed: {type(exc).__name__}: {exc}")]
        self._flush_counters()
        for item in items:
            if isinstance(item, Rejected):
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, item.to_record())
            else:
                yield item
        after = self._cache.get(url)
        if after and after != before:  # keyed by a hash of the URL: no credential leaves the worker
            yield beam.pvalue.TaggedOutput(CACHE_UPDATES, self._cache.update(url))

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
        # valid Unicode before Create encodes them: a URL from argv may carry undecodable bytes
        self._urls = list(dict.fromkeys(valid_unicode(u.strip())[0] for u in urls if isinstance(u, str) and u.strip()))
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
            PollFeedsFn(self._options, self._state_dir, self._max_entries)
        ).with_outputs(DEAD_LETTER, CACHE_UPDATES, main=MAIN)
        if self._state_dir:
            state_dir = self._state_dir
            (
                outputs[CACHE_UPDATES]
                | "CollectCacheUpdates" >> beam.combiners.ToList().without_defaults()
                | "SaveFeedCache" >> beam.Map(_save_cache_updates, state_dir)
            )
        return outputs[MAIN], outputs[DEAD_LETTER]
