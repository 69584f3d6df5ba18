"""RSS/Atom feed documents -> RawArticle records.

Pure, no Beam and no I/O: :func:`parse_feed` takes the *bytes* of a feed (read
from a file or fetched over HTTP by someone else) and yields one RawArticle per
entry, or :class:`~transforms.common.records.Rejected` records for what it refuses.

Safety:

- feedparser only ever sees a ``BytesIO``: given ``bytes`` or ``str`` it would
  treat them as a path or URL and open it.
- Documents whose DOCTYPE declares entities are refused before feedparser sees
  them (billion laughs, quadratic blow-up, external entities). The declaration is
  looked for in UTF-8/ASCII, UTF-16/32 (both byte orders), EBCDIC and in the
  encoding the document or the HTTP header declares.
- Documents over ``max_bytes`` are refused; at most ``max_entries`` entries are
  read (the rest is one dead letter, never silently dropped).
"""

from __future__ import annotations

import codecs
import io
import re
from typing import Any, Iterator
from urllib.parse import urlsplit

from transforms.common.records import Rejected, raw_article, reject

__all__ = ["parse_feed", "DEFAULT_MAX_FEED_BYTES", "DEFAULT_MAX_ENTRIES"]

STAGE = "read"
DEFAULT_MAX_FEED_BYTES = 20_000_000
DEFAULT_MAX_ENTRIES = 10_000

_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")

# Encodings in which a declaration is searched byte-wise (no decoding needed).
_FIXED_ENCODINGS = ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp037")
_XML_DECL_ENCODING = re.compile(rb"""<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:+-]{1,40})["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]{1,40})""", re.I)


def _byte_pattern(word: str, encoding: str) -> re.Pattern[bytes]:
    """A bytes regex for ``word`` (any letter case) as written in ``encoding``."""
    parts = []
    for ch in word:
        forms = {ch.upper().encode(encoding), ch.lower().encode(encoding)}
        escaped = sorted(re.escape(f) for f in forms)
        parts.append(b"(?:" + b"|".join(escaped) + b")" if len(escaped) > 1 else escaped[0])
    return re.compile(b"".join(parts))


_DOCTYPE_BYTES = {enc: _byte_pattern("<!DOCTYPE", enc) for enc in _FIXED_ENCODINGS}
_ENTITY_BYTES = {enc: _byte_pattern("<!ENTITY", enc) for enc in _FIXED_ENCODINGS}
_DOCTYPE_TEXT = re.compile(r"<!DOCTYPE", re.I)
_ENTITY_TEXT = re.compile(r"<!ENTITY", re.I)
_FIXED_CODECS = {codecs.lookup(e).name for e in _FIXED_ENCODINGS} | {"utf-8", "latin-1", "cp1252", "utf-16", "utf-32"}


def _declared_encodings(data: bytes, http_headers: dict[str, str] | None) -> set[str]:
    labels: list[str] = []
    m = _XML_DECL_ENCODING.search(data[:1024])
    if m:
        labels.append(m.group(1).decode("ascii"))
    for key, value in (http_headers or {}).items():
        if key.lower() == "content-type" and value:
            m2 = _CHARSET.search(value)
            if m2:
                labels.append(m2.group(1))
    names = set()
    for label in labels:
        try:
            names.add(codecs.lookup(label).name)
        except LookupError:
            continue
    return names - _FIXED_CODECS


def declares_entities(data: bytes, http_headers: dict[str, str] | None = None) -> bool:
    """True when the document has a DOCTYPE and an ``<!ENTITY`` declaration in
    any encoding an XML parser could read it in."""
    for enc in _FIXED_ENCODINGS:
        if _ENTITY_BYTES[enc].search(data) and _DOCTYPE_BYTES[enc].search(data):
            return True
    for name in _declared_encodings(data, http_headers):
        try:
            text = data.decode(name, errors="ignore")
        except (LookupError, TypeError, ValueError):  # codecs that are not text codecs
            continue
        if _ENTITY_TEXT.search(text) and _DOCTYPE_TEXT.search(text):
            return True
    return False


def _guessed_charset(data: bytes, http_headers: dict[str, str] | None) -> str | None:
    """A charset for a feed that declares none (no BOM, no ``encoding=``, no HTTP
    charset) and is not UTF-8; feedparser alone would assume windows-1252."""
    if any(k.lower() == "content-type" and _CHARSET.search(v or "") for k, v in (http_headers or {}).items()):
        return None
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:4]:
        return None
    if _XML_DECL_ENCODING.search(data[:1024]):
        return None
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    import charset_normalizer  # local import: only needed for undeclared legacy encodings

    best = charset_normalizer.from_bytes(data[:200_000]).best()
    return best.encoding if best is not None else None


