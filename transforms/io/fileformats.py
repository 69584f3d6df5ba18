"""File contents -> RawArticle records (see :mod:`transforms.common.records`), per format.

:func:`read_file` reads one file from a binary stream and yields RawArticle
dicts or :class:`~transforms.common.records.Rejected` records. It never
raises on bad input and never holds more than one article (bounded by
``max_article_bytes``) in memory, except for feed files, which are parsed whole
(bounded by :data:`transforms.io.feedparse.DEFAULT_MAX_FEED_BYTES`).

Formats by extension, optionally gzipped (``.gz``, decompressed while streaming):

- ``.jsonl``: one JSON object per line; ``text`` (or ``content``/``body``), optional
  ``title``, ``url``, ``published_at`` (or ``published``), ``source``, ``language``, ``id``.
- ``.json``: JSON Lines too, or one object, or an array of objects (streamed).
- ``.txt``: the whole file is the text of one article.
- ``.html``/``.htm``: one page; ``html`` is the page, the normaliser extracts the text.
- ``.xml``/``.rss``/``.atom``: a feed, one article per entry (:func:`transforms.io.feedparse.parse_feed`).

Plain Python, no Beam: :class:`transforms.io.read.ReadArticles` runs it per file.
"""

from __future__ import annotations

import codecs
import gzip
import html as html_lib
import io
import json
import os
import re
import zlib
from typing import Any, BinaryIO, Iterator

from transforms.common.records import Rejected, RejectedInput, raw_article, reject
from transforms.enrich.text import decode_bytes
from transforms.io.feedparse import DEFAULT_MAX_FEED_BYTES, parse_feed

__all__ = [
    "read_file",
    "article_from_object",
    "html_metadata",
    "split_headline",
    "split_extension",
    "CountingStream",
    "FORMATS",
    "DEFAULT_MAX_ARTICLE_BYTES",
    "DEFAULT_MAX_FILE_BYTES",
]

STAGE = "read"
DEFAULT_MAX_ARTICLE_BYTES = 2_000_000
DEFAULT_MAX_FILE_BYTES = 200_000_000

FORMATS = {
    ".jsonl": "jsonl",
    ".json": "json",
    ".txt": "txt",
    ".html": "html",
    ".htm": "html",
    ".xml": "feed",
    ".rss": "feed",
    ".atom": "feed",
}

_BUFFER = 1 << 16
_SNIFF = 8192
_TEXT_FIELDS = ("text", "content", "body")
_UTF16_32_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


# ---------------------------------------------------------------------------
# streams
# ---------------------------------------------------------------------------


class _OverLimit(Exception):
    """The (decompressed) file grew past ``max_file_bytes``."""


class CountingStream(io.RawIOBase):
    """Any object with ``read(n)`` as a raw stream; counts the bytes read and
    raises :class:`_OverLimit` when asked for data past ``cap`` bytes.

    Reads with ``read1`` when the stream has it, so a stream that fails half way
    (a truncated gzip member) has handed over everything before the failure.
    """

    def __init__(self, stream: Any, cap: int | None = None) -> None:
        self._stream = stream
        self._read = getattr(stream, "read1", None) or stream.read
        self._cap = cap
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        if self._cap is not None:
            if self.count >= self._cap:
                if self._read(1):
                    raise _OverLimit()
                return 0
            want = min(want, self._cap - self.count)
        data = self._read(want)
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


class _Utf8FromText(io.RawIOBase):
    """UTF-8 bytes of a text stream (used to read UTF-16/32 JSON as UTF-8 lines)."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._text.read(_BUFFER // 4)
            if not chunk:
                return 0
            self._pending = chunk.encode("utf-8", errors="surrogatepass")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _Progress:
    """Where a format reader is, for the message when the stream fails under it."""

    def __init__(self) -> None:
        self.where = "the start"
        self.articles = 0


# ---------------------------------------------------------------------------
# fields
# ---------------------------------------------------------------------------


def _opt_str(value: Any) -> str | None:
    """A scalar field as a non-empty string; containers and empties are ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _is_json_feed(obj: dict[str, Any]) -> bool:
    version = obj.get("version")
    return isinstance(version, str) and "jsonfeed.org" in version and isinstance(obj.get("items"), list)


