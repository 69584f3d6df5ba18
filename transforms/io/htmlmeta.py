"""What an HTML page says about itself: title, canonical URL, site name, date, language.

:func:`html_metadata` reads, cheaply (regexes over the page, no tree), in order of trust:

- JSON-LD (``<script type="application/ld+json">``) ``NewsArticle`` / ``Article`` /
  ``BlogPosting`` ... nodes, also inside ``@graph``: ``headline``, ``datePublished``,
  ``url`` / ``mainEntityOfPage``, ``publisher.name``, ``inLanguage``;
- meta tags: ``og:title``, ``twitter:title``, ``og:url``, ``og:site_name``,
  ``article:published_time`` and the other common date names, ``<link rel=canonical>``,
  ``<html lang>``;
- ``<time datetime>`` (the one marked ``pubdate`` or ``itemprop=datePublished`` first);
- last, for a page with no date in its markup, htmldate's quick search (URL patterns,
  more meta names), day precision.

The ``<title>`` loses its site suffix or prefix (``Storm closes airports | Example Times``)
when that part is the site's name or domain, or a short ``|`` segment. trafilatura's own
``extract_metadata`` finds the same fields but parses the page again and runs author and
licence searches (7-8 ms a page), so only htmldate is called, and only when needed.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from typing import Any, Iterator
from urllib.parse import urlsplit

__all__ = ["html_metadata", "strip_site_name", "json_ld_article"]

_HTML_HEAD = 200_000  # meta tags, <title>, canonical link: in the head
_SCAN = 1_000_000  # JSON-LD and <time> may sit anywhere in the body
_TAG = {name: re.compile(rf"<{name}\b[^>]*>", re.I) for name in ("link", "meta", "html", "time")}
_ATTR = re.compile(r"""([A-Za-z_:][-\w:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_LD = re.compile(r"""<script\b[^>]*type\s*=\s*["']?application/ld\+json["']?[^>]*>(.*?)</script\s*>""", re.I | re.S)
_ARTICLE_TYPES = frozenset(
    """NewsArticle Article ReportageNewsArticle AnalysisNewsArticle OpinionNewsArticle BackgroundNewsArticle
    ReviewNewsArticle AskPublicNewsArticle LiveBlogPosting BlogPosting SocialMediaPosting Report""".split()
)
_MAX_LD_NODES = 500
_DATE_META = (
    "article:published_time", "og:published_time", "datepublished", "pubdate", "publishdate", "publish-date",
    "publish_date", "date", "dc.date", "dc.date.issued", "dcterms.created", "dcterms.issued", "sailthru.date",
    "parsely-pub-date", "article.published", "cxenseparse:recs:publishtime",
)
_SEPARATOR = re.compile(r"\s+[–—·•»:-]\s+|\s*:\s+|\s*\|\s*")
_KEY = re.compile(r"[\W_]+")


def _attrs(tag: str) -> dict[str, str]:
    return {k.lower(): html_lib.unescape(v.strip("\"'")).strip() for k, v in _ATTR.findall(tag)}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(html_lib.unescape(value).split())
    return None


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.rsplit("/", 1)[-1] for k in kinds if isinstance(k, str)}


def _nodes(data: Any) -> Iterator[dict[str, Any]]:
    """The objects of a JSON-LD document, breadth first, at most ``_MAX_LD_NODES``."""
    queue, seen = [data], 0
    while queue and seen < _MAX_LD_NODES:
        item = queue.pop(0)
        if isinstance(item, list):
            queue.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        seen += 1
        yield item
        for key in ("@graph", "mainEntity", "itemListElement"):
            if isinstance(item.get(key), (list, dict)):
                queue.append(item[key])


def json_ld_article(page: str) -> dict[str, Any] | None:
    """The first JSON-LD article node of ``page`` (``NewsArticle``, ``Article``, ...), or None.
    Broken JSON-LD blocks are skipped."""
    for match in _LD.finditer(page[:_SCAN]):
        try:
            data = json.loads(match.group(1).strip(), strict=False)
        except (ValueError, RecursionError):
            continue
        for node in _nodes(data):
            if _types(node) & _ARTICLE_TYPES:
                return node
    return None


def _ld_url(node: dict[str, Any]) -> str | None:
    for key in ("url", "mainEntityOfPage", "@id"):
        value = node.get(key)
        if isinstance(value, dict):
            value = value.get("@id") or value.get("url")
        value = _text(value)
        if value and value.startswith(("http://", "https://")):
            return value
    return None


def _ld_publisher(node: dict[str, Any]) -> str | None:
    publisher = node.get("publisher")
    if isinstance(publisher, list):
        publisher = next((p for p in publisher if isinstance(p, dict)), None)
    return _text(publisher.get("name")) if isinstance(publisher, dict) else _text(publisher)


def _key(s: str) -> str:
    return _KEY.sub("", s.casefold())


def _domain_names(url: str | None) -> set[str]:
    """``https://www.example-times.co.uk/x`` -> {"exampletimescouk", "exampletimes"}."""
    try:
        host = (urlsplit(url).hostname or "") if url else ""
    except ValueError:
        return set()
    labels = [label for label in host.split(".") if label not in ("www", "m", "amp")]
    if not labels:
        return set()
    names = {_key(".".join(labels))}
    names.update(_key(label) for label in labels if len(label) > 3)
    return names - {""}


def strip_site_name(
    title: str, site_names: tuple[str | None, ...] = (), url: str | None = None, *, loose: bool = False
) -> str:
    """``title`` without a site suffix or prefix: the part after the last (or before the
    first) separator goes when it is the site's name or domain (any case, spacing or
    punctuation); with ``loose`` (a ``<title>``) also a part after ``|`` of at most 4
    words that is shorter than the rest."""
    separators = list(_SEPARATOR.finditer(title))
    if not separators:
        return title
    known = {_key(n) for n in site_names if n} | _domain_names(url)
    known.discard("")
    last, first = separators[-1], separators[0]
    tail, head = title[last.end():].strip(), title[: last.start()].strip()
    if tail and head and (
        _key(tail) in known
        or (loose and "|" in last.group(0) and len(tail.split()) <= 4 and len(tail) < len(head))
    ):
        return head
    lead, rest = title[: first.start()].strip(), title[first.end():].strip()
    if lead and rest and _key(lead) in known:
        return rest
    return title


def _published(meta: dict[str, str], page: str) -> str | None:
    for name in _DATE_META:
        if meta.get(name):
            return meta[name]
    best = None
    for tag in _TAG["time"].findall(page[:_SCAN]):
        a = _attrs(tag)
        if not a.get("datetime"):
            continue
        if "pubdate" in tag.lower() or a.get("itemprop", "").lower() == "datepublished":
            return a["datetime"]
        best = best or a["datetime"]
    return best


def _htmldate(page: str, url: str | None) -> str | None:
    """htmldate's quick search (markup and URL, no text scan): a day, or None."""
    try:
        from htmldate import find_date

        return find_date(page[:_SCAN], extensive_search=False, original_date=True, url=url)
    except Exception:  # noqa: BLE001 - a date heuristic failing on odd markup only means no date
        return None


def html_metadata(page: str) -> dict[str, str | None]:
    """``url``, ``title``, ``published``, ``source`` and ``language`` that a page
    declares (JSON-LD, meta tags, ``<time>``, ``<title>``, ``<html lang>``); see the module doc."""
    head = page[:_HTML_HEAD]
    meta: dict[str, str] = {}
    for tag in _TAG["meta"].findall(head):
        a = _attrs(tag)
        key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
        if key and a.get("content") and key not in meta:
            meta[key] = a["content"]
    canonical = None
    for tag in _TAG["link"].findall(head):
        a = _attrs(tag)
        if "canonical" in a.get("rel", "").lower().split() and a.get("href"):
            canonical = a["href"]
            break
    article = json_ld_article(page) or {}
    site = _text(meta.get("og:site_name")) or _ld_publisher(article) or _text(meta.get("application-name"))
    url = canonical or meta.get("og:url") or _ld_url(article)
    title = _text(article.get("headline")) or _text(meta.get("og:title")) or _text(meta.get("twitter:title"))
    if title:
        title = strip_site_name(title, (site,), url)
    else:
        m = _TITLE.search(head)
        page_title = _text(m.group(1)) if m else None
        title = strip_site_name(page_title, (site,), url, loose=True) if page_title else None
    published = _text(article.get("datePublished")) or _published(meta, page) or _htmldate(page, url)
    html_tag = _TAG["html"].search(head)
    language = _attrs(html_tag.group(0)).get("lang") if html_tag else None
    language = language or _text(article.get("inLanguage")) or meta.get("og:locale")
    return {
        "url": url or None,
        "title": title or None,
        "published": published or None,
        "source": site or None,
        "language": language or None,
    }