def _domain(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def _link(entry: Any) -> str | None:
    """The entry's link; feedparser falls back to the id, which for Atom is often
    a ``urn:``/``tag:`` URI, not a URL: only web (or relative) links are kept."""
    link = _nonempty(entry.get("link"))
    if link is None:
        return None
    try:
        scheme = urlsplit(link.strip()).scheme.lower()
    except ValueError:
        return None
    return link if scheme in ("", "http", "https") else None


def _nonempty(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    return None


def _published(entry: Any) -> str | None:
    """The entry's date string exactly as given (published, else updated).

    feedparser's parsed tuples are not used: for the formats a plain RFC 822 /
    ISO 8601 parser cannot read they are often wrong (a Korean date loses its
    time, a Greek one its zone), so the normaliser gets the original text.
    """
    for key in ("published", "updated", "created"):
        raw = _nonempty(entry.get(key))
        if raw is not None:
            return raw.strip()
    return None


def _body(entry: Any) -> tuple[str | None, str | None, str | None]:
    """``(text, html, language)`` from the entry's content, else its summary."""
    details: list[Any] = [c for c in (entry.get("content") or []) if _nonempty(c.get("value"))]
    # Several content parts (plain and HTML): prefer the HTML one, it is richer.
    details.sort(key=lambda c: 0 if (c.get("type") or "").lower() in _HTML_TYPES else 1)
    summary = entry.get("summary_detail")
    if summary is not None and _nonempty(summary.get("value")):
        details.append(summary)
    elif _nonempty(entry.get("summary")):
        details.append({"type": "text/html", "value": entry.get("summary"), "language": None})
    if not details:
        return None, None, None
    best = details[0]
    value, kind = best.get("value"), (best.get("type") or "text/html").lower()
    language = best.get("language")
    if kind == "text/plain":
        return value, None, language
    return None, value, language


def parse_feed(
    data: bytes,
    origin: str,
    *,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_bytes: int = DEFAULT_MAX_FEED_BYTES,
    http_headers: dict[str, str] | None = None,
) -> Iterator[dict[str, Any] | Rejected]:
    """Yield one RawArticle (``format="feed"``, ``origin="<origin>#entry <i>"``)
    per entry of the RSS/Atom/RDF document ``data``, or ``Rejected`` records.

    ``http_headers`` (e.g. ``{"Content-Type": "application/rss+xml; charset=koi8-r"}``)
    are passed to feedparser so the HTTP charset counts. Never raises on bad input.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_feed takes bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        yield reject(origin, STAGE, f"feed is {len(data)} bytes, over the {max_bytes}-byte limit", data)
        return
    if not data.strip():
        yield reject(origin, STAGE, "empty feed document", data)
        return
    if declares_entities(data, http_headers):
        yield reject(origin, STAGE, "feed declares XML entities; refused to expand", data)
        return

    import feedparser  # local import: only the workers that read feeds need it

    headers = {k.lower(): v for k, v in (http_headers or {}).items()}
    guessed = _guessed_charset(data, http_headers)
    if guessed:
        media_type = (headers.get("content-type") or "application/xml").split(";")[0].strip()
        headers["content-type"] = f"{media_type}; charset={guessed}"
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    except Exception as exc:  # noqa: BLE001 - feedparser bugs on odd input become a dead letter
        yield reject(origin, STAGE, f"feed parser failed: {type(exc).__name__}: {exc}", data)
        return

    entries = parsed.get("entries") or []
    if not entries:
        reason = "not a feed: no entries"
        if parsed.get("bozo"):
            reason += f" (bozo: {type(parsed.get('bozo_exception')).__name__}: {parsed.get('bozo_exception')})"
        yield reject(origin, STAGE, reason, data)
        return

    feed = parsed.get("feed") or {}
    source = _domain(feed.get("link")) or _nonempty(feed.get("title"))
    feed_language = _nonempty(feed.get("language"))

    for i, entry in enumerate(entries[:max_entries]):
        where = f"{origin}#entry {i}"
        title = _nonempty(entry.get("title"))
        text, html, content_language = _body(entry)
        if title is None and text is None and html is None:
            yield reject(where, STAGE, "feed entry has neither title nor content", repr(dict(entry))[:1000])
            continue
        yield raw_article(
            where,
            "feed",
            title=title,
            text=text,
            html=html,
            url=_link(entry),
            published=_published(entry),
            source=source,
            language=_nonempty(content_language) or feed_language,
            external_id=_nonempty(entry.get("id")),
        )
    if len(entries) > max_entries:
        yield reject(
            f"{origin}#entry {max_entries}",
            STAGE,
            f"feed has {len(entries)} entries, over the {max_entries}-entry limit; "
            f"entries {max_entries}..{len(entries) - 1} were not read",
        )