def article_from_object(obj: Any, origin: str, fmt: str = "jsonl") -> dict[str, Any]:
    """One RawArticle from a decoded JSON value, or ``RejectedInput``."""
    if not isinstance(obj, dict):
        raise RejectedInput(f"JSON is {_json_type(obj)}, not an object")
    if _is_json_feed(obj):
        raise RejectedInput("a JSON Feed (jsonfeed.org) document; JSON Feed is not a supported input format")
    key, text = next(((k, obj[k]) for k in _TEXT_FIELDS if obj.get(k) is not None), (None, None))
    if key is None:
        raise RejectedInput("no text (fields text, content or body)")
    if not isinstance(text, str):
        raise RejectedInput(f"'{key}' is {_json_type(text)}, not a string")
    if not text.strip():
        raise RejectedInput(f"'{key}' is empty")
    published = obj.get("published_at")
    if published is None:
        published = obj.get("published")
    return raw_article(
        origin,
        fmt,
        title=_opt_str(obj.get("title")),
        text=text,
        url=_opt_str(obj.get("url")),
        published=_opt_str(published),
        source=_opt_str(obj.get("source")),
        language=_opt_str(obj.get("language")),
        external_id=_opt_str(obj.get("id")),
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _loads(text: str) -> Any:
    """``json.loads`` with every failure as ``RejectedInput``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RejectedInput(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise RejectedInput("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. integers over the str->int digit limit
        raise RejectedInput(f"invalid JSON: {exc}") from None


# ---------------------------------------------------------------------------
# format readers: each takes a buffered, capped stream
# ---------------------------------------------------------------------------


def _strip_bom_ws(head: bytes) -> bytes:
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    return head.lstrip()


def _utf16_32(body: io.BufferedReader) -> io.BufferedReader | None:
    """A UTF-8 view of ``body`` when it starts with a UTF-16/32 byte-order mark."""
    head = body.peek(4)[:4]
    for bom, encoding in _UTF16_32_BOMS:
        if head.startswith(bom):
            text = io.TextIOWrapper(body, encoding=encoding, errors="strict")
            return io.BufferedReader(_Utf8FromText(text), buffer_size=_BUFFER)
    return None


def _check_not_binary(body: io.BufferedReader, path: str) -> Rejected | None:
    head = body.peek(_SNIFF)[:_SNIFF]
    if b"\x00" in head:
        return reject(path, STAGE, "binary data: contains NUL bytes", head)
    return None


def _decode_line(line: bytes) -> str:
    """A JSON line as text. JSON is UTF-8 (RFC 8259) and ``json.loads`` refuses raw
    control characters, so valid UTF-8 needs no further checks; anything else
    goes through :func:`decode_bytes` (legacy encodings, binary garbage)."""
    try:
        return line.decode("utf-8-sig" if line.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError:
        return decode_bytes(line)


def _read_lines(
    body: io.BufferedReader, path: str, fmt: str, limit: int, progress: _Progress
) -> Iterator[dict[str, Any] | Rejected]:
    """JSON Lines: one object per line; blank lines are skipped."""
    lineno = 0
    nonblank = 0
    while True:
        progress.where = f"line {lineno + 1}"
        line = body.readline(limit + 1)
        if not line:
            break
        lineno += 1
        where = f"{path}#line {lineno}"
        if len(line) > limit and not line.endswith(b"\n"):
            nonblank += 1
            head, size = line[:1000], len(line)
            while not line.endswith(b"\n"):
                line = body.readline(_BUFFER)
                if not line:
                    break
                size += len(line)
            size -= 1 if line.endswith(b"\n") else 0
            yield reject(where, STAGE, f"line {lineno} is {size} bytes, over the {limit} limit", head)
            continue
        if not line.strip():
            continue
        nonblank += 1
        try:
            article = article_from_object(_loads(_decode_line(line.rstrip(b"\r\n"))), where, fmt)
        except RejectedInput as exc:
            yield reject(where, STAGE, f"line {lineno}: {exc}", line)
            continue
        progress.articles += 1
        yield article
    if nonblank == 0:
        yield reject(path, STAGE, "empty file" if lineno == 0 else "empty file (only blank lines)")


def _read_json_array(
    body: io.BufferedReader, path: str, limit: int, progress: _Progress
) -> Iterator[dict[str, Any] | Rejected]:
    """A top-level JSON array of objects, decoded one item at a time."""
    decoder = json.JSONDecoder()
    text = io.TextIOWrapper(body, encoding="utf-8-sig", errors="strict")
    buf, pos, eof = "", 0, False

    def more() -> bool:
        nonlocal buf, pos, eof
        chunk = text.read(_BUFFER)
        if not chunk:
            eof = True
            return False
        buf = buf[pos:] + chunk
        pos = 0
        return True

    def skip_ws() -> str:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or not more():
                return buf[pos] if pos < len(buf) else ""

    if skip_ws() != "[":
        raise RejectedInput("not a JSON array")
    pos += 1
    index = 0
    if skip_ws() == "]":
        yield reject(path, STAGE, "empty file (an empty JSON array)")
        return
    while True:
        progress.where = f"item {index}"
        where = f"{path}#item {index}"
        skip_ws()
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(buf) - 1 or exc.msg.startswith("Unterminated")
                if len(buf) - pos > limit:
                    yield reject(where, STAGE, f"item {index} is over the {limit}-byte limit; the rest of the array was not read", buf[pos:pos + 1000])
                    return
                if not incomplete or eof or not more():
                    yield reject(where, STAGE, f"item {index}: invalid JSON: {exc.msg}; the rest of the array was not read", buf[pos:pos + 1000])
                    return
            except RecursionError:
                yield reject(where, STAGE, f"item {index}: invalid JSON: nested too deeply; the rest of the array was not read", buf[pos:pos + 1000])
                return
        raw = buf[pos:end]
        pos = end
        try:
            article = article_from_object(value, where, "jsonl")
        except RejectedInput as exc:
            yield reject(where, STAGE, f"item {index}: {exc}", raw)
        else:
            progress.articles += 1
            yield article
        index += 1
        sep = skip_ws()
        if sep == ",":
            pos += 1
            continue
        if sep == "]":
            return
        yield reject(where, STAGE, f"after item {index - 1}: expected ',' or ']' but found {sep!r}; the rest was not read", buf[pos:pos + 1000])
        return


def _read_json(
    body: io.BufferedReader, path: str, limit: int, progress: _Progress
) -> Iterator[dict[str, Any] | Rejected]:
    """``.json``: JSON Lines when the first line is a whole object, an array
    of objects, or one (pretty-printed) object."""
    head = _strip_bom_ws(body.peek(_BUFFER)[:_BUFFER])
    if head.startswith(b"["):
        yield from _read_json_array(body, path, limit, progress)
        return
    first_line = head.split(b"\n", 1)[0].rstrip()
    if head.startswith(b"{") and (first_line.endswith(b"}") or b"\n" not in head):
        yield from _read_lines(body, path, "jsonl", limit, progress)
        return
    data = _read_whole(body, path, limit, "JSON document")
    if isinstance(data, Rejected):
        yield data
        return
    yield article_from_object(_loads(decode_bytes(data)), path, "jsonl")


HEADLINE_MAX_CHARS = 200
_SENTENCE_END = (".", "!", "?", "…", ":", ";", ",")


def split_headline(text: str) -> tuple[str | None, str]:
    """``(headline, body)`` of a plain-text article whose first line is a headline:
    a short first line (at most ``HEADLINE_MAX_CHARS``, not ending like a sentence)
    followed by more text. Otherwise ``(None, text)``: the whole file is the text."""
    stripped = text.lstrip()
    first, sep, rest = stripped.partition("\n")
    first = first.strip()
    if (
        sep
        and rest.strip()
        and 0 < len(first) <= HEADLINE_MAX_CHARS
        and not first.endswith(_SENTENCE_END)
        and len(rest.strip()) > len(first)
    ):
        return first, rest.strip()
    return None, text


def _read_whole(body: io.BufferedReader, path: str, limit: int, what: str) -> bytes | Rejected:
    """The whole (one-article) body, read at most ``limit + 1`` bytes deep; a Rejected
    when it is over ``limit`` or empty."""
    data = body.read(limit + 1)
    if len(data) > limit:
        return reject(path, STAGE, f"{what} is over the {limit}-byte article limit", data)
    if not data.strip():
        return reject(path, STAGE, "empty file", data)
    return data


def _read_single(body: io.BufferedReader, path: str, fmt: str, limit: int) -> Iterator[dict[str, Any] | Rejected]:
    """``.txt`` and ``.html``: the file is one article."""
    data = _read_whole(body, path, limit, "file")
    if isinstance(data, Rejected):
        yield data
        return
    text = decode_bytes(data)
    if not text.strip():
        yield reject(path, STAGE, "empty file (only whitespace)", data)
        return
    if fmt == "txt":
        title, body_text = split_headline(text)
        yield raw_article(path, "txt", title=title, text=body_text)
    else:
        yield raw_article(path, "html", html=text, **html_metadata(text))


def _read_feed(body: io.BufferedReader, path: str, max_bytes: int) -> Iterator[dict[str, Any] | Rejected]:
    data = body.read(max_bytes + 1)
    if len(data) > max_bytes:
        yield reject(path, STAGE, f"feed file is over the {max_bytes}-byte limit", data)
        return
    if not data.strip():
        yield reject(path, STAGE, "empty file", data)
        return
    yield from parse_feed(data, path, max_bytes=max_bytes)


# ---------------------------------------------------------------------------
# HTML metadata (cheap regexes over the head of the page)
# ---------------------------------------------------------------------------

_HTML_HEAD = 200_000
_TAG = {name: re.compile(rf"<{name}\b[^>]*>", re.I) for name in ("link", "meta", "html")}
_ATTR = re.compile(r"""([A-Za-z_:][-\w:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)


def _attrs(tag: str) -> dict[str, str]:
    return {k.lower(): html_lib.unescape(v.strip("\"'")).strip() for k, v in _ATTR.findall(tag)}


def html_metadata(page: str) -> dict[str, str | None]:
    """``url``, ``title``, ``published``, ``source`` and ``language`` that a page
    declares in its head (canonical link, Open Graph, ``<title>``, ``<html lang>``)."""
    head = page[:_HTML_HEAD]
    meta: dict[str, str] = {}
    for tag in _TAG["meta"].findall(head):
        a = _attrs(tag)
        key = (a.get("property") or a.get("name") or "").lower()
        if key and a.get("content") and key not in meta:
            meta[key] = a["content"]
    canonical = None
    for tag in _TAG["link"].findall(head):
        a = _attrs(tag)
        if "canonical" in a.get("rel", "").lower().split() and a.get("href"):
            canonical = a["href"]
            break
    title = meta.get("og:title")
    if not title:
        m = _TITLE.search(head)
        title = html_lib.unescape(re.sub(r"\s+", " ", m.group(1))).strip() if m else None
    html_tag = _TAG["html"].search(head)
    language = _attrs(html_tag.group(0)).get("lang") if html_tag else None
    return {
        "url": canonical or meta.get("og:url"),
        "title": title or None,
        "published": meta.get("article:published_time"),
        "source": meta.get("og:site_name"),
        "language": language or None,
    }


# ---------------------------------------------------------------------------
# read_file
# ---------------------------------------------------------------------------


def split_extension(path: str) -> tuple[str, bool]:
    """``("data/a.jsonl.gz") -> (".jsonl", True)``; the extension is lower-cased."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[: -len(".gz")]
    return os.path.splitext(name)[1], gz


def read_file(
    path: str,
    stream: BinaryIO,
    *,
    max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Iterator[dict[str, Any] | Rejected]:
    """Yield the RawArticles of the file ``path`` read from ``stream`` (raw bytes,
    still gzipped if the name ends in ``.gz``), and a ``Rejected`` for each bad
    part: a line, an item, an entry, or the whole file.

    ``max_file_bytes`` caps the decompressed size; articles before the cap are
    kept and the rest of the file becomes one dead letter.
    """
    ext, gz = split_extension(path)
    fmt = FORMATS.get(ext)
    if fmt is None:
        yield reject(path, STAGE, f"unsupported format '{ext}'" if ext else "unsupported format (no extension)")
        return
    raw = io.BufferedReader(CountingStream(stream), buffer_size=_BUFFER)
    progress = _Progress()
    try:
        if gz:
            magic = raw.peek(2)[:2]
            if not magic:
                yield reject(path, STAGE, "empty file")
                return
            if magic != b"\x1f\x8b":
                yield reject(path, STAGE, "named .gz but not gzip data", raw.peek(_SNIFF)[:_SNIFF])
                return
            source: Any = gzip.GzipFile(fileobj=raw, mode="rb")
        else:
            source = raw
        body = io.BufferedReader(CountingStream(source, cap=max_file_bytes), buffer_size=_BUFFER)
        if fmt in ("jsonl", "json"):
            if not body.peek(1):
                yield reject(path, STAGE, "empty file")
                return
            transcoded = _utf16_32(body)
            if transcoded is not None:
                body = transcoded
            else:
                binary = _check_not_binary(body, path)
                if binary is not None:
                    yield binary
                    return
            if fmt == "jsonl":
                yield from _read_lines(body, path, "jsonl", max_article_bytes, progress)
            else:
                yield from _read_json(body, path, max_article_bytes, progress)
        elif fmt == "feed":
            yield from _read_feed(body, path, min(DEFAULT_MAX_FEED_BYTES, max_file_bytes))
        else:
            yield from _read_single(body, path, fmt, max_article_bytes)
    except RejectedInput as exc:
        yield reject(path, STAGE, str(exc))
    except _OverLimit:
        yield reject(
            path,
            STAGE,
            f"file is over the {max_file_bytes}-byte limit{' after decompression' if gz else ''}; "
            f"{progress.articles} articles were read, the rest from {progress.where} on was not",
        )
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        yield reject(
            path,
            STAGE,
            f"corrupt or truncated gzip data at {progress.where} ({progress.articles} articles read before): {exc}",
        )
    except UnicodeDecodeError as exc:
        yield reject(path, STAGE, f"undecodable text at {progress.where}: {exc.reason}")
