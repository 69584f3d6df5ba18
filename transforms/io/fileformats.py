"""File contents -> RawArticle records (see :mod:`transforms.common.records`), per format.

:func:`read_file` reads one file from a binary stream and yields RawArticle
dicts or :class:`~transforms.common.records.Rejected` records. It never
raises on bad input and never holds more than one article (bounded by
``max_article_bytes``) in memory, except for feed files, which are parsed whole
(bounded by :data:`transforms.io.feedparse.DEFAULT_MAX_FEED_BYTES`).

Formats by extension, optionally gzipped (``.gz``, decompressed while streaming):

- ``.jsonl``: one JSON object per line; ``text`` (or ``content``/``body``), optional
  ``title``, ``url``, ``published_at`` (or ``published``), ``source``, ``language``, ``id``;
  other exports' names through a :class:`~transforms.io.fieldmap.FieldMap`. A bad line
  (a raw NUL byte included) is one dead letter; blank lines are skipped in bulk.
- ``.json``: JSON Lines too, or one object, or an array of objects (streamed).
- ``.txt``: the whole file is the text of one article.
- ``.html``/``.htm``: one page; ``html`` is the page, the normaliser extracts the text.
- ``.xml``/``.rss``/``.atom``: a feed, one article per entry (:func:`transforms.io.feedparse.parse_feed`).

Plain Python, no Beam: :class:`transforms.io.read.ReadArticles` runs it per file.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import zlib
from typing import Any, BinaryIO, Iterator

from transforms.common.records import (
    DEFAULT_MAX_DEAD_LETTERS,
    Rejected,
    RejectedInput,
    cap_dead_letters,
    raw_article,
    reject,
)
from transforms.enrich.text import decode_bytes
from transforms.io.fieldmap import FieldMap, article_from_object
from transforms.io.htmlmeta import html_metadata
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


class _Prefixed(io.RawIOBase):
    """``prefix`` (bytes read ahead), then the rest of ``body``."""

    def __init__(self, prefix: bytes, body: io.BufferedReader) -> None:
        self._prefix = prefix
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._prefix[: len(buffer)] or self._body.read1(len(buffer))
        self._prefix = self._prefix[len(data):]
        buffer[: len(data)] = data
        return len(data)


class _Progress:
    """Where a format reader is, for the message when the stream fails under it."""

    def __init__(self) -> None:
        self.where = "the start"
        self.articles = 0


# ---------------------------------------------------------------------------
# fields
# ---------------------------------------------------------------------------


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


_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f")
_BINARY_SHARE = 0.01
_STRAY_CONTROLS = 4


def _check_not_binary(body: io.BufferedReader, path: str) -> Rejected | None:
    """A whole-file rejection when the head is not text (more than 1 % and more than 4
    NUL or other control bytes: an image, an archive, UTF-16 without a byte-order
    mark). A few stray NULs are left to cost their own lines."""
    head = body.peek(_SNIFF)[:_SNIFF]
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > _STRAY_CONTROLS and controls > _BINARY_SHARE * len(head):
        return reject(path, STAGE, f"binary data: {controls} NUL or control bytes in the first {len(head)}", head)
    return None


def _decode_line(line: bytes) -> str:
    """A JSON line as text. JSON is UTF-8 (RFC 8259) and ``json.loads`` refuses raw
    control characters, so valid UTF-8 needs no further checks; anything else
    goes through :func:`decode_bytes` (legacy encodings, binary garbage)."""
    nul = line.find(b"\x00")
    if nul >= 0:
        raise RejectedInput(f"raw NUL byte at column {nul + 1}")
    try:
        return line.decode("utf-8-sig" if line.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError as exc:
        if not line.lstrip().startswith(b"{"):  # cannot be an object: spare the encoding detection (~5 ms)
            raise RejectedInput(f"not UTF-8 (byte {exc.start + 1}) and not a JSON object") from None
        return decode_bytes(line)


_BLANK = b" \t\r\n"


def _skip_blank_lines(body: io.BufferedReader) -> int:
    """Consume the blank lines at the stream's position, a buffer at a time (a
    gzip of a billion newlines must not cost a ``readline`` each); how many."""
    skipped = 0
    while True:
        chunk = body.peek(_BUFFER)[:_BUFFER]
        rest = chunk.lstrip(_BLANK)
        end = chunk.rfind(b"\n", 0, len(chunk) - len(rest))
        if end < 0:
            return skipped
        skipped += chunk.count(b"\n", 0, end + 1)
        body.read(end + 1)
        if rest:
            return skipped


def _read_lines(
    body: io.BufferedReader, path: str, fmt: str, limit: int, progress: _Progress, fields: FieldMap | None = None
) -> Iterator[dict[str, Any] | Rejected]:
    """JSON Lines: one object per line; blank lines are skipped (in bulk). A bad
    line, a raw NUL byte in it included, is one dead letter; the file goes on."""
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
            lineno += _skip_blank_lines(body)  # after one blank line, the run of them in bulk
            continue
        nonblank += 1
        try:
            article = article_from_object(_loads(_decode_line(line.rstrip(b"\r\n"))), where, fmt, fields)
        except RejectedInput as exc:
            yield reject(where, STAGE, f"line {lineno}: {exc}", line)
            continue
        progress.articles += 1
        yield article
    if nonblank == 0:
        yield reject(path, STAGE, "empty file" if lineno == 0 else "empty file (only blank lines)")


def _read_json_array(
    body: io.BufferedReader, path: str, limit: int, progress: _Progress, fields: FieldMap | None = None
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
        failed_at = -1  # where in the item the last attempt failed (-1: none yet)
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as exc:
                # The buffer may end inside a token (`tr|ue`, `\u00|e9`, `1e|+5`), where the error sits
                # a few characters before its end: an error is real when it stays at the same place
                # once more text is read. An unterminated string only needs more text.
                unterminated = exc.msg.startswith("Unterminated")
                real = not unterminated and exc.pos - pos == failed_at
                retried, failed_at = failed_at >= 0, exc.pos - pos
                if not real and (retried or unterminated) and len(buf) - pos > limit:
                    yield reject(where, STAGE, f"item {index} is over the {limit}-byte limit; the rest of the array was not read", buf[pos:pos + 1000])
                    return
                if real or eof or not more():
                    yield reject(where, STAGE, f"item {index}: invalid JSON: {exc.msg}; the rest of the array was not read", buf[pos:pos + 1000])
                    return
            except RecursionError:
                yield reject(where, STAGE, f"item {index}: invalid JSON: nested too deeply; the rest of the array was not read", buf[pos:pos + 1000])
                return
            except ValueError as exc:  # an integer over the str->int digit limit
                yield reject(where, STAGE, f"item {index}: invalid JSON: {exc}; the rest of the array was not read", buf[pos:pos + 1000])
                return
        raw = buf[pos:end]
        pos = end
        size = len(raw) if raw.isascii() else len(raw.encode("utf-8"))
        if size > limit:  # it fit the buffer, but a JSON Lines line this long is refused too
            yield reject(where, STAGE, f"item {index} is {size} bytes, over the {limit} limit", raw)
        else:
            try:
                article = article_from_object(value, where, "jsonl", fields)
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


def _first_line_read_ahead(body: io.BufferedReader, limit: int) -> tuple[io.BufferedReader, bool]:
    """For a ``.json`` whose first line is longer than the look-ahead: that line read to its end
    (at most ``limit + 1`` bytes, after any blank lines) and handed back in front of the rest,
    and whether the file is JSON Lines: yes unless the line ends before the file does and not
    with ``}`` (a pretty-printed document with a long first field)."""
    ahead = line = body.readline(limit + 1)
    while line.endswith(b"\n") and not line.strip():
        line = body.readline(limit + 1)
        ahead += line
    whole_line = line.endswith(b"\n")
    return io.BufferedReader(_Prefixed(ahead, body), buffer_size=_BUFFER), not whole_line or line.rstrip().endswith(b"}")


def _read_json(
    body: io.BufferedReader, path: str, limit: int, progress: _Progress, fields: FieldMap | None = None
) -> Iterator[dict[str, Any] | Rejected]:
    """``.json``: JSON Lines when the first line is a whole object, an array
    of objects, or one (pretty-printed) object."""
    head = _strip_bom_ws(body.peek(_BUFFER)[:_BUFFER])
    if head.startswith(b"["):
        yield from _read_json_array(body, path, limit, progress, fields)
        return
    if head.startswith(b"{") and b"\n" not in head:
        body, lines = _first_line_read_ahead(body, limit)
    else:
        lines = head.startswith(b"{") and head.split(b"\n", 1)[0].rstrip().endswith(b"}")
    if lines:
        yield from _read_lines(body, path, "jsonl", limit, progress, fields)
        return
    data = _read_whole(body, path, limit, "JSON document")
    if isinstance(data, Rejected):
        yield data
        return
    yield article_from_object(_loads(decode_bytes(data)), path, "jsonl", fields)


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
    max_dead_letters: int = DEFAULT_MAX_DEAD_LETTERS,
    fields: FieldMap | None = None,
) -> Iterator[dict[str, Any] | Rejected]:
    """Yield the RawArticles of the file ``path`` read from ``stream`` (raw bytes,
    still gzipped if the name ends in ``.gz``), and a ``Rejected`` for each bad
    part: a line, an item, an entry, or the whole file.

    ``max_file_bytes`` caps the decompressed size; articles before the cap are
    kept and the rest of the file becomes one dead letter. At most
    ``max_dead_letters`` bad parts are listed one by one, the rest are counted
    in one more (:func:`~transforms.common.records.cap_dead_letters`). ``fields``
    maps JSON field names (default: the ``auto`` preset).
    """
    items = _read_file(path, stream, max_article_bytes, max_file_bytes, fields)
    yield from cap_dead_letters(items, path, STAGE, max_dead_letters)


def _read_file(
    path: str, stream: BinaryIO, max_article_bytes: int, max_file_bytes: int, fields: FieldMap | None
) -> Iterator[dict[str, Any] | Rejected]:
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
                yield from _read_lines(body, path, "jsonl", max_article_bytes, progress, fields)
            else:
                yield from _read_json(body, path, max_article_bytes, progress, fields)
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
